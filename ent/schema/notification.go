package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
)

// Notification tells one user of one workflow event (internal/notify).
// Only internal/notify writes it: the rows of an event are written once,
// keyed by the event and the recipient, by the job its change enqueued.
// A user reads only their own (authz.NotificationPolicy).
type Notification struct {
	ent.Schema
}

// Mixin of Notification.
func (Notification) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ntf"), TimeMixin{}}
}

// Fields of Notification.
func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.String("recipient_id").GoType(pulid.ID("")).Immutable().Annotations(hidden()),
		field.Enum("kind").GoType(enum.NotificationKind("")).Immutable().
			Annotations(entgql.Type("NotificationKind"), readOnly()),
		field.String("event_key").NotEmpty().Immutable().Annotations(hidden()).
			Comment("the event the notification tells of: the delivering job and the event's place in it"),
		field.String("action").NotEmpty().Immutable().Annotations(readOnly()).
			Comment("the audit action of the event"),
		field.String("title").Immutable().Annotations(readOnly()),
		field.String("body").Immutable().Annotations(readOnly()),
		field.String("link").Immutable().Annotations(readOnly()).
			Comment("the path of the object on the public URL, e.g. /app/requests/req_…"),
		field.Bool("in_app").Default(true).Immutable().Annotations(hidden()).
			Comment("false when the recipient turned in-app off for the kind: the row only records the e-mail"),
		field.Time("read_at").Optional().Nillable().Annotations(readOnly()),
		field.Enum("email_status").GoType(enum.EmailStatus("")).Default(string(enum.EmailStatusNone)).
			Annotations(entgql.Type("EmailStatus"), readOnly()),
		field.Time("emailed_at").Optional().Nillable().Annotations(readOnly()),
		field.String("request_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(readOnly()),
		field.String("item_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(readOnly()),
		field.String("task_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(readOnly()),
	}
}

// Edges of Notification.
func (Notification) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("recipient", User.Type).Field("recipient_id").Unique().Required().Immutable().Annotations(hidden()),
		edge.To("request", AccessRequest.Type).Field("request_id").Unique().Immutable().Annotations(readOnly()),
		edge.To("item", RequestItem.Type).Field("item_id").Unique().Immutable().Annotations(readOnly()),
		edge.To("task", ReviewTask.Type).Field("task_id").Unique().Immutable().Annotations(readOnly()),
	}
}

// Indexes of Notification.
func (Notification) Indexes() []ent.Index {
	return []ent.Index{
		// One notification per event and recipient, however often the job runs.
		index.Fields("event_key", "recipient_id").Unique(),
		// A user's list, newest first, and their unread count.
		index.Fields("recipient_id", "in_app", "created_at"),
		index.Fields("recipient_id", "read_at"),
	}
}

// Annotations of Notification.
func (Notification) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
	}
}

// Policy of Notification.
func (Notification) Policy() ent.Policy {
	return authz.NotificationPolicy()
}

// NotificationPreference is a user's channels for one kind of
// notification. A kind without a row has the default channels
// (notify.DefaultChannels).
type NotificationPreference struct {
	ent.Schema
}

// Mixin of NotificationPreference.
func (NotificationPreference) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("npf"), TimeMixin{}}
}

// Fields of NotificationPreference.
func (NotificationPreference) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Immutable(),
		field.Enum("kind").GoType(enum.NotificationKind("")).Immutable(),
		field.Bool("in_app"),
		field.Bool("email"),
	}
}

// Edges of NotificationPreference.
func (NotificationPreference) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of NotificationPreference.
func (NotificationPreference) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "kind").Unique()}
}

// Annotations of NotificationPreference: not in the GraphQL schema as an
// entity (notificationPreferences answers with every kind, defaults
// included).
func (NotificationPreference) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of NotificationPreference.
func (NotificationPreference) Policy() ent.Policy {
	return authz.NotificationPreferencePolicy()
}

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

// WebhookDelivery is one event delivered to one endpoint: the delivery log.
// Its ID is the webhook-id the receiver sees on every attempt.
type WebhookDelivery struct {
	ent.Schema
}

// Mixin of WebhookDelivery.
func (WebhookDelivery) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("whd"), TimeMixin{}}
}

// Fields of WebhookDelivery.
func (WebhookDelivery) Fields() []ent.Field {
	return []ent.Field{
		field.String("endpoint_id").GoType(pulid.ID("")).Immutable(),
		field.String("event_id").GoType(pulid.ID("")).Immutable().Comment("the audit event delivered"),
		field.String("event_type").Immutable(),
		field.Text("payload").Immutable().Annotations(hidden()),
		field.Enum("status").GoType(enum.WebhookDeliveryStatus("")).Default(string(enum.WebhookDeliveryPending)).
			Annotations(entgql.Type("WebhookDeliveryStatus")),
		field.Int("attempts").Default(0),
		field.Int("response_code").Optional().Nillable(),
		field.String("last_error").Default("").MaxLen(1000),
		field.Time("last_attempt_at").Optional().Nillable(),
		field.Time("delivered_at").Optional().Nillable(),
	}
}

// Edges of WebhookDelivery.
func (WebhookDelivery) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("endpoint", WebhookEndpoint.Type).Ref("deliveries").Field("endpoint_id").
			Unique().Required().Immutable().Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of WebhookDelivery.
func (WebhookDelivery) Indexes() []ent.Index {
	return []ent.Index{
		// One delivery per endpoint and event, however often the fan-out runs.
		index.Fields("endpoint_id", "event_id").Unique(),
	}
}

// Annotations of WebhookDelivery.
func (WebhookDelivery) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.Skip(entgql.SkipWhereInput),
	}
}

// Policy of WebhookDelivery: IT admins read the log; only the webhook
// service writes it.
func (WebhookDelivery) Policy() ent.Policy {
	return authz.AdminOnlyPolicy()
}

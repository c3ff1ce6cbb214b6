package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// WebhookEndpoint is an integration's URL that receives the workflow's
// events (internal/webhooks). Its signing secret is stored to sign
// deliveries and never leaves the server through the API after it is
// created or rotated.
type WebhookEndpoint struct {
	ent.Schema
}

// Mixin of WebhookEndpoint.
func (WebhookEndpoint) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("whe"), TimeMixin{}}
}

// Fields of WebhookEndpoint.
func (WebhookEndpoint) Fields() []ent.Field {
	return []ent.Field{
		field.String("url").NotEmpty().MaxLen(2000).Annotations(readOnly()),
		field.String("description").Default("").MaxLen(500).Annotations(readOnly()),
		field.Strings("event_types").Comment("audit actions delivered, or \"*\" for all").Annotations(readOnly()),
		field.Enum("kind").GoType(enum.WebhookKind("")).Default(string(enum.WebhookKindStandard)).
			Annotations(readOnly(), entgql.Type("WebhookKind")),
		field.String("secret").Sensitive().Annotations(hidden()),
		field.Bool("enabled").Default(true).Annotations(readOnly()),
		field.Int("consecutive_failures").Default(0).
			Comment("deliveries that failed since the last success; at the limit the endpoint is disabled").
			Annotations(readOnly()),
		field.Time("disabled_at").Optional().Nillable().Annotations(readOnly()),
	}
}

// Edges of WebhookEndpoint.
func (WebhookEndpoint) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("deliveries", WebhookDelivery.Type).Annotations(hidden()),
	}
}

// Annotations of WebhookEndpoint.
func (WebhookEndpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
	}
}

// Policy of WebhookEndpoint: IT admins only.
func (WebhookEndpoint) Policy() ent.Policy {
	return authz.AdminOnlyPolicy()
}

// Hooks of WebhookEndpoint: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (WebhookEndpoint) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

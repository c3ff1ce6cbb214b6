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

// RequestItem is one entitlement of one application to grant or revoke.
type RequestItem struct {
	ent.Schema
}

// Mixin of RequestItem.
func (RequestItem) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("itm"), TimeMixin{}}
}

// Fields of RequestItem.
func (RequestItem) Fields() []ent.Field {
	return []ent.Field{
		field.String("request_id").GoType(pulid.ID("")).Immutable(),
		field.String("entitlement_id").GoType(pulid.ID("")).Immutable(),
		field.String("application_id").GoType(pulid.ID("")).Immutable(),
		field.String("identity_id").GoType(pulid.ID("")).Optional().Nillable(),
		field.Enum("action").GoType(enum.RequestAction("")).Immutable().Annotations(entgql.Type("RequestAction")),
		field.Enum("status").
			GoType(enum.ItemStatus("")).
			Default(string(enum.ItemStatusPendingReview)).
			Annotations(entgql.Type("ItemStatus"), entgql.OrderField("STATUS")),
		field.Enum("reason").
			GoType(enum.ItemReason("")).
			Default(string(enum.ItemReasonRequested)).
			Immutable().
			Comment("why the item exists: REQUESTED by people, TERMINATED (a leaver's revocation), EXPIRED (de-provisioning on a MANUAL application)").
			Annotations(entgql.Type("ItemReason")),
		field.Enum("emergency_review").
			GoType(enum.EmergencyReview("")).
			Optional().Nillable().
			Comment("an emergency (break-glass) item's after-the-fact review: PENDING, CONFIRMED or REVOKED; null for other items").
			Annotations(entgql.Type("EmergencyReview")),
		field.Time("ends_at").Optional().Nillable(),
		field.String("duration").Optional().Nillable().Comment("ISO-8601, counted from provisioning"),
		field.Int("fulfillment_attempts").Default(0),
		field.String("last_error").Default(""),
		field.String("fulfillment_note").Default(""),
		field.Time("decided_at").Optional().Nillable(),
		field.Time("fulfilled_at").Optional().Nillable(),
		// The policy rule that decided the item at submission, as it was
		// then (the rule may change or go later).
		field.String("policy_rule_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().Annotations(entgql.Skip()),
		field.String("policy_rule_name").Optional().Nillable().Immutable().Annotations(entgql.Skip()),
		field.Int("policy_rule_version").Optional().Nillable().Immutable().Annotations(entgql.Skip()),
		field.JSON("sod_conflicts", []enum.SodConflict{}).Optional().
			Comment("separation-of-duties conflicts found at submission and before fulfilment").
			Annotations(entgql.Skip()),
	}
}

// Edges of RequestItem.
func (RequestItem) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("request", AccessRequest.Type).Ref("items").Field("request_id").Unique().Required().Immutable(),
		edge.To("entitlement", Entitlement.Type).Field("entitlement_id").Unique().Required().Immutable(),
		edge.To("application", Application.Type).Field("application_id").Unique().Required().Immutable(),
		edge.To("identity", Identity.Type).Field("identity_id").Unique(),
		edge.To("stages", ReviewStage.Type).Annotations(readOnly()),
		edge.To("audit_events", AuditEvent.Type).Annotations(readOnly()),
	}
}

// Indexes of RequestItem.
func (RequestItem) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("request_id"),
		index.Fields("entitlement_id", "status"),
	}
}

// Annotations of RequestItem.
func (RequestItem) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.MultiOrder(),
	}
}

// Policy of RequestItem.
func (RequestItem) Policy() ent.Policy {
	return authz.RequestItemPolicy()
}

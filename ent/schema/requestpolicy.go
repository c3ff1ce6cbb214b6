package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// RequestPolicy holds what a request must say to be accepted: whether a
// justification is required and how long it must be, who may request for
// someone else, the longest and the default duration, and whether
// permanent access may be asked for. The row with neither application nor
// entitlement is the global default; an application's row overrides it,
// and an entitlement's row (which names no application: the entitlement
// has one) overrides its application's, field by field. A field left
// unset (nil) inherits (see rules.EffectiveRequestPolicy).
type RequestPolicy struct {
	ent.Schema
}

// Mixin of RequestPolicy.
func (RequestPolicy) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rqp"), TimeMixin{}}
}

// Fields of RequestPolicy.
func (RequestPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("application_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("entitlement_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.Bool("justification_required").Optional().Nillable(),
		field.Int("justification_min_length").Optional().Nillable().Min(0),
		field.Enum("request_for_others").GoType(enum.RequestForOthers("")).Optional().Nillable(),
		field.String("max_duration").Optional().Nillable().Comment("ISO-8601"),
		field.String("default_duration").Optional().Nillable().Comment("ISO-8601"),
		field.Bool("permanent_allowed").Optional().Nillable(),
		field.Bool("break_glass_allowed").Optional().Nillable().Comment("emergency (break-glass) requests are allowed"),
		field.String("break_glass_max_duration").Optional().Nillable().Comment("ISO-8601: the longest emergency access"),
		field.String("review_policy_id").GoType(pulid.ID("")).Optional().Nillable(),
	}
}

// Edges of RequestPolicy.
func (RequestPolicy) Edges() []ent.Edge {
	return []ent.Edge{
		// A policy goes with its application or entitlement (it must never
		// become a second global row).
		edge.To("application", Application.Type).Field("application_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("entitlement", Entitlement.Type).Field("entitlement_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of RequestPolicy: one row per application, one per entitlement,
// and one global row (both NULL, kept single by the workflow's locked
// upsert).
func (RequestPolicy) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("application_id").Unique(),
		index.Fields("entitlement_id").Unique(),
	}
}

// Annotations of RequestPolicy: the API shows the effective policy
// (schema/requestpolicy.graphql), not the rows.
func (RequestPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of RequestPolicy.
func (RequestPolicy) Policy() ent.Policy {
	return authz.RequestPolicyPolicy()
}

// Hooks of RequestPolicy: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (RequestPolicy) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

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

// LifecyclePolicy holds the timing of a request's life: reminders,
// escalation, expiry of undecided requests, warnings before a temporary
// grant ends, and the review an extension needs. The row without an
// application is the global default; an application's row overrides it
// field by field, and a field left unset (nil) inherits (see
// rules.EffectiveLifecycle). Zero hours or days switch a behaviour off;
// hours may be fractions (0.05 is three minutes, as the demo uses).
type LifecyclePolicy struct {
	ent.Schema
}

// Mixin of LifecyclePolicy.
func (LifecyclePolicy) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("lcp"), TimeMixin{}}
}

// Fields of LifecyclePolicy.
func (LifecyclePolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("application_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.Float("remind_every_hours").Optional().Nillable().Min(0),
		field.Int("max_reminders").Optional().Nillable().Min(0),
		field.Float("escalate_after_hours").Optional().Nillable().Min(0),
		field.Int("expire_pending_days").Optional().Nillable().Min(0),
		field.Int("warn_before_end_days").Optional().Nillable().Min(0),
		field.Enum("extension_review").GoType(enum.ExtensionReview("")).Optional().Nillable(),
	}
}

// Edges of LifecyclePolicy.
func (LifecyclePolicy) Edges() []ent.Edge {
	return []ent.Edge{
		// An application's policy goes with it (it must never become a
		// second global row).
		edge.To("application", Application.Type).Field("application_id").Unique().Immutable().
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of LifecyclePolicy: one row per application, and one global row
// (application_id NULL, kept single by the workflow's upsert).
func (LifecyclePolicy) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("application_id").Unique(),
	}
}

// Annotations of LifecyclePolicy: the API shows the effective policy
// (schema/lifecycle.graphql), not the rows.
func (LifecyclePolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of LifecyclePolicy.
func (LifecyclePolicy) Policy() ent.Policy {
	return authz.LifecyclePolicyPolicy()
}

// Hooks of LifecyclePolicy: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (LifecyclePolicy) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

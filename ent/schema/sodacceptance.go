package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// SodAcceptance is a risk manager's acceptance of a separation-of-duties
// conflict for one person: while it lasts (until, nil = for good), the
// conflict set does not block that person's requests, and the conflict is
// shown to reviewers as accepted, by whom and why. One per set and person;
// accepting again replaces it.
type SodAcceptance struct {
	ent.Schema
}

// Mixin of SodAcceptance.
func (SodAcceptance) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("soa"), TimeMixin{}}
}

// Fields of SodAcceptance.
func (SodAcceptance) Fields() []ent.Field {
	return []ent.Field{
		field.String("conflict_set_id").GoType(pulid.ID("")).Immutable().Annotations(readOnly()),
		field.String("user_id").GoType(pulid.ID("")).Immutable().Annotations(readOnly()),
		field.String("accepted_by_id").GoType(pulid.ID("")).Annotations(readOnly()),
		field.String("reason").NotEmpty().MaxLen(2000).Annotations(readOnly()),
		field.Time("until").Optional().Nillable().Annotations(readOnly()),
	}
}

// Edges of SodAcceptance.
func (SodAcceptance) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("conflict_set", SodConflictSet.Type).Ref("acceptances").Field("conflict_set_id").
			Unique().Required().Immutable().Annotations(readOnly(), entsql.OnDelete(entsql.Cascade)),
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable().
			Annotations(readOnly(), entsql.OnDelete(entsql.Cascade)),
		edge.To("accepted_by", User.Type).Field("accepted_by_id").Unique().Required().Annotations(readOnly()),
	}
}

// Indexes of SodAcceptance: one per conflict set and person.
func (SodAcceptance) Indexes() []ent.Index {
	return []ent.Index{index.Fields("conflict_set_id", "user_id").Unique()}
}

// Policy of SodAcceptance: risk managers and IT admins read them all, a
// person their own; only the workflow writes them.
func (SodAcceptance) Policy() ent.Policy {
	return authz.SodAcceptancePolicy()
}

// Hooks of SodAcceptance: every change is audited on the system chain
// (SOD_CONFLICT_ACCEPTED, SOD_ACCEPTANCE_REVOKED: audit.SystemChanges).
func (SodAcceptance) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

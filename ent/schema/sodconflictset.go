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

// SodConflictSet is a separation-of-duties rule: entitlements, possibly of
// several applications, that one person must not hold together ("create
// vendor" and "approve payment"). Holding any two of them is a conflict;
// its mode says whether a request that would make one is refused (BLOCK)
// or shown to its reviewers (WARN). IT admins and risk managers manage
// them (workflow.Service.CreateSodConflictSet).
type SodConflictSet struct {
	ent.Schema
}

// Mixin of SodConflictSet.
func (SodConflictSet) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("sod"), TimeMixin{}}
}

// Fields of SodConflictSet.
func (SodConflictSet) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Unique().Annotations(readOnly(), entgql.OrderField("NAME")),
		field.String("description").Default("").MaxLen(2000).Annotations(readOnly()),
		field.Enum("mode").GoType(enum.SodMode("")).Annotations(readOnly(), entgql.Type("SodMode")),
	}
}

// Edges of SodConflictSet.
func (SodConflictSet) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entitlements", Entitlement.Type).Annotations(readOnly()),
		edge.To("acceptances", SodAcceptance.Type).Annotations(readOnly()),
	}
}

// Annotations of SodConflictSet.
func (SodConflictSet) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
	}
}

// Policy of SodConflictSet: every authenticated viewer reads the sets (a
// requester sees why a request is refused); only the workflow writes them.
func (SodConflictSet) Policy() ent.Policy {
	return authz.SodConflictSetPolicy()
}

// Hooks of SodConflictSet: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (SodConflictSet) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// JobTitle is a position in the company, with an optional baseline bundle of
// entitlements that everyone with the title should hold.
type JobTitle struct {
	ent.Schema
}

// Mixin of JobTitle.
func (JobTitle) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("jbt"), TimeMixin{}}
}

// Fields of JobTitle.
func (JobTitle) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
	}
}

// Edges of JobTitle.
func (JobTitle) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("users", User.Type).Annotations(readOnly()),
		edge.To("baseline_entitlements", Entitlement.Type),
	}
}

// Annotations of JobTitle.
func (JobTitle) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of JobTitle.
func (JobTitle) Policy() ent.Policy {
	return authz.CatalogPolicy()
}

// Hooks of JobTitle: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (JobTitle) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

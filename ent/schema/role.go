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

// Role is a named bundle of entitlements across applications.
type Role struct {
	ent.Schema
}

// Mixin of Role.
func (Role) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rol"), TimeMixin{}}
}

// Fields of Role.
func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("description").Default("").MaxLen(2000),
	}
}

// Edges of Role.
func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("entitlements", Entitlement.Type),
		edge.To("owners", User.Type),
	}
}

// Annotations of Role.
func (Role) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of Role.
func (Role) Policy() ent.Policy {
	return authz.CatalogPolicy()
}

// Hooks of Role: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (Role) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

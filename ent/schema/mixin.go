// Package schema holds the ent schemas of Gatehouse: the entities of the
// domain model, their GraphQL annotations and their privacy policies.
package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// TimeMixin adds created_at and updated_at to a schema.
type TimeMixin struct {
	mixin.Schema
}

// Fields of the mixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(
				entgql.OrderField("CREATED_AT"),
				entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
			),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Annotations(
				entgql.OrderField("UPDATED_AT"),
				entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput),
			),
	}
}

// noInput keeps a field or edge out of the generated mutation inputs.
func noInput() entgql.Annotation {
	return entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
}

// readOnly keeps a field or edge out of mutation inputs and WHERE inputs.
func readOnly() entgql.Annotation {
	return entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput, entgql.SkipWhereInput)
}

// hidden keeps a field or edge out of the GraphQL API entirely.
func hidden() entgql.Annotation {
	return entgql.Skip(entgql.SkipAll)
}

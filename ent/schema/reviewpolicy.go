package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/workflow/rules"
)

// ReviewPolicy is a named, ordered set of review stages that IT admins
// manage ("Manager then risk manager"), each stage specified like a stage
// template (rules.ReviewStageSpec). A policy rule with outcome
// REQUIRE_REVIEW and a request policy name one.
type ReviewPolicy struct {
	ent.Schema
}

// Mixin of ReviewPolicy.
func (ReviewPolicy) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rvp"), TimeMixin{}}
}

// Fields of ReviewPolicy.
func (ReviewPolicy) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Unique(),
		field.String("description").Default("").MaxLen(2000),
		field.JSON("stages", []rules.ReviewStageSpec{}),
	}
}

// Annotations of ReviewPolicy: the API's types are hand-written
// (schema/policyrules.graphql).
func (ReviewPolicy) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of ReviewPolicy.
func (ReviewPolicy) Policy() ent.Policy {
	return authz.ReviewPolicyPolicy()
}

// Hooks of ReviewPolicy: every change is audited on the system chain
// (audit.SystemChanges).
func (ReviewPolicy) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

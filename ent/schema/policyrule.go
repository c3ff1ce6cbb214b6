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
	"gatehouse/internal/workflow/rules"
)

// PolicyRule is a rule evaluated at submission for each item, first match
// by position: its conditions (rules.RuleConditions) on the beneficiary,
// the entitlement, the action and the duration, and its outcome
// (AUTO_APPROVE, AUTO_DENY with a message, REQUIRE_REVIEW of a review
// policy). Its version grows by one on every change; the item records the
// rule and version that decided it.
type PolicyRule struct {
	ent.Schema
}

// Mixin of PolicyRule.
func (PolicyRule) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("prl"), TimeMixin{}}
}

// Fields of PolicyRule.
func (PolicyRule) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Unique(),
		field.Int("position").Min(0).Comment("evaluation order, lowest first"),
		field.Int("version").Default(1).Min(1),
		field.Bool("enabled").Default(true),
		field.JSON("conditions", rules.RuleConditions{}),
		field.Enum("outcome").GoType(enum.PolicyRuleOutcome("")),
		field.String("message").Default("").MaxLen(1000),
		field.String("review_policy_id").GoType(pulid.ID("")).Optional().Nillable(),
		field.Bool("allow_privileged_auto_approve").Default(false),
	}
}

// Edges of PolicyRule.
func (PolicyRule) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("review_policy", ReviewPolicy.Type).Field("review_policy_id").Unique(),
	}
}

// Annotations of PolicyRule: the API's types are hand-written
// (schema/policyrules.graphql).
func (PolicyRule) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of PolicyRule.
func (PolicyRule) Policy() ent.Policy {
	return authz.PolicyRulePolicy()
}

// Hooks of PolicyRule: every change is audited on the system chain
// (audit.SystemChanges).
func (PolicyRule) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

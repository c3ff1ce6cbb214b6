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
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// ReviewStageTemplate is one stage of an application's review policy, or of
// the global default policy when it has no application.
type ReviewStageTemplate struct {
	ent.Schema
}

// Mixin of ReviewStageTemplate.
func (ReviewStageTemplate) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("rst"), TimeMixin{}}
}

// Fields of ReviewStageTemplate.
func (ReviewStageTemplate) Fields() []ent.Field {
	return []ent.Field{
		field.String("application_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.Int("level").Min(1).Max(20).Immutable().Annotations(entgql.OrderField("LEVEL")),
		field.Enum("reviewer_kind").
			GoType(enum.ReviewerKind("")).
			Immutable().
			Annotations(entgql.Type("ReviewerKind")),
		field.Enum("rule").
			GoType(enum.StageRule("")).
			Default(string(enum.StageRuleAny)).
			Immutable().
			Annotations(entgql.Type("StageRule")),
		field.Int("quorum").Default(1).Min(1).Immutable(),
	}
}

// Edges of ReviewStageTemplate.
func (ReviewStageTemplate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("application", Application.Type).Ref("review_stages").Field("application_id").Unique().Immutable(),
		edge.To("designated_reviewers", User.Type),
	}
}

// Indexes of ReviewStageTemplate.
func (ReviewStageTemplate) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("application_id", "level").Unique(),
	}
}

// Annotations of ReviewStageTemplate.
func (ReviewStageTemplate) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
		entgql.Mutations(entgql.MutationCreate()),
	}
}

// Policy of ReviewStageTemplate.
func (ReviewStageTemplate) Policy() ent.Policy {
	return authz.CatalogPolicy()
}

// Hooks of ReviewStageTemplate: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (ReviewStageTemplate) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

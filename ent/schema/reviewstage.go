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
	"gatehouse/internal/authz"
)

// ReviewStage is one ordered stage of the review of a request item.
type ReviewStage struct {
	ent.Schema
}

// Mixin of ReviewStage.
func (ReviewStage) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("stg"), TimeMixin{}}
}

// Fields of ReviewStage.
func (ReviewStage) Fields() []ent.Field {
	return []ent.Field{
		field.String("item_id").GoType(pulid.ID("")).Immutable(),
		field.Int("level").Min(1).Immutable().Annotations(entgql.OrderField("LEVEL")),
		field.Enum("reviewer_kind").GoType(enum.ReviewerKind("")).Immutable().Annotations(entgql.Type("ReviewerKind")),
		field.Enum("rule").GoType(enum.StageRule("")).Immutable().Annotations(entgql.Type("StageRule")),
		field.Int("quorum").Default(1).Immutable(),
		field.Enum("status").GoType(enum.StageStatus("")).Annotations(entgql.Type("StageStatus")),
		// resolution says, when exclusions left the stage's own reviewer
		// kind fewer people than its rule needs, which fallback reviewers
		// made up the number and why (rules.PlanStages); empty otherwise.
		field.Text("resolution").Optional().Nillable().Immutable().
			Comment("Why fallback reviewers were added to reach the number the stage's rule needs; empty when none were."),
		// fallback_reviewer_ids are the users that resolution added.
		field.JSON("fallback_reviewer_ids", []pulid.ID{}).Optional().Immutable().Annotations(entgql.Skip()),
	}
}

// Edges of ReviewStage.
func (ReviewStage) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("item", RequestItem.Type).Ref("stages").Field("item_id").Unique().Required().Immutable(),
		edge.To("tasks", ReviewTask.Type).Annotations(readOnly()),
	}
}

// Indexes of ReviewStage.
func (ReviewStage) Indexes() []ent.Index {
	return []ent.Index{index.Fields("item_id", "level").Unique()}
}

// Annotations of ReviewStage.
func (ReviewStage) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// Policy of ReviewStage.
func (ReviewStage) Policy() ent.Policy {
	return authz.ReviewStagePolicy()
}

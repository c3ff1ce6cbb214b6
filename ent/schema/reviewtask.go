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

// ReviewTask is one reviewer's action on one stage. request_id is kept on the
// task so that completions are counted with one grouped query.
type ReviewTask struct {
	ent.Schema
}

// Mixin of ReviewTask.
func (ReviewTask) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("tsk"), TimeMixin{}}
}

// Fields of ReviewTask.
func (ReviewTask) Fields() []ent.Field {
	return []ent.Field{
		field.String("stage_id").GoType(pulid.ID("")).Immutable(),
		field.String("request_id").GoType(pulid.ID("")).Immutable(),
		field.String("reviewer_id").GoType(pulid.ID("")).Immutable(),
		field.Enum("status").GoType(enum.TaskStatus("")).Annotations(entgql.Type("TaskStatus"), entgql.OrderField("STATUS")),
		field.String("comment").Default("").MaxLen(4000),
		field.Time("decided_at").Optional().Nillable().Annotations(entgql.OrderField("DECIDED_AT")),
		field.String("on_behalf_of_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("decided_by_id").GoType(pulid.ID("")).Optional().Nillable(),
		field.Int("reminders").Default(0).Min(0).Annotations(readOnly()).
			Comment("reminders sent to the assignee of this task"),
		field.Time("reminded_at").Optional().Nillable().Annotations(readOnly()),
		field.Int("escalations").Default(0).Min(0).Immutable().Annotations(readOnly()).
			Comment("how many escalations moved the task to this assignee: 0 for a task as planned, 1 the assignee's manager, 2 the application owners, 3 the IT admins"),
	}
}

// Edges of ReviewTask.
func (ReviewTask) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("stage", ReviewStage.Type).Ref("tasks").Field("stage_id").Unique().Required().Immutable(),
		edge.To("request", AccessRequest.Type).Field("request_id").Unique().Required().Immutable(),
		edge.To("reviewer", User.Type).Field("reviewer_id").Unique().Required().Immutable(),
		edge.To("on_behalf_of", User.Type).Field("on_behalf_of_id").Unique().Immutable(),
		edge.To("decided_by", User.Type).Field("decided_by_id").Unique(),
	}
}

// Indexes of ReviewTask.
func (ReviewTask) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("request_id", "reviewer_id", "status"),
		// A reviewer's tasks in a state, newest first (myTasks): the open
		// page is a range of the index however many tasks are done.
		index.Fields("reviewer_id", "status", "created_at", "id"),
		index.Fields("stage_id"),
		// The pending tasks and the oldest of them (business metrics).
		index.Fields("status", "updated_at"),
	}
}

// Annotations of ReviewTask.
func (ReviewTask) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.MultiOrder(),
	}
}

// Policy of ReviewTask.
func (ReviewTask) Policy() ent.Policy {
	return authz.ReviewTaskPolicy()
}

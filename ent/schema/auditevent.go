package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// AuditEvent is one link of a hash chain: the chain of a request (its ID) or
// the "system" chain for changes outside any request.
type AuditEvent struct {
	ent.Schema
}

// Mixin of AuditEvent.
func (AuditEvent) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("aud")}
}

// Fields of AuditEvent.
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("chain").NotEmpty().Immutable(),
		field.Int64("seq").Min(1).Immutable().Annotations(entgql.OrderField("SEQ")),
		field.Time("at").Immutable().Annotations(entgql.OrderField("AT")),
		field.String("action").NotEmpty().Immutable(),
		field.String("actor").NotEmpty().Immutable().Comment("usr_…, tok_… or system"),
		field.JSON("data", map[string]any{}).Optional().Immutable(),
		field.String("prev_hash").Immutable(),
		field.String("hash").Immutable(),
		field.String("request_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("item_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
	}
}

// Edges of AuditEvent.
func (AuditEvent) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("request", AccessRequest.Type).Ref("audit_events").Field("request_id").Unique().Immutable(),
		edge.From("item", RequestItem.Type).Ref("audit_events").Field("item_id").Unique().Immutable(),
	}
}

// Indexes of AuditEvent.
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("chain", "seq").Unique(),
		index.Fields("at"),
	}
}

// Annotations of AuditEvent.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.MultiOrder(),
	}
}

// Policy of AuditEvent.
func (AuditEvent) Policy() ent.Policy {
	return authz.AuditEventPolicy()
}

// Hooks of AuditEvent: the rows are append-only; updates and deletes are
// refused (audit.ErrAppendOnly), as the database's triggers refuse them.
func (AuditEvent) Hooks() []ent.Hook {
	return []ent.Hook{audit.AppendOnly}
}

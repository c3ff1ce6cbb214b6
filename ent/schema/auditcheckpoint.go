package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// AuditCheckpoint folds the head of one audit chain into the global,
// hash-chained checkpoint sequence, so that a deleted chain or a cut tail is
// found by verification.
type AuditCheckpoint struct {
	ent.Schema
}

// Mixin of AuditCheckpoint.
func (AuditCheckpoint) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ack")}
}

// Fields of AuditCheckpoint.
func (AuditCheckpoint) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("seq").Unique().Min(1).Immutable().Annotations(entgql.OrderField("SEQ")),
		field.Time("at").Default(time.Now).Immutable(),
		field.String("chain").NotEmpty().Immutable(),
		field.Int64("head_seq").Immutable(),
		field.String("head_hash").Immutable(),
		field.String("prev_hash").Immutable(),
		field.String("hash").Immutable(),
	}
}

// Indexes of AuditCheckpoint: the checkpoints of a chain (the checkpointer
// reads each changed chain's last checkpointed head) and by time
// (verification of a period).
func (AuditCheckpoint) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("chain", "head_seq"),
		index.Fields("at"),
	}
}

// Annotations of AuditCheckpoint.
func (AuditCheckpoint) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// Policy of AuditCheckpoint.
func (AuditCheckpoint) Policy() ent.Policy {
	return authz.AuditCheckpointPolicy()
}

// Hooks of AuditCheckpoint: the rows are append-only; updates and deletes are
// refused (audit.ErrAppendOnly), as the database's triggers refuse them.
func (AuditCheckpoint) Hooks() []ent.Hook {
	return []ent.Hook{audit.AppendOnly}
}

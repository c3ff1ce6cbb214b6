package audit

import (
	"context"
	"errors"
	"fmt"

	entgo "entgo.io/ent"
)

// ErrAppendOnly is the error, wrapped, of an attempt to update or delete a
// stored audit event or checkpoint through ent. Test for it with errors.Is.
var ErrAppendOnly = errors.New("audit rows are append-only")

// AppendOnly is the ent hook of the audit tables (AuditEvent and
// AuditCheckpoint, declared in their schemas' Hooks() so that every client,
// those built over a transaction included, runs it): creations go through;
// updates and deletes, one row or many, are refused with ErrAppendOnly
// before any SQL is sent, whatever the caller's rights (the system context
// included). The database's own triggers refuse them too (see
// internal/database).
func AppendOnly(next entgo.Mutator) entgo.Mutator {
	return entgo.MutateFunc(func(ctx context.Context, m entgo.Mutation) (entgo.Value, error) {
		if op := m.Op(); !op.Is(entgo.OpCreate) {
			return nil, fmt.Errorf("audit: %s %s refused: %w", m.Type(), op, ErrAppendOnly)
		}
		return next.Mutate(ctx, m)
	})
}

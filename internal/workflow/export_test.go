package workflow

import (
	"context"

	"gatehouse/ent"
)

// Change runs fn as a state change of s: in the transaction every method of
// Service uses, with its client, for tests of what the transaction does
// around the change.
func (s *Service) Change(ctx context.Context, fn func(ctx context.Context, client *ent.Client) error) error {
	return s.inTx(ctx, func(ctx context.Context, t *txn) error { return fn(ctx, t.client) })
}

// Package catalog administers what can be requested and who works here: users,
// job titles, roles, applications, entitlements and review stage templates.
// Every method is for IT admins; it checks the caller first (FORBIDDEN), then
// the input (INVALID_INPUT naming the field, CONFLICT naming the field for a
// value another record holds where values are unique, NOT_FOUND for unknown
// IDs), and
// writes in one transaction, so a failed call writes nothing.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// Terminator applies a user's termination to the requests, reviews and
// access in flight (internal/workflow).
type Terminator interface {
	Terminate(ctx context.Context, userID pulid.ID, actor string) error
}

// Service is the catalog administration service.
type Service struct {
	client     *ent.Client
	connectors *connectors.Registry
	terminator Terminator
}

// New returns a Service writing through client, validating connector
// configurations with the kinds of reg, and handing terminations to t.
func New(client *ent.Client, reg *connectors.Registry, t Terminator) *Service {
	return &Service{client: client, connectors: reg, terminator: t}
}

// write runs fn in a transaction after checking that the viewer is an IT
// admin, and returns fn's result.
func write[T any](ctx context.Context, s *Service, fn func(tx *ent.Tx) (T, error)) (T, error) {
	var zero T
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "change the catalog"}); err != nil {
		return zero, err
	}
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return zero, fmt.Errorf("begin: %w", err)
	}
	out, err := fn(tx)
	if err != nil {
		return zero, errors.Join(err, rollback(tx))
	}
	if err := tx.Commit(); err != nil {
		return zero, fmt.Errorf("commit: %w", err)
	}
	// Detach the entity from the committed transaction, so that GraphQL can
	// load its edges afterwards.
	if u, ok := any(out).(interface{ Unwrap() T }); ok {
		out = u.Unwrap()
	}
	return out, nil
}

func rollback(tx *ent.Tx) error {
	if err := tx.Rollback(); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// existing checks that every ID of ids names an object: count returns how
// many of the distinct ids exist. A missing one is NOT_FOUND naming field.
func existing(ctx context.Context, field, what string, ids []pulid.ID, count func(context.Context, []pulid.ID) (int, error)) error {
	distinct := make(map[pulid.ID]struct{}, len(ids))
	list := make([]pulid.ID, 0, len(ids))
	for _, id := range ids {
		if _, dup := distinct[id]; !dup {
			distinct[id] = struct{}{}
			list = append(list, id)
		}
	}
	if len(list) == 0 {
		return nil
	}
	n, err := count(ctx, list)
	if err != nil {
		return fmt.Errorf("check %s: %w", field, err)
	}
	if n != len(list) {
		e := errcode.New(errcode.NotFound, "%s: no such %s among %v", field, what, list)
		e.Field = field
		return e
	}
	return nil
}

// optional returns the ID a pointer holds, as a list of zero or one.
func optional(id *pulid.ID) []pulid.ID {
	if id == nil {
		return nil
	}
	return []pulid.ID{*id}
}

// inputField names an input field: "ownerIDs", or "addOwnerIDs" with prefix
// "add".
func inputField(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + strings.ToUpper(field[:1]) + field[1:]
}

package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
)

// Event is one audit event to append. RequestID and ItemID link it to the
// request and item it concerns; Data holds its details (see Canonical for
// the values Data may hold).
type Event struct {
	Action    Action
	RequestID *pulid.ID
	ItemID    *pulid.ID
	Data      map[string]any
}

// Recorder appends events to audit chains and reads request trails. It holds
// no state besides the database dialect and is safe for concurrent use.
type Recorder struct {
	dialect string
}

// NewRecorder returns a Recorder for a database of the given dialect:
// entgo.io/ent/dialect.Postgres or dialect.SQLite. Append refuses any other.
func NewRecorder(dialect string) *Recorder {
	return &Recorder{dialect: dialect}
}

// Append appends events, in order, to the end of chain, inside tx, all with
// the given actor (a user ID, an API token ID or "system") and time. at is
// truncated to microseconds in UTC before it is hashed and stored. A request
// chain is named by the request's ID: its events' RequestID is filled in
// when nil and must otherwise equal the chain.
//
// Appends to one chain are serialised: on PostgreSQL by a transaction-scoped
// advisory lock on the chain's name (held until tx ends, so tx must run at
// READ COMMITTED, the default, for the head read after the lock to see the
// previous holder's rows); on SQLite by the IMMEDIATE write transaction.
// Rows are written in the system context, so only domain services that have
// checked the caller's rights may call it, and only inside the transaction
// of the change they record.
//
// It returns the created rows in seq order. Errors are internal (uncoded):
// an invalid argument (empty chain, actor or action, zero time, a RequestID
// other than the chain, unencodable data), an unsupported dialect, or a
// database failure, including a unique violation on (chain, seq) if a
// concurrent append was not serialised. Nothing is written on error, but tx
// should then be rolled back.
func (r *Recorder) Append(ctx context.Context, client *ent.Client, chain, actor string, at time.Time, events ...Event) ([]*ent.AuditEvent, error) {
	switch {
	case chain == "":
		return nil, errors.New("audit: append: empty chain")
	case actor == "":
		return nil, fmt.Errorf("audit: append to %s: empty actor", chain)
	case at.IsZero():
		return nil, fmt.Errorf("audit: append to %s: zero time", chain)
	case len(events) == 0:
		return nil, nil
	}
	at = at.UTC().Truncate(time.Microsecond)

	// Check the events before taking the lock, on a copy: the caller's
	// slice is left alone.
	events = slices.Clone(events)
	datas := make([]map[string]any, len(events))
	for i := range events {
		ev := &events[i]
		if ev.Action == "" {
			return nil, fmt.Errorf("audit: append to %s: event %d: empty action", chain, i)
		}
		if chain != SystemChain {
			if ev.RequestID == nil {
				id := pulid.ID(chain)
				ev.RequestID = &id
			} else if string(*ev.RequestID) != chain {
				return nil, fmt.Errorf("audit: append to %s: event %d (%s) names request %s", chain, i, ev.Action, *ev.RequestID)
			}
		}
		d, err := normalise(ev.Data)
		if err != nil {
			return nil, fmt.Errorf("audit: append to %s: event %d (%s): %w", chain, i, ev.Action, err)
		}
		datas[i] = d
	}

	if err := r.lock(ctx, client, chain); err != nil {
		return nil, err
	}
	sctx := authz.SystemContext(ctx)
	seq, prev := int64(0), GenesisHash
	head, err := client.AuditEvent.Query().
		Where(auditevent.Chain(chain)).
		Order(auditevent.BySeq(entsql.OrderDesc())).
		Select(auditevent.FieldSeq, auditevent.FieldHash).
		First(sctx)
	switch {
	case err == nil:
		seq, prev = head.Seq, head.Hash
	case !ent.IsNotFound(err):
		return nil, fmt.Errorf("audit: append to %s: read head: %w", chain, err)
	}

	builders := make([]*ent.AuditEventCreate, len(events))
	for i, ev := range events {
		seq++
		canon, err := Canonical(chain, seq, at, string(ev.Action), actor, ev.RequestID, ev.ItemID, datas[i])
		if err != nil {
			return nil, fmt.Errorf("audit: append to %s: event %d (%s): %w", chain, i, ev.Action, err)
		}
		hash := Hash(prev, canon)
		builders[i] = client.AuditEvent.Create().
			SetChain(chain).
			SetSeq(seq).
			SetAt(at).
			SetAction(string(ev.Action)).
			SetActor(actor).
			SetData(datas[i]).
			SetPrevHash(prev).
			SetHash(hash).
			SetNillableRequestID(ev.RequestID).
			SetNillableItemID(ev.ItemID)
		prev = hash
	}
	rows, err := client.AuditEvent.CreateBulk(builders...).Save(sctx)
	if err != nil {
		return nil, fmt.Errorf("audit: append to %s: %w", chain, err)
	}
	return rows, nil
}

// lock serialises appends to chain until tx ends.
func (r *Recorder) lock(ctx context.Context, client *ent.Client, chain string) error {
	switch r.dialect {
	case dialect.Postgres:
		if _, err := client.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", chain); err != nil {
			return fmt.Errorf("audit: append to %s: lock chain: %w", chain, err)
		}
		return nil
	case dialect.SQLite:
		// The IMMEDIATE transaction holds the database's write lock.
		return nil
	default:
		return fmt.Errorf("audit: append to %s: unsupported dialect %q", chain, r.dialect)
	}
}

// Trail returns the audit chain of the request requestID in seq order. It
// reads with ctx, so privacy applies: a viewer who may not see the request
// gets an empty trail. Any caller may use it; errors are database failures.
func (r *Recorder) Trail(ctx context.Context, client *ent.Client, requestID pulid.ID) ([]*ent.AuditEvent, error) {
	events, err := client.AuditEvent.Query().
		Where(auditevent.Chain(string(requestID))).
		Order(auditevent.BySeq()).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: trail of %s: %w", requestID, err)
	}
	return events, nil
}

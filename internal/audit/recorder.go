package audit

import (
	"context"
	"errors"
	"fmt"
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
// of the change they record. (The workflow appends to request chains with
// AppendAfter, under the request's row lock.)
//
// It returns the created rows in seq order. Errors are internal (uncoded):
// an invalid argument (empty chain, actor or action, zero time, a RequestID
// other than the chain, unencodable data), an unsupported dialect, or a
// database failure, including a unique violation on (chain, seq) if a
// concurrent append was not serialised. Nothing is written on error, but tx
// should then be rolled back.
func (r *Recorder) Append(ctx context.Context, client *ent.Client, chain, actor string, at time.Time, events ...Event) ([]*ent.AuditEvent, error) {
	if len(events) == 0 {
		if err := checkBatch(chain, Batch{Actor: actor, At: at}); err != nil {
			return nil, err
		}
		return nil, nil
	}
	rows, err := r.prepare(chain, []Batch{{Actor: actor, At: at, Events: events}})
	if err != nil {
		return nil, err
	}
	if err := r.lock(ctx, client, chain); err != nil {
		return nil, err
	}
	head, err := r.Head(ctx, client, chain)
	if err != nil {
		return nil, err
	}
	builders, _, err := r.builders(client, chain, head, rows)
	if err != nil {
		return nil, err
	}
	out, err := client.AuditEvent.CreateBulk(builders...).Save(authz.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("audit: append to %s: %w", chain, err)
	}
	return out, nil
}

// Head is the last event of a chain: its seq and hash; the zero Head
// (seq 0, empty hash) is an empty chain's.
type Head struct {
	Seq  int64
	Hash string
}

// prevHash is the hash the next event links to.
func (h Head) prevHash() string {
	if h.Seq == 0 {
		return GenesisHash
	}
	return h.Hash
}

// Head reads the head of chain. The caller must hold whatever serialises
// appends to the chain (see Append and AppendAfter) for the answer to stay
// true until it appends. Errors are database failures.
func (r *Recorder) Head(ctx context.Context, client *ent.Client, chain string) (Head, error) {
	head, err := client.AuditEvent.Query().
		Where(auditevent.Chain(chain)).
		Order(auditevent.BySeq(entsql.OrderDesc())).
		Select(auditevent.FieldSeq, auditevent.FieldHash).
		First(authz.SystemContext(ctx))
	switch {
	case err == nil:
		return Head{Seq: head.Seq, Hash: head.Hash}, nil
	case ent.IsNotFound(err):
		return Head{}, nil
	default:
		return Head{}, fmt.Errorf("audit: append to %s: read head: %w", chain, err)
	}
}

// Batch is events appended with one actor at one time (see Append).
type Batch struct {
	Actor  string
	At     time.Time
	Events []Event
}

// AppendAfter appends the batches, in order, after head, the chain's head as
// the caller read it (Head, or the zero Head for a chain it created in this
// transaction), with one statement, and returns the new head. The caller
// holds, until tx ends, a lock that serialises every append to the chain:
// the workflow holds the request's row lock for a request chain (and
// appends to request chains only so); the IMMEDIATE transaction does it on
// SQLite. The arguments and errors are Append's.
func (r *Recorder) AppendAfter(ctx context.Context, client *ent.Client, chain string, head Head, batches ...Batch) (Head, error) {
	rows, err := r.prepare(chain, batches)
	if err != nil || len(rows) == 0 {
		return head, err
	}
	builders, next, err := r.builders(client, chain, head, rows)
	if err != nil {
		return head, err
	}
	if err := client.AuditEvent.CreateBulk(builders...).Exec(authz.SystemContext(ctx)); err != nil {
		return head, fmt.Errorf("audit: append to %s: %w", chain, err)
	}
	return next, nil
}

// row is one event ready to be chained.
type row struct {
	actor string
	at    time.Time
	ev    Event
	data  map[string]any
}

func checkBatch(chain string, b Batch) error {
	switch {
	case chain == "":
		return errors.New("audit: append: empty chain")
	case b.Actor == "":
		return fmt.Errorf("audit: append to %s: empty actor", chain)
	case b.At.IsZero():
		return fmt.Errorf("audit: append to %s: zero time", chain)
	}
	return nil
}

// prepare checks the batches and normalises their events, on copies: the
// caller's slices are left alone.
func (r *Recorder) prepare(chain string, batches []Batch) ([]row, error) {
	var out []row
	for _, b := range batches {
		if err := checkBatch(chain, b); err != nil {
			return nil, err
		}
		at := b.At.UTC().Truncate(time.Microsecond)
		for _, ev := range b.Events {
			i := len(out)
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
			out = append(out, row{actor: b.Actor, at: at, ev: ev, data: d})
		}
	}
	return out, nil
}

// builders chains rows after head and returns their builders and the new
// head.
func (r *Recorder) builders(client *ent.Client, chain string, head Head, rows []row) ([]*ent.AuditEventCreate, Head, error) {
	seq, prev := head.Seq, head.prevHash()
	out := make([]*ent.AuditEventCreate, len(rows))
	for i, rw := range rows {
		seq++
		canon, err := Canonical(chain, seq, rw.at, string(rw.ev.Action), rw.actor, rw.ev.RequestID, rw.ev.ItemID, rw.data)
		if err != nil {
			return nil, head, fmt.Errorf("audit: append to %s: event %d (%s): %w", chain, i, rw.ev.Action, err)
		}
		hash := Hash(prev, canon)
		out[i] = client.AuditEvent.Create().
			SetChain(chain).
			SetSeq(seq).
			SetAt(rw.at).
			SetAction(string(rw.ev.Action)).
			SetActor(rw.actor).
			SetData(rw.data).
			SetPrevHash(prev).
			SetHash(hash).
			SetNillableRequestID(rw.ev.RequestID).
			SetNillableItemID(rw.ev.ItemID)
		prev = hash
	}
	return out, Head{Seq: seq, Hash: prev}, nil
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

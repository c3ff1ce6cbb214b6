// Package workflow is the access request lifecycle (DESIGN §4): submission in
// every mode, review by stages, cancellation, fulfilment through connectors,
// expiry, and manual fulfilment. Every state change runs in one transaction
// that also writes its audit events and enqueues its jobs; connector calls and
// events to subscribers happen only after commit. The fine rules (who may
// decide this task) are checked here; ent privacy policies filter what each
// viewer can read.
package workflow

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
)

// Jobs enqueues background jobs in the caller's transaction, so that a job
// exists if and only if the change that asked for it commits; it also finds
// an item's fulfilment job and cancels one that has run past its deadline. A
// River client over *sql.Tx satisfies it.
type Jobs interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertManyTx(ctx context.Context, tx *sql.Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobListTx(ctx context.Context, tx *sql.Tx, params *river.JobListParams) (*river.JobListResult, error)
	JobCancelTx(ctx context.Context, tx *sql.Tx, jobID int64) (*rivertype.JobRow, error)
}

// Connectors opens the connector of an application.
type Connectors interface {
	Open(kind string, config map[string]any) (connectors.Connector, error)
}

// Changes is told which requests each state change touched, so that their
// progress reaches subscribers (progress.Feed implements it).
type Changes interface {
	// NotifyTx is called inside the change's transaction just before
	// commit (on PostgreSQL: pg_notify, which is delivered only if the
	// transaction commits). An error rolls the change back.
	NotifyTx(ctx context.Context, tx *sql.Tx, requestIDs []pulid.ID) error
	// Published is called after commit. It must not block.
	Published(requestIDs ...pulid.ID)
}

// Observer is told, after the fact, of each fulfilment attempt and each
// expiry that ended a grant, for metrics (*metrics.Metrics implements it).
// Its methods must not block.
type Observer interface {
	// FulfillmentAttempted reports one attempt of a fulfilment job that
	// reached the connector stage, with the application's connector kind
	// and the attempt's error (nil when it succeeded).
	FulfillmentAttempted(connectorKind string, err error)
	// GrantExpired reports a temporary grant ended by its expiry.
	GrantExpired(connectorKind string)
	// ExpiryFailed reports a failed connector call that was to end a
	// temporary grant at its expiry (the job tries again).
	ExpiryFailed(connectorKind string, err error)
}

// noObserver is the Observer of a Service configured without one.
type noObserver struct{}

func (noObserver) FulfillmentAttempted(string, error) {}
func (noObserver) GrantExpired(string)                {}
func (noObserver) ExpiryFailed(string, error)         {}

// Service runs the request lifecycle.
type Service struct {
	db         *sql.DB
	dialect    string
	client     *ent.Client
	audit      *audit.Recorder
	jobs       Jobs
	connectors Connectors
	now        func() time.Time
	changes    Changes
	log        *slog.Logger
	observer   Observer
	outboxes   []Outbox
	// fulfillmentTimeout is the fulfilment job's deadline.
	fulfillmentTimeout time.Duration
	// writer, on SQLite, is the turn of this process's state changes (see
	// inTx); nil on PostgreSQL.
	writer chan struct{}
}

// Config holds what a Service needs.
type Config struct {
	DB         *sql.DB
	Dialect    string
	Client     *ent.Client
	Jobs       Jobs
	Connectors Connectors
	// Now is the clock; time.Now in production.
	Now func() time.Time
	// Changes is told of the requests each state change touched, in its
	// transaction and after commit; nil tells nobody.
	Changes Changes
	// Observer is told of fulfilment attempts and expiries; nil tells
	// nobody.
	Observer Observer
	// FulfillmentTimeout is how long one attempt of a fulfilment job may
	// run (the job runner's timeout for it); connector calls get less.
	// Zero means DefaultFulfillmentTimeout.
	FulfillmentTimeout time.Duration
	// Log receives a line per committed state change and per failed
	// connector call; nil discards them.
	Log *slog.Logger
	// Outboxes turn each state change's audit events into deliveries
	// (notifications, event webhooks) inside its transaction, as one job;
	// the job runner works it with the same outboxes (Outboxes).
	Outboxes []Outbox
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{
		db:         cfg.DB,
		dialect:    cfg.Dialect,
		client:     cfg.Client,
		audit:      audit.NewRecorder(cfg.Dialect),
		jobs:       cfg.Jobs,
		connectors: cfg.Connectors,
		now:        cfg.Now,
		changes:    cfg.Changes,
		log:        cmp.Or(cfg.Log, slog.New(slog.DiscardHandler)),
		observer:   cmp.Or[Observer](cfg.Observer, noObserver{}),
		outboxes:   cfg.Outboxes,

		fulfillmentTimeout: cmp.Or(cfg.FulfillmentTimeout, DefaultFulfillmentTimeout),
	}
	if cfg.Dialect == dialect.SQLite {
		s.writer = make(chan struct{}, 1)
	}
	return s
}

// txn is one state change in progress: the SQL transaction, an ent client
// over it, who makes the change, what it changed — to be settled before
// commit and published after — and what it knows of the requests it works
// on, its audit events and its jobs, written in one go before commit.
type txn struct {
	sql    *sql.Tx
	client *ent.Client
	// actor names who makes the change in the events the transaction writes
	// of itself (REQUEST_COMPLETED): the viewer, or the system for jobs.
	actor   string
	changed changes
	// logged are the audit events written, given to the outboxes before
	// commit and logged after.
	logged []Event
	known  knowledge
	// locked holds the requests whose rows the transaction locked (or
	// created): their audit chains may be appended to without more locking.
	locked map[pulid.ID]bool
	// heads are the heads of audit chains read under the request's lock.
	heads map[pulid.ID]audit.Head
	// events are the audit events to append, by chain, in order.
	events map[pulid.ID][]audit.Batch
	// jobs are the jobs to insert.
	jobs []river.InsertManyParams
}

// touch records that a request changed.
func (t *txn) touch(id pulid.ID) { t.changed.requests[id] = true }

// inTx runs fn in a transaction whose ent client bypasses privacy (fn has
// checked the caller). Before commit it derives the status of every request
// fn changed (settleChanged: whatever request items, review stages and review
// tasks fn wrote, and whatever trails it appended to), writes the audit
// events fn recorded, hands them to the outboxes, writes the jobs fn asked
// for and the outboxes' one job, and notifies those requests inside the
// transaction; after commit it publishes them. Entities fn read or wrote
// through t.client stay usable after inTx returns (their lazy loads then
// read the pool).
//
// On SQLite, where one transaction writes at a time, the state changes of
// the process take turns (first come, first served) before they take a
// connection. Left to SQLite, waiting writers poll for the lock: under load
// one can lose every poll until the busy timeout fails it with
// SQLITE_BUSY, while each waiter holds one of the pool's connections that
// the writer may need for a read outside its transaction.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	if s.writer != nil {
		select {
		case s.writer <- struct{}{}:
			defer func() { <-s.writer }()
		case <-ctx.Done():
			return fmt.Errorf("begin: %w", ctx.Err())
		}
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	client, done := database.TxClientThen(sqlTx, s.db, s.dialect, s.now)
	defer done()
	t := &txn{
		sql:     sqlTx,
		client:  client,
		actor:   systemActor,
		changed: newChanges(),
		known:   newKnowledge(),
		locked:  map[pulid.ID]bool{},
		heads:   map[pulid.ID]audit.Head{},
		events:  map[pulid.ID][]audit.Batch{},
	}
	if v := authz.FromContext(ctx); v != nil {
		t.actor = v.Actor()
	}
	t.client.Use(t.track)
	rollback := func(err error) error {
		if rerr := sqlTx.Rollback(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	ctx = authz.SystemContext(ctx)
	if err := fn(ctx, t); err != nil {
		return rollback(err)
	}
	changed, err := s.settleChanged(ctx, t)
	if err != nil {
		return rollback(err)
	}
	if err := s.writeEvents(ctx, t); err != nil {
		return rollback(fmt.Errorf("record events: %w", err))
	}
	if len(t.logged) > 0 {
		job, err := s.outboxJob(ctx, t)
		if err != nil {
			return rollback(err)
		}
		if job != nil {
			t.jobs = append(t.jobs, *job)
		}
	}
	if len(t.jobs) > 0 {
		if _, err := s.jobs.InsertManyTx(ctx, sqlTx, t.jobs); err != nil {
			return rollback(fmt.Errorf("enqueue jobs: %w", err))
		}
	}
	if len(changed) > 0 && s.changes != nil {
		if err := s.changes.NotifyTx(ctx, sqlTx, changed); err != nil {
			return rollback(fmt.Errorf("notify: %w", err))
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if len(changed) > 0 && s.changes != nil {
		s.changes.Published(changed...)
	}
	s.logCommitted(ctx, t.logged)
	return nil
}

// lockRequests locks the request rows in ID order, so that concurrent
// decisions on one request serialise and bulk decisions cannot deadlock. On
// SQLite the IMMEDIATE write transaction already serialises writers.
func (s *Service) lockRequests(ctx context.Context, t *txn, ids ...pulid.ID) error {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id pulid.ID) bool { return t.locked[id] })
	if len(ids) == 0 {
		return nil
	}
	if s.dialect == dialect.Postgres {
		_, err := t.client.AccessRequest.Query().
			Where(accessrequest.IDIn(ids...)).
			Order(accessrequest.ByID()).
			ForUpdate().
			IDs(ctx)
		if err != nil {
			return fmt.Errorf("lock requests: %w", err)
		}
	}
	for _, id := range ids {
		t.locked[id] = true
	}
	return nil
}

// lockVisible locks, in ID order, the requests of the given review tasks
// that the viewer of viewerCtx may see (privacy filters the rows), and
// returns them as read under the lock. On SQLite the IMMEDIATE write
// transaction already serialises writers, and this only reads.
func (s *Service) lockVisible(viewerCtx context.Context, t *txn, taskIDs []pulid.ID) ([]*ent.AccessRequest, error) {
	q := t.client.AccessRequest.Query().
		Where(accessrequest.HasTasksWith(reviewtask.IDIn(taskIDs...))).
		Order(accessrequest.ByID())
	if s.dialect == dialect.Postgres {
		q.ForUpdate()
	}
	reqs, err := q.All(viewerCtx)
	if err != nil {
		return nil, fmt.Errorf("lock requests: %w", err)
	}
	for _, r := range reqs {
		t.locked[r.ID] = true
	}
	return reqs, nil
}

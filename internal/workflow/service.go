// Package workflow is the access request lifecycle (DESIGN §4): submission in
// every mode, review by stages, cancellation, fulfilment through connectors,
// expiry, and manual fulfilment. Every state change runs in one transaction
// that also writes its audit events and enqueues its jobs; connector calls and
// events to subscribers happen only after commit. The fine rules (who may
// decide this task) are checked here; ent privacy policies filter what each
// viewer can read.
package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// Jobs enqueues background jobs in the caller's transaction, so that a job
// exists if and only if the change that asked for it commits. A River client
// over *sql.Tx satisfies it.
type Jobs interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Connectors opens the connector of an application.
type Connectors interface {
	Open(kind string, config map[string]any) (connectors.Connector, error)
}

// Service runs the request lifecycle.
type Service struct {
	db         *sql.DB
	dialect    string
	client     *ent.Client
	audit      *audit.Recorder
	jobs       Jobs
	connectors Connectors
	now        func() time.Time
	published  func(requestIDs ...pulid.ID)
	notify     func(ctx context.Context, tx *sql.Tx, requestIDs []pulid.ID) error
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
	// Published is told, after each commit, which requests changed. It must
	// not block.
	Published func(requestIDs ...pulid.ID)
	// Notify is told, inside each state change's transaction just before
	// commit, which requests changed (on PostgreSQL: pg_notify, which is
	// delivered only if the transaction commits). An error rolls the change
	// back. Nil does nothing.
	Notify func(ctx context.Context, tx *sql.Tx, requestIDs []pulid.ID) error
}

// New returns a Service.
func New(cfg Config) *Service {
	published := cfg.Published
	if published == nil {
		published = func(...pulid.ID) {}
	}
	return &Service{
		db:         cfg.DB,
		dialect:    cfg.Dialect,
		client:     cfg.Client,
		audit:      audit.NewRecorder(cfg.Dialect),
		jobs:       cfg.Jobs,
		connectors: cfg.Connectors,
		now:        cfg.Now,
		published:  published,
		notify:     cfg.Notify,
	}
}

// txn is one state change in progress: the SQL transaction, an ent client
// over it, and the requests it changed, to be published after commit.
type txn struct {
	sql     *sql.Tx
	client  *ent.Client
	changed []pulid.ID
}

// touch records that a request changed.
func (t *txn) touch(id pulid.ID) { t.changed = append(t.changed, id) }

// inTx runs fn in a transaction whose ent client bypasses privacy (fn has
// checked the caller), notifies the changed requests inside it, commits, and
// then publishes them.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &txn{
		sql:    sqlTx,
		client: ent.NewClient(ent.Driver(txDriver{entsql.NewDriver(s.dialect, entsql.Conn{ExecQuerier: sqlTx})})),
	}
	if err := fn(authz.SystemContext(ctx), t); err != nil {
		if rerr := sqlTx.Rollback(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if len(t.changed) > 0 && s.notify != nil {
		if err := s.notify(ctx, sqlTx, distinct(t.changed)); err != nil {
			if rerr := sqlTx.Rollback(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if len(t.changed) > 0 {
		s.published(t.changed...)
	}
	return nil
}

// txDriver is an ent driver over an open *sql.Tx. The transactions ent opens
// itself for multi-statement writes join the outer one.
type txDriver struct{ *entsql.Driver }

// Tx implements dialect.Driver.
func (d txDriver) Tx(context.Context) (dialect.Tx, error) { return dialect.NopTx(d), nil }

// lockRequests locks the request rows in ID order, so that concurrent
// decisions on one request serialise and bulk decisions cannot deadlock. On
// SQLite the IMMEDIATE write transaction already serialises writers.
func (s *Service) lockRequests(ctx context.Context, t *txn, ids ...pulid.ID) error {
	if s.dialect != dialect.Postgres || len(ids) == 0 {
		return nil
	}
	_, err := t.client.AccessRequest.Query().
		Where(accessrequest.IDIn(ids...)).
		Order(accessrequest.ByID()).
		ForUpdate().
		IDs(ctx)
	if err != nil {
		return fmt.Errorf("lock requests: %w", err)
	}
	return nil
}

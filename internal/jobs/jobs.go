// Package jobs runs Gatehouse's durable background work on River: the
// fulfilment of approved items, the expiry of temporary grants, the
// periodic sweep of fulfilments whose job ended without an outcome, and the
// periodic audit checkpoint. Fulfilment and expiry jobs are inserted by
// internal/workflow in the transaction of the change that asks for them, so
// they exist exactly when that change commits, and survive restarts. The
// checkpoint and sweep jobs are River periodic jobs, never part of a
// change's transaction.
//
// Every job may run for the fulfilment timeout. A job still marked running
// twice that long after it started lost its worker (a crash) and is
// rescued: it runs again or, after its last attempt, is discarded, and then
// the sweep fails its item.
package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/database"
	"gatehouse/internal/workflow"
)

// Worker is the domain work the jobs run.
type Worker interface {
	Fulfill(ctx context.Context, itemID pulid.ID, attempt, maxAttempts int) error
	Expire(ctx context.Context, grantID pulid.ID) error
	SweepFulfillments(ctx context.Context) (int, error)
}

// Checkpointer folds the new heads of changed audit chains into the
// checkpoint sequence; *audit.Log is one.
type Checkpointer interface {
	Checkpoint(ctx context.Context) (int, error)
}

// DefaultCheckpointInterval is how often the checkpoint job runs: a change
// is checkpointed within seconds (DESIGN §4.5 asks for at least every
// minute).
const DefaultCheckpointInterval = 5 * time.Second

// Options tunes the runner.
type Options struct {
	// Checkpoints, when set, is run by a periodic job every
	// CheckpointInterval (default DefaultCheckpointInterval), and once when
	// the runner becomes River's leader.
	Checkpoints        Checkpointer
	CheckpointInterval time.Duration
	// PollInterval is how often workers look for jobs that no wake-up
	// announced (jobs scheduled for later, retries); default
	// DefaultPollInterval. New jobs are fetched at once (Wake).
	PollInterval time.Duration
	// RetryDelay, when set, replaces River's exponential backoff with a
	// fixed delay between attempts.
	RetryDelay time.Duration
	// FulfillmentTimeout is how long one attempt of a job may run; default
	// workflow.DefaultFulfillmentTimeout. A job still running twice as long
	// after it started is rescued, and the sweep runs every half of it.
	FulfillmentTimeout time.Duration
	// MaxWorkers bounds concurrent jobs; default 10.
	MaxWorkers int
	Logger     *slog.Logger
	// Extensions add the workers and periodic jobs of other packages
	// (notifications, webhooks, lifecycle sweeps) to the same River client.
	Extensions []Extension
}

// Extension is another package's durable work on the runner's River
// client. Register is called once, before the client is built: it adds its
// workers and returns its periodic jobs (each with a unique ID).
type Extension interface {
	Register(workers *river.Workers) []*river.PeriodicJob
}

// GroupedQueue is the queue of the jobs whose workers run through a Group
// (the workflow's outbox jobs: notifications, webhook fan-outs). A job
// waiting for its group's run holds a worker slot but no connection, so
// the queue has GroupedWorkers slots, apart from the default queue's
// MaxWorkers: when jobs pile up, one run works up to that many of them.
const (
	GroupedQueue   = workflow.GroupedQueue
	GroupedWorkers = 100
)

// DefaultPollInterval is how often an idle runner looks for jobs.
const DefaultPollInterval = time.Second

// reindexed are the job table's indexes River rebuilds periodically: its
// default list without those the migration drops.
func reindexed() []string {
	return slices.DeleteFunc(river.ReindexerIndexNamesDefault(), func(name string) bool {
		return slices.Contains(database.DroppedRiverIndexes, name)
	})
}

// Runner owns the River client. Create it, hand Client to the workflow
// service, then Start it with that service as Worker.
type Runner struct {
	client  *river.Client[*sql.Tx]
	wakeup  *wakeListener
	log     *slog.Logger
	poll    time.Duration
	mu      sync.Mutex
	worker  Worker
	started bool
}

// New builds a runner over db. On SQLite River gets its own pool of one
// connection on the same file (riverDB), as its driver recommends; jobs are
// still inserted on the workflow's transactions of the main pool.
func New(db, riverDB *sql.DB, dialectName string, opts Options) (*Runner, error) {
	r := &Runner{wakeup: newWakeListener(river.QueueDefault, GroupedQueue)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &fulfillWorker{r: r})
	river.AddWorker(workers, &expireWorker{r: r})
	river.AddWorker(workers, &sweepWorker{r: r})
	timeout := cmp.Or(opts.FulfillmentTimeout, workflow.DefaultFulfillmentTimeout)
	cfg := &river.Config{
		FetchPollInterval: opts.PollInterval,
		FetchCooldown:     10 * time.Millisecond,
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: opts.MaxWorkers},
			GroupedQueue:       {MaxWorkers: GroupedWorkers},
		},
		Workers:             workers,
		Logger:              opts.Logger,
		JobTimeout:          timeout,
		ReindexerIndexNames: reindexed(),
		// The rescue of a job whose worker is gone waits for its deadline
		// and as long again (River's default is an hour).
		RescueStuckJobsAfter: 2 * timeout,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(
			river.PeriodicInterval(timeout/2),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "fulfillment_sweep", RunOnStart: true},
		)},
	}
	for _, e := range opts.Extensions {
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, e.Register(workers)...)
	}
	if opts.Checkpoints != nil {
		interval := opts.CheckpointInterval
		if interval <= 0 {
			interval = DefaultCheckpointInterval
		}
		river.AddWorker(workers, &checkpointWorker{c: opts.Checkpoints})
		cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(
			river.PeriodicInterval(interval),
			func() (river.JobArgs, *river.InsertOpts) { return CheckpointArgs{}, nil },
			&river.PeriodicJobOpts{ID: "audit_checkpoint", RunOnStart: true},
		))
	}
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = DefaultPollInterval
	}
	if opts.MaxWorkers == 0 {
		cfg.Queues[river.QueueDefault] = river.QueueConfig{MaxWorkers: 10}
	}
	if opts.RetryDelay > 0 {
		cfg.RetryPolicy = fixedRetry(opts.RetryDelay)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r.log, r.poll = cfg.Logger, cfg.FetchPollInterval
	// River's routine news (job counts every few seconds, maintenance
	// runs, its start and stop) is DEBUG; its warnings and errors stay.
	cfg.Logger = slog.New(demoted{cfg.Logger.Handler()})
	var err error
	switch dialectName {
	case dialect.Postgres:
		r.client, err = river.NewClient(wakeDriver{riverdatabasesql.New(db), r.wakeup}, cfg)
	case dialect.SQLite:
		if riverDB == nil {
			riverDB = db
		}
		r.client, err = river.NewClient(wakeDriver{riversqlite.New(riverDB), r.wakeup}, cfg)
	default:
		return nil, fmt.Errorf("jobs: unsupported dialect %q", dialectName)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return r, nil
}

// Client is the River client; the workflow inserts jobs with its InsertTx.
func (r *Runner) Client() *river.Client[*sql.Tx] { return r.client }

// Wake makes the runner look for new jobs at once: call it after a
// transaction that inserted jobs commits, in this process or another. It
// never blocks; wake-ups close together are one.
func (r *Runner) Wake() { r.wakeup.wake() }

// Start starts working jobs with w. Calling it twice is an error.
func (r *Runner) Start(ctx context.Context, w Worker) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("jobs: already started")
	}
	r.worker, r.started = w, true
	if err := r.client.Start(ctx); err != nil {
		return err
	}
	r.log.InfoContext(ctx, "job runner started: new jobs start when a commit announces them; scheduled jobs and retries are found by polling",
		"poll_interval", r.poll.String())
	return nil
}

// demoted is a slog handler for a library's logger: it writes the library's
// INFO (and lower) records at DEBUG, and its warnings and errors as they are.
type demoted struct{ slog.Handler }

func (h demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, demote(l))
}

func (h demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h demoted) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoted{h.Handler.WithAttrs(attrs)}
}

func (h demoted) WithGroup(name string) slog.Handler { return demoted{h.Handler.WithGroup(name)} }

func demote(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}

// Stop waits for running jobs to finish (or ctx to end). Stopping a runner
// that never started, or twice, is harmless.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	started := r.started
	r.started = false
	r.mu.Unlock()
	if !started {
		return nil
	}
	return r.client.Stop(ctx)
}

func (r *Runner) work() Worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.worker
}

type fulfillWorker struct {
	river.WorkerDefaults[workflow.FulfillArgs]
	r *Runner
}

func (w *fulfillWorker) Work(ctx context.Context, job *river.Job[workflow.FulfillArgs]) error {
	return w.r.work().Fulfill(ctx, job.Args.ItemID, job.Attempt, job.MaxAttempts)
}

type expireWorker struct {
	river.WorkerDefaults[workflow.ExpireArgs]
	r *Runner
}

func (w *expireWorker) Work(ctx context.Context, job *river.Job[workflow.ExpireArgs]) error {
	return w.r.work().Expire(ctx, job.Args.GrantID)
}

// SweepArgs is the periodic job that fails the items whose fulfilment job
// ended without an outcome (workflow.Service.SweepFulfillments).
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "fulfillment_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts, like CheckpointArgs.
func (SweepArgs) InsertOpts() river.InsertOpts { return CheckpointArgs{}.InsertOpts() }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	r *Runner
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.r.work().SweepFulfillments(ctx)
	return err
}

// CheckpointArgs is the periodic audit checkpoint job. At most one is
// waiting or running at a time; a run that finds nothing new writes nothing.
type CheckpointArgs struct{}

// Kind implements river.JobArgs.
func (CheckpointArgs) Kind() string { return "audit_checkpoint" }

// InsertOpts implements river.JobArgsWithInsertOpts: the job is unique
// while it is waiting or running, so slow runs never pile up, and it does
// not retry (the next period runs it again).
func (CheckpointArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}

type checkpointWorker struct {
	river.WorkerDefaults[CheckpointArgs]
	c Checkpointer
}

func (w *checkpointWorker) Work(ctx context.Context, _ *river.Job[CheckpointArgs]) error {
	_, err := w.c.Checkpoint(ctx)
	return err
}

// fixedRetry retries after a fixed delay.
type fixedRetry time.Duration

func (d fixedRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(time.Duration(d))
}

var (
	_ workflow.Jobs = (*river.Client[*sql.Tx])(nil)
	_ Worker        = (*workflow.Service)(nil)
)

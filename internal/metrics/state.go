package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
)

const (
	// DefaultStateTTL is how long the figures read from the database serve
	// scrapes before they are read again: however many scrapes come, the
	// queries run at most once per TTL.
	DefaultStateTTL = 5 * time.Second
	// DefaultStateTimeout bounds one reading of the figures.
	DefaultStateTimeout = 2 * time.Second
)

// StateConfig configures the figures RegisterState reads from the database.
type StateConfig struct {
	// DB and Dialect (dialect.Postgres or dialect.SQLite) hold River's
	// river_job table; Client reads Gatehouse's own tables.
	DB      *sql.DB
	Dialect string
	Client  *ent.Client
	// Now is the clock the ages of tasks and audit events are measured on
	// (the one that times them); job ages are measured on the database's
	// clock, which River times them on. Nil means time.Now.
	Now func() time.Time
	// TTL is how long a reading serves scrapes (on Now's clock); zero
	// means DefaultStateTTL. Timeout bounds a reading; zero means
	// DefaultStateTimeout.
	TTL     time.Duration
	Timeout time.Duration
	// Log receives failed readings; nil discards them.
	Log *slog.Logger
}

// RegisterState exposes figures of the whole deployment read from the
// database at scrape time, so that every replica reports the same:
// requests by status, pending review tasks and the age of the oldest, jobs
// by kind and state and the age of the oldest due (or running) one, and the
// audit checkpoint lag. A few grouped queries run in the system context
// (privacy does not filter them), under cfg.Timeout, at most once per
// cfg.TTL; a failed reading is logged and counted in
// gatehouse_state_read_errors_total, and the last good one is served
// meanwhile. Call it once per Metrics; a second call panics.
func (m *Metrics) RegisterState(cfg StateConfig) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultStateTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultStateTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	m.registry.MustRegister(&stateCollector{
		cfg:   cfg,
		kinds: map[string]bool{},
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_state_read_errors_total",
			Help: "Failed readings of the figures read from the database at scrape time (the last good reading is served meanwhile).",
		}),
	})
}

var (
	requestsDesc = prometheus.NewDesc("gatehouse_requests",
		"Access requests by status.", []string{"status"}, nil)
	pendingTasksDesc = prometheus.NewDesc("gatehouse_review_tasks_pending",
		"Review tasks waiting for a decision (PENDING).", nil, nil)
	pendingAgeDesc = prometheus.NewDesc("gatehouse_review_task_oldest_pending_seconds",
		"How long the oldest PENDING review task has waited for a decision; 0 when none waits.", nil, nil)
	jobsDesc = prometheus.NewDesc("gatehouse_jobs",
		"Background jobs not finished, by kind and state (available, pending, retryable, running, scheduled).", []string{"kind", "state"}, nil)
	jobAgeDesc = prometheus.NewDesc("gatehouse_job_oldest_seconds",
		"By kind and state, how long the oldest due job has waited for a worker (running: how long the oldest has run); 0 when none.", []string{"kind", "state"}, nil)
	checkpointLagDesc = prometheus.NewDesc("gatehouse_audit_checkpoint_lag_seconds",
		"Age of the oldest audit event written after the latest audit checkpoint; 0 when every event is checkpointed.", nil, nil)
)

// jobStates are the states of River jobs not finished.
var jobStates = []string{"available", "pending", "retryable", "running", "scheduled"}

// state is one reading of the database.
type state struct {
	requests      map[enum.RequestStatus]int
	pendingTasks  int
	oldestPending time.Duration
	jobs          map[[2]string]jobFigures // by kind and state
	checkpointLag time.Duration
}

type jobFigures struct {
	count  int
	oldest float64 // seconds
}

// stateCollector is the prometheus.Collector of RegisterState.
type stateCollector struct {
	cfg    StateConfig
	errors prometheus.Counter

	mu    sync.Mutex // held while reading, so that concurrent scrapes share one reading
	last  *state
	at    time.Time       // of last, on cfg.Now's clock
	kinds map[string]bool // job kinds seen, reported with zeros once gone
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, pendingTasksDesc, pendingAgeDesc, jobsDesc, jobAgeDesc, checkpointLagDesc} {
		ch <- d
	}
	c.errors.Describe(ch)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	now := c.cfg.Now()
	if c.last == nil || now.Sub(c.at) >= c.cfg.TTL || now.Before(c.at) {
		ctx, cancel := context.WithTimeout(authz.SystemContext(context.Background()), c.cfg.Timeout)
		s, err := c.read(ctx, now)
		cancel()
		if err != nil {
			c.errors.Inc()
			c.cfg.Log.Warn("metrics: read state", "error", err)
		} else {
			c.last, c.at = s, now
			for k := range s.jobs {
				c.kinds[k[0]] = true
			}
		}
	}
	s := c.last
	kinds := make([]string, 0, len(c.kinds))
	for k := range c.kinds {
		kinds = append(kinds, k)
	}
	c.mu.Unlock()
	c.errors.Collect(ch)
	if s == nil {
		return
	}
	for _, st := range enum.AllRequestStatuses {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.GaugeValue, float64(s.requests[st]), string(st))
	}
	ch <- prometheus.MustNewConstMetric(pendingTasksDesc, prometheus.GaugeValue, float64(s.pendingTasks))
	ch <- prometheus.MustNewConstMetric(pendingAgeDesc, prometheus.GaugeValue, s.oldestPending.Seconds())
	slices.Sort(kinds)
	for _, kind := range kinds {
		for _, st := range jobStates {
			f := s.jobs[[2]string{kind, st}]
			ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(f.count), kind, st)
			ch <- prometheus.MustNewConstMetric(jobAgeDesc, prometheus.GaugeValue, f.oldest, kind, st)
		}
	}
	ch <- prometheus.MustNewConstMetric(checkpointLagDesc, prometheus.GaugeValue, s.checkpointLag.Seconds())
}

// read runs the queries of one reading.
func (c *stateCollector) read(ctx context.Context, now time.Time) (*state, error) {
	client := c.cfg.Client
	s := &state{requests: map[enum.RequestStatus]int{}}

	var byStatus []struct {
		Status enum.RequestStatus `json:"status"`
		Count  int                `json:"count"`
	}
	if err := client.AccessRequest.Query().GroupBy(accessrequest.FieldStatus).
		Aggregate(ent.Count()).Scan(ctx, &byStatus); err != nil {
		return nil, fmt.Errorf("requests by status: %w", err)
	}
	for _, r := range byStatus {
		s.requests[r.Status] = r.Count
	}

	if err := c.readPending(ctx, now, s); err != nil {
		return nil, err
	}

	var err error
	if s.jobs, err = c.readJobs(ctx); err != nil {
		return nil, err
	}

	unfolded := client.AuditEvent.Query()
	last, err := client.AuditCheckpoint.Query().Order(auditcheckpoint.ByAt(entsql.OrderDesc())).
		Select(auditcheckpoint.FieldAt).First(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("latest audit checkpoint: %w", err)
	default:
		unfolded.Where(auditevent.AtGT(last.At))
	}
	oldest, err := unfolded.Order(auditevent.ByAt()).Select(auditevent.FieldAt).First(ctx)
	switch {
	case ent.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("oldest audit event after the latest checkpoint: %w", err)
	default:
		s.checkpointLag = max(0, now.Sub(oldest.At))
	}
	return s, nil
}

// pendingQuery counts the PENDING review tasks and finds when the oldest
// became PENDING (its last update: it was created so, or activated with its
// stage; a decision would have ended it), in seconds since the Unix epoch,
// in one scan of the table (PostgreSQL).
var pendingQuery = fmt.Sprintf(`SELECT count(*), coalesce(extract(epoch FROM min(%[1]s)), 0)::float8
FROM %[2]s WHERE %[3]s = 'PENDING'`, reviewtask.FieldUpdatedAt, reviewtask.Table, reviewtask.FieldStatus)

// readPending reads the pending review tasks into s. SQLite holds times as
// text that only the driver parses, so there ent counts them and reads the
// oldest.
func (c *stateCollector) readPending(ctx context.Context, now time.Time, s *state) error {
	var oldest time.Time
	if c.cfg.Dialect == dialect.Postgres {
		var since float64
		if err := c.cfg.DB.QueryRowContext(ctx, pendingQuery).Scan(&s.pendingTasks, &since); err != nil {
			return fmt.Errorf("pending tasks: %w", err)
		}
		oldest = time.Unix(0, int64(since*float64(time.Second)))
	} else {
		pending := c.cfg.Client.ReviewTask.Query().Where(reviewtask.StatusEQ(enum.TaskStatusPending))
		n, err := pending.Clone().Count(ctx)
		if err != nil {
			return fmt.Errorf("pending tasks: %w", err)
		}
		if s.pendingTasks = n; n == 0 {
			return nil
		}
		t, err := pending.Order(reviewtask.ByUpdatedAt()).Select(reviewtask.FieldUpdatedAt).First(ctx)
		switch {
		case ent.IsNotFound(err): // decided meanwhile
			return nil
		case err != nil:
			return fmt.Errorf("oldest pending task: %w", err)
		}
		oldest = t.UpdatedAt
	}
	if s.pendingTasks > 0 {
		s.oldestPending = max(0, now.Sub(oldest))
	}
	return nil
}

// Job figures per kind and state, aged on the database's clock: the oldest
// due job (scheduled_at passed) of each waiting state, the oldest running
// job since its attempt began.
const (
	jobsQueryPostgres = `SELECT kind, state::text, count(*),
  coalesce(extract(epoch FROM now() - min(CASE WHEN state = 'running' THEN attempted_at
    WHEN scheduled_at <= now() THEN scheduled_at END)), 0)::float8
FROM river_job
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
GROUP BY kind, state`
	jobsQuerySQLite = `SELECT kind, state, count(*),
  coalesce((julianday('now') - julianday(min(CASE WHEN state = 'running' THEN attempted_at
    WHEN scheduled_at <= datetime('now', 'subsec') THEN scheduled_at END))) * 86400.0, 0.0)
FROM river_job
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
GROUP BY kind, state`
)

func (c *stateCollector) readJobs(ctx context.Context) (map[[2]string]jobFigures, error) {
	query := jobsQuerySQLite
	if c.cfg.Dialect == dialect.Postgres {
		query = jobsQueryPostgres
	}
	rows, err := c.cfg.DB.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer rows.Close()
	out := map[[2]string]jobFigures{}
	for rows.Next() {
		var kind, st string
		var f jobFigures
		if err := rows.Scan(&kind, &st, &f.count, &f.oldest); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		f.oldest = max(0, f.oldest)
		out[[2]string{kind, st}] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	return out, nil
}

package jobs_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/jobs"
	"gatehouse/internal/workflow"
)

// call is one run of a job by the fake worker.
type call struct {
	id               pulid.ID
	attempt, maxAtts int
	at               time.Time
}

// fakeWorker records the jobs it runs; its first failures fulfilments fail
// (all of them when failures < 0).
type fakeWorker struct {
	mu       sync.Mutex
	failures int
	fulfils  []call
	expires  []call
	sweeps   int
}

func (w *fakeWorker) Fulfill(_ context.Context, itemID pulid.ID, attempt, maxAttempts int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fulfils = append(w.fulfils, call{id: itemID, attempt: attempt, maxAtts: maxAttempts, at: time.Now()})
	if w.failures < 0 || len(w.fulfils) <= w.failures {
		return errors.New("connector down")
	}
	return nil
}

func (w *fakeWorker) Expire(_ context.Context, grantID pulid.ID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expires = append(w.expires, call{id: grantID, at: time.Now()})
	return nil
}

func (w *fakeWorker) SweepFulfillments(context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sweeps++
	return 0, nil
}

func (w *fakeWorker) swept() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sweeps
}

func (w *fakeWorker) calls() (fulfils, expires []call) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]call(nil), w.fulfils...), append([]call(nil), w.expires...)
}

var _ jobs.Worker = (*fakeWorker)(nil)

// newRunner builds a runner over db the way the server does: on SQLite River
// gets its own one-connection pool on the same file.
func newRunner(t *testing.T, db *dbtest.DB, opts jobs.Options) *jobs.Runner {
	t.Helper()
	var riverDB *sql.DB
	if db.Dialect == dialect.SQLite {
		var err error
		riverDB, err = sql.Open("sqlite", db.DSN)
		require.NoError(t, err)
		riverDB.SetMaxOpenConns(1)
		t.Cleanup(func() { riverDB.Close() })
	}
	r, err := jobs.New(db.SQL, riverDB, db.Dialect, opts)
	require.NoError(t, err)
	return r
}

// jobState reads the state and attempt count of a job.
func jobState(t *testing.T, db *dbtest.DB, id int64) (string, int) {
	t.Helper()
	q := "SELECT state, attempt FROM river_job WHERE id = $1"
	if db.Dialect == dialect.SQLite {
		q = "SELECT state, attempt FROM river_job WHERE id = ?"
	}
	var (
		state   string
		attempt int
	)
	require.NoError(t, db.SQL.QueryRow(q, id).Scan(&state, &attempt))
	return state, attempt
}

func stop(t *testing.T, r *jobs.Runner) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Stop(ctx)
}

func TestNewRejectsUnknownDialect(t *testing.T) {
	t.Parallel()
	_, err := jobs.New(nil, nil, "mysql", jobs.Options{})
	require.ErrorContains(t, err, "mysql")
}

// TestRunnerLifecycle: Stop before Start and a second Stop are harmless;
// a second Start is an error; a started runner hands jobs to its worker and
// a stopped one works nothing.
func TestRunnerLifecycle(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		w := &fakeWorker{}
		r := newRunner(t, db, jobs.Options{})
		require.NotNil(t, r.Client())
		require.NoError(t, stop(t, r), "stopping a runner that never started")

		require.NoError(t, r.Start(ctx, w))
		t.Cleanup(func() { _ = stop(t, r) })
		require.Error(t, r.Start(ctx, w), "a second Start")

		_, err := r.Client().Insert(ctx, workflow.ExpireArgs{GrantID: "grt_1"}, nil)
		require.NoError(t, err)
		_, err = r.Client().Insert(ctx, workflow.FulfillArgs{ItemID: "itm_1"}, &river.InsertOpts{MaxAttempts: 3})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			f, e := w.calls()
			return len(f) == 1 && len(e) == 1
		}, 20*time.Second, 10*time.Millisecond, "the started runner works both kinds")
		f, e := w.calls()
		require.Equal(t, pulid.ID("grt_1"), e[0].id)
		require.Equal(t, call{id: "itm_1", attempt: 1, maxAtts: 3}, call{id: f[0].id, attempt: f[0].attempt, maxAtts: f[0].maxAtts})

		require.NoError(t, stop(t, r))
		require.NoError(t, stop(t, r), "a second Stop")
		_, err = r.Client().Insert(ctx, workflow.ExpireArgs{GrantID: "grt_2"}, nil)
		require.NoError(t, err)
		// The job waits for a runner that is started: a new one works it,
		// the stopped one never sees it.
		w2 := &fakeWorker{}
		r2 := newRunner(t, db, jobs.Options{})
		require.NoError(t, r2.Start(ctx, w2))
		t.Cleanup(func() { _ = stop(t, r2) })
		require.Eventually(t, func() bool { _, e := w2.calls(); return len(e) == 1 }, time.Minute, 10*time.Millisecond)
		_, e = w.calls()
		require.Len(t, e, 1, "a stopped runner works nothing")
	})
}

// TestRunnerFixedRetryDelay: with RetryDelay set, a failing job is retried
// after that delay (River's default backoff would wait 1s, then 16s) until
// the worker succeeds; the worker sees each attempt number and the budget.
// A job that never succeeds is discarded after its last attempt.
func TestRunnerFixedRetryDelay(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		const delay = 200 * time.Millisecond
		w := &fakeWorker{failures: 3}
		r := newRunner(t, db, jobs.Options{RetryDelay: delay})
		require.NoError(t, r.Start(ctx, w))
		t.Cleanup(func() { _ = stop(t, r) })

		res, err := r.Client().Insert(ctx, workflow.FulfillArgs{ItemID: "itm_retry"}, &river.InsertOpts{MaxAttempts: 10})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			state, _ := jobState(t, db, res.Job.ID)
			return state == "completed"
		}, 20*time.Second, 20*time.Millisecond, "the job succeeds at the fourth attempt (River's own backoff would wait 1+16+81 s)")
		state, attempts := jobState(t, db, res.Job.ID)
		require.Equal(t, "completed", state)
		require.Equal(t, 4, attempts)

		f, _ := w.calls()
		require.Len(t, f, 4, "three failures, one success")
		var gaps []time.Duration
		for i, c := range f {
			require.Equal(t, i+1, c.attempt)
			require.Equal(t, 10, c.maxAtts)
			require.Equal(t, pulid.ID("itm_retry"), c.id)
			if i > 0 {
				gaps = append(gaps, c.at.Sub(f[i-1].at))
			}
		}
		t.Logf("gaps between attempts on %s: %v", db.Name, gaps)
		for _, g := range gaps {
			require.GreaterOrEqual(t, g, delay-10*time.Millisecond, "not before the delay")
		}
	})
}

// TestRunnerDiscardsAfterLastAttempt: a job whose worker always fails runs
// MaxAttempts times, the last one told it is the last, and is discarded.
func TestRunnerDiscardsAfterLastAttempt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		w := &fakeWorker{failures: -1}
		r := newRunner(t, db, jobs.Options{RetryDelay: 20 * time.Millisecond})
		require.NoError(t, r.Start(ctx, w))
		t.Cleanup(func() { _ = stop(t, r) })

		res, err := r.Client().Insert(ctx, workflow.FulfillArgs{ItemID: "itm_doomed"}, &river.InsertOpts{MaxAttempts: 3})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			state, _ := jobState(t, db, res.Job.ID)
			return state == "discarded"
		}, 20*time.Second, 20*time.Millisecond, "discarded after three attempts")
		f, _ := w.calls()
		require.Len(t, f, 3)
		require.Equal(t, 3, f[2].attempt)
		require.Equal(t, 3, f[2].maxAtts, "the last attempt knows it is the last (Fulfill marks the item FAILED then)")
	})
}

// TestRunnerRescuesJobOfDeadWorker: a fulfilment job left running by a
// worker that died (a killed process) is run again once twice the
// fulfilment timeout has passed since it started — not after River's
// default hour — and the sweep runs when the runner starts.
func TestRunnerRescuesJobOfDeadWorker(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		w := &fakeWorker{}
		r := newRunner(t, db, jobs.Options{FulfillmentTimeout: 2 * time.Second, RetryDelay: 10 * time.Millisecond})
		res, err := r.Client().Insert(ctx, workflow.FulfillArgs{ItemID: "itm_orphan"}, &river.InsertOpts{MaxAttempts: 5})
		require.NoError(t, err)
		// The state a SIGKILL leaves: running, first attempt, started well
		// over twice the timeout ago (the time River's rescuer compares with).
		q := "UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1 WHERE id = $2"
		if db.Dialect == dialect.SQLite {
			q = "UPDATE river_job SET state = 'running', attempt = 1, attempted_at = ? WHERE id = ?"
		}
		_, err = db.SQL.Exec(q, time.Now().UTC().Add(-time.Minute).Format("2006-01-02 15:04:05.000000"), res.Job.ID)
		require.NoError(t, err)

		require.NoError(t, r.Start(ctx, w))
		t.Cleanup(func() { _ = stop(t, r) })
		require.Eventually(t, func() bool {
			f, _ := w.calls()
			return len(f) == 1
		}, 30*time.Second, 20*time.Millisecond, "the orphaned job is rescued and run again")
		f, _ := w.calls()
		require.Equal(t, 2, f[0].attempt, "the interrupted attempt counts")
		require.Eventually(t, func() bool { return w.swept() > 0 }, 30*time.Second, 20*time.Millisecond, "the sweep runs on start")
	})
}

// groupedArgs is a job of the grouped queue whose worker goes through a
// Group.
type groupedArgs struct {
	N int `json:"n"`
}

func (groupedArgs) Kind() string { return "grouped_test" }

func (groupedArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.GroupedQueue} }

type groupedWorker struct {
	river.WorkerDefaults[groupedArgs]
	g *jobs.Group[int]
}

func (w *groupedWorker) Work(ctx context.Context, job *river.Job[groupedArgs]) error {
	return w.g.Do(ctx, job.Args.N)
}

type groupedExtension struct{ g *jobs.Group[int] }

func (e groupedExtension) Register(workers *river.Workers) []*river.PeriodicJob {
	river.AddWorker(workers, &groupedWorker{g: e.g})
	return nil
}

// TestGroupedQueueWorksJobsInOneRun: 50 jobs of the grouped queue waiting
// when the runner starts are all worked at once (the queue has more slots
// than the default queue's 10): while the first runs alone, the other 49
// wait for its run and then run together.
func TestGroupedQueueWorksJobsInOneRun(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		var (
			mu   sync.Mutex
			runs []int
		)
		release := make(chan struct{})
		g := &jobs.Group[int]{Run: func(_ context.Context, args []int) error {
			mu.Lock()
			first := len(runs) == 0
			runs = append(runs, len(args))
			mu.Unlock()
			if first {
				<-release
			}
			return nil
		}}
		r := newRunner(t, db, jobs.Options{Extensions: []jobs.Extension{groupedExtension{g: g}}})
		params := make([]river.InsertManyParams, 50)
		for i := range params {
			params[i] = river.InsertManyParams{Args: groupedArgs{N: i}}
		}
		_, err := r.Client().InsertMany(ctx, params)
		require.NoError(t, err)
		require.NoError(t, r.Start(ctx, &fakeWorker{}))
		t.Cleanup(func() { _ = stop(t, r) })

		require.Eventually(t, func() bool { return g.Waiting() == 49 }, time.Minute, 10*time.Millisecond,
			"49 jobs wait for the first one's run")
		close(release)
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(runs) == 2
		}, time.Minute, 10*time.Millisecond)
		mu.Lock()
		require.Equal(t, []int{1, 49}, runs)
		mu.Unlock()
	})
}

// TestReindexedIndexesExist checks that River's periodic reindexing names
// only indexes a migrated PostgreSQL database has (it warns at every run of
// each one missing) and still covers the job table's other indexes.
func TestReindexedIndexesExist(t *testing.T) {
	t.Parallel()
	db := dbtest.NewPostgres(t)
	rows, err := db.SQL.Query(`SELECT indexname FROM pg_indexes WHERE tablename = 'river_job'`)
	require.NoError(t, err)
	defer rows.Close()
	var have []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		have = append(have, name)
	}
	require.NoError(t, rows.Err())
	require.ElementsMatch(t, have, jobs.Reindexed())
}

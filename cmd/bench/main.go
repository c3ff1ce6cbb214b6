// Command bench measures Gatehouse's read and write paths against the real
// server binary, and side by side with PostGraphile and with a pgbench
// replay of Gatehouse's own SQL (BENCHMARKS.md, "Read and write paths").
//
//	go run ./cmd/bench -db postgres://postgres@127.0.0.1:5432/gatehouse_bench?sslmode=disable -compare
//
// It needs a PostgreSQL it may write to: the database named by -db (its
// name must contain "bench") is created when missing and its public schema
// is dropped and rebuilt on every run. Then:
//
//  1. Seed: the organisation and -requests access requests, submitted
//     through the workflow in this process as the API submits them (2,000
//     requests make 3,720 items and 11,121 review tasks).
//  2. Count: each operation runs one at a time against the same server
//     graph in this process (jobs off, so nothing else talks to the
//     database), its connections passing through a recorder of the
//     PostgreSQL protocol: statements per operation (BEGIN and COMMIT
//     apart) and, for the reads, their SQL with parameters for pgbench.
//  3. Rounds: the server binary (go build of this module, or -server)
//     and, with -compare, PostGraphile 4.14.1 (bench/postgraphile, npm ci
//     when not installed) run on the database; each round runs every
//     operation for -d at -c concurrent clients (-wc for writes) against
//     Gatehouse, then its PostGraphile equivalent, then pgbench replaying
//     Gatehouse's statements, one after the other, so that the machine's
//     load hits all alike. Server CPU per request is read from
//     /proc/<pid>/stat, Gatehouse's allocations from its /metrics.
//     Before the rounds the server works, with nobody calling it, the
//     background jobs the seed left, and then its idle cost is measured;
//     after them it works those the rounds left. Both print how many jobs,
//     how fast and the server CPU per job: what the jobs of a write cost
//     apart from the write, and whether the runner keeps up.
//
// At the end it prints the medians over rounds and the ratios, as a
// Markdown table. It exits 1 when an operation failed or did nothing.
//
// -scale N multiplies the seeded requests with plain SQL copies (scale.go:
// 200,000 requests from -requests 2000 -scale 100 in about 90 s); -reuse
// keeps the data set an earlier run left instead of wiping and seeding, so
// that runs on two databases (1× and 100×) can alternate.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/database"
	"gatehouse/internal/server"
	"gatehouse/resolvers"
)

type config struct {
	dsn      string
	requests int
	conc     int
	writeC   int
	dur      time.Duration
	warmup   time.Duration
	rounds   int
	ops      []string
	compare  bool
	server   string
	keepDir  bool
	drop     bool
	scale    int
	reuse    bool
}

func main() {
	var cfg config
	var ops string
	flag.StringVar(&cfg.dsn, "db", envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gatehouse_bench?sslmode=disable"),
		"PostgreSQL database to create or wipe and use; its name must contain \"bench\" (BENCH_DATABASE_URL)")
	flag.IntVar(&cfg.requests, "requests", 2000, "access requests in the data set")
	flag.IntVar(&cfg.conc, "c", 16, "concurrent clients for the reads (nested, viewer)")
	flag.IntVar(&cfg.writeC, "wc", 32, "concurrent clients for the writes (submit, decide)")
	flag.DurationVar(&cfg.dur, "d", 15*time.Second, "length of each measured run")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured load before the first round of each server")
	flag.IntVar(&cfg.rounds, "rounds", 5, "interleaved rounds")
	flag.StringVar(&ops, "ops", "nested,viewer,submit,decide", "operations to run")
	flag.BoolVar(&cfg.compare, "compare", false, "also run PostGraphile 4.14.1 and the pgbench replay, and print the ratios")
	flag.StringVar(&cfg.server, "server", "", "gatehouse binary to run (default: go build of this module)")
	flag.BoolVar(&cfg.keepDir, "keep", false, "keep the working directory (server logs, pgbench scripts)")
	flag.BoolVar(&cfg.drop, "drop", false, "drop the database at the end")
	flag.IntVar(&cfg.scale, "scale", 1, "multiply the seeded requests (with their items, stages, tasks and audit chains) by this factor with plain SQL copies (at most 254)")
	flag.BoolVar(&cfg.reuse, "reuse", false, "keep the data set an earlier run left in -db instead of wiping and seeding it (for the reads: earlier writes are not undone)")
	flag.Parse()
	for _, o := range strings.Split(ops, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if _, ok := operations[o]; !ok {
				fmt.Fprintf(os.Stderr, "bench: unknown operation %q (nested, viewer, submit, decide)\n", o)
				os.Exit(2)
			}
			cfg.ops = append(cfg.ops, o)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// The operations. The nested query is issue 12's: the first 50 requests
// with requester, items → entitlement → application, stages → tasks →
// reviewer, and completion. PostGraphile's equivalent reads the same rows
// through its relations (completion aside: it has no such field).
var operations = map[string]struct{ gatehouse, postgraphile string }{
	"nested": {
		gatehouse: `query Nested { accessRequests(first: 50) { edges { node { id status submittedAt
  requester { id name email }
  completion { done total percent }
  items { id action status
    entitlement { id name application { id name } }
    stages { id level status tasks { id status reviewer { id name email } } } } } }
  pageInfo { hasNextPage endCursor } } }`,
		postgraphile: `query Nested { allAccessRequests(first: 50, orderBy: PRIMARY_KEY_ASC) { nodes { id status submittedAt
  userByRequesterId { id name email }
  requestItemsByRequestId { nodes { id action status
    entitlementByEntitlementId { id name applicationByApplicationId { id name } }
    reviewStagesByItemId { nodes { id level status reviewTasksByStageId { nodes { id status userByReviewerId { id name email } } } } } } } }
  pageInfo { hasNextPage endCursor } } }`,
	},
	"viewer": {
		gatehouse:    `query Viewer { viewer { email } }`,
		postgraphile: `query Viewer($id: String!) { userById(id: $id) { email } }`,
	},
	"submit": {
		gatehouse: `mutation Submit($e: ID!) { submitAccessRequest(input: {action: GRANT, entitlementIds: [$e], justification: "benchmark"}) { id status } }`,
	},
	"decide": {
		gatehouse: `mutation Decide($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id status } }`,
	},
}

// bench is one run's state.
type bench struct {
	cfg    config
	out    io.Writer
	dir    string
	root   string
	db     *sql.DB
	srv    *server.Server // the in-process graph: seeding, tokens
	ds     *dataSet
	secret string

	tokMu  sync.Mutex
	tokens map[string]string

	tasksMu sync.Mutex
	tasks   []pendingTask

	hc *http.Client
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	u, err := url.Parse(cfg.dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("-db must be a postgres:// URL")
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if !strings.Contains(dbName, "bench") {
		return fmt.Errorf("-db names database %q: the harness wipes its database, so the name must contain \"bench\"", dbName)
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, out: out, root: root, tokens: map[string]string{}}
	b.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: max(cfg.conc, cfg.writeC) + 4}, Timeout: time.Minute}
	if b.dir, err = os.MkdirTemp("", "gatehouse-bench-"); err != nil {
		return err
	}
	if cfg.keepDir {
		fmt.Fprintln(out, "working directory:", b.dir)
	} else {
		defer os.RemoveAll(b.dir)
	}
	if err := createDatabase(ctx, u, dbName); err != nil {
		return err
	}
	if cfg.drop {
		defer dropDatabase(u, dbName)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	b.secret = hex.EncodeToString(raw)

	fmt.Fprintf(out, "machine: %d cores, %s, load %s\n", runtime.NumCPU(), runtime.Version(), loadAverage())
	if err := b.prepare(ctx); err != nil {
		return err
	}
	defer b.db.Close()
	counts, scripts, err := b.count(ctx)
	if err != nil {
		return err
	}
	return b.rounds(ctx, counts, scripts)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness inside the gatehouse module")
	}
	return filepath.Dir(mod), nil
}

// createDatabase creates dbName when it does not exist, connecting to the
// server's postgres database.
func createDatabase(ctx context.Context, u *url.URL, dbName string) error {
	admin := *u
	admin.Path = "/postgres"
	db, err := sql.Open("postgres", admin.String())
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", dbName, err)
	}
	if exists {
		return nil
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(dbName))
	return err
}

func dropDatabase(u *url.URL, dbName string) {
	admin := *u
	admin.Path = "/postgres"
	db, err := sql.Open("postgres", admin.String())
	if err != nil {
		return
	}
	defer db.Close()
	_, _ = db.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(dbName) + " WITH (FORCE)")
}

// prepare wipes and migrates the database and seeds the data set.
func (b *bench) prepare(ctx context.Context) error {
	var err error
	if b.db, err = database.OpenPostgres(ctx, b.cfg.dsn); err != nil {
		return err
	}
	if b.cfg.reuse {
		if b.srv, err = b.newServer(b.db, b.cfg.dsn); err != nil {
			return err
		}
		if b.ds, err = loadDataSet(ctx, b.db); err != nil {
			return err
		}
		fmt.Fprintf(b.out, "data set: %d requests, %d items, %d review tasks (kept from an earlier run)\n", b.ds.requests, b.ds.items, b.ds.tasks)
		return nil
	}
	if _, err := b.db.ExecContext(ctx, `DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public`); err != nil {
		return fmt.Errorf("reset schema: %w", err)
	}
	if err := database.Migrate(ctx, b.db, dialect.Postgres); err != nil {
		return err
	}
	if b.srv, err = b.newServer(b.db, b.cfg.dsn); err != nil {
		return err
	}
	if b.ds, err = seed(ctx, b.srv, b.db, b.cfg.requests); err != nil {
		return err
	}
	if b.cfg.scale > 1 {
		start := time.Now()
		if err := scaleUp(ctx, b.db, b.cfg.scale); err != nil {
			return err
		}
		audit, err := b.ds.count(ctx, b.db)
		if err != nil {
			return err
		}
		fmt.Fprintf(b.out, "scaled ×%d with SQL copies in %.1f s (%d audit events)\n", b.cfg.scale, time.Since(start).Seconds(), audit)
	}
	if _, err := b.db.ExecContext(ctx, "ANALYZE"); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "data set: %d requests, %d items, %d review tasks (seeded through the workflow in %.1f s)\n",
		b.ds.requests, b.ds.items, b.ds.tasks, b.ds.took.Seconds())
	return nil
}

// newServer builds the server graph over db without its job runner; its
// progress feed listens on the database of listenDSN.
func (b *bench) newServer(db *sql.DB, listenDSN string) (*server.Server, error) {
	return server.New(server.Config{
		DB: db, Dialect: dialect.Postgres, DSN: listenDSN, Secret: []byte(b.secret),
		Log: slog.New(slog.DiscardHandler), Limits: resolvers.DefaultLimits, NoJobs: true,
	})
}

// token returns a bearer token for the user.
func (b *bench) token(userID string) string {
	b.tokMu.Lock()
	defer b.tokMu.Unlock()
	if t, ok := b.tokens[userID]; ok {
		return t
	}
	t, err := b.srv.Auth.IssueJWT(pulid.ID(userID), 24*time.Hour)
	if err != nil {
		panic(err)
	}
	b.tokens[userID] = t
	return t
}

// next returns the source of calls of an operation against Gatehouse; the
// worker index picks the viewer of reads.
func (b *bench) next(op string) func() (call, bool) {
	q := operations[op].gatehouse
	switch op {
	case "nested":
		c := call{body: gqlBody(q, nil), token: b.token(string(b.ds.auditor.ID))}
		return func() (call, bool) { return c, true }
	case "viewer":
		calls := make([]call, len(b.ds.members))
		for i, m := range b.ds.members {
			calls[i] = call{body: gqlBody(q, nil), token: b.token(string(m.ID))}
		}
		var mu sync.Mutex
		i := 0
		return func() (call, bool) {
			mu.Lock()
			defer mu.Unlock()
			i++
			return calls[i%len(calls)], true
		}
	case "submit":
		return func() (call, bool) {
			m, e, ok := b.ds.nextSubmission()
			if !ok {
				return call{}, false
			}
			return call{body: gqlBody(q, map[string]any{"e": e}), token: b.token(string(m.ID))}, true
		}
	case "decide":
		return func() (call, bool) {
			b.tasksMu.Lock()
			defer b.tasksMu.Unlock()
			if len(b.tasks) == 0 {
				return call{}, false
			}
			t := b.tasks[0]
			b.tasks = b.tasks[1:]
			return call{body: gqlBody(q, map[string]any{"id": t.id}), token: b.token(t.reviewer)}, true
		}
	}
	panic("unknown operation " + op)
}

// refillTasks loads the tasks the decide runs take from: one PENDING task
// per request.
func (b *bench) refillTasks(ctx context.Context) error {
	tasks, err := pendingTasks(ctx, b.db)
	if err != nil {
		return fmt.Errorf("pending tasks: %w", err)
	}
	b.tasksMu.Lock()
	b.tasks = tasks
	b.tasksMu.Unlock()
	return nil
}

// opCount is what one operation sends to PostgreSQL.
type opCount struct {
	statements, transactions float64
}

// countSamples is how many times each operation runs while counted.
const countSamples = 10

// count runs each operation one at a time through the in-process server
// graph, over a pool whose connections pass through the protocol recorder,
// and returns the statements per operation and, for the reads, the pgbench
// script of one call.
func (b *bench) count(ctx context.Context) (map[string]opCount, map[string]string, error) {
	u, _ := url.Parse(b.cfg.dsn)
	rec, err := newWireRecorder(u.Host)
	if err != nil {
		return nil, nil, err
	}
	defer rec.Close()
	via := *u
	via.Host = rec.Addr()
	pool, err := database.OpenPostgres(ctx, via.String())
	if err != nil {
		return nil, nil, err
	}
	defer pool.Close()
	// The feed listens on another database, so that no notification wakes
	// it: what it reads after a commit to tell subscribers is not the
	// operation's statements (and there are no subscribers here).
	elsewhere := *u
	elsewhere.Path = "/postgres"
	srv, err := b.newServer(pool, elsewhere.String())
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, nil, err
	}
	defer srv.Stop(context.Background())
	hs := httptest.NewServer(srv.Handler)
	defer hs.Close()
	if err := b.refillTasks(ctx); err != nil {
		return nil, nil, err
	}

	counts := map[string]opCount{}
	scripts := map[string]string{}
	var line []string
	for _, op := range b.cfg.ops {
		next := b.next(op)
		// One call unrecorded: connections and caches as in a running server.
		c, _ := next()
		if _, err := post(ctx, b.hc, hs.URL+"/query", c); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, err)
		}
		var stmts, txs []int
		var sample []wireStatement
		for range countSamples {
			c, ok := next()
			if !ok {
				return nil, nil, fmt.Errorf("%s: no work left to count", op)
			}
			rec.Start()
			_, err := post(ctx, b.hc, hs.URL+"/query", c)
			got, tx := rec.Stop()
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", op, err)
			}
			stmts, txs = append(stmts, len(got)), append(txs, tx)
			sample = got
		}
		counts[op] = opCount{statements: median(ints(stmts)), transactions: median(ints(txs))}
		spread := ""
		if lo, hi := slices.Min(stmts), slices.Max(stmts); lo != hi {
			spread = fmt.Sprintf(", %d–%d", lo, hi)
		}
		line = append(line, fmt.Sprintf("%s %g (%g tx%s)", op, counts[op].statements, counts[op].transactions, spread))
		if op == "nested" || op == "viewer" {
			path := filepath.Join(b.dir, op+".sql")
			if err := writeScript(path, sample); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", op, err)
			}
			scripts[op] = path
		}
	}
	// Nothing else may have talked to the database meanwhile: check that an
	// idle second records nothing, once the work a commit leaves for after
	// its answer (the batched pg_notify that tells other replicas, not
	// counted in the operation's statements) is done.
	select {
	case <-time.After(500 * time.Millisecond):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	rec.Start()
	idle := time.NewTimer(time.Second)
	select {
	case <-idle.C:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if got, _ := rec.Stop(); len(got) > 0 {
		return nil, nil, fmt.Errorf("the idle server graph sent %d statements while counting (first: %.200s)", len(got), got[0].SQL)
	}
	fmt.Fprintf(b.out, "statements per operation (median of %d, one at a time, on the wire, BEGIN/COMMIT apart): %s\n", countSamples, strings.Join(line, ", "))
	return counts, scripts, nil
}

func ints(v []int) []float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return f
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Package apitest runs the GraphQL API end to end for tests: a real HTTP
// server over a test database (see dbtest), the production handler, the
// workflow with River running its jobs, and helpers to seed rows, mint tokens
// and send operations.
package apitest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/builtin"
	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
	"gatehouse/internal/auth"
	"gatehouse/internal/authz"
	"gatehouse/internal/catalog"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/discovery"
	"gatehouse/internal/jobs"
	"gatehouse/internal/pubsub"
	"gatehouse/internal/reports"
	"gatehouse/internal/workflow"
	"gatehouse/resolvers"
)

// Secret signs the JWTs of test servers.
const Secret = "apitest-secret-0123456789abcdef0123456789"

// Env is one test's running API.
type Env struct {
	DB *dbtest.DB
	// Client is the ent client of the server; use Sys() for writes that
	// bypass privacy.
	Client   *ent.Client
	Auth     *auth.Authenticator
	Workflow *workflow.Service
	// Statements counts the SQL statements the server's ent client sends.
	Statements *dbtest.Counter
	// Feed computes and fans out the subscription events.
	Feed *resolvers.ProgressFeed
	// AuditLog checkpoints and verifies the whole audit log (the River
	// checkpoint job runs it unless NoJobs).
	AuditLog *audit.Log
	// URL serves GraphQL (any path) and the reports under URL/reports/.
	URL string
	// Handler is what URL serves, for clients that take a handler (gqlgen's
	// client package).
	Handler http.Handler
}

// WebsocketURL is the ws:// address of the GraphQL endpoint.
func (e *Env) WebsocketURL() string { return "ws" + strings.TrimPrefix(e.URL, "http") }

// Options tunes an Env.
type Options struct {
	// Env is the environment the server's connector-secret store reads
	// (connectors reach only its GATEHOUSE_SECRET_* variables); tests may
	// put the server's own variables here too, to show they stay out of
	// reach.
	Env map[string]string
	// SecretsDir is the connector secrets directory; "" means none.
	SecretsDir string
	// RetryDelay between fulfilment attempts; default 50ms.
	RetryDelay time.Duration
	// NoJobs leaves River stopped: jobs are inserted but never worked.
	NoJobs bool
	// OwnPool opens a connection pool of the server's own on the database,
	// as a second replica of the server would have.
	OwnPool bool
	// CheckOrigin decides websocket upgrades; nil allows requests without an
	// Origin header and same-origin ones.
	CheckOrigin func(*http.Request) bool
	// Limits replaces resolvers.DefaultLimits when set.
	Limits *resolvers.Limits
	// CheckpointInterval is the period of the audit checkpoint job;
	// default jobs.DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// FeedBuffer is the per-subscription event buffer; default
	// pubsub.DefaultBuffer.
	FeedBuffer int
}

// New starts the API over db and stops it when the test ends.
func New(t testing.TB, db *dbtest.DB) *Env {
	return NewWith(t, db, Options{})
}

// NewWith starts the API with options.
func NewWith(t testing.TB, db *dbtest.DB, opts Options) *Env {
	t.Helper()
	pool := db.SQL
	if opts.OwnPool {
		var err error
		pool, err = sql.Open(db.Name, db.DSN)
		require.NoError(t, err)
		t.Cleanup(func() { pool.Close() })
	}
	counter := &dbtest.Counter{}
	client := ent.NewClient(ent.Driver(counter.Wrap(entsql.OpenDB(db.Dialect, pool))))
	catalog.RecordChanges(client, audit.NewRecorder(db.Dialect), time.Now)
	// Revocations cross replicas as in production: through this Env's own
	// LISTEN connection on PostgreSQL (two Envs over one database are two
	// replicas), in process on SQLite.
	relay := pubsub.NewRelay(auth.RevocationChannel, db.Dialect == dialect.Postgres)
	revocations := auth.NewRevocations(relay)
	revocations.Record(client)
	a := auth.New(client, []byte(Secret), time.Now, auth.WithRevocations(revocations))
	lookup := func(k string) (string, bool) { v, ok := opts.Env[k]; return v, ok }
	secrets := connectors.NewSecretStore(lookup, opts.SecretsDir)
	reg := builtin.Registry(secrets)

	var riverDB *sql.DB
	if db.Dialect == dialect.SQLite {
		var err error
		riverDB, err = sql.Open("sqlite", db.DSN)
		require.NoError(t, err)
		riverDB.SetMaxOpenConns(1)
		t.Cleanup(func() { riverDB.Close() })
	}
	if opts.RetryDelay == 0 {
		opts.RetryDelay = 50 * time.Millisecond
	}
	// The checkpointer has a client of its own: its statements are not the
	// server's (Statements).
	auditLog := audit.NewLog(ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, pool))), db.Dialect)
	runner, err := jobs.New(pool, riverDB, db.Dialect, jobs.Options{
		RetryDelay: opts.RetryDelay, Checkpoints: auditLog, CheckpointInterval: opts.CheckpointInterval,
	})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(testLog{t}, nil))
	// The feed reads through a client of its own, so that its background
	// queries stay out of Statements.
	feedClient := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, pool)))
	feed := resolvers.NewProgressFeed(resolvers.FeedConfig{Client: feedClient, Log: log, Dialect: db.Dialect, DSN: db.DSN, Buffer: opts.FeedBuffer,
		Channels: []pubsub.Channel{relay.Channel()}})
	startCtx, cancelStart := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStart()
	require.NoError(t, feed.Start(startCtx))
	t.Cleanup(feed.Stop)
	wf := workflow.New(workflow.Config{
		DB: pool, Dialect: db.Dialect, Client: client,
		Jobs: runner.Client(), Connectors: reg, Now: time.Now,
		Published: feed.Published, Notify: feed.NotifyTx,
	})
	if !opts.NoJobs {
		require.NoError(t, runner.Start(context.Background(), wf))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = runner.Stop(ctx)
		})
	}
	limits := resolvers.DefaultLimits
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	h := resolvers.NewHandler(resolvers.HandlerConfig{
		Schema: resolvers.NewSchema(resolvers.Services{
			Client: client, Catalog: catalog.New(client, reg, wf), Tokens: a, Workflow: wf, Progress: feed,
			AuditLog:  auditLog,
			Discovery: discovery.New(discovery.Config{DB: pool, Dialect: db.Dialect, Client: client, Connectors: reg, Now: time.Now}),
		}),
		Client:        client,
		Auth:          a,
		Log:           log,
		Limits:        limits,
		Introspection: true,
		CheckOrigin:   opts.CheckOrigin,
		Revocations:   revocations,
	})
	mux := http.NewServeMux()
	mux.Handle("/reports/", reports.Handler(reports.HandlerConfig{Reports: reports.New(client, time.Now), Auth: a, Log: log}))
	mux.Handle("/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Env{DB: db, Client: client, Auth: a, Workflow: wf, Statements: counter, Feed: feed, AuditLog: auditLog, URL: srv.URL, Handler: mux}
}

// testLog writes the handler's log (internal errors) to the test log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// Sys returns a context in which privacy allows everything, for seeding.
func Sys() context.Context { return authz.SystemContext(context.Background()) }

// User creates a user with the given email and platform role.
func (e *Env) User(t testing.TB, email string, role enum.PlatformRole) *ent.User {
	t.Helper()
	u, err := e.Client.User.Create().SetEmail(email).SetName(email).SetPlatformRole(role).Save(Sys())
	require.NoError(t, err)
	return u
}

// Token mints a JWT for the user, valid for an hour.
func (e *Env) Token(t testing.TB, u *ent.User) string {
	t.Helper()
	tok, err := e.Auth.IssueJWT(u.ID, time.Hour)
	require.NoError(t, err)
	return tok
}

// Error is one GraphQL error of a response.
type Error struct {
	Message    string `json:"message"`
	Path       []any  `json:"path"`
	Extensions struct {
		Code  string `json:"code"`
		Field string `json:"field"`
	} `json:"extensions"`
}

// Response is a decoded GraphQL response.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
}

// Code returns the code of the first error, or "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Extensions.Code
}

// Decode unmarshals the data into v, failing the test on errors.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	require.Empty(t, r.Errors, "unexpected GraphQL errors")
	require.NoError(t, json.Unmarshal(r.Data, v))
}

// Do posts one operation with a bearer token ("" for none).
func (e *Env) Do(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, e.URL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out := &Response{Status: res.StatusCode}
	require.NoError(t, json.NewDecoder(res.Body).Decode(out))
	return out
}

// MustDo posts one operation, requires no errors and decodes the data.
func (e *Env) MustDo(t testing.TB, token, query string, vars map[string]any, v any) {
	t.Helper()
	res := e.Do(t, token, query, vars)
	require.Emptyf(t, res.Errors, "errors: %+v", res.Errors)
	if v != nil {
		require.NoError(t, json.Unmarshal(res.Data, v))
	}
}

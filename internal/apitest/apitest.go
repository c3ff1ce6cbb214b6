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
	"gatehouse/connectors/manual"
	"gatehouse/connectors/postgres"
	"gatehouse/connectors/scim"
	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
	"gatehouse/internal/auth"
	"gatehouse/internal/authz"
	"gatehouse/internal/catalog"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/jobs"
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
	URL        string
}

// Options tunes an Env.
type Options struct {
	// Env is the environment connectors read (webhook secrets).
	Env map[string]string
	// RetryDelay between fulfilment attempts; default 50ms.
	RetryDelay time.Duration
	// NoJobs leaves River stopped: jobs are inserted but never worked.
	NoJobs bool
}

// New starts the API over db and stops it when the test ends.
func New(t testing.TB, db *dbtest.DB) *Env {
	return NewWith(t, db, Options{})
}

// NewWith starts the API with options.
func NewWith(t testing.TB, db *dbtest.DB, opts Options) *Env {
	t.Helper()
	counter := &dbtest.Counter{}
	client := ent.NewClient(ent.Driver(counter.Wrap(entsql.OpenDB(db.Dialect, db.SQL))))
	catalog.RecordChanges(client, audit.NewRecorder(db.Dialect), time.Now)
	a := auth.New(client, []byte(Secret), time.Now)
	lookup := func(k string) (string, bool) { v, ok := opts.Env[k]; return v, ok }
	reg := connectors.NewRegistry(manual.Kind{}, webhook.Kind{LookupEnv: lookup}, scim.Kind{LookupEnv: lookup}, postgres.Kind{LookupEnv: lookup})

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
	runner, err := jobs.New(db.SQL, riverDB, db.Dialect, jobs.Options{RetryDelay: opts.RetryDelay})
	require.NoError(t, err)
	wf := workflow.New(workflow.Config{
		DB: db.SQL, Dialect: db.Dialect, Client: client,
		Jobs: runner.Client(), Connectors: reg, Now: time.Now,
	})
	if !opts.NoJobs {
		require.NoError(t, runner.Start(context.Background(), wf))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = runner.Stop(ctx)
		})
	}
	h := resolvers.NewHandler(resolvers.HandlerConfig{
		Schema: resolvers.NewSchema(resolvers.Services{
			Client: client, Catalog: catalog.New(client, reg, wf), Tokens: a, Workflow: wf,
		}),
		Client:        client,
		Auth:          a,
		Log:           slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Limits:        resolvers.DefaultLimits,
		Introspection: true,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Env{DB: db, Client: client, Auth: a, Workflow: wf, Statements: counter, URL: srv.URL}
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

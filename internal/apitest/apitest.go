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
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
	"gatehouse/internal/auth"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/jobs"
	"gatehouse/internal/mail"
	"gatehouse/internal/progress"
	"gatehouse/internal/server"
	"gatehouse/internal/workflow"
	"gatehouse/resolvers"
)

// Secret signs the JWTs of test servers.
const Secret = "apitest-secret-0123456789abcdef0123456789"

// Env is one test's running API.
type Env struct {
	DB *dbtest.DB
	// Server is the server graph; its services are also below.
	Server *server.Server
	// Clock is the server's clock; Advance moves it.
	Clock *Clock
	// Client is the ent client of the server; use Sys() for writes that
	// bypass privacy.
	Client   *ent.Client
	Auth     *auth.Authenticator
	Workflow *workflow.Service
	// Statements counts the SQL statements the server's ent client sends
	// for the operations served at URL.
	Statements *dbtest.Counter
	// RiverDB is the job runner's own one-connection pool on SQLite (nil
	// on PostgreSQL, where River shares DB).
	RiverDB *sql.DB
	// Feed computes and fans out the subscription events.
	Feed *progress.Feed
	// AuditLog checkpoints and verifies the whole audit log (the River
	// checkpoint job runs it unless NoJobs).
	AuditLog *audit.Log
	// Base is the server's address: GraphQL at Base/query, the reports
	// under Base/reports/.
	Base string
	// URL serves GraphQL (Base/query).
	URL string
	// Handler is what Base serves, for clients that take a handler
	// (gqlgen's client package; GraphQL at /query).
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
	// FulfillmentTimeout bounds one attempt of a fulfilment job; default
	// workflow.DefaultFulfillmentTimeout.
	FulfillmentTimeout time.Duration
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
	// Clock is the server's clock; nil means a Clock of its own. Envs that
	// are replicas of one deployment share one.
	Clock *Clock
	// Log, when set, receives the server's log instead of the test log
	// (tests that read the log lines).
	Log *slog.Logger
	// Outboxes are told of every state change's audit events in its
	// transaction.
	Outboxes []workflow.Outbox
	// Mail sends the notification e-mails (a Mailbox records them); nil
	// sends none.
	Mail mail.Sender
	// PublicURL is the address in the e-mails' links; default
	// notify.DefaultPublicURL.
	PublicURL string
	// SendBuffer, when set, is the kernel send buffer (SO_SNDBUF) of every
	// connection the server accepts: a test of a client that stops reading
	// fills it in a few messages instead of megabytes.
	SendBuffer int
	// OIDC makes the server accept that provider's tokens too; build it
	// with the Env's Clock (set Clock).
	OIDC *auth.OIDC
}

// New starts the API over db and stops it when the test ends.
func New(t testing.TB, db *dbtest.DB) *Env {
	return NewWith(t, db, Options{})
}

// NewWith starts the API with options: the server graph production builds
// (internal/server), over db, with the Env's clock.
func NewWith(t testing.TB, db *dbtest.DB, opts Options) *Env {
	t.Helper()
	pool := db.SQL
	if opts.OwnPool {
		var err error
		pool, err = sql.Open(db.Name, db.DSN)
		require.NoError(t, err)
		t.Cleanup(func() { pool.Close() })
	}
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
	limits := resolvers.DefaultLimits
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	clock := opts.Clock
	if clock == nil {
		clock = &Clock{}
	}
	counter := &dbtest.Counter{}
	log := opts.Log
	if log == nil {
		// Warnings and errors only: a line per operation and state change
		// would bury them.
		log = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.New(server.Config{
		DB: pool, Dialect: db.Dialect, RiverDB: riverDB, DSN: db.DSN,
		Secret:     []byte(Secret),
		OIDC:       opts.OIDC,
		Now:        clock.Now,
		Log:        log,
		LookupEnv:  func(k string) (string, bool) { v, ok := opts.Env[k]; return v, ok },
		SecretsDir: opts.SecretsDir,
		Limits:     limits, Introspection: true, CheckOrigin: opts.CheckOrigin,
		Jobs: jobs.Options{
			RetryDelay: opts.RetryDelay, CheckpointInterval: opts.CheckpointInterval,
			FulfillmentTimeout: opts.FulfillmentTimeout,
			// River's own news (started, stopped) stays out of the test log.
			Logger: slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		},
		NoJobs:     opts.NoJobs,
		FeedBuffer: opts.FeedBuffer,
		// Tests run the lifecycle sweep by hand at the clock they set
		// (Env.Workflow.SweepLifecycle); the periodic job only runs at start.
		LifecycleSweepInterval: 24 * time.Hour,
		WrapDriver:             counter.Wrap,
		Outboxes:               opts.Outboxes,
		Mail:                   opts.Mail,
		PublicURL:              opts.PublicURL,
	})
	require.NoError(t, err)
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	// Statements counts what the served operations send, not background jobs.
	hs := httptest.NewUnstartedServer(counter.Only(srv.Handler))
	if opts.SendBuffer > 0 {
		hs.Listener = sendBufferListener{hs.Listener, opts.SendBuffer}
	}
	hs.Start()
	t.Cleanup(hs.Close)
	return &Env{
		DB: db, Server: srv, Clock: clock, Client: srv.Client, Auth: srv.Auth, Workflow: srv.Workflow,
		Statements: counter, RiverDB: riverDB, Feed: srv.Feed, AuditLog: srv.AuditLog,
		Base: hs.URL, URL: hs.URL + "/query", Handler: srv.Handler,
	}
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

// sendBufferListener sets the send buffer of each connection it accepts.
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(l.size); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

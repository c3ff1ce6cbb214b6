// Package server builds Gatehouse's server graph once: the ent client with
// its hooks, the authenticator and credential revocations, the connector
// registry, the job runner, the progress feed, the workflow, the audit log,
// the GraphQL schema and handler, and the reports, all reading one clock.
// The command (server.go) and the test harness (internal/apitest) both use
// New, so tests run what production runs.
package server

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"

	"gatehouse/connectors"
	"gatehouse/connectors/builtin"
	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/accesslog"
	"gatehouse/internal/audit"
	"gatehouse/internal/auth"
	"gatehouse/internal/catalog"
	"gatehouse/internal/discovery"
	"gatehouse/internal/jobs"
	"gatehouse/internal/mail"
	"gatehouse/internal/metrics"
	"gatehouse/internal/notify"
	"gatehouse/internal/progress"
	"gatehouse/internal/pubsub"
	"gatehouse/internal/reports"
	"gatehouse/internal/web"
	"gatehouse/internal/webhooks"
	"gatehouse/internal/workflow"
	"gatehouse/resolvers"
)

// Config is what the server graph is built from. The caller opens (and
// later closes) the databases.
type Config struct {
	// DB is the main connection pool, of dialect Dialect (dialect.Postgres
	// or dialect.SQLite).
	DB      *sql.DB
	Dialect string
	// RiverDB is River's own pool of one connection on the same SQLite
	// file; nil on PostgreSQL.
	RiverDB *sql.DB
	// DSN is where the progress feed's LISTEN connection connects on
	// PostgreSQL; unused on SQLite.
	DSN string
	// Secret signs the JWTs.
	Secret []byte
	// OIDC, when set, makes the server accept the tokens of that OpenID
	// Connect provider too (auth.NewOIDC).
	OIDC *auth.OIDC
	// DemoSignIn tells the console that the demo sign-in
	// (demo.SignInPath) is mounted: demo mode.
	DemoSignIn bool
	// ReportKey signs the audit reports of requests (their public key is
	// served at reports.KeyPath); nil means a new random key, whose
	// signatures verify only while this server runs.
	ReportKey ed25519.PrivateKey
	// Now is the clock of every service; nil means time.Now.
	Now func() time.Time
	// Log receives the services' logs; nil discards them.
	Log *slog.Logger
	// LookupEnv and SecretsDir are the connector-secret namespace: the
	// GATEHOUSE_SECRET_* variables LookupEnv finds and the files of
	// SecretsDir ("" for none).
	LookupEnv  func(string) (string, bool)
	SecretsDir string
	// Limits bound GraphQL operations and websockets.
	Limits        resolvers.Limits
	Introspection bool
	// CheckOrigin decides websocket upgrades; nil allows requests without
	// an Origin header and same-origin ones.
	CheckOrigin func(*http.Request) bool
	// Jobs tunes the job runner; its Checkpoints are the audit log's, its
	// Logger defaults to Log.
	Jobs jobs.Options
	// LifecycleSweepInterval is the period of the lifecycle sweep
	// (reminders, escalation, pending expiry, expiry warnings); zero means
	// workflow.DefaultLifecycleSweepInterval.
	LifecycleSweepInterval time.Duration
	// NoJobs inserts jobs but never works them (another process does).
	NoJobs bool
	// FeedBuffer is the per-subscription event buffer; zero means
	// pubsub.DefaultBuffer.
	FeedBuffer int
	// WrapDriver, when set, wraps the driver of the server's ent client
	// (tests count its statements).
	WrapDriver func(dialect.Driver) dialect.Driver
	// Outboxes are told of every state change's audit events in its
	// transaction, after the server's own (tests watch them).
	Outboxes []workflow.Outbox
	// Mail sends e-mail (GATEHOUSE_SMTP_URL); nil when none is configured.
	Mail mail.Sender
	// PublicURL is where people reach the server (GATEHOUSE_PUBLIC_URL),
	// without a trailing slash, for links in messages; "" means
	// notify.DefaultPublicURL.
	PublicURL string
	// TerminationSweepInterval is how often TERMINATED users who still hold
	// access or work are looked for (workflow.SweepTerminations); default
	// workflow.DefaultTerminationSweepInterval.
	TerminationSweepInterval time.Duration
}

// Server is the built graph. Create it with New, then Start it; Stop ends
// it. Its fields are the services, for the command's subcommands and for
// tests.
type Server struct {
	Client      *ent.Client
	Auth        *auth.Authenticator
	Revocations *auth.Revocations
	Connectors  *connectors.Registry
	Jobs        *jobs.Runner
	Feed        *progress.Feed
	Workflow    *workflow.Service
	AuditLog    *audit.Log
	Metrics     *metrics.Metrics
	// Webhooks manages and delivers the event webhooks.
	Webhooks *webhooks.Service
	// Notifications delivers and serves notifications.
	Notifications *notify.Service
	// Now is the clock every service reads.
	Now func() time.Time
	// Handler serves GraphQL at /query (POST, GET and websockets), the
	// audit reports under /reports/ and the browser pages (internal/web:
	// the console at /app, GraphiQL at /graphiql, / redirecting to the
	// console), instrumented by Metrics.
	Handler http.Handler

	noJobs bool
	// base is the context of the websockets; Stop cancels it.
	base       context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex
	started bool
	stopped bool
}

// New builds the server graph over cfg's databases. It starts nothing: the
// command's subcommands use the services without Start.
func New(cfg Config) (*Server, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var drv dialect.Driver = entsql.OpenDB(cfg.Dialect, cfg.DB)
	if cfg.WrapDriver != nil {
		drv = cfg.WrapDriver(drv)
	}
	// The clients time the audit events of catalog changes by now (the
	// schemas' hooks record them, whichever client writes).
	client := ent.NewClient(ent.Driver(drv), ent.Clock(now))
	// Background readers and the checkpointer have a client of their own:
	// their statements are not the server's.
	background := ent.NewClient(ent.Driver(entsql.OpenDB(cfg.Dialect, cfg.DB)), ent.Clock(now))

	// Every write that revokes credentials tells the running replicas, over
	// the feed's LISTEN connection on PostgreSQL, in process on SQLite.
	relay := pubsub.NewRelay(auth.RevocationChannel, cfg.Dialect == dialect.Postgres)
	revocations := auth.NewRevocations(relay)
	revocations.Record(client)
	authOpts := []auth.Option{auth.WithRevocations(revocations)}
	if cfg.OIDC != nil {
		authOpts = append(authOpts, auth.WithOIDC(cfg.OIDC))
	}
	authn := auth.New(client, cfg.Secret, now, authOpts...)

	// Connectors reach only the connector-secret namespace.
	lookupEnv := cfg.LookupEnv
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	secrets := connectors.NewSecretStore(lookupEnv, cfg.SecretsDir)
	reg := builtin.Registry(secrets)

	m := metrics.New()

	// New notifications reach the subscribers of every replica, over the
	// feed's LISTEN connection on PostgreSQL, in process on SQLite.
	notifyRelay := pubsub.NewRelay(notify.RelayChannel, cfg.Dialect == dialect.Postgres)
	notifications := notify.New(notify.Config{
		Client: client, Now: now, Mail: cfg.Mail, PublicURL: cfg.PublicURL,
		Relay: notifyRelay, Observer: m.RegisterNotifications(), Log: log, Buffer: cfg.FeedBuffer,
	})

	auditLog := audit.NewLog(background, cfg.Dialect, audit.WithClock(now))
	// Event webhooks: an outbox of every state change and the workers
	// that deliver.
	hooks := webhooks.New(webhooks.Config{
		Client: client, Now: now, PublicURL: cfg.PublicURL, Log: log, Observer: m,
	})
	jobOpts := cfg.Jobs
	jobOpts.Checkpoints = auditLog
	leavers := workflow.NewTerminationSweep(cfg.TerminationSweepInterval)
	sweep := workflow.NewLifecycleJob(cfg.LifecycleSweepInterval)
	outboxes := append([]workflow.Outbox{notifications, hooks}, cfg.Outboxes...)
	jobOpts.Extensions = append(slices.Clone(jobOpts.Extensions), notifications, hooks, leavers, sweep, workflow.Outboxes(outboxes))
	if jobOpts.Logger == nil {
		jobOpts.Logger = log
	}
	runner, err := jobs.New(cfg.DB, cfg.RiverDB, cfg.Dialect, jobOpts)
	if err != nil {
		return nil, fmt.Errorf("build job runner: %w", err)
	}

	// One feed per process: on PostgreSQL it holds the process's single
	// LISTEN connection, so changes made by any replica reach its
	// subscribers.
	feed := progress.New(progress.Config{
		Client: background, Log: log, Dialect: cfg.Dialect, DSN: cfg.DSN, DB: cfg.DB, Buffer: cfg.FeedBuffer,
		Channels:       []pubsub.Channel{relay.Channel(), notifyRelay.Channel()},
		OnRemoteChange: runner.Wake,
	})

	m.RegisterDB(cfg.DB)
	m.RegisterFeed(feed)
	m.RegisterState(metrics.StateConfig{DB: cfg.DB, Dialect: cfg.Dialect, Client: background, Now: now, Log: log})

	wf := workflow.New(workflow.Config{
		DB: cfg.DB, Dialect: cfg.Dialect, Client: client,
		Jobs: runner.Client(), Connectors: reg, Now: now,
		Changes: committed{feed, runner}, FulfillmentTimeout: cfg.Jobs.FulfillmentTimeout,
		Log: log, Observer: m, Outboxes: outboxes,
	})
	leavers.Attach(wf)
	sweep.Attach(wf)
	hooks.Attach(wf)
	notifications.Attach(wf)

	schema := resolvers.NewSchema(resolvers.Services{
		Client: client, Catalog: catalog.New(client, reg, wf), Tokens: authn, Workflow: wf,
		Progress: feed, AuditLog: auditLog, Notifications: notifications,
		Webhooks:  hooks,
		Discovery: discovery.New(discovery.Config{DB: cfg.DB, Dialect: cfg.Dialect, Client: client, Connectors: reg, Now: now}),
	})
	base, cancelBase := context.WithCancel(context.Background())
	query := resolvers.NewHandler(resolvers.HandlerConfig{
		Schema:        schema,
		Client:        client,
		Auth:          authn,
		Revocations:   revocations,
		Log:           log,
		Limits:        cfg.Limits,
		Introspection: cfg.Introspection,
		Extensions:    []graphql.HandlerExtension{m.GraphQL(), accesslog.GraphQL(log)},
		CheckOrigin:   cfg.CheckOrigin,
		Context:       base,
		Websockets:    m.RegisterWebsockets,
	})
	mux := http.NewServeMux()
	mux.Handle("/query", accesslog.HTTP(log, slog.LevelInfo, "/query", m.InstrumentHTTP("/query", query)))
	signer, err := reports.NewSigner(cfg.ReportKey)
	if err != nil {
		cancelBase()
		return nil, err
	}
	mux.Handle("/reports/", accesslog.HTTP(log, slog.LevelInfo, "/reports", m.InstrumentHTTP("/reports", reports.Handler(reports.HandlerConfig{
		Reports: reports.New(client, now), Auth: authn, Log: log, Signer: signer,
	}))))
	mux.Handle(reports.KeyPath, m.InstrumentHTTP(reports.KeyPath, signer.KeyHandler()))
	// The browser pages: the console, GraphiQL, their assets, / redirecting
	// to web.Home.
	pagesCfg := web.Config{DemoSignIn: cfg.DemoSignIn}
	if cfg.OIDC != nil {
		o := &web.OIDCClient{}
		o.Issuer, o.ClientID, o.AuthURL, o.TokenURL = cfg.OIDC.Client()
		pagesCfg.OIDC = o
	}
	pages := web.Handler(pagesCfg)
	mux.Handle("GET /{$}", accesslog.HTTP(log, slog.LevelInfo, "/", m.InstrumentHTTP("/", pages)))
	for _, p := range []string{web.AppPath, web.AppPath + "/", web.GraphiQLPath} {
		mux.Handle("GET "+p, accesslog.HTTP(log, slog.LevelInfo, p, m.InstrumentHTTP(p, pages)))
	}
	mux.Handle("GET "+web.AssetsPath, accesslog.HTTP(log, slog.LevelDebug, web.AssetsPath, m.InstrumentHTTP(web.AssetsPath, pages)))

	return &Server{
		Client: client, Auth: authn, Revocations: revocations, Connectors: reg, Jobs: runner,
		Feed: feed, Workflow: wf, AuditLog: auditLog, Metrics: m, Webhooks: hooks, Notifications: notifications, Now: now, Handler: mux,
		noJobs: cfg.NoJobs, base: base, cancelBase: cancelBase,
	}, nil
}

// BaseContext is the context of the server's websockets: it ends when Stop
// begins. Serve HTTP requests from it.
func (s *Server) BaseContext() context.Context { return s.base }

// Start starts the progress feed, then the job runner (unless NoJobs).
// Starting twice, or after Stop, is an error.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("server: already started")
	}
	if err := s.Feed.Start(ctx); err != nil {
		return fmt.Errorf("start subscriptions: %w", err)
	}
	s.Notifications.Start(ctx)
	if !s.noJobs {
		if err := s.Jobs.Start(ctx, s.Workflow); err != nil {
			s.Notifications.Stop()
			s.Feed.Stop()
			return fmt.Errorf("start jobs: %w", err)
		}
	}
	s.started = true
	return nil
}

// Stop closes the websockets, waits for running jobs (until ctx ends) and
// stops the feed. Stop the HTTP server first. Stopping twice, or a server
// that never started, is harmless; the databases stay open.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelBase()
	if !s.started || s.stopped {
		s.stopped = true
		return nil
	}
	s.stopped = true
	err := s.Jobs.Stop(ctx)
	s.Notifications.Stop()
	s.Feed.Stop()
	if err != nil {
		return fmt.Errorf("stop jobs: %w", err)
	}
	return nil
}

// committed is told of every committed state change: the feed sends its
// progress, and the job runner looks at once for the jobs it may have
// inserted.
type committed struct {
	feed *progress.Feed
	jobs *jobs.Runner
}

func (c committed) NotifyTx(ctx context.Context, tx *sql.Tx, requestIDs []pulid.ID) error {
	return c.feed.NotifyTx(ctx, tx, requestIDs)
}

func (c committed) Published(requestIDs ...pulid.ID) {
	c.feed.Published(requestIDs...)
	c.jobs.Wake()
}

var _ workflow.Changes = committed{}

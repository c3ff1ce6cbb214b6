// Command gatehouse is the Gatehouse access request server. server.go reads
// flags and the environment, opens the database, has internal/server build
// the services (as the tests do), and starts and stops them.
//
//	gatehouse [serve]                     run the server (default)
//	gatehouse migrate                     migrate the database and exit
//	gatehouse token --email E [--ttl D]   print a bearer token for user E
//	gatehouse user create --email E --name N --role R
//	gatehouse demo                        seed the demo organisation into an empty database
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	"github.com/99designs/gqlgen/graphql/playground"

	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/demo"
	"gatehouse/internal/gqllimit"
	"gatehouse/internal/httpserver"
	"gatehouse/internal/jobs"
	"gatehouse/internal/server"
	"gatehouse/internal/workflow"
	"gatehouse/resolvers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	server.TuneGC(os.Getenv, server.GCFloor)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse:", err)
		os.Exit(1)
	}
}

// config is everything the server reads from flags and the environment.
type config struct {
	addr           string
	databaseURL    string
	sqlitePath     string
	jwtSecret      string
	demo           bool
	demoSet        bool
	introspection  bool
	bootstrapAdmin string
	logFormat      string
	tokenTTL       time.Duration
	allowedOrigins []string
	// secretsDir holds the files connector configurations may name
	// (GATEHOUSE_SECRETS_DIR); "" means none.
	secretsDir string
	// Websocket bounds: connections per user, and connections waiting for
	// connection_init server-wide.
	wsPerUser int
	wsPending int
	// queryLimits overrides resolvers.DefaultLimits' document limits
	// ("aliases=50,list-length=2000"; see gqllimit.ParseLimits).
	queryLimits string
	// fulfillmentTimeout bounds one attempt of a fulfilment job
	// (GATEHOUSE_FULFILLMENT_TIMEOUT); a job whose process died is run
	// again twice that long after it started.
	fulfillmentTimeout time.Duration
}

// envDefaults reads the GATEHOUSE_* variables (and DATABASE_URL) into a
// config whose fields become the flags' defaults.
func envDefaults(getenv func(string) string) (config, error) {
	c := config{
		addr:           envOr(getenv, "GATEHOUSE_ADDR", ":8080"),
		databaseURL:    getenv("DATABASE_URL"),
		sqlitePath:     envOr(getenv, "GATEHOUSE_SQLITE_PATH", "gatehouse.db"),
		jwtSecret:      getenv("GATEHOUSE_JWT_SECRET"),
		bootstrapAdmin: strings.TrimSpace(getenv("GATEHOUSE_BOOTSTRAP_ADMIN")),
		logFormat:      getenv("GATEHOUSE_LOG_FORMAT"),
		secretsDir:     getenv("GATEHOUSE_SECRETS_DIR"),
		queryLimits:    getenv("GATEHOUSE_QUERY_LIMITS"),
		introspection:  true,
		tokenTTL:       24 * time.Hour,
		wsPerUser:      resolvers.DefaultLimits.WebsocketPerPrincipal,
		wsPending:      resolvers.DefaultLimits.WebsocketPending,

		fulfillmentTimeout: workflow.DefaultFulfillmentTimeout,
	}
	var err error
	if v := getenv("GATEHOUSE_DEMO"); v != "" {
		if c.demo, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("GATEHOUSE_DEMO=%q is not a boolean", v)
		}
		c.demoSet = true
	}
	if v := getenv("GATEHOUSE_INTROSPECTION"); v != "" {
		if c.introspection, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("GATEHOUSE_INTROSPECTION=%q is not a boolean", v)
		}
	}
	if v := getenv("GATEHOUSE_TOKEN_TTL"); v != "" {
		if c.tokenTTL, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("GATEHOUSE_TOKEN_TTL=%q is not a duration such as 24h", v)
		}
	}
	if v := getenv("GATEHOUSE_FULFILLMENT_TIMEOUT"); v != "" {
		if c.fulfillmentTimeout, err = time.ParseDuration(v); err != nil || c.fulfillmentTimeout < time.Second {
			return c, fmt.Errorf("GATEHOUSE_FULFILLMENT_TIMEOUT=%q is not a duration of at least 1s, such as 1m", v)
		}
	}
	for key, dst := range map[string]*int{"GATEHOUSE_WS_MAX_PER_USER": &c.wsPerUser, "GATEHOUSE_WS_MAX_PENDING": &c.wsPending} {
		if v := getenv(key); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 0 {
				return c, fmt.Errorf("%s=%q is not a count (0 for no limit)", key, v)
			}
		}
	}
	for _, o := range strings.Split(getenv("GATEHOUSE_ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.allowedOrigins = append(c.allowedOrigins, o)
		}
	}
	return c, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// validate checks the whole configuration once flags are parsed.
func (c *config) validate() error {
	if !c.demoSet {
		c.demo = c.databaseURL == ""
	}
	if c.databaseURL != "" {
		u, err := url.Parse(c.databaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("DATABASE_URL must be a postgres:// URL")
		}
		if c.jwtSecret == "" {
			return errors.New("GATEHOUSE_JWT_SECRET is required with DATABASE_URL (at least 32 characters)")
		}
	}
	if c.jwtSecret != "" && len(c.jwtSecret) < 32 {
		return errors.New("GATEHOUSE_JWT_SECRET must be at least 32 characters")
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("--addr %q is not host:port", c.addr)
	}
	if c.bootstrapAdmin != "" {
		if _, err := mail.ParseAddress(c.bootstrapAdmin); err != nil {
			return fmt.Errorf("GATEHOUSE_BOOTSTRAP_ADMIN=%q is not an email address", c.bootstrapAdmin)
		}
	}
	if c.secretsDir != "" {
		if st, err := os.Stat(c.secretsDir); err != nil || !st.IsDir() {
			return fmt.Errorf("GATEHOUSE_SECRETS_DIR=%q is not a directory", c.secretsDir)
		}
	}
	if c.tokenTTL <= 0 {
		return errors.New("the token TTL must be positive")
	}
	switch c.logFormat {
	case "", "text", "json":
	default:
		return fmt.Errorf("GATEHOUSE_LOG_FORMAT=%q must be text or json", c.logFormat)
	}
	if _, err := c.limits(); err != nil {
		return err
	}
	return nil
}

// limits returns the request limits: resolvers.DefaultLimits with the
// document limits of --query-limits (GATEHOUSE_QUERY_LIMITS).
func (c *config) limits() (resolvers.Limits, error) {
	l := resolvers.DefaultLimits
	doc, err := gqllimit.ParseLimits(c.queryLimits, l.Document)
	if err != nil {
		return l, fmt.Errorf("GATEHOUSE_QUERY_LIMITS: %w", err)
	}
	l.Document = doc
	l.WebsocketPerPrincipal, l.WebsocketPending = c.wsPerUser, c.wsPending
	return l, nil
}

// run parses the command line and runs one subcommand until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := envDefaults(getenv)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "user" {
		if len(args) == 0 || args[0] != "create" {
			return errors.New("usage: gatehouse user create --email E --name N --role USER|RISK_MANAGER|IT_ADMIN")
		}
		cmd, args = "user create", args[1:]
	}
	fs := flag.NewFlagSet("gatehouse "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", cfg.addr, "listen address (GATEHOUSE_ADDR)")
	fs.StringVar(&cfg.sqlitePath, "sqlite", cfg.sqlitePath, "SQLite file when DATABASE_URL is unset (GATEHOUSE_SQLITE_PATH)")
	fs.BoolFunc("demo", "seed the demo organisation into an empty database (GATEHOUSE_DEMO; default true on SQLite)", func(s string) error {
		v, err := strconv.ParseBool(s)
		cfg.demo, cfg.demoSet = v, true
		return err
	})
	fs.BoolVar(&cfg.introspection, "introspection", cfg.introspection, "allow GraphQL introspection (GATEHOUSE_INTROSPECTION)")
	fs.DurationVar(&cfg.tokenTTL, "ttl", cfg.tokenTTL, "lifetime of minted JWTs (GATEHOUSE_TOKEN_TTL)")
	fs.StringVar(&cfg.queryLimits, "query-limits", cfg.queryLimits, "GraphQL document limits to change, e.g. aliases=50,list-length=2000 (GATEHOUSE_QUERY_LIMITS)")
	email := fs.String("email", "", "user email (token, user create)")
	name := fs.String("name", "", "user name (user create)")
	role := fs.String("role", string(enum.PlatformRoleUser), "platform role (user create)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log := newLogger(cfg.logFormat, stderr)

	switch cmd {
	case "serve", "migrate", "token", "user create", "demo":
	default:
		return fmt.Errorf("unknown command %q (serve, migrate, token, user create, demo)", cmd)
	}
	app, err := open(ctx, cfg, log, func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
	if err != nil {
		return err
	}
	defer app.close()

	switch cmd {
	case "migrate":
		fmt.Fprintln(stdout, "database migrated")
		return nil
	case "token":
		return app.printToken(ctx, stdout, *email, cfg.tokenTTL)
	case "user create":
		return app.createUser(ctx, stdout, *email, *name, enum.PlatformRole(*role))
	case "demo":
		if _, err := demo.Seed(ctx, app.srv.Client); err != nil {
			return err
		}
		return app.printDemoTokens(ctx, stdout, cfg.tokenTTL)
	}
	return app.serve(ctx, cfg, log, stdout)
}

func newLogger(format string, w io.Writer) *slog.Logger {
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// app holds the opened database and the server graph over it.
type app struct {
	db *sql.DB
	// riverDB is River's own single connection on SQLite; nil on PostgreSQL.
	riverDB *sql.DB
	dialect string
	secret  []byte
	srv     *server.Server
}

// open opens and migrates the database and builds the server graph over it
// (started only by serve).
func open(ctx context.Context, cfg config, log *slog.Logger, lookupEnv func(string) (string, bool)) (*app, error) {
	a := &app{dialect: dialect.SQLite}
	var err error
	if cfg.databaseURL != "" {
		a.dialect = dialect.Postgres
		a.db, err = database.OpenPostgres(ctx, cfg.databaseURL)
	} else {
		a.db, err = database.OpenSQLite(cfg.sqlitePath)
		if err == nil {
			a.riverDB, err = database.OpenSQLite(cfg.sqlitePath)
		}
		if a.riverDB != nil {
			a.riverDB.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := database.Migrate(ctx, a.db, a.dialect); err != nil {
		a.db.Close()
		return nil, err
	}
	secret := []byte(cfg.jwtSecret)
	if len(secret) == 0 {
		if secret, err = localSecret(cfg.sqlitePath + ".secret"); err != nil {
			a.db.Close()
			return nil, err
		}
	}
	a.secret = secret
	if cfg.demo {
		// The demo webhook sink's secret is in the connector-secret
		// namespace.
		sinkSecret := a.demoSinkSecret()
		envLookup := lookupEnv
		lookupEnv = func(k string) (string, bool) {
			if v, ok := envLookup(k); ok || k != demo.SinkSecretEnv {
				return v, ok
			}
			return sinkSecret, true
		}
	}
	limits, err := cfg.limits()
	if err == nil {
		// The subcommands write through the server's client too, so that
		// their changes are audited and their revocations reach the
		// running replicas.
		a.srv, err = server.New(server.Config{
			DB: a.db, Dialect: a.dialect, RiverDB: a.riverDB, DSN: cfg.databaseURL,
			Secret: secret, Log: log, LookupEnv: lookupEnv, SecretsDir: cfg.secretsDir,
			Limits: limits, Introspection: cfg.introspection,
			CheckOrigin: httpserver.AllowOrigins(cfg.allowedOrigins),
			Jobs:        jobs.Options{FulfillmentTimeout: cfg.fulfillmentTimeout},
		})
	}
	if err != nil {
		a.db.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) close() {
	_ = a.srv.Client.Close()
	if a.riverDB != nil {
		_ = a.riverDB.Close()
	}
}

// demoSinkSecret is the signing secret of the demo webhook sink, derived
// from the JWT secret so that it is stable across restarts.
func (a *app) demoSinkSecret() string {
	sum := sha256.Sum256(append([]byte("gatehouse demo webhook sink\x00"), a.secret...))
	return hex.EncodeToString(sum[:])
}

// localSecret reads the JWT secret kept next to the SQLite database, creating
// it on first use, so that tokens survive restarts.
func localSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if s := strings.TrimSpace(string(b)); len(s) >= 32 {
			return []byte(s), nil
		}
		return nil, fmt.Errorf("%s holds no usable secret; delete it to make a new one", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read jwt secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write jwt secret: %w", err)
	}
	return []byte(s), nil
}

func (a *app) printToken(ctx context.Context, w io.Writer, email string, ttl time.Duration) error {
	if email == "" {
		return errors.New("usage: gatehouse token --email E")
	}
	u, err := a.srv.Client.User.Query().Where(user.EmailEqualFold(email)).Only(authz.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return fmt.Errorf("no user with email %s", email)
	}
	if err != nil {
		return err
	}
	if u.Status != enum.UserStatusActive {
		return fmt.Errorf("user %s is %s", email, u.Status)
	}
	tok, err := a.srv.Auth.IssueJWT(u.ID, ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, tok)
	return nil
}

// createUser creates the user, or updates the name and role of an existing
// one, so that running it twice gives the same result.
func (a *app) createUser(ctx context.Context, w io.Writer, email, name string, role enum.PlatformRole) error {
	if email == "" || name == "" {
		return errors.New("usage: gatehouse user create --email E --name N --role USER|RISK_MANAGER|IT_ADMIN")
	}
	if !role.IsValid() {
		return fmt.Errorf("--role %q must be one of %v", role, enum.AllPlatformRoles)
	}
	u, err := ensureUser(authz.SystemContext(ctx), a.srv.Client, email, name, role)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %s %s\n", u.ID, u.Email, u.PlatformRole)
	return nil
}

func ensureUser(ctx context.Context, client *ent.Client, email, name string, role enum.PlatformRole) (*ent.User, error) {
	u, err := client.User.Query().Where(user.EmailEqualFold(email)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return client.User.Create().SetEmail(email).SetName(name).SetPlatformRole(role).Save(ctx)
	case err != nil:
		return nil, err
	}
	return u.Update().SetName(name).SetPlatformRole(role).Save(ctx)
}

// bootstrapAdmin makes email an IT admin when the database has none.
func (a *app) bootstrapAdmin(ctx context.Context, log *slog.Logger, email string) error {
	ctx = authz.SystemContext(ctx)
	exists, err := a.srv.Client.User.Query().
		Where(user.PlatformRoleEQ(enum.PlatformRoleITAdmin), user.StatusEQ(enum.UserStatusActive)).
		Exist(ctx)
	if err != nil || exists {
		return err
	}
	name, _, _ := strings.Cut(email, "@")
	u, err := ensureUser(ctx, a.srv.Client, email, name, enum.PlatformRoleITAdmin)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	log.Info("bootstrap IT admin created", "email", u.Email, "id", u.ID)
	return nil
}

func (a *app) printDemoTokens(ctx context.Context, w io.Writer, ttl time.Duration) error {
	members, err := demo.Members(ctx, a.srv.Client)
	if err != nil {
		return err
	}
	for _, u := range members {
		tok, err := a.srv.Auth.IssueJWT(u.ID, ttl)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-32s %-13s %s\n", u.Email, u.PlatformRole, tok)
	}
	return nil
}

// serve runs the HTTP server until ctx ends, then shuts down in order: stop
// accepting, end open requests and subscriptions, close the database.
func (a *app) serve(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	if cfg.bootstrapAdmin != "" {
		if err := a.bootstrapAdmin(ctx, log, cfg.bootstrapAdmin); err != nil {
			return err
		}
	}
	if cfg.demo {
		if _, err := demo.Seed(ctx, a.srv.Client); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	base := "http://" + displayAddr(ln.Addr())

	var sink *demo.Sink
	if cfg.demo {
		sink = demo.NewSink([]byte(a.demoSinkSecret()), a.srv.Now)
		if err := demo.PointWebhooks(ctx, a.srv.Client, base); err != nil {
			return err
		}
	}
	if err := a.srv.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.srv.Stop(sctx); err != nil {
			log.Warn("stop", "error", err)
		}
	}()

	m := a.srv.Metrics
	mux := http.NewServeMux()
	mux.Handle("/", a.srv.Handler) // /query and /reports/
	mux.Handle("GET /{$}", m.InstrumentHTTP("/", httpserver.WithPolicy(ideContentSecurityPolicy, playground.Handler("Gatehouse", "/query"))))
	mux.Handle("GET /healthz", m.InstrumentHTTP("/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /readyz", m.InstrumentHTTP("/readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.db.PingContext(pctx); err != nil {
			log.Warn("readiness check failed", "error", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /metrics", m.Handler())
	if sink != nil {
		mux.Handle(demo.SinkPath, m.InstrumentHTTP(demo.SinkPath, sink))
	}
	srv := httpserver.New(httpserver.Config{
		Handler:        mux,
		Timeouts:       httpserver.DefaultTimeouts,
		AllowedOrigins: cfg.allowedOrigins,
		BaseContext:    a.srv.BaseContext(),
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	url := base + "/query"
	log.Info("gatehouse listening", "graphql", url, "ide", strings.TrimSuffix(url, "query"), "database", a.dialect)
	if cfg.demo {
		// A signal during this read cancels it; that is a shutdown, not a
		// failure.
		if err := a.logDemoTokens(ctx, log, cfg.tokenTTL); err != nil && ctx.Err() == nil {
			return err
		}
	}

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx) // then the deferred Stop closes the websockets and stops the jobs
}

// ideContentSecurityPolicy lets the GraphiQL page at / load its scripts and
// styles from the CDN it names (with subresource integrity) and run its
// inline start-up script; it may call only this server and be framed by no
// one.
const ideContentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; " +
	"style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data:; font-src https://cdn.jsdelivr.net; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func (a *app) logDemoTokens(ctx context.Context, log *slog.Logger, ttl time.Duration) error {
	members, err := demo.Members(ctx, a.srv.Client)
	if err != nil {
		return err
	}
	for _, u := range members {
		tok, err := a.srv.Auth.IssueJWT(u.ID, ttl)
		if err != nil {
			return err
		}
		log.Info("demo user", "email", u.Email, "role", u.PlatformRole, "token", tok)
	}
	return nil
}

// displayAddr turns a wildcard listen address into one a client can dial.
func displayAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

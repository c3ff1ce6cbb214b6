// Command gatehouse is the Gatehouse access request server. server.go reads
// flags and the environment, opens the database, has internal/server build
// the services (as the tests do), and starts and stops them.
//
//	gatehouse [serve]                     run the server (default)
//	gatehouse migrate                     migrate the database and exit (PostgreSQL:
//	                                      apply the pending versioned migration files)
//	gatehouse token --email E [--ttl D]   print a bearer token for user E
//	gatehouse user create --email E --name N --role R
//	gatehouse demo                        seed the demo organisation into an empty database
package main

import (
	"context"
	"crypto/ed25519"
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
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"entgo.io/ent/dialect"

	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/accesslog"
	"gatehouse/internal/auth"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/demo"
	"gatehouse/internal/gqllimit"
	"gatehouse/internal/httpserver"
	"gatehouse/internal/jobs"
	gmail "gatehouse/internal/mail"
	"gatehouse/internal/reports"
	"gatehouse/internal/server"
	"gatehouse/internal/web"
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
	addrSet        bool // by --addr or GATEHOUSE_ADDR
	databaseURL    string
	sqlitePath     string
	jwtSecret      string
	demo           bool
	demoSet        bool
	introspection  bool
	bootstrapAdmin string
	logFormat      string
	logLevel       slog.Level
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
	// autoMigrate applies pending migrations at start
	// (GATEHOUSE_AUTO_MIGRATE, default true); when false, a PostgreSQL
	// database with pending migrations is refused until `gatehouse
	// migrate` runs.
	autoMigrate bool
	// fulfillmentTimeout bounds one attempt of a fulfilment job
	// (GATEHOUSE_FULFILLMENT_TIMEOUT); a job whose process died is run
	// again twice that long after it started.
	fulfillmentTimeout time.Duration
	// smtpURL and smtpFrom configure outgoing e-mail (GATEHOUSE_SMTP_URL,
	// GATEHOUSE_SMTP_FROM); the URL may hold a password, never logged.
	smtpURL  string
	smtpFrom string
	// publicURL is the server's address as users reach it, for the links
	// of notification e-mails (GATEHOUSE_PUBLIC_URL); empty means
	// http://localhost:<port of the listen address> (publicBase).
	publicURL string
	// oidc is the single sign-on of GATEHOUSE_OIDC_*: the tokens of one
	// OpenID Connect provider (Issuer "" for none).
	oidc auth.OIDCConfig
	// oidcProvider is oidc once discovered, by serve only (the other
	// commands mint or read nothing of the provider's).
	oidcProvider *auth.OIDC
	// reportKey is GATEHOUSE_REPORT_SIGNING_KEY: the base64 of an Ed25519
	// seed or the path of a key file; "" means <sqlite>.report-key on
	// SQLite, a key derived from the JWT secret on PostgreSQL.
	reportKey string
}

// publicBase returns the address of the links in notification e-mails:
// GATEHOUSE_PUBLIC_URL, else the listen address on localhost.
func (c config) publicBase() string {
	if c.publicURL != "" {
		return c.publicURL
	}
	host, port, err := net.SplitHostPort(c.addr)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// envDefaults reads the GATEHOUSE_* variables (and DATABASE_URL) into a
// config whose fields become the flags' defaults.
func envDefaults(getenv func(string) string) (config, error) {
	c := config{
		addr:           getenv("GATEHOUSE_ADDR"),
		addrSet:        getenv("GATEHOUSE_ADDR") != "",
		databaseURL:    getenv("DATABASE_URL"),
		sqlitePath:     envOr(getenv, "GATEHOUSE_SQLITE_PATH", "gatehouse.db"),
		jwtSecret:      getenv("GATEHOUSE_JWT_SECRET"),
		reportKey:      strings.TrimSpace(getenv("GATEHOUSE_REPORT_SIGNING_KEY")),
		bootstrapAdmin: strings.TrimSpace(getenv("GATEHOUSE_BOOTSTRAP_ADMIN")),
		logFormat:      getenv("GATEHOUSE_LOG_FORMAT"),
		secretsDir:     getenv("GATEHOUSE_SECRETS_DIR"),
		queryLimits:    getenv("GATEHOUSE_QUERY_LIMITS"),
		smtpURL:        getenv("GATEHOUSE_SMTP_URL"),
		smtpFrom:       strings.TrimSpace(getenv("GATEHOUSE_SMTP_FROM")),
		publicURL:      strings.TrimRight(strings.TrimSpace(getenv("GATEHOUSE_PUBLIC_URL")), "/"),
		introspection:  true,
		autoMigrate:    true,
		tokenTTL:       24 * time.Hour,
		wsPerUser:      resolvers.DefaultLimits.WebsocketPerPrincipal,
		wsPending:      resolvers.DefaultLimits.WebsocketPending,

		fulfillmentTimeout: workflow.DefaultFulfillmentTimeout,
	}
	var err error
	if v := getenv("GATEHOUSE_LOG_LEVEL"); v != "" {
		if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("GATEHOUSE_LOG_LEVEL=%q must be debug, info, warn or error", v)
		}
	}
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
	if v := getenv("GATEHOUSE_AUTO_MIGRATE"); v != "" {
		if c.autoMigrate, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("GATEHOUSE_AUTO_MIGRATE=%q is not a boolean", v)
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
	c.oidc = auth.OIDCConfig{
		Issuer:      strings.TrimSpace(getenv("GATEHOUSE_OIDC_ISSUER")),
		Audience:    strings.TrimSpace(getenv("GATEHOUSE_OIDC_AUDIENCE")),
		UserClaim:   strings.TrimSpace(getenv("GATEHOUSE_OIDC_USER_CLAIM")),
		GroupsClaim: strings.TrimSpace(getenv("GATEHOUSE_OIDC_GROUPS_CLAIM")),
	}
	if v := getenv("GATEHOUSE_OIDC_JIT"); v != "" {
		if c.oidc.JIT, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("GATEHOUSE_OIDC_JIT=%q is not a boolean", v)
		}
	}
	if c.oidc.GroupRoles, err = auth.ParseGroupRoles(getenv("GATEHOUSE_OIDC_GROUP_ROLES")); err != nil {
		return c, fmt.Errorf("GATEHOUSE_OIDC_GROUP_ROLES: %w", err)
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
	if !c.addrSet {
		// Demo mode prints admin tokens: it listens on this machine only
		// unless told otherwise.
		c.addr = ":8080"
		if c.demo {
			c.addr = "127.0.0.1:8080"
		}
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
		return fmt.Errorf("listen address %q is not host:port", c.addr)
	}
	if c.publicURL != "" {
		u, err := url.Parse(c.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("GATEHOUSE_PUBLIC_URL=%q must be an http:// or https:// URL", c.publicURL)
		}
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
	if c.oidc.Issuer != "" {
		if err := c.oidc.Validate(); err != nil {
			return err
		}
	} else if c.oidc.Audience != "" || c.oidc.UserClaim != "" || c.oidc.JIT || c.oidc.GroupsClaim != "" || len(c.oidc.GroupRoles) > 0 {
		return errors.New("the GATEHOUSE_OIDC_* settings need GATEHOUSE_OIDC_ISSUER")
	}
	if _, err := c.mailer(); err != nil {
		return err
	}
	if c.publicURL != "" {
		if u, err := url.Parse(c.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("GATEHOUSE_PUBLIC_URL=%q is not an absolute http(s) URL", c.publicURL)
		}
	}
	return nil
}

// mailer is the SMTP sender of GATEHOUSE_SMTP_URL and GATEHOUSE_SMTP_FROM,
// nil when the URL is unset. Its errors name the setting, never the URL
// (which may hold a password).
func (c *config) mailer() (gmail.Sender, error) {
	if c.smtpURL == "" {
		if c.smtpFrom != "" {
			return nil, errors.New("GATEHOUSE_SMTP_FROM is set but GATEHOUSE_SMTP_URL is not")
		}
		return nil, nil
	}
	if c.smtpFrom == "" {
		return nil, errors.New("GATEHOUSE_SMTP_FROM is required with GATEHOUSE_SMTP_URL (the sender address, e.g. gatehouse@corp.example)")
	}
	s, err := gmail.NewSMTP(c.smtpURL, c.smtpFrom)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_SMTP_URL / GATEHOUSE_SMTP_FROM: %w", err)
	}
	return s, nil
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

// command is one subcommand: its synopsis, the flags and environment
// variables that apply to it, and what it does.
type command struct {
	name     string // "serve", "user create"
	synopsis string // flags after the name, for the usage line
	summary  string
	// flags registers the command's own flags on fs.
	flags func(fs *flag.FlagSet, cfg *config, in *inputs)
	env   []string
	run   func(ctx context.Context, c *cli) error
}

// inputs are the flag values that are not configuration.
type inputs struct {
	email, name, role string
}

// cli is one run of the command line.
type cli struct {
	cfg    config
	in     inputs
	log    *slog.Logger
	getenv func(string) string
	stdout io.Writer
}

// databaseEnv are the variables every command that opens the database reads.
var databaseEnv = []string{"DATABASE_URL", "GATEHOUSE_SQLITE_PATH", "GATEHOUSE_JWT_SECRET", "GATEHOUSE_LOG_FORMAT", "GATEHOUSE_LOG_LEVEL"}

// envHelp describes each environment variable for the commands' usage.
var envHelp = map[string]string{
	"DATABASE_URL":                  "postgres:// URL of the database; unset means SQLite",
	"GATEHOUSE_SQLITE_PATH":         "SQLite file when DATABASE_URL is unset (default gatehouse.db)",
	"GATEHOUSE_JWT_SECRET":          "HS256 key of at least 32 characters; required with DATABASE_URL (SQLite: kept in <sqlite>.secret)",
	"GATEHOUSE_REPORT_SIGNING_KEY":  "Ed25519 key signing audit reports: base64 of a 32-byte seed, or a file (seed or PEM); default <sqlite>.report-key, on PostgreSQL derived from the JWT secret",
	"GATEHOUSE_LOG_FORMAT":          "text or json (default: text on a terminal, else json)",
	"GATEHOUSE_LOG_LEVEL":           "debug, info, warn or error (default info)",
	"GATEHOUSE_ADDR":                "listen address (default :8080; 127.0.0.1:8080 in demo mode)",
	"GATEHOUSE_DEMO":                "seed the demo organisation into an empty database (default true on SQLite)",
	"GATEHOUSE_BOOTSTRAP_ADMIN":     "email made IT admin at start when no IT admin exists",
	"GATEHOUSE_INTROSPECTION":       "allow GraphQL introspection (default true)",
	"GATEHOUSE_TOKEN_TTL":           "lifetime of minted JWTs (default 24h)",
	"GATEHOUSE_QUERY_LIMITS":        "GraphQL document limits to change, e.g. aliases=50,list-length=2000",
	"GATEHOUSE_ALLOWED_ORIGINS":     "comma-separated browser origins allowed to call /query",
	"GATEHOUSE_SECRETS_DIR":         "directory of connector secret files",
	"GATEHOUSE_SECRET_*":            "connector secrets named by connector configurations",
	"GATEHOUSE_WS_MAX_PER_USER":     "websockets one user may hold open (0: no limit)",
	"GATEHOUSE_WS_MAX_PENDING":      "websockets waiting for connection_init server-wide (0: no limit)",
	"GATEHOUSE_FULFILLMENT_TIMEOUT": "how long one attempt of a fulfilment job may run (default 1m)",
	"GATEHOUSE_AUTO_MIGRATE":        "apply pending PostgreSQL migrations at start (default true); false refuses to start with pending ones",
	"GATEHOUSE_SMTP_URL":            "outgoing mail server, smtp://user:pass@host:587 (STARTTLS when offered; ?starttls=require) or smtps://…:465",
	"GATEHOUSE_SMTP_FROM":           "sender address of e-mail, required with GATEHOUSE_SMTP_URL",
	"GATEHOUSE_OIDC_ISSUER":         "issuer URL of an OpenID Connect provider whose tokens sign people in (discovery at start)",
	"GATEHOUSE_OIDC_AUDIENCE":       "client ID the provider's tokens must name (aud); required with GATEHOUSE_OIDC_ISSUER",
	"GATEHOUSE_OIDC_USER_CLAIM":     "claim matched against users' emails (default email)",
	"GATEHOUSE_OIDC_JIT":            "create unknown users (as USER) at their first sign-in (default false)",
	"GATEHOUSE_OIDC_GROUPS_CLAIM":   "claim listing the user's groups, e.g. groups; with GATEHOUSE_OIDC_GROUP_ROLES",
	"GATEHOUSE_OIDC_GROUP_ROLES":    "group=ROLE pairs, e.g. gh-admins=IT_ADMIN,gh-risk=RISK_MANAGER: each sign-in sets the role (highest match, else USER)",
	"GATEHOUSE_PUBLIC_URL":          "the server's address as users reach it, for the links of e-mails and Slack messages (default http://localhost:<listen port>)",
}

func sqliteFlag(fs *flag.FlagSet, cfg *config) {
	fs.StringVar(&cfg.sqlitePath, "sqlite", cfg.sqlitePath, "SQLite file when DATABASE_URL is unset (GATEHOUSE_SQLITE_PATH)")
}

func ttlFlag(fs *flag.FlagSet, cfg *config) {
	fs.DurationVar(&cfg.tokenTTL, "ttl", cfg.tokenTTL, "lifetime of minted JWTs (GATEHOUSE_TOKEN_TTL)")
}

// commands are the subcommands, in the order help lists them.
var commands = []*command{
	{
		name: "serve", synopsis: "[--addr A] [--sqlite F] [--demo] [--introspection] [--ttl D] [--query-limits L] [--auto-migrate]",
		summary: "run the server (the default command)",
		flags: func(fs *flag.FlagSet, cfg *config, _ *inputs) {
			fs.Func("addr", "listen address (GATEHOUSE_ADDR; default :8080, 127.0.0.1:8080 in demo mode)", func(v string) error {
				cfg.addr, cfg.addrSet = v, true
				return nil
			})
			sqliteFlag(fs, cfg)
			fs.BoolFunc("demo", "seed the demo organisation into an empty database (GATEHOUSE_DEMO; default true on SQLite)", func(s string) error {
				v, err := strconv.ParseBool(s)
				cfg.demo, cfg.demoSet = v, true
				return err
			})
			fs.BoolVar(&cfg.introspection, "introspection", cfg.introspection, "allow GraphQL introspection (GATEHOUSE_INTROSPECTION)")
			ttlFlag(fs, cfg)
			fs.StringVar(&cfg.queryLimits, "query-limits", cfg.queryLimits, "GraphQL document limits to change, e.g. aliases=50,list-length=2000 (GATEHOUSE_QUERY_LIMITS)")
			fs.BoolVar(&cfg.autoMigrate, "auto-migrate", cfg.autoMigrate, "apply pending PostgreSQL migrations at start; when false, refuse to start with pending ones (GATEHOUSE_AUTO_MIGRATE)")
		},
		env: append(slices.Clone(databaseEnv), "GATEHOUSE_AUTO_MIGRATE", "GATEHOUSE_ADDR", "GATEHOUSE_DEMO", "GATEHOUSE_BOOTSTRAP_ADMIN",
			"GATEHOUSE_INTROSPECTION", "GATEHOUSE_TOKEN_TTL", "GATEHOUSE_QUERY_LIMITS", "GATEHOUSE_ALLOWED_ORIGINS",
			"GATEHOUSE_SECRETS_DIR", "GATEHOUSE_SECRET_*", "GATEHOUSE_WS_MAX_PER_USER", "GATEHOUSE_WS_MAX_PENDING",
			"GATEHOUSE_FULFILLMENT_TIMEOUT", "GATEHOUSE_SMTP_URL", "GATEHOUSE_SMTP_FROM", "GATEHOUSE_PUBLIC_URL",
			"GATEHOUSE_REPORT_SIGNING_KEY", "GATEHOUSE_OIDC_ISSUER", "GATEHOUSE_OIDC_AUDIENCE", "GATEHOUSE_OIDC_USER_CLAIM",
			"GATEHOUSE_OIDC_JIT", "GATEHOUSE_OIDC_GROUPS_CLAIM", "GATEHOUSE_OIDC_GROUP_ROLES"),
		run: func(ctx context.Context, c *cli) error { return c.serve(ctx) },
	},
	{
		name: "migrate", synopsis: "[--sqlite F]",
		summary: "create or update the database schema and exit; on PostgreSQL, apply the pending migration files and print the version",
		flags:   func(fs *flag.FlagSet, cfg *config, _ *inputs) { sqliteFlag(fs, cfg) },
		env:     databaseEnv,
		run: func(ctx context.Context, c *cli) error {
			c.cfg.autoMigrate = true
			a, err := open(ctx, c.cfg, c.log, c.lookupEnv)
			if err != nil {
				return err
			}
			defer a.close()
			fmt.Fprintln(c.stdout, a.migrated)
			return nil
		},
	},
	{
		name: "token", synopsis: "[--email E] [--ttl D] [--sqlite F]",
		summary: "print a bearer token for user E; without --email, a token per demo user",
		flags: func(fs *flag.FlagSet, cfg *config, in *inputs) {
			fs.StringVar(&in.email, "email", "", "email of the user")
			ttlFlag(fs, cfg)
			sqliteFlag(fs, cfg)
		},
		env: append(slices.Clone(databaseEnv), "GATEHOUSE_TOKEN_TTL"),
		run: func(ctx context.Context, c *cli) error {
			a, err := c.openExisting(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			if c.in.email == "" {
				return a.printDemoTokens(ctx, c.stdout, c.cfg.tokenTTL)
			}
			return a.printToken(ctx, c.stdout, c.in.email, c.cfg.tokenTTL)
		},
	},
	{
		name: "user create", synopsis: "--email E --name N [--role USER|RISK_MANAGER|IT_ADMIN] [--sqlite F]",
		summary: "create a user, or set the name and role of an existing one",
		flags: func(fs *flag.FlagSet, cfg *config, in *inputs) {
			fs.StringVar(&in.email, "email", "", "email of the user")
			fs.StringVar(&in.name, "name", "", "name of the user")
			fs.StringVar(&in.role, "role", string(enum.PlatformRoleUser), "platform role: USER, RISK_MANAGER or IT_ADMIN")
			sqliteFlag(fs, cfg)
		},
		env: databaseEnv,
		run: func(ctx context.Context, c *cli) error {
			if c.in.email == "" || c.in.name == "" {
				return errors.New("usage: gatehouse user create --email E --name N --role USER|RISK_MANAGER|IT_ADMIN")
			}
			a, err := c.openExisting(ctx)
			if err != nil {
				return err
			}
			defer a.close()
			return a.createUser(ctx, c.stdout, c.in.email, c.in.name, enum.PlatformRole(c.in.role))
		},
	},
	{
		name: "report-key", synopsis: "[--sqlite F]",
		summary: "print the public key (PEM) that verifies this deployment's signed audit reports, as /.well-known/gatehouse-report-key serves it",
		flags:   func(fs *flag.FlagSet, cfg *config, _ *inputs) { sqliteFlag(fs, cfg) },
		env:     []string{"DATABASE_URL", "GATEHOUSE_SQLITE_PATH", "GATEHOUSE_JWT_SECRET", "GATEHOUSE_REPORT_SIGNING_KEY"},
		run:     func(_ context.Context, c *cli) error { return c.printReportKey() },
	},
	{
		name: "demo", synopsis: "[--ttl D] [--sqlite F]",
		summary: "seed the demo organisation into an empty database and print its users' tokens",
		flags: func(fs *flag.FlagSet, cfg *config, _ *inputs) {
			ttlFlag(fs, cfg)
			sqliteFlag(fs, cfg)
		},
		env: append(slices.Clone(databaseEnv), "GATEHOUSE_TOKEN_TTL"),
		run: func(ctx context.Context, c *cli) error {
			a, err := open(ctx, c.cfg, c.log, c.lookupEnv)
			if err != nil {
				return err
			}
			defer a.close()
			org, err := demo.Seed(ctx, a.srv.Client)
			if err != nil {
				return err
			}
			if org == nil {
				return fmt.Errorf("%s already holds users, so the demo organisation was not seeded (it goes only into an empty database)", a.where)
			}
			members, tokens, err := a.demoTokens(ctx, c.cfg.tokenTTL)
			if err != nil {
				return err
			}
			if err := a.writeDemoTokens(members, tokens); err != nil {
				return err
			}
			formatDemoTokens(c.stdout, members, tokens)
			return nil
		},
	},
}

// printReportKey prints the public key of the report signing key the
// server would use with the same settings, without opening the database
// (on SQLite the key file beside it is made if it does not exist yet, as
// the server would make it).
func (c *cli) printReportKey() error {
	key, err := c.cfg.reportSigningKey([]byte(c.cfg.jwtSecret))
	if err != nil {
		return err
	}
	signer, err := reports.NewSigner(key)
	if err != nil {
		return err
	}
	_, err = c.stdout.Write(signer.PublicKeyPEM())
	return err
}

func (c *cli) lookupEnv(k string) (string, bool) {
	v := c.getenv(k)
	return v, v != ""
}

// run parses the command line and runs one subcommand until ctx ends. A
// start-up that ctx ends (Ctrl-C) returns nil: it is a shutdown, not a
// failure.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help":
			return help(stdout, args[1:])
		case "version", "-version", "--version":
			fmt.Fprintln(stdout, version())
			return nil
		}
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
		if name == "user" {
			if len(args) == 0 || args[0] != "create" {
				return errors.New("usage: gatehouse user create --email E --name N --role USER|RISK_MANAGER|IT_ADMIN")
			}
			name, args = "user create", args[1:]
		}
	}
	cmd := lookup(name)
	if cmd == nil {
		return fmt.Errorf("unknown command %q; gatehouse help lists the commands", name)
	}
	cfg, err := envDefaults(getenv)
	if err != nil {
		return err
	}
	c := &cli{cfg: cfg, getenv: getenv, stdout: stdout}
	fs := flag.NewFlagSet("gatehouse "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cmd.flags(fs, &c.cfg, &c.in)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.usage(stdout, fs)
			return nil
		}
		return fmt.Errorf("%w (gatehouse %s --help lists its flags)", err, cmd.name)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (gatehouse %s --help lists its flags)", fs.Arg(0), cmd.name)
	}
	if err := c.cfg.validate(); err != nil {
		return err
	}
	c.log = newLogger(c.cfg.logFormat, c.cfg.logLevel, stderr)
	err = cmd.run(ctx, c)
	if err != nil && ctx.Err() != nil {
		c.log.Info("interrupted", "command", cmd.name)
		return nil
	}
	return err
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// help writes the list of commands, or one command's usage.
func help(w io.Writer, args []string) error {
	if len(args) > 0 {
		name := strings.Join(args, " ")
		cmd := lookup(name)
		if cmd == nil {
			return fmt.Errorf("unknown command %q; gatehouse help lists the commands", name)
		}
		cfg, _ := envDefaults(func(string) string { return "" })
		fs := flag.NewFlagSet("gatehouse "+cmd.name, flag.ContinueOnError)
		cmd.flags(fs, &cfg, &inputs{})
		cmd.usage(w, fs)
		return nil
	}
	fmt.Fprint(w, "Gatehouse is the access request server.\n\nUsage: gatehouse <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "  help [cmd]   list the commands, or show a command's flags and environment\n")
	fmt.Fprint(w, "  version      print the build's version (also --version)\n")
	fmt.Fprint(w, "\nWithout a command, gatehouse serves. gatehouse <command> --help shows its flags and environment.\n")
	return nil
}

// usage writes the command's synopsis, its flags and its environment.
func (c *command) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: gatehouse %s %s\n\n%s.\n\nFlags:\n", c.name, c.synopsis, strings.ToUpper(c.summary[:1])+c.summary[1:])
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, "\nEnvironment:\n")
	for _, k := range c.env {
		fmt.Fprintf(w, "  %-30s %s\n", k, envHelp[k])
	}
}

// version describes the build from its embedded build information: the
// module version, the VCS revision and time, and the Go version.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "gatehouse (no build information)"
	}
	out := "gatehouse " + bi.Main.Version
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		out += " revision " + rev
		if modified {
			out += " (modified)"
		}
	}
	if at != "" {
		out += " committed " + at
	}
	return out + " " + bi.GoVersion
}

// newLogger returns the process's logger: format "" chooses text on a
// terminal and JSON otherwise.
func newLogger(format string, level slog.Level, w io.Writer) *slog.Logger {
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// app holds the opened database and the server graph over it.
type app struct {
	db *sql.DB
	// riverDB is River's own single connection on SQLite; nil on PostgreSQL.
	riverDB *sql.DB
	dialect string
	secret  []byte
	srv     *server.Server
	// where names the database for messages: the SQLite file or the
	// PostgreSQL host and database, never credentials.
	where string
	// tokensPath is where demo tokens are written: next to the SQLite
	// file; "" on PostgreSQL.
	tokensPath string
	// migrated says what the migration at open did, for `gatehouse
	// migrate`.
	migrated string
}

// databaseName names the database cfg points at, for messages.
func databaseName(cfg config) string {
	if cfg.databaseURL != "" {
		if u, err := url.Parse(cfg.databaseURL); err == nil {
			return "PostgreSQL database " + strings.TrimPrefix(u.Path, "/") + " on " + u.Host
		}
		return "the PostgreSQL database of DATABASE_URL"
	}
	if abs, err := filepath.Abs(cfg.sqlitePath); err == nil {
		return "SQLite database " + abs
	}
	return "SQLite database " + cfg.sqlitePath
}

// openExisting opens the database for the commands that only read and add
// to one (token, user create): it refuses to create a SQLite file or the
// schema of an empty PostgreSQL database, and names the database it looked
// in.
func (c *cli) openExisting(ctx context.Context) (*app, error) {
	where := databaseName(c.cfg)
	const hint = "; start the server or run gatehouse migrate first, or point DATABASE_URL or --sqlite at the database"
	if c.cfg.databaseURL == "" {
		if _, err := os.Stat(c.cfg.sqlitePath); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no %s%s", where, hint)
		}
	} else {
		db, err := database.OpenPostgres(ctx, c.cfg.databaseURL)
		if err != nil {
			return nil, err
		}
		var users sql.NullString
		err = db.QueryRowContext(ctx, "SELECT to_regclass('users')::text").Scan(&users)
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("look for the schema in %s: %w", where, err)
		}
		if !users.Valid {
			return nil, fmt.Errorf("%s has no Gatehouse schema%s", where, hint)
		}
	}
	return open(ctx, c.cfg, c.log, c.lookupEnv)
}

// open opens and migrates the database and builds the server graph over it
// (started only by serve).
func open(ctx context.Context, cfg config, log *slog.Logger, lookupEnv func(string) (string, bool)) (*app, error) {
	a := &app{dialect: dialect.SQLite, where: databaseName(cfg)}
	var err error
	if cfg.databaseURL != "" {
		a.dialect = dialect.Postgres
		a.db, err = database.OpenPostgres(ctx, cfg.databaseURL)
	} else {
		a.tokensPath = cfg.sqlitePath + ".tokens"
		if abs, err := filepath.Abs(a.tokensPath); err == nil {
			a.tokensPath = abs
		}
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
	if a.migrated, err = migrateDatabase(ctx, a.db, a.dialect, cfg.autoMigrate, log); err != nil {
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
	reportKey, err := cfg.reportSigningKey(secret)
	if err != nil {
		a.db.Close()
		return nil, err
	}
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
	var mailer gmail.Sender
	if err == nil {
		mailer, err = cfg.mailer()
	}
	if err == nil {
		// The subcommands write through the server's client too, so that
		// their changes are audited and their revocations reach the
		// running replicas.
		a.srv, err = server.New(server.Config{
			DB: a.db, Dialect: a.dialect, RiverDB: a.riverDB, DSN: cfg.databaseURL,
			Secret: secret, OIDC: cfg.oidcProvider, DemoSignIn: cfg.demo, ReportKey: reportKey, Log: log, LookupEnv: lookupEnv, SecretsDir: cfg.secretsDir,
			Limits: limits, Introspection: cfg.introspection,
			CheckOrigin: httpserver.AllowOrigins(cfg.allowedOrigins),
			Jobs:        jobs.Options{FulfillmentTimeout: cfg.fulfillmentTimeout},
			Mail:        mailer, PublicURL: cfg.publicBase(),
		})
	}
	if err != nil {
		a.db.Close()
		return nil, err
	}
	return a, nil
}

// migrateDatabase migrates the database (SQLite always; PostgreSQL when
// apply is set, else it checks that no migration is pending) and says what
// it did.
func migrateDatabase(ctx context.Context, db *sql.DB, dialectName string, apply bool, log *slog.Logger) (string, error) {
	if dialectName != dialect.Postgres {
		return "database migrated", database.Migrate(ctx, db, dialectName)
	}
	before, err := database.PostgresStatus(ctx, db)
	if err != nil {
		return "", err
	}
	if !apply {
		if before.Legacy || len(before.Pending) > 0 {
			what := pendingText(before)
			if before.Legacy {
				what = "made by a release before versioned migrations"
			}
			return "", fmt.Errorf("the database needs migrating (%s) and GATEHOUSE_AUTO_MIGRATE is false: run `gatehouse migrate` first", what)
		}
		// The audit triggers and River's tables are idempotent and
		// versioned by their owners: keep them current.
		return "", database.Migrate(ctx, db, dialectName)
	}
	if err := database.Migrate(ctx, db, dialectName); err != nil {
		return "", err
	}
	after, err := database.PostgresStatus(ctx, db)
	if err != nil {
		return "", err
	}
	if !before.Legacy && len(before.Pending) == 0 {
		return fmt.Sprintf("database migrated: at version %s (nothing pending)", after.Current), nil
	}
	log.Info("database migrated", "version", after.Current, "applied", before.Pending, "baselined", before.Legacy)
	return fmt.Sprintf("database migrated: at version %s (%s)", after.Current, pendingText(before)), nil
}

// pendingText says what migrating a database of status st does.
func pendingText(st database.MigrationStatus) string {
	if st.Legacy {
		return "baselined a database of a release before versioned migrations"
	}
	return fmt.Sprintf("%d pending: %s", len(st.Pending), strings.Join(st.Pending, ", "))
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

// reportSigningKey is the key that signs the audit reports:
// GATEHOUSE_REPORT_SIGNING_KEY when set; else, on SQLite, the key kept in
// <sqlite>.report-key (created on first use, mode 0600); else one derived
// from the JWT secret, so that every replica signs with the same key.
func (c config) reportSigningKey(jwtSecret []byte) (ed25519.PrivateKey, error) {
	switch {
	case c.reportKey != "":
		return reports.ParseSigningKey(c.reportKey)
	case c.databaseURL == "":
		return reports.LocalSigningKey(c.sqlitePath + ".report-key")
	}
	seed := sha256.Sum256(append([]byte("gatehouse report signing key\x00"), jwtSecret...))
	return ed25519.NewKeyFromSeed(seed[:]), nil
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
		return fmt.Errorf("no user with email %s in %s", email, a.where)
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
	if err != nil {
		return err
	}
	if exists {
		log.Info("bootstrap admin not created: an IT admin exists", "email", email)
		return nil
	}
	name, _, _ := strings.Cut(email, "@")
	u, err := ensureUser(ctx, a.srv.Client, email, name, enum.PlatformRoleITAdmin)
	if err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	log.Info("bootstrap IT admin created", "email", u.Email, "id", u.ID)
	return nil
}

// demoTokens mints a token per demo user present, IT admin first.
func (a *app) demoTokens(ctx context.Context, ttl time.Duration) ([]*ent.User, []string, error) {
	members, err := demo.Members(ctx, a.srv.Client)
	if err != nil {
		return nil, nil, err
	}
	tokens := make([]string, len(members))
	for i, u := range members {
		if tokens[i], err = a.srv.Auth.IssueJWT(u.ID, ttl); err != nil {
			return nil, nil, err
		}
	}
	return members, tokens, nil
}

// formatDemoTokens writes one line per demo user: email, role, token.
func formatDemoTokens(w io.Writer, members []*ent.User, tokens []string) {
	for i, u := range members {
		fmt.Fprintf(w, "%-32s %-13s %s\n", u.Email, u.PlatformRole, tokens[i])
	}
}

// printDemoTokens prints a fresh token per demo user.
func (a *app) printDemoTokens(ctx context.Context, w io.Writer, ttl time.Duration) error {
	members, tokens, err := a.demoTokens(ctx, ttl)
	if err != nil {
		return err
	}
	if len(members) == 0 {
		return fmt.Errorf("%s holds no demo users; usage: gatehouse token --email E", a.where)
	}
	formatDemoTokens(w, members, tokens)
	return nil
}

// writeDemoTokens writes the demo users' tokens to the file next to
// the SQLite database (mode 0600), for when the start-up lines have
// scrolled away. It does nothing on PostgreSQL.
func (a *app) writeDemoTokens(members []*ent.User, tokens []string) error {
	if a.tokensPath == "" || len(members) == 0 {
		return nil
	}
	var b strings.Builder
	formatDemoTokens(&b, members, tokens)
	if err := os.WriteFile(a.tokensPath, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write demo tokens: %w", err)
	}
	// WriteFile keeps the mode of a file that exists.
	if err := os.Chmod(a.tokensPath, 0o600); err != nil {
		return fmt.Errorf("write demo tokens: %w", err)
	}
	return nil
}

// serve runs the HTTP server until ctx ends. It takes the listen address
// first, so that a busy port fails before anything is migrated or seeded;
// then opens and migrates the database, seeds the demo (before the bootstrap
// admin, whose IT admin would otherwise make the database non-empty), and on
// ctx's end shuts down in order: stop accepting, end open requests and
// subscriptions, close the database.
func (c *cli) serve(ctx context.Context) error {
	cfg, log := c.cfg, c.log
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close()
	if cfg.demo && !httpserver.IsLoopback(ln.Addr().String()) {
		log.Warn("demo mode listens beyond this machine and logs admin tokens", "addr", cfg.addr)
	}
	base := "http://" + displayAddr(ln.Addr())

	if cfg.oidc.Issuer != "" {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cfg.oidcProvider, err = auth.NewOIDC(dctx, cfg.oidc, nil, time.Now)
		cancel()
		if err != nil {
			return err
		}
		log.Info("OIDC sign-in", "issuer", cfg.oidc.Issuer, "audience", cfg.oidc.Audience, "jit", cfg.oidc.JIT)
	}
	a, err := open(ctx, cfg, log, c.lookupEnv)
	if err != nil {
		return err
	}
	defer a.close()
	if cfg.demo {
		org, err := demo.Seed(ctx, a.srv.Client)
		if err != nil {
			return err
		}
		if org == nil {
			log.Info("demo organisation not seeded: the database already holds users", "database", a.where)
		} else {
			log.Info("demo organisation seeded", "database", a.where, "users", len(org.Users))
		}
	}
	if cfg.bootstrapAdmin != "" {
		if err := a.bootstrapAdmin(ctx, log, cfg.bootstrapAdmin); err != nil {
			return err
		}
	}

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
	// Probes and scrapes come every few seconds: their lines are DEBUG.
	route := func(level slog.Level, route string, h http.Handler) http.Handler {
		return accesslog.HTTP(log, level, route, m.InstrumentHTTP(route, h))
	}
	mux := http.NewServeMux()
	mux.Handle("/", a.srv.Handler) // /query, /reports/, /graphiql and its assets
	mux.Handle("GET /healthz", route(slog.LevelDebug, "/healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /readyz", route(slog.LevelDebug, "/readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.db.PingContext(pctx); err != nil {
			log.Warn("readiness check failed", "error", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})))
	mux.Handle("GET /metrics", accesslog.HTTP(log, slog.LevelDebug, "/metrics", m.Handler()))
	if sink != nil {
		mux.Handle(demo.SinkPath, route(slog.LevelInfo, demo.SinkPath, sink.Handler(a.srv.Auth)))
	}
	if cfg.demo {
		// The console's picker of demo users; not mounted outside demo mode.
		ttl := cfg.tokenTTL
		mux.Handle(demo.SignInPath, route(slog.LevelInfo, demo.SignInPath, demo.SignIn(a.srv.Client, func(id pulid.ID) (string, error) {
			return a.srv.Auth.IssueJWT(id, ttl)
		})))
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
	log.Info("gatehouse listening", "graphql", url, "console", base+web.AppPath, "graphiql", base+web.GraphiQLPath, "database", a.where, "version", version())
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

// logDemoTokens logs a token per demo user and writes them to the tokens
// file next to the SQLite database, which gatehouse token also prints.
func (a *app) logDemoTokens(ctx context.Context, log *slog.Logger, ttl time.Duration) error {
	members, tokens, err := a.demoTokens(ctx, ttl)
	if err != nil {
		return err
	}
	for i, u := range members {
		log.Info("demo user", "email", u.Email, "role", u.PlatformRole, "token", tokens[i])
	}
	if err := a.writeDemoTokens(members, tokens); err != nil {
		return err
	}
	if a.tokensPath != "" && len(members) > 0 {
		log.Info("demo tokens written", "file", a.tokensPath, "reprint", "gatehouse token")
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

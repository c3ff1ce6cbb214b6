// Package discovery reads what an application really holds through its
// connector and brings Gatehouse in line with it (DESIGN §3, issue 5): the
// application's groups or roles become Entitlements, its accounts become the
// Identities of the Gatehouse users they belong to, and its memberships become
// Grants, so that LIKE_USER and REVOKE requests work against reality. It also
// runs a connector's health check for IT admins.
//
// Connector calls happen first, outside any transaction; every write of a
// sync then happens in one transaction, together with its audit events on the
// system chain. A sync is idempotent: run again on an unchanged application,
// it writes nothing.
package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
)

// Discoverer is what a sync needs of a connector beyond connectors.Connector:
// listings of the application's entitlements, accounts and memberships, and
// the login the connector would give a Gatehouse user. The SCIM and POSTGRES
// connectors implement it; a connector that does not cannot be synced.
type Discoverer interface {
	// ListEntitlements returns the application's groups or roles.
	ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error)
	// ListAccounts returns the application's accounts.
	ListAccounts(ctx context.Context) ([]connectors.Account, error)
	// ListMembers returns the accounts holding e; they carry at least the
	// ExternalID or the Login that ListAccounts gives them.
	ListMembers(ctx context.Context, e connectors.Entitlement) ([]connectors.Account, error)
	// LoginFor returns the login the connector uses for u.
	LoginFor(u connectors.User) string
}

// Connectors opens the connector of an application (a *connectors.Registry).
type Connectors interface {
	Open(kind string, config map[string]any) (connectors.Connector, error)
}

// Config holds what a Service needs.
type Config struct {
	// DB is the database pool; a sync writes in one transaction on it.
	DB *sql.DB
	// Dialect is dialect.Postgres or dialect.SQLite.
	Dialect string
	// Client reads outside the sync's transaction.
	Client     *ent.Client
	Connectors Connectors
	// Now is the clock; time.Now in production.
	Now func() time.Time
	// HealthTimeout bounds a health check; default 30s.
	HealthTimeout time.Duration
}

// Service syncs applications and checks their connections. It is safe for
// concurrent use; syncs of one application are serialised.
type Service struct {
	db            *sql.DB
	dialect       string
	client        *ent.Client
	audit         *audit.Recorder
	connectors    Connectors
	now           func() time.Time
	healthTimeout time.Duration
}

// New returns a Service.
func New(cfg Config) *Service {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	timeout := cfg.HealthTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Service{
		db:            cfg.DB,
		dialect:       cfg.Dialect,
		client:        cfg.Client,
		audit:         audit.NewRecorder(cfg.Dialect),
		connectors:    cfg.Connectors,
		now:           now,
		healthTimeout: timeout,
	}
}

// Check is the outcome of a connection check.
type Check struct {
	// OK is true when the application answered the health check.
	OK bool
	// Message says what was checked or what failed, without secrets.
	Message string
}

// CheckConnection opens the application's connector and runs its health
// check. A failing check is a Check with OK false, not an error, and its
// message is "<KIND> check failed: " followed by connectors.Reason: a short
// fixed reason such as "unreachable", "timeout", "TLS error" or
// "authentication refused (HTTP 401)", never text the application (or
// whatever listens at the configured address) sent back. IT_ADMIN only.
// Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND.
func (s *Service) CheckConnection(ctx context.Context, id pulid.ID) (*Check, error) {
	if _, err := authz.Require(ctx, manageConnectors); err != nil {
		return nil, err
	}
	app, err := s.client.Application.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if app.ConnectorKind == enum.ConnectorKindManual {
		return &Check{Message: "MANUAL applications have no connector: people fulfil their requests"}, nil
	}
	failed := fmt.Sprintf("%s check failed: ", app.ConnectorKind)
	conn, err := s.connectors.Open(string(app.ConnectorKind), app.ConnectorConfig)
	if err != nil {
		return &Check{Message: failed + connectors.Reason(err)}, nil
	}
	hctx, cancel := context.WithTimeout(ctx, s.healthTimeout)
	defer cancel()
	if err := conn.CheckHealth(hctx); err != nil {
		return &Check{Message: failed + connectors.Reason(err)}, nil
	}
	return &Check{OK: true, Message: fmt.Sprintf("the %s connector reached the application", app.ConnectorKind)}, nil
}

// manageConnectors is what checking and syncing connectors need of the
// viewer: an IT admin who may write.
var manageConnectors = authz.Need{Role: authz.Admin, Write: true, To: "manage connectors"}

// maxMessage bounds the messages of failed checks and syncs.
const maxMessage = 500

var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	// user:password@ in URLs (connection strings, endpoints).
	{regexp.MustCompile(`(://[^:/@\s"']*:)[^@\s"']+@`), "${1}[redacted]@"},
	// key=value connection strings and query parameters.
	{regexp.MustCompile(`(?i)\b(password|passwd|pwd|secret|token|access_token|api_key|apikey|sslpassword)(\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s&;"',]+)`), "${1}${2}[redacted]"},
	// Authorization headers.
	{regexp.MustCompile(`\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]{6,}=*`), "${1} [redacted]"},
}

// Redact removes what may be a secret from a connector's message —
// passwords in URLs and connection strings, tokens, Authorization values —
// and bounds its length. Connectors never put their secrets in messages;
// this is the second line of defence for what a server echoes back.
func Redact(msg string) string {
	for _, r := range redactions {
		msg = r.re.ReplaceAllString(msg, r.with)
	}
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// inTx runs fn in a transaction of its own, with an ent client over it that
// bypasses privacy (the caller has been checked) and joins ent's own nested
// transactions.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, client *ent.Client) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("discovery: begin: %w", err)
	}
	client := database.TxClient(tx, s.dialect, s.now)
	if err := fn(authz.SystemContext(ctx), tx, client); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("discovery: commit: %w", err)
	}
	return nil
}

// lockApplication serialises syncs of one application until tx ends (on
// SQLite the IMMEDIATE write transaction already does).
func (s *Service) lockApplication(ctx context.Context, tx *sql.Tx, id pulid.ID) error {
	if s.dialect != dialect.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "gatehouse.discovery:"+string(id)); err != nil {
		return fmt.Errorf("discovery: lock application: %w", err)
	}
	return nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

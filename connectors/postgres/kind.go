// Package postgres is the POSTGRES connector kind: an application's accounts
// are PostgreSQL login roles and its entitlements are the roles they are
// granted (GRANT <entitlement> TO <account>).
//
// # Configuration
//
//	dsnEnv                the connection string (postgres://… or key=value),
//	                      as the NAME of a GATEHOUSE_SECRET_* environment
//	                      variable holding it, never the string itself
//	dsnFile               or as the plain name of a file in the secrets
//	                      directory; exactly one of dsnEnv and dsnFile is
//	                      required
//	rolePrefix            optional; prefix of the login roles Gatehouse creates,
//	                      default "gh_"; ^[a-z][a-z0-9_]{0,19}$ and not "pg_…"
//	allowPrivilegedRoles  optional; false by default: roles with SUPERUSER,
//	                      CREATEROLE, BYPASSRLS or REPLICATION, pg_* roles and
//	                      roles that are members of such roles are never adopted
//	                      as accounts nor granted
//	timeoutSeconds        optional; 1..60, default 10; bounds each operation
//
// The connection string is found through Kind.Secrets under the rule of
// connectors.SecretField (only the connector-secret namespace, never the
// server's own DATABASE_URL or settings); it must be found, non-empty and
// parse as a connection string when the configuration is validated and when
// the connector is opened. Messages never repeat the connection string (it may
// hold a password). The connecting role needs CREATEROLE (CheckHealth says so
// when it lacks it).
//
// # Operations
//
// EnsureIdentity creates, when missing, the login role named rolePrefix + the
// sanitised local part of the user's email ("Ann.Example+x@corp.com" with the
// default prefix is gh_ann_example_x): lower case, every character outside
// [a-z0-9_] replaced by "_", cut to PostgreSQL's 63 bytes. It is created
// with LOGIN and no password (the database's own authentication decides how it
// logs in) and commented "gatehouse user=<ID> email=<email>", so that a second
// user whose email sanitises to the same name is refused instead of being
// handed someone else's role. An existing LOGIN role of that name without
// another user's comment is adopted (created is false); a NOLOGIN role is not.
// Account.ExternalID and Account.Login are the role name.
//
// Grant runs GRANT "<entitlement>" TO "<account>" and Revoke REVOKE
// "<entitlement>" FROM "<account>", where <entitlement> is
// Entitlement.ExternalID. Identifiers are always quoted. Each operation runs in
// its own transaction on its own connection (the connector keeps no pool, so
// an opened connector needs no closing) and takes pg_advisory_xact_lock on the
// role names it touches (in a stable order), because concurrent CREATE ROLE
// and GRANT of one role otherwise fail with 23505 and concurrent REVOKE with
// XX000. Advisory locks are per database: connectors of one cluster should
// use the same database. Granting what is held, revoking what is not held,
// and revoking from a role that no longer exists are success.
//
// # Errors
//
// Errors are prefixed "postgres: ". Connection failures, timeouts,
// serialization failures and deadlocks, lock and resource shortages, 23505
// and XX000 are *connectors.TransientError; authentication failures, missing
// privileges, a missing entitlement role, refused privileged roles and other
// SQL errors are *connectors.PermanentError.
package postgres

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/lib/pq"

	"gatehouse/connectors"
)

// Configuration keys.
const (
	KeyDSNEnv               = "dsnEnv"
	KeyDSNFile              = "dsnFile"
	KeyRolePrefix           = "rolePrefix"
	KeyAllowPrivilegedRoles = "allowPrivilegedRoles"
	KeyTimeoutSeconds       = "timeoutSeconds"
)

// DefaultRolePrefix is the prefix of created login roles when rolePrefix is
// not set.
const DefaultRolePrefix = "gh_"

// DefaultTimeout bounds each operation when timeoutSeconds is not set.
const DefaultTimeout = 10 * time.Second

const (
	minTimeoutSeconds = 1
	maxTimeoutSeconds = 60
	// maxIdentifier is PostgreSQL's NAMEDATALEN - 1.
	maxIdentifier = 63
)

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,19}$`)

// dsnField resolves KeyDSNEnv or KeyDSNFile; dsn parses the value.
var dsnField = connectors.SecretField{EnvKey: KeyDSNEnv, FileKey: KeyDSNFile, Holds: "PostgreSQL connection string", Short: "connection string", Example: "GATEHOUSE_SECRET_BILLING_DB_DSN"}

// Kind is the POSTGRES connector kind. server.go builds it with the server's
// *connectors.SecretStore; this package never reads the environment itself
// (lib/pq does read the PG* variables libpq documents, as defaults). A nil
// Secrets finds no secret.
type Kind struct {
	Secrets connectors.Secrets
}

var _ connectors.Kind = Kind{}

// Name implements connectors.Kind.
func (Kind) Name() string { return "POSTGRES" }

// ValidateConfig implements connectors.Kind: it returns a
// *connectors.ConfigError naming the first bad key. It does not connect.
func (k Kind) ValidateConfig(config map[string]any) error {
	_, err := k.parse(config)
	return err
}

// Open implements connectors.Kind. It returns a *Connector, or a
// *connectors.PermanentError wrapping the *connectors.ConfigError when the
// configuration is bad or its variable is unset. It does not connect.
func (k Kind) Open(config map[string]any) (connectors.Connector, error) {
	c, err := k.OpenConnector(config)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OpenConnector is Open returning the concrete type.
func (k Kind) OpenConnector(config map[string]any) (*Connector, error) {
	cfg, err := k.parse(config)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("postgres: open: %w", err))
	}
	return &Connector{
		pq:              cfg.pq,
		prefix:          cfg.prefix,
		allowPrivileged: cfg.allowPrivileged,
		timeout:         cfg.timeout,
	}, nil
}

type config struct {
	pq              *pq.Connector
	prefix          string
	allowPrivileged bool
	timeout         time.Duration
}

func (k Kind) parse(m map[string]any) (config, error) {
	var cfg config
	if err := connectors.UnknownKeys(m, KeyDSNEnv, KeyDSNFile, KeyRolePrefix, KeyAllowPrivilegedRoles, KeyTimeoutSeconds); err != nil {
		return cfg, err
	}
	var err error
	if cfg.pq, err = k.dsn(m); err != nil {
		return cfg, err
	}
	if cfg.prefix, err = parsePrefix(m[KeyRolePrefix]); err != nil {
		return cfg, err
	}
	switch v := m[KeyAllowPrivilegedRoles].(type) {
	case nil:
	case bool:
		cfg.allowPrivileged = v
	default:
		return cfg, &connectors.ConfigError{Key: KeyAllowPrivilegedRoles, Message: "must be true or false"}
	}
	if cfg.timeout, err = connectors.Seconds(KeyTimeoutSeconds, m[KeyTimeoutSeconds], DefaultTimeout, minTimeoutSeconds, maxTimeoutSeconds); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// dsn resolves dsnEnv or dsnFile (see connectors.SecretField) into a lib/pq
// connector. A value lib/pq cannot parse is a *connectors.ConfigError.
// Messages never repeat the value nor lib/pq's parse error (which may quote
// it).
func (k Kind) dsn(m map[string]any) (*pq.Connector, error) {
	bad := func(msg string) (*pq.Connector, error) {
		return nil, &connectors.ConfigError{Key: dsnField.KeyGiven(m), Message: msg}
	}
	val, err := dsnField.Resolve(k.Secrets, m)
	if err != nil {
		return nil, err
	}
	pc, err := pq.NewConfig(val)
	if err != nil {
		return bad("the secret named here is not a valid PostgreSQL connection string")
	}
	if pc.ApplicationName == "" {
		pc.ApplicationName = "gatehouse"
	}
	c, err := pq.NewConnectorConfig(pc)
	if err != nil {
		return bad("the secret named here is not a valid PostgreSQL connection string")
	}
	return c, nil
}

func parsePrefix(v any) (string, error) {
	if v == nil {
		return DefaultRolePrefix, nil
	}
	s, ok := v.(string)
	if !ok || !prefixPattern.MatchString(s) {
		return "", &connectors.ConfigError{Key: KeyRolePrefix, Message: "must be 1 to 20 characters: a lower-case letter, then lower-case letters, digits or _ (e.g. gh_)"}
	}
	if strings.HasPrefix(s, "pg_") {
		return "", &connectors.ConfigError{Key: KeyRolePrefix, Message: "must not start with pg_, which PostgreSQL reserves"}
	}
	return s, nil
}

// RoleName returns the login role EnsureIdentity uses for email with prefix:
// prefix + the local part of email, lower-cased, every character outside
// [a-z0-9_] replaced by "_", cut to 63 bytes. It returns "" when the local
// part is empty.
func RoleName(prefix, email string) string {
	local := email
	if i := strings.LastIndex(email, "@"); i >= 0 {
		local = email[:i]
	}
	local = strings.TrimSpace(local)
	if local == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range strings.ToLower(local) {
		if b.Len() >= maxIdentifier {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

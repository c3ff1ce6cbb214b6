package postgres_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/connectortest"
	"gatehouse/connectors/postgres"
)

const dsnVar = "GATEHOUSE_SECRET_APP_DB_DSN"

// cluster is the local PostgreSQL the tests provision roles in. Roles are
// cluster-wide, so each test works under its own random prefixes and drops
// every role carrying them when it ends.
type cluster struct {
	admin   *sql.DB
	url     *url.URL
	prefix  string // login roles (accounts)
	entPref string // group roles (entitlements)
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		t.Skip("TEST_DATABASE_URL is not set: the postgres connector is tested against a real PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	u, err := url.Parse(raw)
	require.NoError(t, err)
	admin, err := sql.Open("postgres", raw)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	tag := strings.TrimPrefix(connectortest.NewID("t"), "t_")[:8]
	c := &cluster{admin: admin, url: u, prefix: "ct" + tag + "_", entPref: "cte" + tag + "_"}
	connectortest.DropRolesAtCleanup(t, admin, c.prefix, c.entPref)
	return c
}

// dsn returns the test URL with user (and password) replaced when given.
func (c *cluster) dsn(user, password string) string {
	u := *c.url
	if user != "" {
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
	}
	return u.String()
}

func (c *cluster) kind(dsn string) postgres.Kind {
	return postgres.Kind{Secrets: connectors.NewSecretStore(func(k string) (string, bool) {
		if k == dsnVar {
			return dsn, true
		}
		return "", false
	}, "")}
}

func (c *cluster) open(t *testing.T, dsn string, extra map[string]any) *postgres.Connector {
	t.Helper()
	cfg := map[string]any{"dsnEnv": dsnVar, "rolePrefix": c.prefix}
	for k, v := range extra {
		cfg[k] = v
	}
	conn, err := connectors.NewRegistry(c.kind(dsn)).Open("POSTGRES", cfg)
	require.NoError(t, err)
	pc, ok := conn.(*postgres.Connector)
	require.True(t, ok)
	return pc
}

func (c *cluster) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	_, err := c.admin.ExecContext(t.Context(), q, args...)
	require.NoError(t, err, q)
}

// role creates a role named entPref+suffix with attrs (e.g. "NOLOGIN").
func (c *cluster) role(t *testing.T, suffix, attrs string) string {
	t.Helper()
	name := c.entPref + suffix
	c.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(name)+" "+attrs)
	return name
}

func (c *cluster) hasRole(t *testing.T, member, role string) bool {
	t.Helper()
	var held bool
	require.NoError(t, c.admin.QueryRowContext(t.Context(), `SELECT pg_has_role($1, $2, 'MEMBER')`, member, role).Scan(&held))
	return held
}

func (c *cluster) roleAttrs(t *testing.T, name string) (exists, login bool, comment string) {
	t.Helper()
	err := c.admin.QueryRowContext(t.Context(), `SELECT rolcanlogin, coalesce(shobj_description(oid, 'pg_authid'), '') FROM pg_roles WHERE rolname = $1`, name).Scan(&login, &comment)
	if err == sql.ErrNoRows {
		return false, false, ""
	}
	require.NoError(t, err)
	return true, login, comment
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close())
	return port
}

// peer adapts the cluster to the conformance suite.
type peer struct{ c *cluster }

func (p peer) Open(t *testing.T) connectors.Connector { return p.c.open(t, p.c.dsn("", ""), nil) }

func (p peer) NewEntitlement(t *testing.T) connectors.Entitlement {
	name := p.c.role(t, strings.TrimPrefix(connectortest.NewID("e"), "e_"), "NOLOGIN")
	return connectors.Entitlement{ID: "ent_" + name, ExternalID: name, Name: name}
}

func (p peer) CreateAccount(t *testing.T, u connectors.User) string {
	name := postgres.RoleName(p.c.prefix, u.Email)
	p.c.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(name)+" LOGIN")
	return name
}

func (p peer) Members(t *testing.T, e connectors.Entitlement) []string {
	rows, err := p.c.admin.QueryContext(t.Context(), `
SELECT m.rolname FROM pg_auth_members am
JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
WHERE g.rolname = $1`, e.ExternalID)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		out = append(out, n)
	}
	require.NoError(t, rows.Err())
	return out
}

func (p peer) Unreachable(t *testing.T) connectors.Connector {
	u := *p.c.url
	u.Host = "127.0.0.1:" + closedPort(t)
	return p.c.open(t, u.String(), map[string]any{"timeoutSeconds": 5})
}

func (p peer) WrongCredential(t *testing.T) (connectors.Connector, string) {
	password := connectortest.NewID("wrong-password")
	return p.c.open(t, p.c.dsn(p.c.prefix+"no_such_login", password), nil), password
}

func (p peer) TransientFault(t *testing.T) connectors.Connector { return p.Unreachable(t) }

func TestConformance(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, peer{newCluster(t)})
}

func user(email string) connectors.User {
	return connectors.User{ID: "usr_" + strings.ReplaceAll(email, "@", "_"), Email: email, Name: email}
}

func TestEnsureIdentityCreatesLoginRole(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	u := connectors.User{ID: "usr_01ANN", Email: "Ann.O'Brien+ops\"; DROP ROLE postgres; --@Example.com", Name: "Ann"}

	acct, created, err := conn.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
	require.NoError(t, err)
	require.True(t, created)
	want := c.prefix + "ann_o_brien_ops___drop_role_postgres____"
	require.Equal(t, connectors.Account{ExternalID: want, Login: want}, acct)

	exists, login, comment := c.roleAttrs(t, want)
	require.True(t, exists)
	require.True(t, login, "accounts can log in")
	require.Equal(t, "gatehouse user=usr_01ANN email="+u.Email, comment)
	var super bool
	require.NoError(t, c.admin.QueryRow(`SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'`).Scan(&super))
	require.True(t, super, "nothing was injected")
}

func TestEnsureIdentityQuotesKnownLogin(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	// A login Gatehouse already knows (recorded by hand or by discovery) is
	// used as is: mixed case and quotes survive because names are quoted.
	name := c.prefix + `Mixed"Case Role`
	op := connectortest.NewOp(user("x@example.com"), connectors.Entitlement{})
	op.Account = connectors.Account{Login: name}
	acct, created, err := conn.EnsureIdentity(t.Context(), op)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, name, acct.Login)
	exists, _, _ := c.roleAttrs(t, name)
	require.True(t, exists)

	e := c.role(t, "Reader Role", "NOLOGIN")
	op.Entitlement = connectors.Entitlement{ExternalID: e}
	op.Account = acct
	require.NoError(t, conn.Grant(t.Context(), op))
	require.True(t, c.hasRole(t, name, e))
	require.NoError(t, conn.Revoke(t.Context(), op))
	require.False(t, c.hasRole(t, name, e))
}

func TestEnsureIdentityRefusals(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	tests := []struct {
		name   string
		attrs  string // of the existing role; "" = none exists
		allow  bool
		other  bool   // the role carries another Gatehouse user's comment
		errHas string // "" = adopted
	}{
		{"superuser", "LOGIN SUPERUSER", false, false, "SUPERUSER"},
		{"createrole", "LOGIN CREATEROLE", false, false, "CREATEROLE"},
		{"bypassrls", "LOGIN BYPASSRLS", false, false, "BYPASSRLS"},
		{"replication", "LOGIN REPLICATION", false, false, "REPLICATION"},
		{"member of pg_ role", "LOGIN IN ROLE pg_read_all_data", false, false, `member of "pg_read_all_data"`},
		{"privileged allowed", "LOGIN CREATEROLE", true, false, ""},
		{"pg_ member allowed", "LOGIN IN ROLE pg_monitor", true, false, ""},
		{"group role", "NOLOGIN", false, false, "cannot log in"},
		{"another user's role", "LOGIN", false, true, "another user"},
		{"plain login", "LOGIN", false, false, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := user("r" + strconv.Itoa(i) + "@example.com")
			name := postgres.RoleName(c.prefix, u.Email)
			c.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(name)+" "+tt.attrs)
			if tt.other {
				c.exec(t, "COMMENT ON ROLE "+pq.QuoteIdentifier(name)+" IS 'gatehouse user=usr_SOMEONE email=r"+strconv.Itoa(i)+"@other.example'")
			}
			conn := c.open(t, c.dsn("", ""), map[string]any{"allowPrivilegedRoles": tt.allow})
			acct, created, err := conn.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
			if tt.errHas == "" {
				require.NoError(t, err)
				require.False(t, created)
				require.Equal(t, name, acct.Login)
				return
			}
			connectortest.RequirePermanent(t, conn, err)
			require.Contains(t, err.Error(), tt.errHas)
		})
	}
}

func TestEnsureIdentitySameUserAgain(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	u := user("same@example.com")
	_, created, err := conn.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
	require.NoError(t, err)
	require.True(t, created)

	// Its own comment does not stop the user's role being found again...
	_, created, err = conn.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
	require.NoError(t, err)
	require.False(t, created)

	// ...but another user whose email sanitises to the same name is refused.
	twin := connectors.User{ID: "usr_TWIN", Email: "same@other.example"}
	_, _, err = conn.EnsureIdentity(t.Context(), connectortest.NewOp(twin, connectors.Entitlement{}))
	connectortest.RequirePermanent(t, conn, err)
	require.Contains(t, err.Error(), "another user (same@example.com)")
}

func TestGrantRefusesPrivilegedRoles(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	acctOf := func(t *testing.T, conn *postgres.Connector) connectors.Operation {
		op := connectortest.NewOp(connectortest.NewUser(), connectors.Entitlement{})
		acct, _, err := conn.EnsureIdentity(t.Context(), op)
		require.NoError(t, err)
		op.Account = acct
		return op
	}
	tests := []struct {
		name   string
		role   func(t *testing.T) string
		errHas string
	}{
		{"predefined pg_ role", func(*testing.T) string { return "pg_read_all_data" }, "predefined pg_ role"},
		{"superuser", func(t *testing.T) string { return c.role(t, "su", "NOLOGIN SUPERUSER") }, "SUPERUSER"},
		{"createrole", func(t *testing.T) string { return c.role(t, "cr", "NOLOGIN CREATEROLE") }, "CREATEROLE"},
		{"bypassrls", func(t *testing.T) string { return c.role(t, "rls", "NOLOGIN BYPASSRLS") }, "BYPASSRLS"},
		{"replication", func(t *testing.T) string { return c.role(t, "repl", "NOLOGIN REPLICATION") }, "REPLICATION"},
		{"member of pg_ role", func(t *testing.T) string { return c.role(t, "mon", "NOLOGIN IN ROLE pg_monitor") }, `member of "pg_monitor"`},
		{"member of a member of a superuser", func(t *testing.T) string {
			top := c.role(t, "top", "NOLOGIN SUPERUSER")
			mid := c.role(t, "mid", "NOLOGIN IN ROLE "+pq.QuoteIdentifier(top))
			return c.role(t, "low", "NOLOGIN IN ROLE "+pq.QuoteIdentifier(mid))
		}, "SUPERUSER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			role := tt.role(t)
			strict := c.open(t, c.dsn("", ""), nil)
			op := acctOf(t, strict)
			op.Entitlement = connectors.Entitlement{ExternalID: role}
			err := strict.Grant(t.Context(), op)
			connectortest.RequirePermanent(t, strict, err)
			require.Contains(t, err.Error(), tt.errHas)
			require.False(t, c.hasRole(t, op.Account.Login, role))

			// An application whose config allows privileged roles may grant them.
			lax := c.open(t, c.dsn("", ""), map[string]any{"allowPrivilegedRoles": true})
			require.NoError(t, lax.Grant(t.Context(), op))
			require.True(t, c.hasRole(t, op.Account.Login, role))
			// Revoking is always allowed.
			require.NoError(t, strict.Revoke(t.Context(), op))
			require.False(t, c.hasRole(t, op.Account.Login, role))
		})
	}
}

func TestConcurrentGrantsAndRevokesOfOneRole(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	role := c.role(t, "shared", "NOLOGIN")
	other := c.role(t, "other", "NOLOGIN")
	const n = 12
	ops := make([]connectors.Operation, n)
	for i := range ops {
		ops[i] = connectortest.NewOp(connectortest.NewUser(), connectors.Entitlement{ExternalID: role})
		acct, _, err := conn.EnsureIdentity(t.Context(), ops[i])
		require.NoError(t, err)
		ops[i].Account = acct
	}
	// Every account gets the shared role three times over, and a second role,
	// all at once: without the advisory lock these fail with 23505 / XX000.
	var wg sync.WaitGroup
	errs := make(chan error, n*4)
	for _, op := range ops {
		for range 3 {
			wg.Go(func() { errs <- conn.Grant(t.Context(), op) })
		}
		o := op
		o.Entitlement = connectors.Entitlement{ExternalID: other}
		wg.Go(func() { errs <- conn.Grant(t.Context(), o) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for _, op := range ops {
		require.True(t, c.hasRole(t, op.Account.Login, role))
		require.True(t, c.hasRole(t, op.Account.Login, other))
	}
	require.Len(t, peer{c}.Members(t, connectors.Entitlement{ExternalID: role}), n)

	// Then every membership of the shared role is revoked twice, concurrently.
	errs = make(chan error, n*2)
	for _, op := range ops {
		for range 2 {
			wg.Go(func() { errs <- conn.Revoke(t.Context(), op) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Empty(t, peer{c}.Members(t, connectors.Entitlement{ExternalID: role}))
	require.Len(t, peer{c}.Members(t, connectors.Entitlement{ExternalID: other}), n, "the other role is untouched")
}

func TestGrantWaitsForTheRoleLock(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	role := c.role(t, "locked", "NOLOGIN")
	op := connectortest.NewOp(connectortest.NewUser(), connectors.Entitlement{ExternalID: role})
	acct, _, err := conn.EnsureIdentity(t.Context(), op)
	require.NoError(t, err)
	op.Account = acct

	// Another session (another Gatehouse replica, a DBA's script) holds the
	// role's lock.
	tx, err := c.admin.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, postgres.LockKey(role))
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- conn.Grant(t.Context(), op) }()
	// The grant waits on the advisory lock that the transaction holds.
	require.Eventually(t, func() bool {
		var waiting bool
		require.NoError(t, c.admin.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_locks, hashtextextended($1, 0) AS k
			WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
			AND classid = ((k >> 32) & 4294967295)::oid AND objid = (k & 4294967295)::oid)`, postgres.LockKey(role)).Scan(&waiting))
		return waiting
	}, time.Minute, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("grant did not wait for the lock: %v", err)
	default:
	}
	require.False(t, c.hasRole(t, acct.Login, role))
	require.NoError(t, tx.Commit())
	require.NoError(t, <-done)
	require.True(t, c.hasRole(t, acct.Login, role))

	// A lock held longer than the timeout is a transient failure.
	short := c.open(t, c.dsn("", ""), map[string]any{"timeoutSeconds": 1})
	tx, err = c.admin.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, postgres.LockKey(role))
	require.NoError(t, err)
	err = short.Revoke(t.Context(), op)
	connectortest.RequireTransient(t, short, err)
	require.Contains(t, err.Error(), "no answer within 1s")
	require.True(t, c.hasRole(t, acct.Login, role))
}

func TestRevokeOfGoneRoles(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	op := connectortest.NewOp(connectortest.NewUser(), connectors.Entitlement{ExternalID: c.entPref + "never_existed"})
	op.Account = connectors.Account{Login: c.prefix + "never_existed"}
	require.NoError(t, conn.Revoke(t.Context(), op), "a role that is gone holds nothing")

	// Grant needs both roles.
	err := conn.Grant(t.Context(), op)
	connectortest.RequirePermanent(t, conn, err)
	require.Contains(t, err.Error(), "does not exist")
}

func TestOperationsNeedNames(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	tests := []struct {
		name string
		op   connectors.Operation
		has  string
	}{
		{"no entitlement", connectors.Operation{Account: connectors.Account{Login: "a"}}, "no external ID"},
		{"no account", connectors.Operation{Entitlement: connectors.Entitlement{ExternalID: "r"}}, "not known"},
		{"to itself", connectors.Operation{Account: connectors.Account{Login: "r"}, Entitlement: connectors.Entitlement{ExternalID: "r"}}, "itself"},
		{"too long", connectors.Operation{Account: connectors.Account{Login: strings.Repeat("a", 64)}, Entitlement: connectors.Entitlement{ExternalID: "r"}}, "63 bytes"},
	}
	for _, tt := range tests {
		err := conn.Grant(t.Context(), tt.op)
		connectortest.RequirePermanent(t, conn, err)
		require.Contains(t, err.Error(), tt.has, tt.name)
	}
	_, _, err := conn.EnsureIdentity(t.Context(), connectors.Operation{User: connectors.User{Email: "@example.com"}})
	connectortest.RequirePermanent(t, conn, err)
}

func TestCheckHealthNeedsCreateRole(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	weak := c.prefix + "weak"
	c.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(weak)+" LOGIN")
	conn := c.open(t, c.dsn(weak, ""), nil)
	err := conn.CheckHealth(t.Context())
	connectortest.RequirePermanent(t, conn, err)
	require.Contains(t, err.Error(), "lacks CREATEROLE")
	require.Equal(t, "insufficient privileges", connectors.Reason(err))

	able := c.prefix + "able"
	c.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(able)+" LOGIN CREATEROLE")
	require.NoError(t, c.open(t, c.dsn(able, ""), nil).CheckHealth(t.Context()))
}

func TestConnectionStringStaysSecret(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	password := "pw-" + connectortest.NewID("s")
	u := *c.url
	u.Host = "127.0.0.1:" + closedPort(t)
	u.User = url.UserPassword("svc", password)
	conn := c.open(t, u.String(), map[string]any{"timeoutSeconds": 2})
	for _, err := range []error{
		conn.CheckHealth(t.Context()),
		conn.Grant(t.Context(), connectors.Operation{Account: connectors.Account{Login: "a"}, Entitlement: connectors.Entitlement{ExternalID: "b"}}),
	} {
		connectortest.RequireTransient(t, conn, err)
		require.NotContains(t, err.Error(), password)
		require.Equal(t, "unreachable", connectors.Reason(err))
	}
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		dsnVar:                     "postgres://gatehouse:s3cret@db.internal:5432/app?sslmode=require",
		"GATEHOUSE_SECRET_KV_DSN":  "host=db.internal user=gatehouse dbname=app",
		"GATEHOUSE_SECRET_EMPTY":   "",
		"GATEHOUSE_SECRET_BAD_DSN": "postgres://gatehouse:s3cret@db.internal:notaport/app",
		"GATEHOUSE_SECRET_BAD_KV":  "host=db.internal sslmode=sometimes password=s3cret",
		"GATEHOUSE_SECRET_SPACE":   "   ",
		"DATABASE_URL":             "postgres://gatehouse:s3cret@db.internal:5432/gatehouse",
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.dsn"), []byte("host=db.internal user=gatehouse password=s3cret dbname=app\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.dsn"), []byte("postgres://gatehouse:s3cret@db.internal:notaport/app"), 0o600))
	k := postgres.Kind{Secrets: connectors.NewSecretStore(func(n string) (string, bool) { v, ok := env[n]; return v, ok }, dir)}
	tests := []struct {
		name    string
		config  map[string]any
		key     string // "" = valid
		message string
	}{
		{"valid url", map[string]any{"dsnEnv": dsnVar}, "", ""},
		{"valid file", map[string]any{"dsnFile": "app.dsn"}, "", ""},
		{"unparsable file", map[string]any{"dsnFile": "bad.dsn"}, "dsnFile", "valid PostgreSQL connection string"},
		{"the server's DATABASE_URL", map[string]any{"dsnEnv": "DATABASE_URL"}, "dsnEnv", "connector-secret namespace"},
		{"valid key=value", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_KV_DSN", "rolePrefix": "app_", "allowPrivilegedRoles": true, "timeoutSeconds": float64(30)}, "", ""},
		{"timeout json.Number", map[string]any{"dsnEnv": dsnVar, "timeoutSeconds": json.Number("5")}, "", ""},
		{"missing dsnEnv", map[string]any{}, "dsnEnv", "required"},
		{"dsnEnv not a string", map[string]any{"dsnEnv": 1}, "dsnEnv", "string"},
		{"inline dsn", map[string]any{"dsnEnv": "postgres://gatehouse:s3cret@db/app"}, "dsnEnv", "not the connection string itself"},
		{"unset", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_NOT_SET"}, "dsnEnv", "not set"},
		{"empty", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_EMPTY"}, "dsnEnv", "empty"},
		{"blank", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_SPACE"}, "dsnEnv", "empty"},
		{"unparsable url", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_BAD_DSN"}, "dsnEnv", "valid PostgreSQL connection string"},
		{"unparsable key=value", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_BAD_KV"}, "dsnEnv", "valid PostgreSQL connection string"},
		{"prefix upper case", map[string]any{"dsnEnv": dsnVar, "rolePrefix": "GH_"}, "rolePrefix", "lower-case"},
		{"prefix empty", map[string]any{"dsnEnv": dsnVar, "rolePrefix": ""}, "rolePrefix", "1 to 20"},
		{"prefix quote", map[string]any{"dsnEnv": dsnVar, "rolePrefix": `gh"`}, "rolePrefix", "lower-case"},
		{"prefix too long", map[string]any{"dsnEnv": dsnVar, "rolePrefix": strings.Repeat("a", 21)}, "rolePrefix", "1 to 20"},
		{"prefix reserved", map[string]any{"dsnEnv": dsnVar, "rolePrefix": "pg_x"}, "rolePrefix", "pg_"},
		{"prefix not a string", map[string]any{"dsnEnv": dsnVar, "rolePrefix": 3}, "rolePrefix", "1 to 20"},
		{"allow not a bool", map[string]any{"dsnEnv": dsnVar, "allowPrivilegedRoles": "yes"}, "allowPrivilegedRoles", "true or false"},
		{"timeout zero", map[string]any{"dsnEnv": dsnVar, "timeoutSeconds": 0}, "timeoutSeconds", "1 to 60"},
		{"timeout fraction", map[string]any{"dsnEnv": dsnVar, "timeoutSeconds": 2.5}, "timeoutSeconds", "whole number"},
		{"unknown key", map[string]any{"dsnEnv": dsnVar, "dsn": "postgres://x"}, "dsn", "unknown key"},
	}
	r := connectors.NewRegistry(k)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := r.ValidateConfig("POSTGRES", tt.config)
			if tt.key == "" {
				require.NoError(t, err)
				c, err := r.Open("POSTGRES", tt.config)
				require.NoError(t, err)
				require.Equal(t, "postgres", c.Name())
				return
			}
			ce, ok := errors.AsType[*connectors.ConfigError](err)
			require.True(t, ok, "want a ConfigError, got %v", err)
			require.Equal(t, tt.key, ce.Key)
			require.Contains(t, ce.Message, tt.message)
			require.NotContains(t, err.Error(), "s3cret", "a connection string is never echoed")

			_, err = r.Open("POSTGRES", tt.config)
			_, permanent := errors.AsType[*connectors.PermanentError](err)
			require.True(t, permanent)
			oce, ok := errors.AsType[*connectors.ConfigError](err)
			require.True(t, ok)
			require.Equal(t, tt.key, oce.Key)
			require.True(t, strings.HasPrefix(err.Error(), "postgres: open: "), err.Error())
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
	require.Error(t, postgres.Kind{}.ValidateConfig(map[string]any{"dsnEnv": dsnVar}), "a nil Secrets finds nothing")
}

func TestRoleName(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix, email, want, why string }{
		{"gh_", "ann@example.com", "gh_ann", ""},
		{"gh_", "Ann.Example+ops@Example.com", "gh_ann_example_ops", "lower case, punctuation to _"},
		{"gh_", `o'brien"x@example.com`, "gh_o_brien_x", "quotes never reach SQL unquoted anyway"},
		{"gh_", "jürgen@example.com", "gh_j_rgen", "non-ASCII letters become _"},
		{"gh_", "a@b@example.com", "gh_a_b", "the last @ splits the domain"},
		{"app_", "noat", "app_noat", "no domain: the whole string"},
		{"gh_", "@example.com", "", "no local part"},
		{"gh_", strings.Repeat("x", 100) + "@example.com", "gh_" + strings.Repeat("x", 60), "cut to 63 bytes"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, postgres.RoleName(tt.prefix, tt.email), tt.why)
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	conn := c.open(t, c.dsn("", ""), nil)
	readers := c.role(t, "readers", "NOLOGIN")
	writers := c.role(t, "writers", "NOLOGIN")
	monitors := c.role(t, "monitors", "NOLOGIN IN ROLE pg_monitor")
	service := c.role(t, "service", "LOGIN") // a login role outside the prefix: not an account Gatehouse can match
	c.exec(t, "GRANT "+pq.QuoteIdentifier(readers)+" TO "+pq.QuoteIdentifier(service))

	us := []connectors.User{user("b.one@example.com"), user("a.two@example.com"), user("c.three@example.com")}
	var accts []connectors.Account
	for _, u := range us {
		acct, _, err := conn.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
		require.NoError(t, err)
		require.Equal(t, acct.Login, conn.LoginFor(u), "LoginFor names the role EnsureIdentity uses")
		accts = append(accts, acct)
	}
	for _, a := range accts[:2] {
		op := connectors.Operation{Account: a, Entitlement: connectors.Entitlement{ExternalID: readers}}
		require.NoError(t, conn.Grant(t.Context(), op))
	}

	got, err := conn.ListAccounts(t.Context())
	require.NoError(t, err)
	require.Equal(t, []connectors.Account{
		{ExternalID: c.prefix + "a_two", Login: c.prefix + "a_two"},
		{ExternalID: c.prefix + "b_one", Login: c.prefix + "b_one"},
		{ExternalID: c.prefix + "c_three", Login: c.prefix + "c_three"},
	}, got, "the prefix's login roles, in name order")

	ents, err := conn.ListEntitlements(t.Context())
	require.NoError(t, err)
	names := map[string]bool{}
	for _, e := range ents {
		require.Equal(t, e.ExternalID, e.Name)
		require.False(t, strings.HasPrefix(e.ExternalID, "pg_"), "predefined roles are not entitlements")
		require.False(t, strings.HasPrefix(e.ExternalID, c.prefix), "accounts are not entitlements")
		names[e.ExternalID] = true
	}
	require.True(t, names[readers])
	require.True(t, names[writers])
	require.False(t, names[monitors], "privileged roles are left out")
	require.False(t, names[service], "login roles are not entitlements")

	lax := c.open(t, c.dsn("", ""), map[string]any{"allowPrivilegedRoles": true})
	ents, err = lax.ListEntitlements(t.Context())
	require.NoError(t, err)
	require.Contains(t, ents, connectors.Entitlement{ExternalID: monitors, Name: monitors}, "listed when the application allows privileged roles")

	members, err := conn.ListMembers(t.Context(), connectors.Entitlement{ExternalID: readers})
	require.NoError(t, err)
	require.Equal(t, []connectors.Account{accts[1], accts[0]}, members, "the prefix's accounts only, in name order")
	members, err = conn.ListMembers(t.Context(), connectors.Entitlement{ExternalID: writers})
	require.NoError(t, err)
	require.Empty(t, members)
	members, err = conn.ListMembers(t.Context(), connectors.Entitlement{ExternalID: c.entPref + "gone"})
	require.NoError(t, err)
	require.Empty(t, members)
}

package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/lib/pq"

	"gatehouse/connectors"
)

// Connector is an open POSTGRES connector. It is safe for concurrent use and
// holds no connection between calls.
type Connector struct {
	pq              *pq.Connector
	prefix          string
	allowPrivileged bool
	timeout         time.Duration
}

var _ connectors.Connector = (*Connector)(nil)

// commentPrefix starts the comment EnsureIdentity puts on the roles it creates.
const commentPrefix = "gatehouse "

// Name implements connectors.Connector.
func (*Connector) Name() string { return "postgres" }

// Prefix is the prefix of the login roles this connector creates.
func (c *Connector) Prefix() string { return c.prefix }

// CheckHealth connects and checks that the connecting role may create and
// grant roles (SUPERUSER or CREATEROLE). A role without either is a
// *connectors.PermanentError; connection failures are classified like the
// operations' (a refused connection is transient, a rejected login
// permanent).
func (c *Connector) CheckHealth(ctx context.Context) error {
	return c.withDB(ctx, "check health", func(ctx context.Context, db *sql.DB) error {
		var (
			user              string
			super, createRole bool
		)
		err := db.QueryRowContext(ctx, `SELECT r.rolname, r.rolsuper, r.rolcreaterole FROM pg_roles r WHERE r.rolname = current_user`).
			Scan(&user, &super, &createRole)
		if err != nil {
			return c.fail(ctx, "check health", err)
		}
		if !super && !createRole {
			return connectors.Permanent(fmt.Errorf("postgres: check health: the connecting role %q lacks CREATEROLE, so it cannot create or grant roles: %w", user, connectors.ErrInsufficientPrivilege))
		}
		return nil
	})
}

// EnsureIdentity implements connectors.Connector: it returns the login role
// named op.Account.Login (else op.Account.ExternalID, else RoleName of the
// user's email), creating it when missing. An existing role is adopted only
// when it can log in, is not privileged (unless allowPrivilegedRoles) and does
// not carry another Gatehouse user's comment; otherwise the error is
// permanent.
func (c *Connector) EnsureIdentity(ctx context.Context, op connectors.Operation) (connectors.Account, bool, error) {
	const step = "ensure identity"
	name := op.Account.Login
	if name == "" {
		name = op.Account.ExternalID
	}
	if name == "" {
		name = RoleName(c.prefix, op.User.Email)
	}
	if name == "" {
		return connectors.Account{}, false, connectors.Permanent(fmt.Errorf("postgres: %s: the user has no email local part to name a role after", step))
	}
	if len(name) > maxIdentifier {
		return connectors.Account{}, false, connectors.Permanent(fmt.Errorf("postgres: %s: role name %q is longer than %d bytes", step, name, maxIdentifier))
	}
	acct := connectors.Account{ExternalID: name, Login: name}
	created := false
	err := c.withTx(ctx, step, []string{name}, func(ctx context.Context, tx *sql.Tx) error {
		r, err := lookupRole(ctx, tx, name)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		if r.exists {
			return c.adoptable(ctx, tx, step, r, op.User)
		}
		if strings.HasPrefix(name, "pg_") {
			return connectors.Permanent(fmt.Errorf("postgres: %s: role names starting with pg_ are reserved", step))
		}
		if _, err := tx.ExecContext(ctx, "CREATE ROLE "+pq.QuoteIdentifier(name)+" LOGIN"); err != nil {
			return c.fail(ctx, step, fmt.Errorf("create role %q: %w", name, err))
		}
		comment := commentPrefix + "user=" + op.User.ID + " email=" + op.User.Email
		if _, err := tx.ExecContext(ctx, "COMMENT ON ROLE "+pq.QuoteIdentifier(name)+" IS "+pq.QuoteLiteral(comment)); err != nil {
			return c.fail(ctx, step, fmt.Errorf("comment on role %q: %w", name, err))
		}
		created = true
		return nil
	})
	if err != nil {
		return connectors.Account{}, false, err
	}
	return acct, created, nil
}

// adoptable refuses an existing role that must not become the user's account.
func (c *Connector) adoptable(ctx context.Context, tx *sql.Tx, step string, r role, u connectors.User) error {
	if !r.canLogin {
		return connectors.Permanent(fmt.Errorf("postgres: %s: role %q exists but cannot log in (a group role?); it is not adopted as an account", step, r.name))
	}
	if owner, ok := commentOwner(r.comment); ok && !sameUser(owner, u) {
		return connectors.Permanent(fmt.Errorf("postgres: %s: role %q was created by Gatehouse for another user (%s); choose another rolePrefix or rename one of the roles", step, r.name, owner.Email))
	}
	if c.allowPrivileged {
		return nil
	}
	reason, err := privilege(ctx, tx, r.name)
	if err != nil {
		return c.fail(ctx, step, err)
	}
	if reason != "" {
		return connectors.Permanent(fmt.Errorf("postgres: %s: refusing to adopt role %q: %s (allowPrivilegedRoles is off)", step, r.name, reason))
	}
	return nil
}

// Grant implements connectors.Connector: GRANT "<entitlement>" TO
// "<account>". A missing entitlement or account role, or a privileged
// entitlement (unless allowPrivilegedRoles), is a permanent error.
func (c *Connector) Grant(ctx context.Context, op connectors.Operation) error {
	const step = "grant"
	target, member, err := names(step, op)
	if err != nil {
		return err
	}
	return c.withTx(ctx, step, []string{target, member}, func(ctx context.Context, tx *sql.Tx) error {
		t, err := lookupRole(ctx, tx, target)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		if !t.exists {
			return connectors.Permanent(fmt.Errorf("postgres: %s: role %q does not exist", step, target))
		}
		m, err := lookupRole(ctx, tx, member)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		if !m.exists {
			return connectors.Permanent(fmt.Errorf("postgres: %s: account role %q does not exist", step, member))
		}
		if !c.allowPrivileged {
			reason, err := privilege(ctx, tx, target)
			if err != nil {
				return c.fail(ctx, step, err)
			}
			if reason != "" {
				return connectors.Permanent(fmt.Errorf("postgres: %s: refusing to grant role %q: %s (allowPrivilegedRoles is off)", step, target, reason))
			}
		}
		held, err := isMember(ctx, tx, t.oid, m.oid)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		if held {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "GRANT "+pq.QuoteIdentifier(target)+" TO "+pq.QuoteIdentifier(member)); err != nil {
			return c.fail(ctx, step, fmt.Errorf("grant %q to %q: %w", target, member, err))
		}
		return nil
	})
}

// Revoke implements connectors.Connector: REVOKE "<entitlement>" FROM
// "<account>". A membership that is not there, or a role that no longer
// exists, is success; a membership that survives the REVOKE (granted by
// another role) is a permanent error.
func (c *Connector) Revoke(ctx context.Context, op connectors.Operation) error {
	const step = "revoke"
	target, member, err := names(step, op)
	if err != nil {
		return err
	}
	return c.withTx(ctx, step, []string{target, member}, func(ctx context.Context, tx *sql.Tx) error {
		t, err := lookupRole(ctx, tx, target)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		m, err := lookupRole(ctx, tx, member)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		if !t.exists || !m.exists {
			return nil
		}
		held, err := isMember(ctx, tx, t.oid, m.oid)
		if err != nil || !held {
			return c.fail(ctx, step, err)
		}
		if _, err := tx.ExecContext(ctx, "REVOKE "+pq.QuoteIdentifier(target)+" FROM "+pq.QuoteIdentifier(member)); err != nil {
			return c.fail(ctx, step, fmt.Errorf("revoke %q from %q: %w", target, member, err))
		}
		if held, err = isMember(ctx, tx, t.oid, m.oid); err != nil {
			return c.fail(ctx, step, err)
		}
		if held {
			return connectors.Permanent(fmt.Errorf("postgres: %s: %q is still a member of %q after REVOKE (granted by another role?)", step, member, target))
		}
		return nil
	})
}

// names returns the entitlement role and the account role of op.
func names(step string, op connectors.Operation) (target, member string, err error) {
	target = op.Entitlement.ExternalID
	member = op.Account.Login
	if member == "" {
		member = op.Account.ExternalID
	}
	switch {
	case target == "":
		return "", "", connectors.Permanent(fmt.Errorf("postgres: %s: the entitlement has no external ID (the role to grant)", step))
	case member == "":
		return "", "", connectors.Permanent(fmt.Errorf("postgres: %s: the account is not known (no login role)", step))
	case len(target) > maxIdentifier || len(member) > maxIdentifier:
		return "", "", connectors.Permanent(fmt.Errorf("postgres: %s: role names are at most %d bytes", step, maxIdentifier))
	case target == member:
		return "", "", connectors.Permanent(fmt.Errorf("postgres: %s: a role cannot be granted to itself", step))
	}
	return target, member, nil
}

// withDB runs fn on a database handle of one connection, opened for this call
// and closed after it, within the connector's timeout.
func (c *Connector) withDB(ctx context.Context, step string, fn func(context.Context, *sql.DB) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	db := sql.OpenDB(c.pq)
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		return c.fail(ctx, step, fmt.Errorf("connect: %w", err))
	}
	return fn(ctx, db)
}

// withTx runs fn in a transaction holding the advisory locks of roles, taken
// in sorted order so that two operations never wait on each other crosswise.
// fn returns classified errors.
func (c *Connector) withTx(ctx context.Context, step string, roles []string, fn func(context.Context, *sql.Tx) error) error {
	return c.withDB(ctx, step, func(ctx context.Context, db *sql.DB) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
		keys := slices.Clone(roles)
		slices.Sort(keys)
		for _, k := range slices.Compact(keys) {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, LockKey(k)); err != nil {
				return c.fail(ctx, step, fmt.Errorf("lock role %q: %w", k, err))
			}
		}
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return c.fail(ctx, step, fmt.Errorf("commit: %w", err))
		}
		return nil
	})
}

// LockKey is the text whose hashtextextended(…, 0) is the advisory lock the
// connector takes for a role; other tools changing the same roles can take it
// too.
func LockKey(role string) string { return "gatehouse.role:" + role }

// fail prefixes err and classifies it; fail(ctx, step, nil) is nil.
func (c *Connector) fail(ctx context.Context, step string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return connectors.Transient(fmt.Errorf("postgres: %s: no answer within %s: %w", step, c.timeout, err))
	}
	if pe := pq.As(err); pe != nil {
		switch code := string(pe.Code); {
		case strings.HasPrefix(code, "28"): // invalid authorization
			err = fmt.Errorf("%w: %w", connectors.ErrAuthRefused, err)
		case code == "42501": // insufficient privilege
			err = fmt.Errorf("%w: %w", connectors.ErrInsufficientPrivilege, err)
		}
	}
	err = fmt.Errorf("postgres: %s: %w", step, err)
	if transient(err) {
		return connectors.Transient(err)
	}
	return connectors.Permanent(err)
}

// transient reports whether a database error may pass on retry.
func transient(err error) bool {
	if pe := pq.As(err); pe != nil {
		code := string(pe.Code)
		switch {
		case strings.HasPrefix(code, "08"), // connection exception
			strings.HasPrefix(code, "40"), // serialization failure, deadlock
			strings.HasPrefix(code, "53"), // insufficient resources
			strings.HasPrefix(code, "57"), // operator intervention, query cancelled
			strings.HasPrefix(code, "58"), // system error
			code == "55P03",               // lock not available
			code == "23505",               // concurrent CREATE ROLE / GRANT
			code == "XX000":               // tuple concurrently updated
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	_, isNet := errors.AsType[net.Error](err)
	return isNet
}

// role is what the connector reads of a role.
type role struct {
	name     string
	exists   bool
	oid      uint32
	canLogin bool
	comment  string
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func lookupRole(ctx context.Context, q querier, name string) (role, error) {
	r := role{name: name}
	err := q.QueryRowContext(ctx, `SELECT r.oid, r.rolcanlogin, coalesce(shobj_description(r.oid, 'pg_authid'), '') FROM pg_roles r WHERE r.rolname = $1`, name).
		Scan(&r.oid, &r.canLogin, &r.comment)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read role %q: %w", name, err)
	}
	r.exists = true
	return r, nil
}

func isMember(ctx context.Context, q querier, roleOID, memberOID uint32) (bool, error) {
	var held bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_auth_members WHERE roleid = $1 AND member = $2)`, roleOID, memberOID).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("read membership: %w", err)
	}
	return held, nil
}

// privilege returns why holding name would be privileged, or "": the role
// itself or any role it is (transitively) a member of has SUPERUSER,
// CREATEROLE, BYPASSRLS or REPLICATION or is a pg_* role.
func privilege(ctx context.Context, q querier, name string) (string, error) {
	rows, err := q.QueryContext(ctx, `
WITH RECURSIVE up(oid, depth) AS (
	SELECT oid, 0 FROM pg_roles WHERE rolname = $1
	UNION
	SELECT m.roleid, up.depth + 1 FROM pg_auth_members m JOIN up ON m.member = up.oid WHERE up.depth < 64
)
SELECT r.rolname, min(up.depth), r.rolsuper, r.rolcreaterole, r.rolbypassrls, r.rolreplication
FROM up JOIN pg_roles r ON r.oid = up.oid
GROUP BY r.rolname, r.rolsuper, r.rolcreaterole, r.rolbypassrls, r.rolreplication
ORDER BY min(up.depth), r.rolname`, name)
	if err != nil {
		return "", fmt.Errorf("read privileges of %q: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rname                                     string
			depth                                     int
			super, createRole, bypassRLS, replication bool
		)
		if err := rows.Scan(&rname, &depth, &super, &createRole, &bypassRLS, &replication); err != nil {
			return "", fmt.Errorf("read privileges of %q: %w", name, err)
		}
		var attrs []string
		for _, a := range []struct {
			on   bool
			name string
		}{{super, "SUPERUSER"}, {createRole, "CREATEROLE"}, {bypassRLS, "BYPASSRLS"}, {replication, "REPLICATION"}} {
			if a.on {
				attrs = append(attrs, a.name)
			}
		}
		what := ""
		switch {
		case len(attrs) > 0:
			what = "has " + strings.Join(attrs, ", ")
		case strings.HasPrefix(rname, "pg_"):
			what = "is a predefined pg_ role"
		default:
			continue
		}
		if depth == 0 {
			return "it " + what, nil
		}
		return fmt.Sprintf("it is a member of %q, which %s", rname, what), nil
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read privileges of %q: %w", name, err)
	}
	return "", nil
}

// commentOwner parses the comment EnsureIdentity writes.
func commentOwner(comment string) (connectors.User, bool) {
	rest, ok := strings.CutPrefix(comment, commentPrefix)
	if !ok {
		return connectors.User{}, false
	}
	var u connectors.User
	for f := range strings.FieldsSeq(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "user":
			u.ID = v
		case "email":
			u.Email = v
		}
	}
	return u, u.ID != "" || u.Email != ""
}

func sameUser(owner, u connectors.User) bool {
	if owner.ID != "" && u.ID != "" {
		return owner.ID == u.ID
	}
	return owner.Email != "" && strings.EqualFold(owner.Email, u.Email)
}

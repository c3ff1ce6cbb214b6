package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"gatehouse/connectors"
)

// ListEntitlements returns the roles that can be granted as entitlements, in
// name order: roles that cannot log in, are not pg_* roles and do not start
// with rolePrefix, without the privileged ones unless allowPrivilegedRoles
// is on. ExternalID and Name are the role name.
func (c *Connector) ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error) {
	const step = "list entitlements"
	var out []connectors.Entitlement
	err := c.withDB(ctx, step, func(ctx context.Context, db *sql.DB) error {
		rows, err := db.QueryContext(ctx, `
WITH RECURSIVE up(start, oid, depth) AS (
	SELECT oid, oid, 0 FROM pg_roles WHERE NOT rolcanlogin
	UNION
	SELECT up.start, m.roleid, up.depth + 1 FROM pg_auth_members m JOIN up ON m.member = up.oid WHERE up.depth < 64
)
SELECT s.rolname,
       bool_or(r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication OR starts_with(r.rolname, 'pg_'))
FROM up JOIN pg_roles s ON s.oid = up.start JOIN pg_roles r ON r.oid = up.oid
WHERE NOT starts_with(s.rolname, 'pg_') AND NOT starts_with(s.rolname, $1)
GROUP BY s.rolname
ORDER BY s.rolname`, c.prefix)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				name       string
				privileged bool
			)
			if err := rows.Scan(&name, &privileged); err != nil {
				return c.fail(ctx, step, err)
			}
			if privileged && !c.allowPrivileged {
				continue
			}
			out = append(out, connectors.Entitlement{ExternalID: name, Name: name})
		}
		return c.fail(ctx, step, rows.Err())
	})
	return out, err
}

// ListAccounts returns the login roles that start with rolePrefix (the
// accounts Gatehouse can match to its users through LoginFor), in name order.
func (c *Connector) ListAccounts(ctx context.Context) ([]connectors.Account, error) {
	return c.accounts(ctx, "list accounts", `
SELECT rolname FROM pg_roles
WHERE rolcanlogin AND starts_with(rolname, $1)
ORDER BY rolname`, c.prefix)
}

// ListMembers returns the accounts (as ListAccounts) that are direct members
// of the entitlement's role, in name order; none when the role is gone.
func (c *Connector) ListMembers(ctx context.Context, e connectors.Entitlement) ([]connectors.Account, error) {
	if e.ExternalID == "" {
		return nil, connectors.Permanent(fmt.Errorf("postgres: list members: the entitlement has no external ID"))
	}
	return c.accounts(ctx, "list members", `
SELECT DISTINCT m.rolname
FROM pg_auth_members am
JOIN pg_roles g ON g.oid = am.roleid
JOIN pg_roles m ON m.oid = am.member
WHERE g.rolname = $2 AND m.rolcanlogin AND starts_with(m.rolname, $1)
ORDER BY m.rolname`, c.prefix, e.ExternalID)
}

// LoginFor returns the login role EnsureIdentity would use for u.
func (c *Connector) LoginFor(u connectors.User) string { return RoleName(c.prefix, u.Email) }

func (c *Connector) accounts(ctx context.Context, step, query string, args ...any) ([]connectors.Account, error) {
	var out []connectors.Account
	err := c.withDB(ctx, step, func(ctx context.Context, db *sql.DB) error {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return c.fail(ctx, step, err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return c.fail(ctx, step, err)
			}
			out = append(out, connectors.Account{ExternalID: name, Login: name})
		}
		return c.fail(ctx, step, rows.Err())
	})
	return out, err
}

// Package connectortest is the conformance suite every connector kind passes
// (webhook, scim, postgres): each connector's tests call Run with a Peer, a
// real application of that kind (a webhook receiver, a SCIM server, a
// PostgreSQL cluster) whose state the suite reads back through the Peer, never
// through the connector under test.
//
// The suite checks what the fulfilment jobs rely on: EnsureIdentity creates an
// account once and adopts one that exists; granting twice leaves one
// membership; revoking twice, or revoking what was never granted, is success;
// concurrent grants of one entitlement all land, once each; an entitlement
// the application does not know is a *connectors.PermanentError, a peer that
// fails for a while a *connectors.TransientError; CheckHealth fails cleanly
// (promptly, with the connector's prefix, without the credential) on an
// endpoint where nothing answers and with a credential the peer rejects.
package connectortest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
)

// Peer is a real application of a connector's kind, set up by that
// connector's test. Methods fail t when the peer cannot do what is asked.
type Peer interface {
	// Open returns a connector for the peer with a working credential,
	// opened through its Kind as the fulfilment jobs do.
	Open(t *testing.T) connectors.Connector
	// NewEntitlement creates, directly in the peer, a fresh entitlement (a
	// group, a role) that nobody holds; the peer removes it when t ends.
	NewEntitlement(t *testing.T) connectors.Entitlement
	// CreateAccount creates u's account directly in the peer, as an
	// administrator working outside Gatehouse would, and returns its
	// external ID (what EnsureIdentity must then return for u).
	CreateAccount(t *testing.T, u connectors.User) string
	// Members returns the external IDs of the accounts holding e as the peer
	// stores them: one entry per stored membership, so a duplicate shows
	// twice. Order does not matter.
	Members(t *testing.T, e connectors.Entitlement) []string
	// Unreachable returns a connector configured for an endpoint where
	// nothing answers (a closed port).
	Unreachable(t *testing.T) connectors.Connector
	// WrongCredential returns a connector for the peer configured with a
	// credential the peer rejects, and that credential, which must appear in
	// no error.
	WrongCredential(t *testing.T) (connectors.Connector, string)
	// TransientFault returns a connector for a peer that fails every call, for
	// now, in a way worth retrying (overloaded, unavailable, unreachable).
	TransientFault(t *testing.T) connectors.Connector
}

// HealthTimeout bounds how long a failing CheckHealth may take.
const HealthTimeout = 20 * time.Second

// Run runs the conformance suite against p. Subtests run in parallel.
func Run(t *testing.T, p Peer) {
	t.Helper()

	t.Run("EnsureIdentityCreatesOnce", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		u := NewUser()
		op := NewOp(u, connectors.Entitlement{})
		acct, created, err := c.EnsureIdentity(t.Context(), op)
		require.NoError(t, err)
		require.True(t, created, "the account did not exist")
		require.NotEmpty(t, acct.ExternalID)

		op.IdempotencyKey = NewID("itm")
		again, created, err := c.EnsureIdentity(t.Context(), op)
		require.NoError(t, err)
		require.False(t, created, "the second call finds the account the first made")
		require.Equal(t, acct.ExternalID, again.ExternalID)
	})

	t.Run("EnsureIdentityAdoptsExisting", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		u := NewUser()
		existing := p.CreateAccount(t, u)
		acct, created, err := c.EnsureIdentity(t.Context(), NewOp(u, connectors.Entitlement{}))
		require.NoError(t, err)
		require.False(t, created, "an account made outside Gatehouse is adopted, not created")
		require.Equal(t, existing, acct.ExternalID)

		// The adopted account can be granted to.
		e := p.NewEntitlement(t)
		op := NewOp(u, e)
		op.Account = acct
		require.NoError(t, c.Grant(t.Context(), op))
		require.Equal(t, []string{existing}, p.Members(t, e))
	})

	t.Run("ConcurrentEnsureIdentity", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		u := NewUser()
		const n = 4
		accts := make([]connectors.Account, n)
		createdBy := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				accts[i], createdBy[i], errs[i] = c.EnsureIdentity(t.Context(), NewOp(u, connectors.Entitlement{}))
			})
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, accts[0].ExternalID, accts[i].ExternalID, "every caller gets the one account")
		}
		require.Equal(t, 1, count(createdBy, true), "exactly one caller created the account")
	})

	t.Run("GrantTwiceIsOneMembership", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		e := p.NewEntitlement(t)
		op := ensured(t, c, NewUser(), e)
		require.NoError(t, c.Grant(t.Context(), op))
		op.IdempotencyKey = NewID("itm") // a second request item for the same access
		require.NoError(t, c.Grant(t.Context(), op), "granting what is held is success")
		require.Equal(t, []string{op.Account.ExternalID}, p.Members(t, e))
	})

	t.Run("RevokeTwice", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		e := p.NewEntitlement(t)
		keep := ensured(t, c, NewUser(), e)
		op := ensured(t, c, NewUser(), e)
		require.NoError(t, c.Grant(t.Context(), keep))
		require.NoError(t, c.Grant(t.Context(), op))
		require.ElementsMatch(t, []string{keep.Account.ExternalID, op.Account.ExternalID}, p.Members(t, e))

		require.NoError(t, c.Revoke(t.Context(), op))
		require.Equal(t, []string{keep.Account.ExternalID}, p.Members(t, e), "only the revoked membership ends")
		require.NoError(t, c.Revoke(t.Context(), op), "revoking what is gone is success")
		require.Equal(t, []string{keep.Account.ExternalID}, p.Members(t, e))
	})

	t.Run("RevokeNeverGranted", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		e := p.NewEntitlement(t)
		op := ensured(t, c, NewUser(), e)
		require.NoError(t, c.Revoke(t.Context(), op))
		require.Empty(t, p.Members(t, e))
	})

	t.Run("ConcurrentGrants", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		e := p.NewEntitlement(t)
		const users, perUser = 5, 2
		ops := make([]connectors.Operation, users)
		want := make([]string, users)
		for i := range ops {
			ops[i] = ensured(t, c, NewUser(), e)
			want[i] = ops[i].Account.ExternalID
		}
		errs := make(chan error, users*perUser)
		var wg sync.WaitGroup
		for _, op := range ops {
			for range perUser {
				op := op
				op.IdempotencyKey = NewID("itm")
				wg.Go(func() { errs <- c.Grant(t.Context(), op) })
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "concurrent grants of one entitlement all succeed")
		}
		require.ElementsMatch(t, want, p.Members(t, e), "every account holds it, once")
	})

	t.Run("UnknownEntitlementIsPermanent", func(t *testing.T) {
		t.Parallel()
		c := p.Open(t)
		op := ensured(t, c, NewUser(), connectors.Entitlement{ID: NewID("ent"), ExternalID: NewID("gatehouse_missing"), Name: "Missing"})
		err := c.Grant(t.Context(), op)
		RequirePermanent(t, c, err)
	})

	t.Run("TransientFault", func(t *testing.T) {
		t.Parallel()
		e := p.NewEntitlement(t)
		u := NewUser()
		op := NewOp(u, e)
		op.Account = connectors.Account{ExternalID: p.CreateAccount(t, u)}
		op.Account.Login = op.Account.ExternalID
		c := p.TransientFault(t)
		RequireTransient(t, c, c.Grant(t.Context(), op))
		RequireTransient(t, c, c.Revoke(t.Context(), op))
		_, _, err := c.EnsureIdentity(t.Context(), op)
		RequireTransient(t, c, err)
		require.Empty(t, p.Members(t, e), "nothing happened")
	})

	t.Run("HealthCheck", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, p.Open(t).CheckHealth(t.Context()), "a working peer is healthy")

		c := p.Unreachable(t)
		err := checkHealth(t, c)
		RequireTransient(t, c, err)

		c, credential := p.WrongCredential(t)
		err = checkHealth(t, c)
		RequirePermanent(t, c, err)
		require.NotEmpty(t, credential)
		require.NotContains(t, err.Error(), credential, "the credential stays out of errors")
	})
}

func checkHealth(t *testing.T, c connectors.Connector) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), HealthTimeout)
	defer cancel()
	start := time.Now()
	err := c.CheckHealth(ctx)
	require.Error(t, err)
	require.Less(t, time.Since(start), HealthTimeout, "the health check gives up on its own")
	return err
}

// ensured returns an operation granting e to u, after EnsureIdentity made u's
// account.
func ensured(t *testing.T, c connectors.Connector, u connectors.User, e connectors.Entitlement) connectors.Operation {
	t.Helper()
	op := NewOp(u, e)
	acct, _, err := c.EnsureIdentity(t.Context(), op)
	require.NoError(t, err)
	op.Account = acct
	op.IdempotencyKey = NewID("itm")
	return op
}

// RequireTransient checks that err is a *connectors.TransientError prefixed
// with the connector's name.
func RequireTransient(t *testing.T, c connectors.Connector, err error) *connectors.TransientError {
	t.Helper()
	require.Error(t, err)
	te, ok := errors.AsType[*connectors.TransientError](err)
	require.True(t, ok, "want a *connectors.TransientError, got %T: %v", err, err)
	require.True(t, connectors.IsTransient(err), "nothing in the chain makes it permanent: %v", err)
	requirePrefix(t, c, err)
	return te
}

// RequirePermanent checks that err is a *connectors.PermanentError prefixed
// with the connector's name.
func RequirePermanent(t *testing.T, c connectors.Connector, err error) {
	t.Helper()
	require.Error(t, err)
	_, ok := errors.AsType[*connectors.PermanentError](err)
	require.True(t, ok, "want a *connectors.PermanentError, got %T: %v", err, err)
	require.False(t, connectors.IsTransient(err))
	requirePrefix(t, c, err)
}

func requirePrefix(t *testing.T, c connectors.Connector, err error) {
	t.Helper()
	require.True(t, strings.HasPrefix(err.Error(), c.Name()+": "), "errors start with the connector's name: %v", err)
}

// NewUser returns a Gatehouse user that exists nowhere yet: a fresh ID and an
// email whose local part is lower-case letters and digits.
func NewUser() connectors.User {
	id := strings.ToLower(NewID("ct"))
	return connectors.User{ID: "usr_" + id, Email: id + "@example.com", Name: "Conformance " + id}
}

// NewOp returns an operation about u and e with a fresh idempotency key.
func NewOp(u connectors.User, e connectors.Entitlement) connectors.Operation {
	return connectors.Operation{
		IdempotencyKey: NewID("itm"),
		Application:    "Conformance",
		User:           u,
		Entitlement:    e,
	}
}

// NewID returns prefix + "_" + 12 random hex digits.
func NewID(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func count(bs []bool, v bool) int {
	return len(slices.DeleteFunc(slices.Clone(bs), func(b bool) bool { return b != v }))
}

// DropRolesAtCleanup drops, when the test ends, every PostgreSQL role of
// the cluster behind admin whose name starts with one of the prefixes (the
// roles a test's connector created), reporting failures as test errors.
func DropRolesAtCleanup(t testing.TB, admin *sql.DB, prefixes ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, p := range prefixes {
			rows, err := admin.QueryContext(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)`, p)
			if err != nil {
				t.Errorf("list test roles: %v", err)
				return
			}
			var names []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				names = append(names, n)
			}
			rows.Close()
			for _, n := range names {
				if _, err := admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+pq.QuoteIdentifier(n)); err != nil {
					t.Errorf("drop test role %s: %v", n, err)
				}
			}
		}
	})
}

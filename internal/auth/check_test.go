package auth_test

import (
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/auth"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/pubsub"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestCheckCachesUntilARevocationOrTheTTL: Check reads a user and a token
// once and trusts what it read for the TTL. A change made with the
// revocation hooks (the catalog's, the tokens') is seen at once, on every
// kind; a change whose notice was lost (made through a client without the
// hooks) is seen once the TTL has passed, or at once after the relay
// reports a loss.
func TestCheckCachesUntilARevocationOrTheTTL(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := authz.SystemContext(t.Context())
		clk := &clock{t: time.Now()}
		relay := pubsub.NewRelay(auth.RevocationChannel, false) // in process, as on SQLite
		revocations := auth.NewRevocations(relay)
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		revocations.Record(client)
		bare := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL))) // no hooks: no notices
		a := auth.New(client, []byte("check-test-secret-0123456789abcdef"), clk.now,
			auth.WithRevocations(revocations), auth.WithCheckTTL(time.Minute))
		var seen []auth.Revocation
		var mu sync.Mutex
		revocations.Watch(func(r auth.Revocation) { mu.Lock(); seen = append(seen, r); mu.Unlock() }, nil)

		u, err := client.User.Create().SetEmail("u@example.com").SetName("U").SetPlatformRole(enum.PlatformRoleRiskManager).Save(ctx)
		require.NoError(t, err)
		jwt, err := a.IssueJWT(u.ID, time.Hour)
		require.NoError(t, err)
		v, err := a.Authenticate(ctx, jwt)
		require.NoError(t, err)
		check := func(v *authz.Viewer) bool {
			t.Helper()
			ok, err := a.Check(ctx, v)
			require.NoError(t, err)
			return ok
		}
		require.True(t, check(v))

		// A lost notice: the cache holds until the TTL.
		require.NoError(t, bare.User.UpdateOneID(u.ID).SetPlatformRole(enum.PlatformRoleUser).Exec(ctx))
		require.True(t, check(v), "cached")
		clk.add(time.Minute)
		require.False(t, check(v), "the TTL has passed")

		// Through the hooks: seen at once, and only changes that revoke.
		v.Role = enum.PlatformRoleUser
		require.True(t, check(v))
		require.NoError(t, client.User.UpdateOneID(u.ID).SetPlatformRole(enum.PlatformRoleUser).SetName("Same role").Exec(ctx))
		require.True(t, check(v), "setting the same role revokes nothing")
		require.NoError(t, client.User.UpdateOneID(u.ID).SetPlatformRole(enum.PlatformRoleITAdmin).Exec(ctx))
		require.False(t, check(v), "role changed")
		v.Role = enum.PlatformRoleITAdmin
		require.True(t, check(v))

		// API tokens: using one revokes nothing; revoking it is seen at once.
		token, rec, err := a.CreateAPIToken(authz.NewContext(ctx, v), auth.NewAPIToken{Name: "t", Scope: enum.TokenScopeWrite})
		require.NoError(t, err)
		tv, err := a.Authenticate(ctx, token)
		require.NoError(t, err)
		require.True(t, check(tv))
		clk.add(2 * time.Minute) // the next use records last_used_at
		_, err = a.Authenticate(ctx, token)
		require.NoError(t, err)
		require.True(t, check(tv))
		_, err = a.RevokeAPIToken(authz.NewContext(ctx, v), rec.ID)
		require.NoError(t, err)
		require.False(t, check(tv), "token revoked")

		// A loss of notices empties the cache.
		require.True(t, check(v))
		require.NoError(t, bare.User.UpdateOneID(u.ID).SetStatus(enum.UserStatusTerminated).Exec(ctx))
		require.True(t, check(v), "cached")
		relay.Channel().OnReconnect(clk.now())
		require.False(t, check(v), "terminated")

		// Expiry needs no read.
		clk.add(time.Hour)
		require.False(t, check(&authz.Viewer{UserID: u.ID, Role: v.Role, ExpiresAt: v.ExpiresAt}))

		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []auth.Revocation{{Kind: auth.RoleChanged, ID: u.ID}, {Kind: auth.TokenRevoked, ID: rec.ID}}, seen)
	})
}

// TestRevocationNoticesLeaveOnlyOnCommit: on PostgreSQL a revocation made in
// a transaction that rolls back sends nothing; one that commits reaches a
// listener of another process (its relay), as an ID and a kind.
func TestRevocationNoticesLeaveOnlyOnCommit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := authz.SystemContext(t.Context())
		shared := db.Dialect == dialect.Postgres
		sender := auth.NewRevocations(pubsub.NewRelay(auth.RevocationChannel, shared))
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		sender.Record(client)
		got := make(chan auth.Revocation, 10)
		receiver := sender
		if shared {
			// Another process: its own relay and LISTEN connection.
			relay := pubsub.NewRelay(auth.RevocationChannel, true)
			receiver = auth.NewRevocations(relay)
			l := pubsub.NewListener(pubsub.ListenerConfig{DSN: db.DSN, Channel: "unused", More: []pubsub.Channel{relay.Channel()}})
			require.NoError(t, l.Start(ctx))
			t.Cleanup(l.Stop)
		}
		receiver.Watch(func(r auth.Revocation) { got <- r }, nil)

		u, err := client.User.Create().SetEmail("u@example.com").SetName("U").Save(ctx)
		require.NoError(t, err)
		tx, err := client.Tx(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.User.UpdateOneID(u.ID).SetStatus(enum.UserStatusTerminated).Exec(ctx))
		require.NoError(t, tx.Rollback())

		tx, err = client.Tx(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.User.UpdateOneID(u.ID).SetPlatformRole(enum.PlatformRoleITAdmin).Exec(ctx))
		select {
		case r := <-got:
			t.Fatalf("a notice before commit: %v", r)
		default:
		}
		require.NoError(t, tx.Commit())
		select {
		case r := <-got:
			require.Equal(t, auth.Revocation{Kind: auth.RoleChanged, ID: u.ID}, r)
		case <-time.After(30 * time.Second):
			t.Fatal("no notice after commit")
		}
		select {
		case r := <-got:
			t.Fatalf("a notice of the rolled back change: %v", r)
		default:
		}
	})
}

func TestParseRevocation(t *testing.T) {
	t.Parallel()
	for _, r := range []auth.Revocation{{Kind: auth.TokenRevoked, ID: "tok_1"}, {Kind: auth.UserTerminated, ID: "usr_1"}, {Kind: auth.RoleChanged, ID: "usr_2"}} {
		back, ok := auth.ParseRevocation(r.String())
		require.True(t, ok)
		require.Equal(t, r, back)
	}
	for _, s := range []string{"", "token_revoked", "token_revoked:", "later_kind:x", "usr_1"} {
		_, ok := auth.ParseRevocation(s)
		require.False(t, ok, s)
	}
}

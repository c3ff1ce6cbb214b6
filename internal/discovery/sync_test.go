package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/postgres"
	"gatehouse/connectors/scim"
	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/discovery"
	"gatehouse/internal/errcode"
)

// The connectors that discovery syncs implement its Discoverer.
var (
	_ discovery.Discoverer = (*postgres.Connector)(nil)
	_ discovery.Discoverer = (*scim.Connector)(nil)
)

// memApp is an application held in memory, behind a connector with
// discovery. The real connectors are synced end to end in
// resolvers/connectors_test.go; this one lets the service's tests shape any
// state and fail any call.
type memApp struct {
	mu       sync.Mutex
	groups   []connectors.Entitlement
	accounts []connectors.Account
	members  map[string][]string // group external ID → account external IDs
	failList error               // returned by ListMembers
	health   error
	calls    int
}

var (
	_ connectors.Connector = (*memApp)(nil)
	_ discovery.Discoverer = (*memApp)(nil)
)

func (*memApp) Name() string { return "mem" }
func (m *memApp) CheckHealth(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}
func (*memApp) EnsureIdentity(context.Context, connectors.Operation) (connectors.Account, bool, error) {
	return connectors.Account{}, false, errors.New("mem: not used")
}
func (*memApp) Grant(context.Context, connectors.Operation) error { return errors.New("mem: not used") }
func (*memApp) Revoke(context.Context, connectors.Operation) error {
	return errors.New("mem: not used")
}

func (m *memApp) ListEntitlements(context.Context) ([]connectors.Entitlement, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	return slices.Clone(m.groups), nil
}

func (m *memApp) ListAccounts(context.Context) ([]connectors.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.accounts), nil
}

func (m *memApp) ListMembers(_ context.Context, e connectors.Entitlement) ([]connectors.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failList != nil {
		return nil, m.failList
	}
	var out []connectors.Account
	for _, id := range m.members[e.ExternalID] {
		out = append(out, connectors.Account{ExternalID: id})
	}
	return out, nil
}

// LoginFor is the email, as the SCIM connector's.
func (*memApp) LoginFor(u connectors.User) string { return u.Email }

func (m *memApp) set(fn func(m *memApp)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(m)
}

// plainConn is a connector without discovery (as the webhook's).
type plainConn struct{}

func (plainConn) Name() string                      { return "plain" }
func (plainConn) CheckHealth(context.Context) error { return nil }
func (plainConn) EnsureIdentity(context.Context, connectors.Operation) (connectors.Account, bool, error) {
	return connectors.Account{}, false, nil
}
func (plainConn) Grant(context.Context, connectors.Operation) error  { return nil }
func (plainConn) Revoke(context.Context, connectors.Operation) error { return nil }

// opener opens mem for every kind but WEBHOOK, which has no discovery, and
// refuses configurations holding "bad".
type opener struct{ mem *memApp }

func (o opener) Open(kind string, config map[string]any) (connectors.Connector, error) {
	if _, bad := config["bad"]; bad {
		return nil, connectors.Permanent(&connectors.ConfigError{Key: "tokenEnv", Message: "the environment variable named here is not set on this server"})
	}
	if kind == string(enum.ConnectorKindWebhook) {
		return plainConn{}, nil
	}
	return o.mem, nil
}

type syncScene struct {
	db     *dbtest.DB
	client *ent.Client
	svc    *discovery.Service
	mem    *memApp
	admin  *ent.User
	app    *ent.Application
}

func sys() context.Context { return authz.SystemContext(context.Background()) }

func newSyncScene(t *testing.T, db *dbtest.DB, kind enum.ConnectorKind) *syncScene {
	t.Helper()
	client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
	mem := &memApp{members: map[string][]string{}}
	s := &syncScene{
		db: db, client: client, mem: mem,
		svc: discovery.New(discovery.Config{DB: db.SQL, Dialect: db.Dialect, Client: client, Connectors: opener{mem}, Now: time.Now}),
	}
	var err error
	s.admin, err = client.User.Create().SetEmail("it@example.com").SetName("IT").SetPlatformRole(enum.PlatformRoleITAdmin).Save(sys())
	require.NoError(t, err)
	s.app = s.newApp(t, "IdP", kind, nil)
	return s
}

func (s *syncScene) newApp(t *testing.T, name string, kind enum.ConnectorKind, config map[string]any) *ent.Application {
	t.Helper()
	f := enum.FulfillmentDirect
	if kind == enum.ConnectorKindManual {
		f = enum.FulfillmentManual
	}
	app, err := s.client.Application.Create().SetName(name).SetFulfillment(f).SetConnectorKind(kind).SetConnectorConfig(config).Save(sys())
	require.NoError(t, err)
	return app
}

func (s *syncScene) user(t *testing.T, email string, role enum.PlatformRole) *ent.User {
	t.Helper()
	u, err := s.client.User.Create().SetEmail(email).SetName(email).SetPlatformRole(role).Save(sys())
	require.NoError(t, err)
	return u
}

func as(u *ent.User) context.Context {
	return authz.NewContext(context.Background(), &authz.Viewer{UserID: u.ID, Role: u.PlatformRole})
}

func (s *syncScene) sync(t *testing.T) *discovery.Result {
	t.Helper()
	res, err := s.svc.Sync(as(s.admin), s.app.ID)
	require.NoError(t, err)
	require.Equal(t, s.app.ID, res.Application.ID)
	return res
}

// counts is what a Result says, without the application.
type counts struct {
	Ents, Idns, IdnUpd, Grants, Ended, Unmatched int
	Logins                                       []string
}

func countsOf(r *discovery.Result) counts {
	return counts{r.EntitlementsCreated, r.IdentitiesCreated, r.IdentitiesUpdated, r.GrantsCreated, r.GrantsEnded, r.UnmatchedAccounts, r.UnmatchedLogins}
}

// systemEvents returns the actions of the system chain and checks that it
// verifies.
func (s *syncScene) systemEvents(t *testing.T) []*ent.AuditEvent {
	t.Helper()
	evs, err := s.client.AuditEvent.Query().Where(auditevent.Chain(audit.SystemChain)).Order(auditevent.BySeq()).All(sys())
	require.NoError(t, err)
	v := audit.Verify(audit.SystemChain, evs)
	require.True(t, v.Valid, "system chain verifies: %s", v.Reason)
	return evs
}

// held lists "email entitlement-external-id" of the app's active grants.
func (s *syncScene) held(t *testing.T) []string {
	t.Helper()
	gs, err := s.client.Grant.Query().
		Where(grant.RevokedAtIsNil(), grant.HasIdentityWith(identity.ApplicationID(s.app.ID))).
		WithIdentity(func(q *ent.IdentityQuery) { q.WithUser() }).WithEntitlement().All(sys())
	require.NoError(t, err)
	var out []string
	for _, g := range gs {
		out = append(out, g.Edges.Identity.Edges.User.Email+" "+g.Edges.Entitlement.ExternalID)
	}
	slices.Sort(out)
	return out
}

// TestSyncImportsThenChangesNothing: a first sync imports groups, accounts
// matched to users and memberships, audited on the system chain; a second
// one writes nothing at all; then a membership removed and one added in
// the application end and create one grant each.
func TestSyncImportsThenChangesNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSyncScene(t, db, enum.ConnectorKindScim)
		s.user(t, "ann@example.com", enum.PlatformRoleUser)
		s.user(t, "bob@example.com", enum.PlatformRoleUser)
		// An entitlement created by hand earlier, with the group's ID.
		curated, err := s.client.Entitlement.Create().SetApplication(s.app).SetExternalID("g-eng").SetName("Engineering").
			SetKind(enum.EntitlementKindGroup).SetRequestable(false).Save(sys())
		require.NoError(t, err)
		s.mem.set(func(m *memApp) {
			m.groups = ents("g-eng", "eng", "g-ops", "Ops", "g-fin", "Finance")
			m.accounts = accts("u-1/Ann@Example.com", "u-2/bob@example.com", "u-3/ghost@example.com")
			m.members = map[string][]string{"g-eng": {"u-1", "u-3"}, "g-ops": {"u-1", "u-2"}}
		})
		before := len(s.systemEvents(t))

		res := s.sync(t)
		require.Equal(t, counts{Ents: 2, Idns: 2, Grants: 3, Unmatched: 1, Logins: []string{"ghost@example.com"}}, countsOf(res))
		require.Equal(t, []string{"ann@example.com g-eng", "ann@example.com g-ops", "bob@example.com g-ops"}, s.held(t))

		es, err := s.client.Entitlement.Query().Where(entitlement.ApplicationID(s.app.ID)).Order(entitlement.ByExternalID()).All(sys())
		require.NoError(t, err)
		require.Len(t, es, 3)
		require.Equal(t, curated.ID, es[0].ID, "matched by external ID")
		require.Equal(t, "Engineering", es[0].Name, "not renamed")
		require.False(t, es[0].Requestable, "admin's choice kept")
		for _, e := range es[1:] {
			require.Equal(t, enum.EntitlementKindGroup, e.Kind, "SCIM groups are GROUP")
			require.True(t, e.Requestable, "imported entitlements are requestable")
		}
		idns, err := s.client.Identity.Query().Where(identity.ApplicationID(s.app.ID)).WithUser().All(sys())
		require.NoError(t, err)
		require.Len(t, idns, 2)
		for _, idn := range idns {
			require.Equal(t, enum.IdentityStatusActive, idn.Status)
			require.Nil(t, idn.CreatedByRequestID)
		}
		n, err := s.client.User.Query().Count(sys())
		require.NoError(t, err)
		require.Equal(t, 3, n, "the unmatched account made no user")

		evs := s.systemEvents(t)[before:]
		require.Len(t, evs, 2+2+3, "one event per change")
		for _, e := range evs {
			require.Equal(t, string(audit.DiscoveryImported), e.Action)
			require.Equal(t, string(s.admin.ID), e.Actor)
		}

		// Again: nothing changes, not even the audit trail.
		before = len(s.systemEvents(t))
		require.Equal(t, counts{Unmatched: 1, Logins: []string{"ghost@example.com"}}, countsOf(s.sync(t)))
		require.Len(t, s.systemEvents(t), before, "an unchanged application writes nothing")

		// Reality moves: Ann left Ops, Bob joined Engineering.
		s.mem.set(func(m *memApp) { m.members = map[string][]string{"g-eng": {"u-1", "u-3", "u-2"}, "g-ops": {"u-2"}} })
		res = s.sync(t)
		require.Equal(t, counts{Grants: 1, Ended: 1, Unmatched: 1, Logins: []string{"ghost@example.com"}}, countsOf(res))
		require.Equal(t, []string{"ann@example.com g-eng", "bob@example.com g-eng", "bob@example.com g-ops"}, s.held(t))
		ended, err := s.client.Grant.Query().Where(grant.RevokedAtNotNil()).Only(sys())
		require.NoError(t, err)
		require.Equal(t, discovery.RevokeReason, ended.RevokeReason)
		evs = s.systemEvents(t)[before:]
		require.Len(t, evs, 2)
		actions := []string{evs[0].Action, evs[1].Action}
		slices.Sort(actions)
		require.Equal(t, []string{string(audit.DiscoveryAccessEnded), string(audit.DiscoveryImported)}, actions)
	})
}

// TestSyncPostgresRolesAndOtherApplications: POSTGRES roles are imported as
// ROLE; a sync touches only its own application's grants.
func TestSyncPostgresRolesAndOtherApplications(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSyncScene(t, db, enum.ConnectorKindPostgres)
		ann := s.user(t, "ann@example.com", enum.PlatformRoleUser)
		other := s.newApp(t, "Other", enum.ConnectorKindScim, nil)
		oe, err := s.client.Entitlement.Create().SetApplication(other).SetExternalID("x").SetName("X").Save(sys())
		require.NoError(t, err)
		oi, err := s.client.Identity.Create().SetUser(ann).SetApplication(other).SetExternalID("x1").Save(sys())
		require.NoError(t, err)
		og, err := s.client.Grant.Create().SetIdentity(oi).SetEntitlement(oe).Save(sys())
		require.NoError(t, err)
		s.mem.set(func(m *memApp) { m.groups = ents("billing_ro", "billing_ro") })

		require.Equal(t, counts{Ents: 1, Logins: []string{}}, countsOf(s.sync(t)))
		e, err := s.client.Entitlement.Query().Where(entitlement.ApplicationID(s.app.ID)).Only(sys())
		require.NoError(t, err)
		require.Equal(t, enum.EntitlementKindRole, e.Kind)
		og, err = s.client.Grant.Get(sys(), og.ID)
		require.NoError(t, err)
		require.Nil(t, og.RevokedAt, "another application's grant is not this sync's business")
	})
}

// TestSyncRefusals: who may sync what, and a failing connector writes
// nothing.
func TestSyncRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSyncScene(t, db, enum.ConnectorKindScim)
		usr := s.user(t, "ann@example.com", enum.PlatformRoleUser)
		risk := s.user(t, "risk@example.com", enum.PlatformRoleRiskManager)
		manual := s.newApp(t, "Paper", enum.ConnectorKindManual, nil)
		hook := s.newApp(t, "Hook", enum.ConnectorKindWebhook, nil)
		broken := s.newApp(t, "Broken", enum.ConnectorKindScim, map[string]any{"bad": true})
		readOnly := authz.NewContext(context.Background(), &authz.Viewer{UserID: s.admin.ID, Role: enum.PlatformRoleITAdmin, ReadOnly: true})
		s.mem.set(func(m *memApp) {
			m.groups = ents("g1", "G1")
			m.accounts = accts("u-1/ann@example.com")
		})

		for _, tc := range []struct {
			name  string
			ctx   context.Context
			app   *ent.Application
			code  errcode.Code
			field string
		}{
			{"no viewer", context.Background(), s.app, errcode.Unauthenticated, ""},
			{"user", as(usr), s.app, errcode.Forbidden, ""},
			{"risk manager", as(risk), s.app, errcode.Forbidden, ""},
			{"read token", readOnly, s.app, errcode.Forbidden, ""},
			{"manual application", as(s.admin), manual, errcode.InvalidInput, "id"},
			{"connector without discovery", as(s.admin), hook, errcode.InvalidInput, "id"},
			{"unusable configuration", as(s.admin), broken, errcode.InvalidInput, "connectorConfig.tokenEnv"},
		} {
			_, err := s.svc.Sync(tc.ctx, tc.app.ID)
			require.Equal(t, tc.code, errcode.Of(err), "%s: %v", tc.name, err)
			var ce *errcode.Error
			if tc.field != "" && errors.As(err, &ce) {
				require.Equal(t, tc.field, ce.Field, tc.name)
			}
		}
		_, err := s.svc.Sync(as(s.admin), "app_01J0000000000000000000000")
		require.True(t, ent.IsNotFound(err), "unknown application: %v", err)

		s.mem.set(func(m *memApp) {
			m.failList = connectors.Transient(fmt.Errorf(`mem: list members: dial "postgres://svc:hunter2@db/x": %w`,
				&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}))
		})
		_, err = s.svc.Sync(as(s.admin), s.app.ID)
		require.Equal(t, errcode.Conflict, errcode.Of(err))
		require.NotContains(t, err.Error(), "hunter2", "no secret in the message")
		require.Contains(t, err.Error(), ": unreachable;", "a fixed reason, not the connector's text")
		n, err := s.client.Entitlement.Query().Where(entitlement.ApplicationID(s.app.ID)).Count(sys())
		require.NoError(t, err)
		require.Zero(t, n, "a failed read writes nothing")
	})
}

// TestSyncConcurrentRunsAgree: syncs of one application racing each other
// import everything once.
func TestSyncConcurrentRunsAgree(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSyncScene(t, db, enum.ConnectorKindScim)
		s.user(t, "ann@example.com", enum.PlatformRoleUser)
		s.mem.set(func(m *memApp) {
			m.groups = ents("g1", "G1", "g2", "G2")
			m.accounts = accts("u-1/ann@example.com")
			m.members = map[string][]string{"g1": {"u-1"}, "g2": {"u-1"}}
		})
		const runs = 4
		results := make(chan *discovery.Result, runs)
		errs := make(chan error, runs)
		var wg sync.WaitGroup
		for range runs {
			wg.Go(func() {
				r, err := s.svc.Sync(as(s.admin), s.app.ID)
				errs <- err
				results <- r
			})
		}
		wg.Wait()
		close(errs)
		close(results)
		for err := range errs {
			require.NoError(t, err)
		}
		var total counts
		for r := range results {
			total.Ents += r.EntitlementsCreated
			total.Idns += r.IdentitiesCreated
			total.Grants += r.GrantsCreated
		}
		require.Equal(t, counts{Ents: 2, Idns: 1, Grants: 2}, total, "each change made once")
		require.Equal(t, []string{"ann@example.com g1", "ann@example.com g2"}, s.held(t))
		if db.Dialect == dialect.Postgres {
			s.systemEvents(t) // the chain stayed sound under concurrent appends
		}
	})
}

// TestDiscoveryCheckConnection: the health check as IT admins see it: ok,
// failing without secrets, and refused to everyone else.
func TestDiscoveryCheckConnection(t *testing.T) {
	t.Parallel()
	db := dbtest.NewSQLite(t)
	s := newSyncScene(t, db, enum.ConnectorKindScim)
	usr := s.user(t, "ann@example.com", enum.PlatformRoleUser)
	manual := s.newApp(t, "Paper", enum.ConnectorKindManual, nil)
	broken := s.newApp(t, "Broken", enum.ConnectorKindScim, map[string]any{"bad": true})

	c, err := s.svc.CheckConnection(as(s.admin), s.app.ID)
	require.NoError(t, err)
	require.True(t, c.OK, c.Message)
	require.Contains(t, c.Message, "SCIM")

	s.mem.set(func(m *memApp) {
		m.health = connectors.Permanent(fmt.Errorf(`check health: GET "https://svc:s3cret@idp/Users" with Bearer abcdef123456: %w`,
			&scim.Error{Step: "check health", Status: 401, Detail: "<h1>internal page marker</h1>"}))
	})
	c, err = s.svc.CheckConnection(as(s.admin), s.app.ID)
	require.NoError(t, err, "a failing check is an answer, not an error")
	require.False(t, c.OK)
	require.Equal(t, "SCIM check failed: authentication refused (HTTP 401)", c.Message)
	require.NotContains(t, c.Message, "marker")
	require.NotContains(t, c.Message, "s3cret")
	require.NotContains(t, c.Message, "abcdef123456")

	c, err = s.svc.CheckConnection(as(s.admin), broken.ID)
	require.NoError(t, err)
	require.False(t, c.OK)
	require.Equal(t, "SCIM check failed: unusable configuration: tokenEnv: the environment variable named here is not set on this server", c.Message)

	c, err = s.svc.CheckConnection(as(s.admin), manual.ID)
	require.NoError(t, err)
	require.False(t, c.OK)
	require.Contains(t, c.Message, "MANUAL")

	_, err = s.svc.CheckConnection(as(usr), s.app.ID)
	require.Equal(t, errcode.Forbidden, errcode.Of(err))
	_, err = s.svc.CheckConnection(context.Background(), s.app.ID)
	require.Equal(t, errcode.Unauthenticated, errcode.Of(err))
}

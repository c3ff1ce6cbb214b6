package resolvers_test

import (
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/connectortest"
	"gatehouse/connectors/postgres"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// Connector tests (issue 5): configuration validation, checkApplicationConnection,
// syncApplication, and provisioning end to end through GraphQL against a real
// PostgreSQL cluster (POSTGRES connector) and a real SCIM server
// (github.com/elimity-com/scim, connectors_scim_test.go), with River working
// the fulfilment and expiry jobs.

const (
	cnCheck = `mutation($id: ID!) { checkApplicationConnection(id: $id) { ok message } }`
	cnSync  = `mutation($id: ID!) { syncApplication(id: $id) { application { id }
	  entitlementsCreated identitiesCreated identitiesUpdated grantsCreated grantsEnded unmatchedAccounts unmatchedLogins } }`
	cnCreateApp = `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id connectorKind } }`
	cnSubmit    = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
	  id status items { id status entitlement { id name } } } }`
)

type cnCheckResult struct {
	Ok      bool
	Message string
}

type cnSyncResult struct {
	EntitlementsCreated int
	IdentitiesCreated   int
	IdentitiesUpdated   int
	GrantsCreated       int
	GrantsEnded         int
	UnmatchedAccounts   int
	UnmatchedLogins     []string
}

func cnCheckApp(t *testing.T, env *apitest.Env, token, id string) cnCheckResult {
	t.Helper()
	var out struct{ CheckApplicationConnection cnCheckResult }
	env.MustDo(t, token, cnCheck, map[string]any{"id": id}, &out)
	return out.CheckApplicationConnection
}

func cnSyncApp(t *testing.T, env *apitest.Env, token, id string) cnSyncResult {
	t.Helper()
	var out struct {
		SyncApplication struct {
			Application struct{ ID string }
			cnSyncResult
		}
	}
	env.MustDo(t, token, cnSync, map[string]any{"id": id}, &out)
	require.Equal(t, id, out.SyncApplication.Application.ID)
	return out.SyncApplication.cnSyncResult
}

func cnNewApp(t *testing.T, env *apitest.Env, token string, in map[string]any) string {
	t.Helper()
	var out struct{ CreateApplication struct{ ID string } }
	env.MustDo(t, token, cnCreateApp, map[string]any{"in": in}, &out)
	return out.CreateApplication.ID
}

type cnItem struct {
	ID          string
	Status      string
	Entitlement struct{ ID, Name string }
}

// cnSubmitReq submits a request and returns its ID and items.
func cnSubmitReq(t *testing.T, env *apitest.Env, token string, in map[string]any) (string, []cnItem) {
	t.Helper()
	var out struct {
		SubmitAccessRequest struct {
			ID    string
			Items []cnItem
		}
	}
	env.MustDo(t, token, cnSubmit, map[string]any{"in": in}, &out)
	return out.SubmitAccessRequest.ID, out.SubmitAccessRequest.Items
}

type cnEntitlement struct {
	ID          string
	Name        string
	Kind        string
	Requestable bool
}

// cnEntitlementOf finds an application's entitlement by external ID.
func cnEntitlementOf(t *testing.T, env *apitest.Env, token, appID, externalID string) cnEntitlement {
	t.Helper()
	var out struct {
		Entitlements struct {
			Edges []struct{ Node cnEntitlement }
		}
	}
	env.MustDo(t, token, `query($a: ID!, $x: String!) { entitlements(first: 2, where: {applicationID: $a, externalID: $x}) {
	  edges { node { id name kind requestable } } } }`, map[string]any{"a": appID, "x": externalID}, &out)
	require.Len(t, out.Entitlements.Edges, 1, "entitlement %s of %s", externalID, appID)
	return out.Entitlements.Edges[0].Node
}

// cnCluster is the PostgreSQL cluster the POSTGRES connector provisions in.
// Roles are cluster-wide: each test works under random prefixes and drops
// its roles when it ends.
type cnCluster struct {
	admin *sql.DB
	acct  string // login roles (accounts), the connector's rolePrefix
	ent   string // group roles (entitlements)
}

func newCNCluster(t *testing.T) *cnCluster {
	t.Helper()
	admin, err := sql.Open("postgres", os.Getenv(dbtest.EnvPostgresURL))
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	tag := strings.TrimPrefix(connectortest.NewID("t"), "t_")[:8]
	c := &cnCluster{admin: admin, acct: "gt" + tag + "_", ent: "gte" + tag + "_"}
	connectortest.DropRolesAtCleanup(t, admin, c.acct, c.ent)
	return c
}

func (c *cnCluster) exec(t *testing.T, q string) {
	t.Helper()
	_, err := c.admin.ExecContext(t.Context(), q)
	require.NoError(t, err, q)
}

// groupRole creates a NOLOGIN role named ent+suffix.
func (c *cnCluster) groupRole(t *testing.T, suffix string) string {
	t.Helper()
	name := c.ent + suffix
	c.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(name)+" NOLOGIN")
	return name
}

func (c *cnCluster) grant(t *testing.T, role, member string) {
	t.Helper()
	c.exec(t, "GRANT "+pq.QuoteIdentifier(role)+" TO "+pq.QuoteIdentifier(member))
}

func (c *cnCluster) revoke(t *testing.T, role, member string) {
	t.Helper()
	c.exec(t, "REVOKE "+pq.QuoteIdentifier(role)+" FROM "+pq.QuoteIdentifier(member))
}

// hasRole is pg_has_role(member, role, 'MEMBER'); false while member does
// not exist.
func (c *cnCluster) hasRole(t *testing.T, member, role string) bool {
	t.Helper()
	var held bool
	require.NoError(t, c.admin.QueryRowContext(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AND pg_has_role($1, $2, 'MEMBER')`, member, role).Scan(&held))
	return held
}

// TestConnectorConfigAndHealthCheck: SCIM and POSTGRES configurations are
// validated on create; checkApplicationConnection reports ok or the reason,
// never a secret, and only to IT admins.
func TestConnectorConfigAndHealthCheck(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		const token, wrong, password = "idp-token-0123456789", "wrong-token-9876543210", "hunter2-secret"
		idp := newSCIMService(t, token)
		env := apitest.NewWith(t, db, apitest.Options{Env: map[string]string{
			"GATEHOUSE_SECRET_IDP_TOKEN":   token,
			"GATEHOUSE_SECRET_WRONG_TOKEN": wrong,
			"GATEHOUSE_SECRET_APP_DB_DSN":  os.Getenv(dbtest.EnvPostgresURL),
			"GATEHOUSE_SECRET_DOWN_DB_DSN": "postgres://postgres:" + password + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		}})
		admin := env.Token(t, env.User(t, "it@example.com", enum.PlatformRoleITAdmin))
		usr := env.Token(t, env.User(t, "ann@example.com", enum.PlatformRoleUser))
		risk := env.Token(t, env.User(t, "risk@example.com", enum.PlatformRoleRiskManager))

		// Configuration is validated per kind, naming the field.
		for _, tc := range []struct {
			name, kind string
			config     map[string]any
			field      string
		}{
			{"SCIM token given inline", "SCIM", map[string]any{"baseUrl": idp.base, "tokenEnv": token}, "connectorConfig.tokenEnv"},
			{"SCIM unknown key", "SCIM", map[string]any{"baseUrl": idp.base, "tokenEnv": "GATEHOUSE_SECRET_IDP_TOKEN", "password": "x"}, "connectorConfig.password"},
			{"SCIM token variable unset", "SCIM", map[string]any{"baseUrl": idp.base, "tokenEnv": "GATEHOUSE_SECRET_NOT_SET"}, "connectorConfig.tokenEnv"},
			{"POSTGRES DSN given inline", "POSTGRES", map[string]any{"dsnEnv": "postgres://postgres:" + password + "@db/x"}, "connectorConfig.dsnEnv"},
			{"POSTGRES without dsnEnv", "POSTGRES", map[string]any{}, "connectorConfig.dsnEnv"},
			{"POSTGRES bad prefix", "POSTGRES", map[string]any{"dsnEnv": "GATEHOUSE_SECRET_DOWN_DB_DSN", "rolePrefix": "pg_x"}, "connectorConfig.rolePrefix"},
		} {
			res := env.Do(t, admin, cnCreateApp, map[string]any{"in": map[string]any{
				"name": tc.name, "fulfillment": "DIRECT", "connectorKind": tc.kind, "connectorConfig": tc.config,
			}})
			require.Equal(t, "INVALID_INPUT", res.Code(), "%s: %+v", tc.name, res.Errors)
			require.Equal(t, tc.field, res.Errors[0].Extensions.Field, tc.name)
			require.NotContains(t, res.Errors[0].Message, password, tc.name)
			require.NotContains(t, res.Errors[0].Message, token, tc.name)
		}

		scimApp := cnNewApp(t, env, admin, map[string]any{"name": "IdP", "fulfillment": "DIRECT", "connectorKind": "SCIM",
			"connectorConfig": map[string]any{"baseUrl": idp.base, "tokenEnv": "GATEHOUSE_SECRET_IDP_TOKEN"}})
		c := cnCheckApp(t, env, admin, scimApp)
		require.True(t, c.Ok, c.Message)

		// A credential the service refuses: ok false with the reason.
		env.MustDo(t, admin, `mutation($id: ID!) { updateApplication(id: $id, input: {connectorConfig: {baseUrl: "`+idp.base+`", tokenEnv: "GATEHOUSE_SECRET_WRONG_TOKEN"}}) { id } }`,
			map[string]any{"id": scimApp}, nil)
		c = cnCheckApp(t, env, admin, scimApp)
		require.False(t, c.Ok)
		require.Equal(t, "SCIM check failed: authentication refused (HTTP 401)", c.Message)
		require.NotContains(t, c.Message, wrong)
		require.NotContains(t, c.Message, token)

		// A database that does not answer, with a password in its DSN.
		down := cnNewApp(t, env, admin, map[string]any{"name": "Down", "fulfillment": "DIRECT", "connectorKind": "POSTGRES",
			"connectorConfig": map[string]any{"dsnEnv": "GATEHOUSE_SECRET_DOWN_DB_DSN", "timeoutSeconds": 3}})
		c = cnCheckApp(t, env, admin, down)
		require.False(t, c.Ok)
		require.NotEmpty(t, c.Message)
		require.NotContains(t, c.Message, password)
		if os.Getenv(dbtest.EnvPostgresURL) != "" {
			pg := cnNewApp(t, env, admin, map[string]any{"name": "Warehouse", "fulfillment": "DIRECT", "connectorKind": "POSTGRES",
				"connectorConfig": map[string]any{"dsnEnv": "GATEHOUSE_SECRET_APP_DB_DSN"}})
			c = cnCheckApp(t, env, admin, pg)
			require.True(t, c.Ok, c.Message)
		}

		// Only IT admins check and sync; a MANUAL application has nothing to sync.
		for _, tok := range []string{usr, risk} {
			require.Equal(t, "FORBIDDEN", env.Do(t, tok, cnCheck, map[string]any{"id": scimApp}).Code())
			require.Equal(t, "FORBIDDEN", env.Do(t, tok, cnSync, map[string]any{"id": scimApp}).Code())
		}
		require.Equal(t, "NOT_FOUND", env.Do(t, admin, cnSync, map[string]any{"id": "app_01J0000000000000000000000"}).Code())
		manual := cnNewApp(t, env, admin, map[string]any{"name": "Paper", "fulfillment": "MANUAL", "connectorKind": "MANUAL"})
		require.Equal(t, "INVALID_INPUT", env.Do(t, admin, cnSync, map[string]any{"id": manual}).Code())
		res := env.Do(t, admin, cnSync, map[string]any{"id": scimApp})
		require.Equal(t, "CONFLICT", res.Code(), "the service refuses the credential: %+v", res.Errors)
		require.NotContains(t, res.Errors[0].Message, wrong)
	})
}

// TestConnectorsEndToEnd provisions through the POSTGRES and SCIM connectors:
// syncApplication imports the roles, groups, accounts and memberships that
// exist before Gatehouse, idempotently, and follows changes made behind its
// back; then LIKE_USER copies the imported access of a colleague, approved
// by the reviewer, so that the role is held (pg_has_role) and the user is in
// the SCIM group; a REVOKE request removes both; a PT2S grant expires and
// removes both; and a REVOKE of access that was only imported removes it
// from the real systems.
func TestConnectorsEndToEnd(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		if db.Dialect != "postgres" {
			t.Skip("the POSTGRES connector provisions roles in a real PostgreSQL cluster: this test runs in the postgres subtest (TEST_DATABASE_URL)")
		}
		cl := newCNCluster(t) // registered first: its roles are dropped after the server stops
		const token = "idp-token-e2e-0123456789"
		idp := newSCIMService(t, token)
		env := apitest.NewWith(t, db, apitest.Options{Env: map[string]string{"GATEHOUSE_SECRET_APP_DB_DSN": db.DSN, "GATEHOUSE_SECRET_IDP_TOKEN": token}})
		o := &org{env: env, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)}
		ctx := apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		b, err := env.Client.User.Create().SetEmail("b@example.com").SetName("B").SetManager(m).Save(ctx)
		require.NoError(t, err)
		ref, err := env.Client.User.Create().SetEmail("ref@example.com").SetName("Ref").SetManager(m).Save(ctx)
		require.NoError(t, err)
		tokAdmin, tokM, tokB, tokRef := env.Token(t, o.admin), env.Token(t, m), env.Token(t, b), env.Token(t, ref)

		pgApp := cnNewApp(t, env, tokAdmin, map[string]any{"name": "Warehouse", "fulfillment": "DIRECT", "connectorKind": "POSTGRES",
			"connectorConfig": map[string]any{"dsnEnv": "GATEHOUSE_SECRET_APP_DB_DSN", "rolePrefix": cl.acct}})
		scimApp := cnNewApp(t, env, tokAdmin, map[string]any{"name": "IdP", "fulfillment": "DIRECT", "connectorKind": "SCIM",
			"connectorConfig": map[string]any{"baseUrl": idp.base, "tokenEnv": "GATEHOUSE_SECRET_IDP_TOKEN"}})
		for _, app := range []string{pgApp, scimApp} {
			c := cnCheckApp(t, env, tokAdmin, app)
			require.True(t, c.Ok, c.Message)
		}

		// What exists before Gatehouse looks: Ref and an account nobody
		// in Gatehouse owns are analysts in both systems.
		analysts, writers := cl.groupRole(t, "analysts"), cl.groupRole(t, "writers")
		refRole, ghostRole := postgres.RoleName(cl.acct, ref.Email), cl.acct+"ghost"
		bRole := postgres.RoleName(cl.acct, b.Email)
		cl.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(refRole)+" LOGIN")
		cl.exec(t, "CREATE ROLE "+pq.QuoteIdentifier(ghostRole)+" LOGIN")
		cl.grant(t, analysts, refRole)
		cl.grant(t, analysts, ghostRole)
		sRef, sGhost := idp.createUser("Ref@Example.com"), idp.createUser("ghost@example.com")
		gAnalysts, gWriters := idp.createGroup("Analysts", sRef, sGhost), idp.createGroup("Writers")

		// First sync: everything imported; the ghost only reported.
		r := cnSyncApp(t, env, tokAdmin, pgApp)
		require.GreaterOrEqual(t, r.EntitlementsCreated, 2, "the test's roles (and any other group role of the cluster)")
		require.Equal(t, cnSyncResult{EntitlementsCreated: r.EntitlementsCreated, IdentitiesCreated: 1, GrantsCreated: 1,
			UnmatchedAccounts: 1, UnmatchedLogins: []string{ghostRole}}, r)
		r = cnSyncApp(t, env, tokAdmin, scimApp)
		require.Equal(t, cnSyncResult{EntitlementsCreated: 2, IdentitiesCreated: 1, GrantsCreated: 1,
			UnmatchedAccounts: 1, UnmatchedLogins: []string{"ghost@example.com"}}, r, "Ref@Example.com is ref@example.com")
		pgAnalysts, pgWriters := cnEntitlementOf(t, env, tokB, pgApp, analysts), cnEntitlementOf(t, env, tokB, pgApp, writers)
		scAnalysts, scWriters := cnEntitlementOf(t, env, tokB, scimApp, gAnalysts), cnEntitlementOf(t, env, tokB, scimApp, gWriters)
		require.Equal(t, cnEntitlement{ID: pgAnalysts.ID, Name: analysts, Kind: "ROLE", Requestable: true}, pgAnalysts)
		require.Equal(t, cnEntitlement{ID: scAnalysts.ID, Name: "Analysts", Kind: "GROUP", Requestable: true}, scAnalysts)

		// Second sync: nothing changes.
		r = cnSyncApp(t, env, tokAdmin, pgApp)
		require.Equal(t, cnSyncResult{EntitlementsCreated: r.EntitlementsCreated, UnmatchedAccounts: 1, UnmatchedLogins: []string{ghostRole}}, r)
		n, err := env.Client.Entitlement.Query().
			Where(entitlement.ApplicationID(pulid.ID(pgApp)), entitlement.ExternalIDHasPrefix(cl.ent)).Count(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "the test's roles were imported once (other group roles may appear in a shared cluster)")
		require.Equal(t, cnSyncResult{UnmatchedAccounts: 1, UnmatchedLogins: []string{"ghost@example.com"}}, cnSyncApp(t, env, tokAdmin, scimApp))

		// Behind Gatehouse's back Ref joins Writers, then leaves again.
		cl.grant(t, writers, refRole)
		idp.setMembers(gWriters, sRef)
		require.Equal(t, 1, cnSyncApp(t, env, tokAdmin, pgApp).GrantsCreated)
		require.Equal(t, 1, cnSyncApp(t, env, tokAdmin, scimApp).GrantsCreated)
		cl.revoke(t, writers, refRole)
		idp.setMembers(gWriters)
		require.Equal(t, 1, cnSyncApp(t, env, tokAdmin, pgApp).GrantsEnded)
		require.Equal(t, 1, cnSyncApp(t, env, tokAdmin, scimApp).GrantsEnded)
		for _, e := range []string{pgWriters.ID, scWriters.ID} {
			gs := o.fulGrants(t, tokAdmin, pulid.ID(e))
			require.Len(t, gs, 1)
			require.NotNil(t, gs[0].RevokedAt)
			require.Equal(t, "not found by discovery", gs[0].RevokeReason)
		}

		approveAll := func(reqID string, items []cnItem) {
			t.Helper()
			p := o.progress(t, tokM, reqID)
			for _, it := range items {
				o.env.MustDo(t, tokM, decide, map[string]any{"id": p.task(t, it.Entitlement.Name, m.Email), "d": "APPROVE"}, nil)
			}
			for _, it := range items {
				o.fulAwait(t, tokB, it.ID, "FULFILLED")
			}
		}

		// LIKE_USER against reality: B asks for what Ref holds.
		reqID, items := cnSubmitReq(t, env, tokB, map[string]any{"action": "GRANT", "mode": "LIKE_USER",
			"referenceUserId": string(ref.ID), "applicationIds": []string{pgApp, scimApp}})
		require.ElementsMatch(t, []string{pgAnalysts.ID, scAnalysts.ID}, cnEntitlementIDs(items), "Ref's imported access, nothing else")
		approveAll(reqID, items)
		require.True(t, cl.hasRole(t, bRole, analysts), "B holds the role")
		require.Equal(t, []string{"b@example.com", "ghost@example.com", "ref@example.com"}, cnFold(idp.members(gAnalysts)), "B is in the group")

		// A REVOKE request takes both away.
		revID, revItems := cnSubmitReq(t, env, tokB, map[string]any{"action": "REVOKE", "entitlementIds": []string{pgAnalysts.ID, scAnalysts.ID}})
		approveAll(revID, revItems)
		require.False(t, cl.hasRole(t, bRole, analysts))
		require.Equal(t, []string{"ghost@example.com", "ref@example.com"}, cnFold(idp.members(gAnalysts)))

		// Temporary access: granted, then removed from both systems by expiry.
		tmpID, tmpItems := cnSubmitReq(t, env, tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{pgWriters.ID, scWriters.ID}, "duration": "PT2S"})
		approveAll(tmpID, tmpItems)
		held := cl.hasRole(t, bRole, writers)
		inGroup := slices.Contains(idp.members(gWriters), "b@example.com")
		require.True(t, held || inGroup, "held until the end (unless it already passed)")
		for _, it := range tmpItems {
			o.fulAwait(t, tokB, it.ID, "EXPIRED")
		}
		require.False(t, cl.hasRole(t, bRole, writers), "expiry revoked the role")
		require.Empty(t, idp.members(gWriters), "expiry removed B from the group")

		// REVOKE of access Gatehouse only knows from discovery.
		refRev, refItems := cnSubmitReq(t, env, tokRef, map[string]any{"action": "REVOKE", "entitlementIds": []string{pgAnalysts.ID, scAnalysts.ID}})
		p := o.progress(t, tokM, refRev)
		for _, it := range refItems {
			o.env.MustDo(t, tokM, decide, map[string]any{"id": p.task(t, it.Entitlement.Name, m.Email), "d": "APPROVE"}, nil)
		}
		for _, it := range refItems {
			o.fulAwait(t, tokRef, it.ID, "FULFILLED")
		}
		require.False(t, cl.hasRole(t, refRole, analysts), "Ref's pre-existing membership is gone")
		require.True(t, cl.hasRole(t, ghostRole, analysts), "the ghost was left alone")
		require.Equal(t, []string{"ghost@example.com"}, idp.members(gAnalysts))

		// Gatehouse and reality agree: a sync finds nothing to change.
		for _, app := range []string{pgApp, scimApp} {
			r := cnSyncApp(t, env, tokAdmin, app)
			require.Zero(t, r.IdentitiesCreated+r.IdentitiesUpdated+r.GrantsCreated+r.GrantsEnded, "%s: %+v", app, r)
		}

		// Every change of discovery is on the system chain, which verifies.
		var audit struct {
			AuditEvents    struct{ TotalCount int }
			VerifyAuditLog struct{ Valid bool }
		}
		env.MustDo(t, tokAdmin, `{ auditEvents(filter: {chain: "system", actions: ["DISCOVERY_IMPORTED", "DISCOVERY_ACCESS_ENDED"]}) { totalCount }
		  verifyAuditLog { valid } }`, nil, &audit)
		require.GreaterOrEqual(t, audit.AuditEvents.TotalCount, 4+2+2+2+2, "entitlements, identities, grants created twice, grants ended")
		require.True(t, audit.VerifyAuditLog.Valid)
	})
}

func cnEntitlementIDs(items []cnItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Entitlement.ID
	}
	return out
}

// cnFold lower-cases and sorts userNames.
func cnFold(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	slices.Sort(out)
	return out
}

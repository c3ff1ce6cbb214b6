package resolvers_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/postgres"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// Leaver tests (issue 14): setting a user TERMINATED revokes every grant
// they hold through the application's connector — here the POSTGRES
// connector against the real cluster, whatever database Gatehouse itself
// runs on — cancels the open requests for them and reassigns their review
// tasks; a second termination revokes nothing twice.

// lvTerminatedItems returns the leaver revocation items of a beneficiary.
func lvTerminatedItems(t *testing.T, env *apitest.Env, u *ent.User) []*ent.RequestItem {
	t.Helper()
	items, err := env.Client.RequestItem.Query().Where(
		requestitem.ReasonEQ(enum.ItemReasonTerminated),
		requestitem.HasRequestWith(accessrequest.BeneficiaryID(u.ID)),
	).All(apitest.Sys())
	require.NoError(t, err)
	return items
}

func TestLeaverRevokedThroughConnector(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		clusterURL := os.Getenv(dbtest.EnvPostgresURL)
		if clusterURL == "" {
			t.Skip("the POSTGRES connector provisions roles in a real PostgreSQL cluster (TEST_DATABASE_URL)")
		}
		cl := newCNCluster(t) // registered first: its roles are dropped after the server stops
		env := apitest.NewWith(t, db, apitest.Options{Env: map[string]string{"GATEHOUSE_SECRET_APP_DB_DSN": clusterURL}})
		o := &org{env: env, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)}
		ctx := apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		b := subPerson(t, env, "b@example.com", m, nil) // the leaver
		c := subPerson(t, env, "c@example.com", b, nil) // reports to the leaver
		tokAdmin, tokM, tokB, tokC := env.Token(t, o.admin), env.Token(t, m), env.Token(t, b), env.Token(t, c)
		tokOwner := env.Token(t, owner)

		app, err := env.Client.Application.Create().SetName("Warehouse").
			SetFulfillment(enum.FulfillmentDirect).SetConnectorKind(enum.ConnectorKindPostgres).
			SetConnectorConfig(map[string]any{"dsnEnv": "GATEHOUSE_SECRET_APP_DB_DSN", "rolePrefix": cl.acct}).
			AddOwners(owner).Save(ctx)
		require.NoError(t, err)
		analysts, writers := cl.groupRole(t, "analysts"), cl.groupRole(t, "writers")
		eAnalysts, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(analysts).SetName("Analysts").Save(ctx)
		require.NoError(t, err)
		eWriters, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(writers).SetName("Writers").Save(ctx)
		require.NoError(t, err)
		bRole := postgres.RoleName(cl.acct, b.Email)

		// B holds Analysts, provisioned in the cluster.
		cast := fulCast{m: m, b: b, tokM: tokM, tokB: tokB, tokAdmin: tokAdmin}
		held := o.fulSubmit(t, tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(eAnalysts.ID)}})
		o.fulApprove(t, cast, held.ID, "Analysts")
		o.fulAwait(t, tokB, held.Items[0].ID, "FULFILLED")
		require.True(t, cl.hasRole(t, bRole, analysts), "provisioned before the termination")

		// B's open request for themselves, and a task of B's on C's request.
		open := o.fulSubmit(t, tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(eWriters.ID)}})
		cReq := o.fulSubmit(t, tokC, map[string]any{"action": "GRANT", "entitlementIds": []string{string(eWriters.ID)}})
		bTask := o.progress(t, tokB, cReq.ID).Node.Items[0].Stages[0].Tasks[0]
		require.Equal(t, b.Email, bTask.Reviewer.Email)
		require.Equal(t, "PENDING", bTask.Status)

		terminate(t, env, tokAdmin, b)

		// The open request is cancelled; the task goes to the application
		// owner by the fallback (MANAGER → APPLICATION_OWNER).
		require.Equal(t, "CANCELLED", o.fulItem(t, tokAdmin, open.Items[0].ID).Status)
		tasks := o.progress(t, tokAdmin, cReq.ID).Node.Items[0].Stages[0].Tasks
		require.Len(t, tasks, 2)
		status := map[string]string{}
		for _, tk := range tasks {
			status[tk.Reviewer.Email] = tk.Status
		}
		require.Equal(t, map[string]string{b.Email: "REASSIGNED", owner.Email: "PENDING"}, status)

		// The grant is revoked through the connector by a system REVOKE
		// request whose item says why.
		items := lvTerminatedItems(t, env, b)
		require.Len(t, items, 1, "one revocation item for the one grant held")
		require.Equal(t, eAnalysts.ID, items[0].EntitlementID)
		var node struct {
			Node struct {
				Reason, Action string
				Request        struct{ Justification string }
			}
		}
		env.MustDo(t, tokAdmin, `query($id: ID!) { node(id: $id) { ... on RequestItem { reason action request { justification } } } }`,
			map[string]any{"id": string(items[0].ID)}, &node)
		require.Equal(t, "TERMINATED", node.Node.Reason, "the reason is exposed in GraphQL")
		require.Equal(t, "REVOKE", node.Node.Action)

		// Terminating again, at once and by the sweep, opens no second
		// revocation while the first is under way.
		require.NoError(t, env.Workflow.Terminate(ctx, b.ID, "system"))
		_, err = env.Workflow.SweepTerminations(ctx)
		require.NoError(t, err)
		require.Len(t, lvTerminatedItems(t, env, b), 1, "terminating twice revokes once")

		o.fulAwait(t, tokAdmin, string(items[0].ID), "FULFILLED")
		require.False(t, cl.hasRole(t, bRole, analysts), "pg_has_role is false after the termination")
		gs := o.fulGrants(t, tokAdmin, eAnalysts.ID)
		require.Len(t, gs, 1)
		require.NotNil(t, gs[0].RevokedAt)
		require.Contains(t, gs[0].RevokeReason, "user terminated")
		fulRequireOrder(t, o.fulTrail(t, tokAdmin, string(items[0].RequestID)),
			"REQUEST_SUBMITTED", "ITEM_ADDED", "ITEM_AUTO_APPROVED", "FULFILLMENT_STARTED", "ACCESS_REVOKED", "REQUEST_COMPLETED")

		// After the revocation: nothing left to do, nothing new.
		n, err := env.Workflow.SweepTerminations(ctx)
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, env.Workflow.Terminate(ctx, b.ID, "system"))
		require.Len(t, lvTerminatedItems(t, env, b), 1)
		pending, err := env.Client.ReviewTask.Query().Where(reviewtask.ReviewerID(b.ID),
			reviewtask.StatusIn(enum.TaskStatusPending, enum.TaskStatusWaiting)).Count(ctx)
		require.NoError(t, err)
		require.Zero(t, pending)
		_ = tokOwner
	})
}

// TestLeaverSweepCatchesSilentTermination: a user set TERMINATED by a path
// that applied nothing (a direct write) still holds access; the periodic
// sweep revokes it, once.
func TestLeaverSweepCatchesSilentTermination(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{})
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil)
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		o.fulApprove(t, c, req.ID, "Wiki users")
		o.fulAwait(t, c.tokB, req.Items[0].ID, "FULFILLED")

		subSetStatus(t, o.env, c.b, enum.UserStatusTerminated)
		require.Empty(t, lvTerminatedItems(t, o.env, c.b), "the direct write applied nothing")
		n, err := o.env.Workflow.SweepTerminations(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		items := lvTerminatedItems(t, o.env, c.b)
		require.Len(t, items, 1)
		o.fulAwait(t, c.tokAdmin, string(items[0].ID), "FULFILLED")
		require.Len(t, o.receiver.Deliveries("revoke"), 1, "the connector was asked to revoke")
		n, err = o.env.Workflow.SweepTerminations(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n)
		require.Len(t, lvTerminatedItems(t, o.env, c.b), 1)
		_ = time.Second
	})
}

package resolvers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/postgres"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow"
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
		// The periodic sweep runs once when the job runner starts; on a slow
		// machine that run could come after the termination below and apply
		// it first. Wait for it: the next is DefaultTerminationSweepInterval away.
		require.Eventually(t, func() bool {
			res, err := o.env.Server.Jobs.Client().JobList(context.Background(),
				river.NewJobListParams().Kinds(workflow.SweepTerminationsArgs{}.Kind()).States(rivertype.JobStateCompleted))
			return err == nil && len(res.Jobs) > 0
		}, time.Minute, 20*time.Millisecond, "the start-up termination sweep")

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

// lvMetric reads one series of the server's /metrics exposition.
func lvMetric(t *testing.T, env *apitest.Env, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	env.Server.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err, line)
			return f
		}
	}
	t.Fatalf("series %s is not exposed", series)
	return 0
}

const lvComplete = `mutation($id: ID!, $ok: Boolean!, $note: String, $ext: String) {
  completeManualFulfillment(itemId: $id, success: $ok, note: $note, externalId: $ext) { id status fulfillmentNote } }`

// TestFailedFulfilmentFallsBackToOwners: the application's endpoint answers
// 500 to every attempt; when the attempts are spent the item is FAILED and
// waits in the owners' manualFulfillments (not the beneficiary's nor the
// reviewer's); every failure was logged with the item, request, connector
// kind and error class and counted by kind and class; the owner completes
// the item by hand, which records the grant, audited; an IT admin could
// have retried instead.
func TestFailedFulfilmentFallsBackToOwners(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		logs := &logBuffer{}
		o := fulOrg(t, db, apitest.Options{RetryDelay: 10 * time.Millisecond,
			Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		c := o.fulCast(t)
		owner := o.env.User(t, "owner@example.com", enum.PlatformRoleUser)
		tokOwner := o.env.Token(t, owner)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, []*ent.User{owner}, enum.ReviewerKindManager)
		o.receiver.FailNext(1000, http.StatusInternalServerError)

		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		require.Empty(t, o.fulQueue(t, tokOwner), "nothing waits for the owner before the connector gave up")
		o.fulApprove(t, c, req.ID, "Wiki users")
		itemID := req.Items[0].ID
		item := o.fulAwait(t, c.tokB, itemID, "FAILED")
		require.Equal(t, workflow.FulfillmentAttempts, item.FulfillmentAttempts)
		fulAwaitJob(t, db, "fulfill_item", 0, workflow.FulfillmentAttempts, "the attempts are spent")

		// Logged and counted, every attempt.
		lines := logs.lines(t, "connector call failed")
		require.Len(t, lines, workflow.FulfillmentAttempts)
		for i, l := range lines {
			level := "WARN"
			if i == len(lines)-1 {
				level = "ERROR"
			}
			require.Equal(t, level, l["level"], "line %d", i)
			require.Equal(t, itemID, l["item"])
			require.Equal(t, req.ID, l["request"])
			require.Equal(t, "WEBHOOK", l["kind"])
			require.Equal(t, "http_5xx", l["class"])
		}
		require.Equal(t, float64(workflow.FulfillmentAttempts),
			lvMetric(t, o.env, `gatehouse_fulfillment_failures_total{connector_kind="WEBHOOK",error_class="http_5xx"}`))

		// The owners' queue, and theirs only (with IT admins').
		require.Equal(t, []string{itemID}, o.fulQueue(t, tokOwner))
		require.Equal(t, []string{itemID}, o.fulQueue(t, c.tokAdmin))
		require.Empty(t, o.fulQueue(t, c.tokB), "not the beneficiary")
		require.Empty(t, o.fulQueue(t, c.tokM), "not the reviewer")
		require.Equal(t, "FAILED", o.fulItem(t, tokOwner, itemID).Status, "the owner sees the item waiting for them")
		fulRequireOrder(t, o.fulTrail(t, tokOwner, req.ID), "FULFILLMENT_FAILED", "MANUAL_FULFILLMENT_WAITING")

		res := o.env.Do(t, c.tokM, lvComplete, map[string]any{"id": itemID, "ok": true})
		require.Equal(t, "FORBIDDEN", res.Code(), "a reviewer who owns nothing may not")
		res = o.env.Do(t, tokOwner, lvComplete, map[string]any{"id": itemID, "ok": false, "note": "still broken"})
		require.Equal(t, "CONFLICT", res.Code(), "a failed connector item stays FAILED until completed or retried")

		var out struct {
			CompleteManualFulfillment struct{ ID, Status, FulfillmentNote string }
		}
		o.env.MustDo(t, tokOwner, lvComplete, map[string]any{"id": itemID, "ok": true, "note": "added by hand", "ext": "b-wiki"}, &out)
		require.Equal(t, "FULFILLED", out.CompleteManualFulfillment.Status)
		item = o.fulItem(t, c.tokB, itemID)
		require.Equal(t, "FULFILLED", item.Status)
		require.Equal(t, "COMPLETED", item.Request.Status)
		require.Equal(t, "added by hand", item.FulfillmentNote)
		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1, "the grant exists")
		require.Nil(t, gs[0].RevokedAt)
		require.Empty(t, o.fulQueue(t, tokOwner), "closed")
		fulRequireOrder(t, o.fulTrail(t, c.tokB, req.ID),
			"FULFILLMENT_FAILED", "MANUAL_FULFILLMENT_WAITING", "MANUAL_FULFILLMENT_COMPLETED", "ACCESS_GRANTED", "REQUEST_COMPLETED")
		res = o.env.Do(t, tokOwner, lvComplete, map[string]any{"id": itemID, "ok": true})
		require.Equal(t, "NOT_FOUND", res.Code(), "the owner saw the request only while it waited for them")
		res = o.env.Do(t, c.tokAdmin, lvComplete, map[string]any{"id": itemID, "ok": true})
		require.Equal(t, "CONFLICT", res.Code(), "done once")
	})
}

// TestManualDeprovisioningWaitsForOwner: on a MANUAL application neither an
// expiry nor a REVOKE ends a grant before people removed the access: each
// opens a de-provisioning item in the owners' manualFulfillments, and the
// grant is revoked only when an owner confirms it, audited. A repeated
// expiry opens no second item.
func TestManualDeprovisioningWaitsForOwner(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		owner := o.env.User(t, "owner@example.com", enum.PlatformRoleUser)
		tokOwner := o.env.Token(t, owner)
		app, e := o.app(t, "Ledger", enum.FulfillmentManual, []*ent.User{owner}, enum.ReviewerKindManager)
		e2, err := o.env.Client.Entitlement.Create().SetApplication(app).SetExternalID("ledger-admins").SetName("Ledger admins").Save(apitest.Sys())
		require.NoError(t, err)
		type queued struct {
			Node struct {
				ID, Status, Action, Reason string
				Request                    struct{ ID string }
			}
		}
		itemOf := func(id string) queued {
			var q queued
			o.env.MustDo(t, tokOwner, `query($id: ID!) { node(id: $id) { ... on RequestItem { id status action reason request { id } } } }`,
				map[string]any{"id": id}, &q)
			return q
		}

		// Temporary access, provisioned by the owner.
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT10M"})
		o.fulApprove(t, c, req.ID, "Ledger users")
		o.env.MustDo(t, tokOwner, lvComplete, map[string]any{"id": req.Items[0].ID, "ok": true, "ext": "b-ledger"}, nil)
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, req.Items[0].ID).Status)

		// It ends: the owner is asked to remove it; the grant holds meanwhile.
		o.env.Clock.Advance(10 * time.Minute)
		require.Equal(t, 1, o.env.RunDue(t, "expire_grant"))
		fulAwaitJob(t, db, "expire_grant", 0, 1, "the expiry job ran")
		queue := o.fulQueue(t, tokOwner)
		require.Len(t, queue, 1, "a de-provisioning item waits for the owner")
		deprov := itemOf(queue[0])
		require.Equal(t, "APPROVED", deprov.Node.Status)
		require.Equal(t, "REVOKE", deprov.Node.Action)
		require.Equal(t, "EXPIRED", deprov.Node.Reason)
		require.Equal(t, req.ID, deprov.Node.Request.ID, "on the request that gave the access")
		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1)
		require.Nil(t, gs[0].RevokedAt, "not revoked before the owner confirms")
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, req.Items[0].ID).Status)

		require.NoError(t, o.env.Workflow.Expire(apitest.Sys(), pulid.ID(gs[0].ID)))
		require.Len(t, o.fulQueue(t, tokOwner), 1, "a repeated expiry opens no second item")

		o.env.MustDo(t, tokOwner, lvComplete, map[string]any{"id": deprov.Node.ID, "ok": true, "note": "account removed"}, nil)
		g := o.fulGrants(t, c.tokB, e.ID)[0]
		require.NotNil(t, g.RevokedAt, "revoked once the owner confirmed")
		require.Equal(t, "expired", g.RevokeReason)
		require.Equal(t, "EXPIRED", o.fulItem(t, c.tokB, req.Items[0].ID).Status)
		require.Empty(t, o.fulQueue(t, tokOwner))
		trail := o.fulTrail(t, c.tokB, req.ID)
		fulRequireOrder(t, trail, "ACCESS_GRANTED", "ACCESS_REVOKED", "ACCESS_EXPIRED")
		require.Equal(t, 2, fulCount(trail, "MANUAL_FULFILLMENT_WAITING"), "the provisioning, then the de-provisioning")
		require.Equal(t, 2, fulCount(trail, "MANUAL_FULFILLMENT_COMPLETED"))

		// A REVOKE request waits for the owner the same way.
		held := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e2.ID)}})
		o.fulApprove(t, c, held.ID, "Ledger admins")
		o.env.MustDo(t, tokOwner, lvComplete, map[string]any{"id": held.Items[0].ID, "ok": true}, nil)
		rev := o.fulSubmit(t, c.tokB, map[string]any{"action": "REVOKE", "entitlementIds": []string{string(e2.ID)}})
		o.fulApprove(t, c, rev.ID, "Ledger admins")
		require.Equal(t, []string{rev.Items[0].ID}, o.fulQueue(t, tokOwner))
		require.Nil(t, o.fulGrants(t, c.tokB, e2.ID)[0].RevokedAt, "not revoked before the owner confirms")
		o.env.MustDo(t, tokOwner, lvComplete, map[string]any{"id": rev.Items[0].ID, "ok": true}, nil)
		require.NotNil(t, o.fulGrants(t, c.tokB, e2.ID)[0].RevokedAt, "revoked once the owner confirmed")
		fulRequireOrder(t, o.fulTrail(t, c.tokB, rev.ID), "ITEM_APPROVED", "MANUAL_FULFILLMENT_WAITING", "MANUAL_FULFILLMENT_COMPLETED", "ACCESS_REVOKED", "REQUEST_COMPLETED")
	})
}

// TestLeaverDesignatedReviewerReplaced: a leaver's task on a DESIGNATED
// stage goes to another designated reviewer of the application's current
// policy, not along the MANAGER chain; with none left it falls back to the
// application's owners.
func TestLeaverDesignatedReviewerReplaced(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		owner := o.env.User(t, "owner@example.com", enum.PlatformRoleUser)
		d1 := o.env.User(t, "d1@example.com", enum.PlatformRoleUser)
		d2 := o.env.User(t, "d2@example.com", enum.PlatformRoleUser)
		d3 := o.env.User(t, "d3@example.com", enum.PlatformRoleUser)
		app, e := o.app(t, "Vault", enum.FulfillmentDirect, []*ent.User{owner})
		tpl, err := o.env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).
			SetReviewerKind(enum.ReviewerKindDesignated).AddDesignatedReviewers(d1).Save(apitest.Sys())
		require.NoError(t, err)
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		reviewers := func() map[string]string {
			out := map[string]string{}
			for _, tk := range o.progress(t, c.tokAdmin, req.ID).Node.Items[0].Stages[0].Tasks {
				out[tk.Reviewer.Email] = tk.Status
			}
			return out
		}
		require.Equal(t, map[string]string{d1.Email: "PENDING"}, reviewers())

		// The policy now designates d2 as well: d1's task goes to d2.
		require.NoError(t, tpl.Update().AddDesignatedReviewers(d2).Exec(apitest.Sys()))
		terminate(t, o.env, c.tokAdmin, d1)
		require.Equal(t, map[string]string{d1.Email: "REASSIGNED", d2.Email: "PENDING"}, reviewers())

		// No designated reviewer left who is not already assigned: the
		// owners, never the beneficiary's manager.
		require.NoError(t, tpl.Update().AddDesignatedReviewers(d3).Exec(apitest.Sys()))
		subSetStatus(t, o.env, d3, enum.UserStatusTerminated)
		terminate(t, o.env, c.tokAdmin, d2)
		require.Equal(t, map[string]string{d1.Email: "REASSIGNED", d2.Email: "REASSIGNED", owner.Email: "PENDING"}, reviewers())
	})
}

// TestLeaverWithoutReplacementReviewerStillLosesAccess: a leaver's task
// that nobody may take over (the only IT admin requested it) stays for an
// admin's reassignment; the termination succeeds and their access is
// revoked all the same.
func TestLeaverWithoutReplacementReviewerStillLosesAccess(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{})
		tokAdmin := o.env.Token(t, o.admin)
		m := o.env.User(t, "m@example.com", enum.PlatformRoleUser) // no manager: IT admins review for them
		b := subPerson(t, o.env, "b@example.com", m, nil)
		tokM := o.env.Token(t, m)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)

		held := o.fulSubmit(t, tokM, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		task := o.progress(t, tokAdmin, held.ID).Node.Items[0].Stages[0].Tasks[0]
		require.Equal(t, o.admin.Email, task.Reviewer.Email)
		o.env.MustDo(t, tokAdmin, decide, map[string]any{"id": task.ID, "d": "APPROVE"}, nil)
		o.fulAwait(t, tokM, held.Items[0].ID, "FULFILLED")

		forB := o.fulSubmit(t, tokAdmin, map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})
		mTask := o.progress(t, tokAdmin, forB.ID).Node.Items[0].Stages[0].Tasks[0]
		require.Equal(t, m.Email, mTask.Reviewer.Email)

		terminate(t, o.env, tokAdmin, m)
		tasks := o.progress(t, tokAdmin, forB.ID).Node.Items[0].Stages[0].Tasks
		require.Len(t, tasks, 1, "nobody may take it over: the requester is the only IT admin")
		require.Equal(t, "PENDING", tasks[0].Status)
		items := lvTerminatedItems(t, o.env, m)
		require.Len(t, items, 1)
		o.fulAwait(t, tokAdmin, string(items[0].ID), "FULFILLED")
		require.Len(t, o.receiver.Deliveries("revoke"), 1, "the leaver's access was revoked")
	})
}

// TestRevocationUnderWayIsPerAccountAndEntitlement: b has two accounts,
// on two MANUAL applications, each holding one entitlement, and has asked
// to give up the first (their own REVOKE item, APPROVED, waiting for the
// owner, with no account named yet). The first grant, temporary, expires:
// the expiry opens no second de-provisioning beside b's own revocation.
// b's termination then opens one revocation, for the second account's
// grant only; terminating again opens nothing more. Leavers and expiries
// ask the one question "is this account's entitlement being revoked
// already?" the same way.
func TestRevocationUnderWayIsPerAccountAndEntitlement(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		b := env.User(t, "b@example.com", enum.PlatformRoleUser)
		holding := func(name string, ends *time.Time) (*ent.Entitlement, *ent.Identity, *ent.Grant) {
			app, e := o.app(t, name, enum.FulfillmentManual, []*ent.User{owner}, enum.ReviewerKindManager)
			idn, err := env.Client.Identity.Create().SetUserID(b.ID).SetApplicationID(app.ID).
				SetExternalID("b").SetLogin("b").Save(ctx)
			require.NoError(t, err)
			g, err := env.Client.Grant.Create().SetIdentityID(idn.ID).SetEntitlementID(e.ID).SetNillableEndsAt(ends).Save(ctx)
			require.NoError(t, err)
			return e, idn, g
		}
		ended := env.Clock.Now().Add(-time.Hour)
		eLedger, _, expired := holding("Ledger", &ended)
		eWiki, wiki, _ := holding("Wiki", nil)
		own, err := env.Client.AccessRequest.Create().SetAction(enum.RequestActionRevoke).SetMode(enum.RequestModeEntitlements).
			SetRequesterID(b.ID).SetBeneficiaryID(b.ID).SetJustification("no longer needed").Save(ctx)
		require.NoError(t, err)
		ownItem, err := env.Client.RequestItem.Create().SetRequestID(own.ID).SetAction(enum.RequestActionRevoke).
			SetStatus(enum.ItemStatusApproved).SetEntitlementID(eLedger.ID).SetApplicationID(expired.QueryEntitlement().OnlyX(ctx).ApplicationID).
			Save(ctx)
		require.NoError(t, err)

		revocations := func() map[pulid.ID]enum.ItemReason { // by item
			items, err := env.Client.RequestItem.Query().Where(requestitem.ActionEQ(enum.RequestActionRevoke)).All(ctx)
			require.NoError(t, err)
			out := map[pulid.ID]enum.ItemReason{}
			for _, it := range items {
				out[it.ID] = it.Reason
			}
			return out
		}
		require.NoError(t, env.Workflow.Expire(ctx, expired.ID))
		require.Equal(t, map[pulid.ID]enum.ItemReason{ownItem.ID: ownItem.Reason}, revocations(),
			"b's own revocation covers the expired grant")

		terminate(t, env, env.Token(t, o.admin), b)
		items := lvTerminatedItems(t, env, b)
		require.Len(t, items, 1, "one revocation, for the grant nothing revokes yet")
		require.Equal(t, eWiki.ID, items[0].EntitlementID)
		require.Equal(t, wiki.ID, *items[0].IdentityID)
		require.NoError(t, env.Workflow.Terminate(ctx, b.ID, "system"))
		require.Len(t, revocations(), 2, "terminating again opens nothing more")
	})
}

package resolvers_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow"
)

// Fulfilment tests (DESIGN §4.4): connector retries and failures, retry by
// an IT admin, temporary access and its expiry (also across a restart),
// extension, REVOKE requests and manual fulfilment. All run end to end
// through GraphQL against the webhook receiver, with River working the jobs.

// fulWait bounds every wait for background work: a wait ends as soon as
// the work is seen done, so the bound only decides how long a failing test
// takes, and must hold on a machine running the whole suite under load.
const fulWait = time.Minute

// fulOrg is newOrg with options (a short RetryDelay, NoJobs).
func fulOrg(t *testing.T, db *dbtest.DB, opts apitest.Options) *org {
	t.Helper()
	rcv := apitest.NewReceiver(t)
	opts.Env = rcv.Env()
	env := apitest.NewWith(t, db, opts)
	return &org{env: env, receiver: rcv, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)}
}

// fulCast is the people of a fulfilment test: the beneficiary B, who
// requests for themselves, and their manager M, the reviewer.
type fulCast struct {
	m, b                 *ent.User
	tokM, tokB, tokAdmin string
}

func (o *org) fulCast(t *testing.T) fulCast {
	t.Helper()
	m := o.env.User(t, "m@example.com", enum.PlatformRoleUser)
	b, err := o.env.Client.User.Create().SetEmail("b@example.com").SetName("B").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	return fulCast{m: m, b: b, tokM: o.env.Token(t, m), tokB: o.env.Token(t, b), tokAdmin: o.env.Token(t, o.admin)}
}

type fulRequest struct {
	ID     string
	Status string
	Items  []struct{ ID, Status string }
}

const fulSubmitMutation = `mutation($in: SubmitAccessRequestInput!) {
  submitAccessRequest(input: $in) { id status items { id status } } }`

// fulSubmit submits a request with one entitlement and returns it.
func (o *org) fulSubmit(t *testing.T, token string, in map[string]any) fulRequest {
	t.Helper()
	var out struct{ SubmitAccessRequest fulRequest }
	o.env.MustDo(t, token, fulSubmitMutation, map[string]any{"in": in}, &out)
	require.Len(t, out.SubmitAccessRequest.Items, 1)
	return out.SubmitAccessRequest
}

// fulApprove makes the manager approve the only item of a request.
func (o *org) fulApprove(t *testing.T, c fulCast, reqID, entitlement string) {
	t.Helper()
	p := o.progress(t, c.tokM, reqID)
	o.env.MustDo(t, c.tokM, decide, map[string]any{"id": p.task(t, entitlement, c.m.Email), "d": "APPROVE"}, nil)
}

type fulItem struct {
	ID                  string
	Status              string
	FulfillmentAttempts int
	LastError           string
	FulfillmentNote     string
	FulfilledAt         *time.Time
	Identity            *struct{ ExternalID string }
	Request             struct{ Status string }
}

const fulItemQuery = `query($id: ID!) { node(id: $id) { ... on RequestItem {
  id status fulfillmentAttempts lastError fulfillmentNote fulfilledAt identity { externalID } request { status } } } }`

// fulTryItem reads an item without failing the test (for conditions run by
// require.Eventually in another goroutine).
func (o *org) fulTryItem(t *testing.T, token, id string) (fulItem, bool) {
	res := o.env.Do(t, token, fulItemQuery, map[string]any{"id": id})
	var out struct{ Node *fulItem }
	if len(res.Errors) > 0 || json.Unmarshal(res.Data, &out) != nil || out.Node == nil {
		return fulItem{}, false
	}
	return *out.Node, true
}

func (o *org) fulItem(t *testing.T, token, id string) fulItem {
	t.Helper()
	var out struct{ Node *fulItem }
	o.env.MustDo(t, token, fulItemQuery, map[string]any{"id": id}, &out)
	require.NotNil(t, out.Node, "item %s is visible", id)
	return *out.Node
}

// fulAwait waits until the item has status and returns it.
func (o *org) fulAwait(t *testing.T, token, id, status string) fulItem {
	t.Helper()
	var last atomic.Pointer[fulItem]
	if !assert.Eventually(t, func() bool {
		it, ok := o.fulTryItem(t, token, id)
		last.Store(&it)
		return ok && it.Status == status
	}, fulWait, 20*time.Millisecond) {
		t.Fatalf("item %s did not become %s; last seen: %+v", id, status, last.Load())
	}
	return *last.Load()
}

// fulTrail returns the actions of a request's audit trail, in order, and
// checks that its hash chain verifies.
func (o *org) fulTrail(t *testing.T, token, reqID string) []string {
	t.Helper()
	var out struct {
		AuditTrail       []struct{ Action string }
		VerifyAuditTrail struct{ Valid bool }
	}
	o.env.MustDo(t, token, `query($id: ID!) { auditTrail(requestId: $id) { action } verifyAuditTrail(requestId: $id) { valid } }`,
		map[string]any{"id": reqID}, &out)
	require.True(t, out.VerifyAuditTrail.Valid, "the audit trail of %s verifies", reqID)
	actions := make([]string, len(out.AuditTrail))
	for i, e := range out.AuditTrail {
		actions[i] = e.Action
	}
	return actions
}

// fulCount counts action in actions.
func fulCount(actions []string, action string) int {
	n := 0
	for _, a := range actions {
		if a == action {
			n++
		}
	}
	return n
}

// fulRequireOrder checks that want appear in actions in this order, each
// exactly once.
func fulRequireOrder(t *testing.T, actions []string, want ...string) {
	t.Helper()
	last := -1
	for _, w := range want {
		require.Equalf(t, 1, fulCount(actions, w), "%s exactly once in %v", w, actions)
		i := fulIndexOf(actions, w)
		require.Greaterf(t, i, last, "%s after %v in %v", w, want, actions)
		last = i
	}
}

func fulIndexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

type fulGrant struct {
	ID           string
	GrantedAt    time.Time
	EndsAt       *time.Time
	RevokedAt    *time.Time
	RevokeReason string
	SourceItemID *string
}

// fulGrants returns the grants of an entitlement the viewer may see.
func (o *org) fulGrants(t *testing.T, token string, entitlementID pulid.ID) []fulGrant {
	t.Helper()
	var out struct {
		Grants struct{ Edges []struct{ Node fulGrant } }
	}
	o.env.MustDo(t, token, `query($e: ID!) { grants(first: 10, where: {entitlementID: $e}) { edges { node {
	  id grantedAt endsAt revokedAt revokeReason sourceItemID } } } }`, map[string]any{"e": string(entitlementID)}, &out)
	gs := make([]fulGrant, len(out.Grants.Edges))
	for i, e := range out.Grants.Edges {
		gs[i] = e.Node
	}
	return gs
}

// fulDeliveries returns the idempotency keys of the receiver's deliveries of
// a type.
func fulDeliveries(r *apitest.Receiver, typ string) []string {
	var keys []string
	for _, d := range r.Deliveries(typ) {
		keys = append(keys, d.IdempotencyKey)
	}
	return keys
}

// fulJob is a River job row.
type fulJob struct {
	ID      int64
	Args    map[string]any
	Attempt int
	State   string
	Errors  string
}

// fulJobs reads the River jobs of a kind straight from the database, in
// insertion order.
func fulJobs(t *testing.T, db *dbtest.DB, kind string) []fulJob {
	t.Helper()
	q := "SELECT id, args, attempt, state, CAST(errors AS TEXT) FROM river_job WHERE kind = $1 ORDER BY id"
	if db.Dialect == dialect.SQLite {
		// riversqlite stores JSON as SQLite's binary JSONB.
		q = "SELECT id, json(args), attempt, state, json(errors) FROM river_job WHERE kind = ? ORDER BY id"
	}
	rows, err := db.SQL.Query(q, kind)
	require.NoError(t, err)
	defer rows.Close()
	var out []fulJob
	for rows.Next() {
		var (
			j    fulJob
			args []byte
			errs sql.NullString
		)
		require.NoError(t, rows.Scan(&j.ID, &args, &j.Attempt, &j.State, &errs))
		require.NoError(t, json.Unmarshal(args, &j.Args))
		j.Errors = errs.String
		out = append(out, j)
	}
	require.NoError(t, rows.Err())
	return out
}

// fulAwaitJob waits until the i-th job of kind is completed and checks how
// many attempts it took.
func fulAwaitJob(t *testing.T, db *dbtest.DB, kind string, i, attempts int, msg string) {
	t.Helper()
	var last atomic.Pointer[[]fulJob]
	if !assert.Eventually(t, func() bool {
		js := fulJobs(t, db, kind)
		last.Store(&js)
		return len(js) > i && js[i].State == "completed"
	}, fulWait, 20*time.Millisecond) {
		t.Fatalf("%s: job %d of %s did not complete; jobs: %+v", msg, i, kind, *last.Load())
	}
	require.Equalf(t, attempts, (*last.Load())[i].Attempt, "%s: attempts of job %d of %s", msg, i, kind)
}

// TestFulfilTransientFailuresAreRetried: the application's endpoint answers
// 503 three times, then works. The job retries until the item is FULFILLED;
// the item counts the failed attempts; the application got exactly one grant
// (failed deliveries are not recorded by the receiver); the trail tells the
// story once.
func TestFulfilTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		o.receiver.FailNext(3, 503)

		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		o.fulApprove(t, c, req.ID, "Wiki users")
		item := o.fulAwait(t, c.tokB, req.Items[0].ID, "FULFILLED")

		require.Equal(t, 3, item.FulfillmentAttempts, "three failed attempts before the one that worked")
		require.Equal(t, "COMPLETED", item.Request.Status)
		require.NotNil(t, item.Identity)
		require.Equal(t, "ext-"+string(c.b.ID), item.Identity.ExternalID)
		require.Equal(t, []string{webhook.IdempotencyKey(webhook.TypeGrant, item.ID)}, fulDeliveries(o.receiver, webhook.TypeGrant),
			"exactly one grant reached the application")
		require.Len(t, o.receiver.Deliveries(webhook.TypeEnsureIdentity), 1)

		actions := o.fulTrail(t, c.tokB, req.ID)
		fulRequireOrder(t, actions, "ITEM_APPROVED", "FULFILLMENT_STARTED", "IDENTITY_CREATED", "ACCESS_GRANTED", "REQUEST_COMPLETED")
		require.Zero(t, fulCount(actions, "FULFILLMENT_FAILED"), "transient failures are not final: %v", actions)

		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1)
		require.Nil(t, gs[0].EndsAt, "permanent access")
		require.Nil(t, gs[0].RevokedAt)
	})
}

// TestFulfilAttemptBudgetThenRetry: an endpoint that always fails exhausts
// the attempt budget; the item is FAILED with the error, and so is the
// request. Only an IT admin may retry; after the endpoint recovers the retry
// fulfils the item; retrying an item that is not FAILED is a CONFLICT.
func TestFulfilAttemptBudgetThenRetry(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{RetryDelay: 10 * time.Millisecond})
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		o.receiver.FailAlways()

		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		o.fulApprove(t, c, req.ID, "Wiki users")
		itemID := req.Items[0].ID
		item := o.fulAwait(t, c.tokB, itemID, "FAILED")
		require.Equal(t, workflow.FulfillmentAttempts, item.FulfillmentAttempts)
		require.Contains(t, item.LastError, "503")
		require.Equal(t, "FAILED", item.Request.Status)
		require.Empty(t, o.receiver.Deliveries(""), "nothing was accepted")
		require.Equal(t, 1, fulCount(o.fulTrail(t, c.tokB, req.ID), "FULFILLMENT_FAILED"))
		fulAwaitJob(t, db, "fulfill_item", 0, workflow.FulfillmentAttempts, "the last attempt marks the item FAILED and ends the job")

		const retry = `mutation($id: ID!) { retryFulfillment(itemId: $id) { id status } }`
		res := o.env.Do(t, c.tokB, retry, map[string]any{"id": itemID})
		require.Equal(t, "FORBIDDEN", res.Code(), "a USER (here the beneficiary) cannot retry")
		require.Equal(t, "FAILED", o.fulItem(t, c.tokB, itemID).Status, "the refused retry changed nothing")

		o.receiver.Recover()
		var out struct{ RetryFulfillment struct{ ID, Status string } }
		o.env.MustDo(t, c.tokAdmin, retry, map[string]any{"id": itemID}, &out)
		require.Contains(t, []string{"APPROVED", "FULFILLING", "FULFILLED"}, out.RetryFulfillment.Status)
		item = o.fulAwait(t, c.tokB, itemID, "FULFILLED")
		require.Equal(t, "COMPLETED", item.Request.Status)
		require.Len(t, o.receiver.Deliveries(webhook.TypeGrant), 1)

		res = o.env.Do(t, c.tokAdmin, retry, map[string]any{"id": itemID})
		require.Equal(t, "CONFLICT", res.Code(), "a FULFILLED item cannot be retried")

		actions := o.fulTrail(t, c.tokB, req.ID)
		fulRequireOrder(t, actions, "FULFILLMENT_FAILED", "FULFILLMENT_RETRIED", "ACCESS_GRANTED", "REQUEST_COMPLETED")
	})
}

// TestFulfilPermanentErrorFailsAtOnce: a 400 answer cannot get better by
// retrying: the item is FAILED after one attempt and never tried again (the
// receiver would accept a second attempt).
func TestFulfilPermanentErrorFailsAtOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		o.receiver.FailNext(1, 400)

		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		o.fulApprove(t, c, req.ID, "Wiki users")
		item := o.fulAwait(t, c.tokB, req.Items[0].ID, "FAILED")
		require.Equal(t, 1, item.FulfillmentAttempts)
		require.Contains(t, item.LastError, "400")
		require.Equal(t, "FAILED", item.Request.Status)

		// Once its job is done nothing can try the item again.
		fulAwaitJob(t, db, "fulfill_item", 0, 1, "one attempt, then done")
		item = o.fulItem(t, c.tokB, req.Items[0].ID)
		require.Equal(t, "FAILED", item.Status, "not retried")
		require.Equal(t, 1, item.FulfillmentAttempts)
		require.Empty(t, o.receiver.Deliveries(""))
	})
}

// TestFulfilTemporaryAccessExpires: a GRANT for PT10M ends ten minutes
// after provisioning; the expiry job does nothing before, and when the
// clock reaches the end it revokes the grant once through the connector,
// ends it and marks the item EXPIRED.
func TestFulfilTemporaryAccessExpires(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)

		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT10M"})
		o.fulApprove(t, c, req.ID, "Wiki users")
		item := o.fulAwait(t, c.tokB, req.Items[0].ID, "FULFILLED")
		require.NotNil(t, item.FulfilledAt)
		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1)
		g := gs[0]
		require.NotNil(t, g.EndsAt)
		require.WithinDuration(t, item.FulfilledAt.Add(10*time.Minute), *g.EndsAt, time.Millisecond,
			"the duration counts from provisioning")
		require.Nil(t, g.RevokedAt)
		require.Zero(t, o.env.RunDue(t, "expire_grant"), "not due before its end")
		require.Empty(t, o.receiver.Deliveries(webhook.TypeRevoke))

		o.env.Clock.Advance(10 * time.Minute)
		require.Equal(t, 1, o.env.RunDue(t, "expire_grant"), "due at its end")
		item = o.fulAwait(t, c.tokB, item.ID, "EXPIRED")
		g = o.fulGrants(t, c.tokB, e.ID)[0]
		require.NotNil(t, g.RevokedAt, "the grant ended")
		require.False(t, g.RevokedAt.Before(*g.EndsAt), "not before it was due: revoked %s, due %s", g.RevokedAt, g.EndsAt)
		require.Equal(t, []string{webhook.IdempotencyKey(webhook.TypeRevoke, "expire-"+g.ID)}, fulDeliveries(o.receiver, webhook.TypeRevoke),
			"one revoke reached the application")
		actions := o.fulTrail(t, c.tokB, req.ID)
		fulRequireOrder(t, actions, "ACCESS_GRANTED", "ACCESS_EXPIRED")
		require.Equal(t, "COMPLETED", item.Request.Status)
	})
}

// TestFulfilRevokeRequestEndsGrant: a REVOKE request for a temporarily held
// entitlement ends the grant through the connector; the GRANT item stays
// FULFILLED, and the expiry job that comes due later does nothing.
func TestFulfilRevokeRequestEndsGrant(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)

		grantReq := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT10M"})
		o.fulApprove(t, c, grantReq.ID, "Wiki users")
		grantItem := o.fulAwait(t, c.tokB, grantReq.Items[0].ID, "FULFILLED")

		revokeReq := o.fulSubmit(t, c.tokB, map[string]any{"action": "REVOKE", "entitlementIds": []string{string(e.ID)}})
		o.fulApprove(t, c, revokeReq.ID, "Wiki users")
		revokeItem := o.fulAwait(t, c.tokB, revokeReq.Items[0].ID, "FULFILLED")
		require.Equal(t, "COMPLETED", revokeItem.Request.Status)
		require.Equal(t, []string{webhook.IdempotencyKey(webhook.TypeRevoke, revokeItem.ID)}, fulDeliveries(o.receiver, webhook.TypeRevoke))

		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1)
		require.NotNil(t, gs[0].RevokedAt, "the REVOKE request ended the grant")
		require.Contains(t, gs[0].RevokeReason, revokeReq.ID)
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, grantItem.ID).Status, "the original GRANT item stays FULFILLED")
		require.Equal(t, 1, fulCount(o.fulTrail(t, c.tokB, revokeReq.ID), "ACCESS_REVOKED"))

		// The expiry job of the ended grant comes due and does nothing.
		o.env.Clock.Advance(10 * time.Minute)
		require.Equal(t, 1, o.env.RunDue(t, "expire_grant"))
		fulAwaitJob(t, db, "expire_grant", 0, 1, "the expiry job ran")
		require.Len(t, o.receiver.Deliveries(webhook.TypeRevoke), 1, "no second revoke at expiry")
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, grantItem.ID).Status, "not EXPIRED: the access was revoked by request")
		require.Zero(t, fulCount(o.fulTrail(t, c.tokB, grantReq.ID), "ACCESS_EXPIRED"))
	})
}

// TestFulfilExtensionMovesEnd: a second GRANT of a temporarily held
// entitlement with a later end extends the one grant; the first expiry job,
// due at the old end, then does nothing.
func TestFulfilExtensionMovesEnd(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)

		first := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT10M"})
		o.fulAwait(t, c.tokB, first.Items[0].ID, "FULFILLED")
		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1)
		oldEnd, grantID := *gs[0].EndsAt, gs[0].ID

		second := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT1H"})
		o.fulAwait(t, c.tokB, second.Items[0].ID, "FULFILLED")
		require.True(t, o.env.Clock.Now().Before(oldEnd), "the extension landed before the old end (else the test proves nothing)")
		gs = o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1, "extended, not doubled")
		require.Equal(t, grantID, gs[0].ID, "the same grant")
		require.NotNil(t, gs[0].EndsAt)
		require.WithinDuration(t, o.env.Clock.Now().Add(time.Hour), *gs[0].EndsAt, time.Minute, "the end moved to the second request's")
		extended := rvEvents(t, o.env, c.tokB, second.ID, "ACCESS_EXTENDED")
		require.Len(t, extended, 1, "the moved end is an extension in the trail")
		require.Equal(t, oldEnd.UTC().Format(time.RFC3339), extended[0].Data["oldEndsAt"])
		require.Equal(t, gs[0].EndsAt.UTC().Format(time.RFC3339), extended[0].Data["newEndsAt"])
		require.Equal(t, false, extended[0].Data["extension"], "a plain GRANT, not an extension request")
		require.Empty(t, rvEvents(t, o.env, c.tokB, first.ID, "ACCESS_EXTENDED"), "the first grant extended nothing")

		o.env.Clock.Advance(10 * time.Minute)
		require.Equal(t, 1, o.env.RunDue(t, "expire_grant"), "the old end is due, the new one is not")
		fulAwaitJob(t, db, "expire_grant", 0, 1, "the first expiry job ran")
		require.Len(t, fulJobs(t, db, "expire_grant"), 2, "the extension scheduled its own expiry")
		require.Empty(t, o.receiver.Deliveries(webhook.TypeRevoke), "no revoke at the old end")
		g := o.fulGrants(t, c.tokB, e.ID)[0]
		require.Nil(t, g.RevokedAt)
		require.WithinDuration(t, o.env.Clock.Now().Add(50*time.Minute), *g.EndsAt, time.Minute)
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, first.Items[0].ID).Status)
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, second.Items[0].ID).Status)
	})
}

// TestFulfilExpiryAfterRestart: the server stops before a grant is due and
// a new one (a new process: its own pool, ent client, workflow and River
// client over the same database) starts after. The overdue expiry runs
// once, on the new server.
func TestFulfilExpiryAfterRestart(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)

		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT10M"})
		itemID := req.Items[0].ID
		o.fulAwait(t, c.tokB, itemID, "FULFILLED")
		g := o.fulGrants(t, c.tokB, e.ID)[0]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, o.env.Server.Stop(ctx))

		// Down past the due time: nothing happens (its GraphQL handler
		// still answers the reads below).
		o.env.Clock.Advance(10 * time.Minute)
		require.Equal(t, 1, o.env.RunDue(t, "expire_grant"))
		require.Empty(t, o.receiver.Deliveries(webhook.TypeRevoke))
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, itemID).Status)

		// The second server, on the same clock.
		apitest.NewWith(t, db, apitest.Options{Env: o.receiver.Env(), Clock: o.env.Clock, OwnPool: true})
		o.fulAwait(t, c.tokB, itemID, "EXPIRED")
		fulAwaitJob(t, db, "expire_grant", 0, 1, "the overdue expiry ran once after the restart")
		require.Equal(t, []string{webhook.IdempotencyKey(webhook.TypeRevoke, "expire-"+g.ID)}, fulDeliveries(o.receiver, webhook.TypeRevoke),
			"revoked once")
		g = o.fulGrants(t, c.tokB, e.ID)[0]
		require.NotNil(t, g.RevokedAt)
		require.Equal(t, 1, fulCount(o.fulTrail(t, c.tokB, req.ID), "ACCESS_EXPIRED"))
	})
}

const fulManualQueue = `{ manualFulfillments(first: 20) { totalCount edges { node { id status } } } }`

func (o *org) fulQueue(t *testing.T, token string) []string {
	t.Helper()
	var out struct {
		ManualFulfillments struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
		}
	}
	o.env.MustDo(t, token, fulManualQueue, nil, &out)
	ids := []string{}
	for _, e := range out.ManualFulfillments.Edges {
		ids = append(ids, e.Node.ID)
	}
	require.Len(t, ids, out.ManualFulfillments.TotalCount)
	return ids
}

// TestFulfilManual: an approved item of a MANUAL application waits in
// manualFulfillments for the application's owners and IT admins, never for
// the requester or the beneficiary (here both owners too). An owner who is
// not a reviewer closes it: success records the account and the grant and is
// not a review action; failure marks the item FAILED with the note.
func TestFulfilManual(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		r := env.User(t, "r@example.com", enum.PlatformRoleUser)
		b, err := env.Client.User.Create().SetEmail("b@example.com").SetName("B").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		app, e := o.app(t, "Ledger", enum.FulfillmentManual, []*ent.User{owner, r, b}, enum.ReviewerKindManager)
		c := fulCast{m: m, b: b, tokM: env.Token(t, m), tokB: env.Token(t, b), tokAdmin: env.Token(t, o.admin)}
		tokOwner, tokR := env.Token(t, owner), env.Token(t, r)

		req := o.fulSubmit(t, tokR, map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})
		itemID := req.Items[0].ID
		require.Empty(t, o.fulQueue(t, tokOwner), "not before approval")
		o.fulApprove(t, c, req.ID, "Ledger users")
		require.Equal(t, "APPROVED", o.fulItem(t, c.tokB, itemID).Status)
		require.Empty(t, fulJobs(t, db, "fulfill_item"), "people fulfil MANUAL applications: no job may pick the item up")

		require.Equal(t, []string{itemID}, o.fulQueue(t, tokOwner), "an owner sees it")
		require.Equal(t, []string{itemID}, o.fulQueue(t, c.tokAdmin), "an IT admin sees it")
		require.Empty(t, o.fulQueue(t, tokR), "not the requester, though an owner")
		require.Empty(t, o.fulQueue(t, c.tokB), "not the beneficiary, though an owner")
		require.Empty(t, o.fulQueue(t, c.tokM), "not a reviewer who owns nothing")
		before := o.progress(t, tokR, req.ID).Node.Completion

		const complete = `mutation($id: ID!, $ok: Boolean!, $note: String, $ext: String) {
		  completeManualFulfillment(itemId: $id, success: $ok, note: $note, externalId: $ext) {
		    id status fulfillmentNote lastError identity { externalID } } }`
		for who, tok := range map[string]string{"beneficiary": c.tokB, "requester": tokR} {
			res := env.Do(t, tok, complete, map[string]any{"id": itemID, "ok": true, "ext": "acct-b"})
			require.Equal(t, "FORBIDDEN", res.Code(), "the %s may not fulfil", who)
		}
		require.Equal(t, "APPROVED", o.fulItem(t, c.tokB, itemID).Status)

		// The owner is no reviewer: the item is visible to them only while it
		// waits for them. The answer must still be the FULFILLED item, with
		// the account the owner just recorded (the committed state).
		res := env.Do(t, tokOwner, complete, map[string]any{"id": itemID, "ok": true, "note": "done by hand", "ext": "acct-b"})
		if assert.Emptyf(t, res.Errors, "the owner completes the item: %+v", res.Errors) {
			var done struct {
				CompleteManualFulfillment struct {
					ID, Status      string
					FulfillmentNote string
					Identity        *struct{ ExternalID string }
				}
			}
			require.NoError(t, json.Unmarshal(res.Data, &done))
			require.Equal(t, "FULFILLED", done.CompleteManualFulfillment.Status)
			require.Equal(t, "done by hand", done.CompleteManualFulfillment.FulfillmentNote)
			require.NotNil(t, done.CompleteManualFulfillment.Identity, "the answer shows the account just recorded")
			require.Equal(t, "acct-b", done.CompleteManualFulfillment.Identity.ExternalID)
		}

		item := o.fulItem(t, c.tokB, itemID)
		require.Equal(t, "FULFILLED", item.Status)
		require.Equal(t, "COMPLETED", item.Request.Status)
		require.NotNil(t, item.Identity)
		require.Equal(t, "acct-b", item.Identity.ExternalID)
		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1, "the grant is recorded")
		require.Nil(t, gs[0].RevokedAt)
		require.Equal(t, before, o.progress(t, tokR, req.ID).Node.Completion, "manual fulfilment is not a review action")
		require.Empty(t, o.fulQueue(t, tokOwner), "closed")
		require.Empty(t, o.receiver.Deliveries(""), "no connector call for MANUAL")
		fulRequireOrder(t, o.fulTrail(t, tokR, req.ID), "ITEM_APPROVED", "MANUAL_FULFILLMENT_COMPLETED", "IDENTITY_CREATED", "ACCESS_GRANTED", "REQUEST_COMPLETED")

		// Failure: another entitlement of the application.
		e2, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("ledger-admins").SetName("Ledger admins").Save(apitest.Sys())
		require.NoError(t, err)
		req2 := o.fulSubmit(t, tokR, map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e2.ID)}})
		o.fulApprove(t, c, req2.ID, "Ledger admins")
		res = env.Do(t, tokOwner, complete, map[string]any{"id": req2.Items[0].ID, "ok": false, "note": "no licence left"})
		assert.Emptyf(t, res.Errors, "the owner reports a failure: %+v", res.Errors)
		item = o.fulItem(t, c.tokB, req2.Items[0].ID)
		require.Equal(t, "FAILED", item.Status)
		require.Equal(t, "no licence left", item.LastError)
		require.Equal(t, "no licence left", item.FulfillmentNote)
		require.Equal(t, "FAILED", item.Request.Status)
		require.Len(t, o.fulGrants(t, c.tokB, e2.ID), 0)
		require.Equal(t, 1, fulCount(o.fulTrail(t, tokR, req2.ID), "FULFILLMENT_FAILED"))
	})
}

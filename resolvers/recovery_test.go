package resolvers_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/identity"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow"
)

// Recovery tests: a fulfilment interrupted by a shutdown is not an attempt,
// a connector that does not answer fails the attempt before the job's own
// deadline, an item whose job ended without an outcome is FAILED by the
// sweep, an IT admin may retry an item whose job has run past its deadline,
// and IDENTITY_CREATED is recorded once however the items that ensure one
// account race.

// recEntitlements adds n more entitlements to app and returns their IDs
// with e's first.
func (o *org) recEntitlements(t *testing.T, app *ent.Application, e *ent.Entitlement, n int) []string {
	t.Helper()
	ids := []string{string(e.ID)}
	for i := range n {
		x, err := o.env.Client.Entitlement.Create().SetApplication(app).
			SetExternalID(fmt.Sprintf("extra-%d", i)).SetName(fmt.Sprintf("extra %d", i)).Save(apitest.Sys())
		require.NoError(t, err)
		ids = append(ids, string(x.ID))
	}
	return ids
}

// recSubmit submits a GRANT of the entitlements for the token's user.
func (o *org) recSubmit(t *testing.T, token string, ids []string) fulRequest {
	t.Helper()
	var out struct{ SubmitAccessRequest fulRequest }
	o.env.MustDo(t, token, fulSubmitMutation, map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": ids}}, &out)
	require.Len(t, out.SubmitAccessRequest.Items, len(ids))
	return out.SubmitAccessRequest
}

// TestFulfilIdentityCreatedOnce: items that ensure one new account run at
// once — ten of one request, or five each of two requests for the same
// person. The application creates the account for one of them and answers
// created: false to the others; its answer to the creator is held back until
// another item has recorded the account, the order that lost the event.
// Exactly one IDENTITY_CREATED is recorded, in the trail of the request
// whose item created the account, and the identity names that request.
func TestFulfilIdentityCreatedOnce(t *testing.T) {
	t.Parallel()
	for _, split := range []int{10, 5} {
		t.Run(fmt.Sprintf("requests of %d", split), func(t *testing.T) {
			t.Parallel()
			dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
				o := newOrg(t, db)
				c := o.fulCast(t)
				app, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
				ids := o.recEntitlements(t, app, e, 9)

				var (
					mu      sync.Mutex
					creator string // idempotency key of the creating ensure_identity
				)
				recorded := func() bool {
					n, err := o.env.Client.Identity.Query().Where(identity.UserID(c.b.ID)).Count(apitest.Sys())
					return err == nil && n > 0
				}
				o.receiver.BeforeAnswer(func(ctx context.Context, p webhook.Payload, created bool) {
					if !created {
						return
					}
					mu.Lock()
					creator = p.IdempotencyKey
					mu.Unlock()
					for !recorded() && ctx.Err() == nil {
						select {
						case <-ctx.Done():
						case <-time.After(10 * time.Millisecond):
						}
					}
				})

				var reqs []fulRequest
				for i := 0; i < len(ids); i += split {
					reqs = append(reqs, o.recSubmit(t, c.tokB, ids[i:i+split]))
				}
				var owner string // the request of the creating item
				for _, r := range reqs {
					for _, it := range r.Items {
						o.fulAwait(t, c.tokB, it.ID, "FULFILLED")
						if webhook.IdempotencyKey(webhook.TypeEnsureIdentity, it.ID) == creator {
							owner = r.ID
						}
					}
				}
				require.NotEmpty(t, owner, "one item's ensure_identity created the account")

				total := 0
				for _, r := range reqs {
					n := fulCount(o.fulTrail(t, c.tokB, r.ID), "IDENTITY_CREATED")
					if r.ID == owner {
						require.Equal(t, 1, n, "the creating request's trail records the account")
					}
					total += n
				}
				require.Equal(t, 1, total, "IDENTITY_CREATED exactly once")
				idn, err := o.env.Client.Identity.Query().Where(identity.UserID(c.b.ID)).Only(apitest.Sys())
				require.NoError(t, err)
				require.NotNil(t, idn.CreatedByRequestID)
				require.Equal(t, pulid.ID(owner), *idn.CreatedByRequestID)
			})
		})
	}
}

// TestFulfilShutdownIsNotAnAttempt: a shutdown (the job's context
// cancelled) while the grant is in flight, even during the last attempt,
// snoozes the job: the item stays FULFILLING with no attempt counted, no
// error and no FULFILLMENT_FAILED. The next run fulfils it under the same
// idempotency key.
func TestFulfilShutdownIsNotAnAttempt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{NoJobs: true, FulfillmentTimeout: time.Minute})
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
		wf := o.env.Workflow
		arrived := make(chan struct{}, 10)
		o.receiver.BeforeAnswer(func(ctx context.Context, p webhook.Payload, _ bool) {
			if p.Type == webhook.TypeGrant {
				arrived <- struct{}{}
				<-ctx.Done() // held until the sender gives up
			}
		})
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		itemID := pulid.ID(req.Items[0].ID)

		for range 3 {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- wf.Fulfill(ctx, itemID, workflow.FulfillmentAttempts, workflow.FulfillmentAttempts) }()
			select {
			case <-arrived:
			case <-time.After(fulWait):
				t.Fatal("the grant never reached the application")
			}
			cancel()
			err := <-done
			var snooze *rivertype.JobSnoozeError
			require.True(t, errors.As(err, &snooze), "a shutdown snoozes the job: %v", err)
			it := o.fulItem(t, c.tokB, string(itemID))
			require.Equal(t, "FULFILLING", it.Status)
			require.Zero(t, it.FulfillmentAttempts)
			require.Empty(t, it.LastError)
		}
		require.Zero(t, fulCount(o.fulTrail(t, c.tokB, req.ID), "FULFILLMENT_FAILED"))

		o.receiver.BeforeAnswer(nil)
		require.NoError(t, wf.Fulfill(context.Background(), itemID, workflow.FulfillmentAttempts, workflow.FulfillmentAttempts))
		require.Equal(t, "FULFILLED", o.fulItem(t, c.tokB, string(itemID)).Status)
		keys := map[string]bool{}
		for _, d := range o.receiver.Deliveries(webhook.TypeGrant) {
			keys[d.IdempotencyKey] = true
		}
		require.Len(t, o.receiver.Deliveries(webhook.TypeGrant), 4, "three interrupted deliveries and the one answered")
		require.Len(t, keys, 1, "one idempotency key for the grant")
	})
}

// TestFulfilConnectorDeadlineFailsLastAttempt: an application that never
// answers is given less time than the job (three quarters of the
// fulfilment timeout, from the call): the last attempt ends with a
// transient "no answer" error of its own, not the job's, and the item is
// FAILED with that error and FULFILLMENT_FAILED in its trail. The job's own
// deadline is far off, so that only the connector's deadline can end the
// call however slow the machine.
func TestFulfilConnectorDeadlineFailsLastAttempt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{NoJobs: true, FulfillmentTimeout: 200 * time.Millisecond})
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
		wf := o.env.Workflow
		o.receiver.BeforeAnswer(func(ctx context.Context, p webhook.Payload, _ bool) {
			if p.Type == webhook.TypeGrant {
				<-ctx.Done() // until the connector gives up
			}
		})
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		itemID := pulid.ID(req.Items[0].ID)

		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		require.NoError(t, wf.Fulfill(ctx, itemID, workflow.FulfillmentAttempts, workflow.FulfillmentAttempts))
		require.NoError(t, ctx.Err(), "the attempt ended before the job's deadline")
		it := o.fulItem(t, c.tokB, string(itemID))
		require.Equal(t, "FAILED", it.Status)
		require.Equal(t, workflow.FulfillmentAttempts, it.FulfillmentAttempts)
		require.Contains(t, it.LastError, "no answer")
		require.Equal(t, 1, fulCount(o.fulTrail(t, c.tokB, req.ID), "FULFILLMENT_FAILED"))
	})
}

// recSetJobs puts every fulfilment job of the database in a state: running
// since started (a worker that died), or discarded (finalized).
func recSetJobs(t *testing.T, db *dbtest.DB, state string, started time.Time) {
	t.Helper()
	q := "UPDATE river_job SET state = $1, attempt = 1, attempted_at = $2, finalized_at = $3 WHERE kind = 'fulfill_item'"
	if db.Dialect == dialect.SQLite {
		q = "UPDATE river_job SET state = ?, attempt = 1, attempted_at = ?, finalized_at = ? WHERE kind = 'fulfill_item'"
	}
	ts := started.UTC().Format("2006-01-02 15:04:05.000000")
	var finalized any
	if state != "running" {
		finalized = ts
	}
	_, err := db.SQL.Exec(q, state, ts, finalized)
	require.NoError(t, err)
}

// TestFulfilStuckItemRecovery: an item whose job is still to run cannot be
// retried (CONFLICT), nor one whose job is running within its deadline; one
// whose job has been running past its deadline (its worker died) can: the
// old job is cancelled and a new one enqueued. When the job ends without an
// outcome (discarded after its last attempt), the sweep FAILS the item with
// its last error and FULFILLMENT_FAILED, and a retry works again.
func TestFulfilStuckItemRecovery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{NoJobs: true})
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
		const retry = `mutation($id: ID!) { retryFulfillment(itemId: $id) { id status } }`
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		itemID := req.Items[0].ID
		require.Equal(t, "APPROVED", o.fulItem(t, c.tokB, itemID).Status)

		res := o.env.Do(t, c.tokAdmin, retry, map[string]any{"id": itemID})
		require.Equal(t, "CONFLICT", res.Code(), "its job is still to run")
		require.Contains(t, res.Errors[0].Message, "runs again at")

		_, err := o.env.Client.RequestItem.UpdateOneID(pulid.ID(itemID)).
			SetStatus(enum.ItemStatusFulfilling).SetLastError("webhook: grant: status 503").Save(apitest.Sys())
		require.NoError(t, err)
		recSetJobs(t, db, "running", time.Now().Add(-10*time.Second))
		res = o.env.Do(t, c.tokAdmin, retry, map[string]any{"id": itemID})
		require.Equal(t, "CONFLICT", res.Code(), "its job runs within its deadline")
		require.Contains(t, res.Errors[0].Message, "may run until")
		require.Equal(t, "FORBIDDEN", o.env.Do(t, c.tokB, retry, map[string]any{"id": itemID}).Code())

		recSetJobs(t, db, "running", time.Now().Add(-2*workflow.DefaultFulfillmentTimeout))
		o.env.MustDo(t, c.tokAdmin, retry, map[string]any{"id": itemID}, nil)
		it := o.fulItem(t, c.tokB, itemID)
		require.Equal(t, "APPROVED", it.Status)
		require.Equal(t, "FULFILLING", it.Request.Status)
		js := fulJobs(t, db, "fulfill_item")
		require.Len(t, js, 2, "a new job")
		require.Equal(t, "available", js[1].State)
		require.Equal(t, 1, fulCount(o.fulTrail(t, c.tokB, req.ID), "FULFILLMENT_RETRIED"))

		n, err := o.env.Workflow.SweepFulfillments(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "an item whose job is to run is left alone")

		recSetJobs(t, db, "discarded", time.Now())
		n, err = o.env.Workflow.SweepFulfillments(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		it = o.fulItem(t, c.tokB, itemID)
		require.Equal(t, "FAILED", it.Status)
		require.Equal(t, "FAILED", it.Request.Status)
		require.Contains(t, it.LastError, "ended without an outcome")
		require.Contains(t, it.LastError, "status 503", "the last error is kept")
		require.Equal(t, 1, fulCount(o.fulTrail(t, c.tokB, req.ID), "FULFILLMENT_FAILED"))
		n, err = o.env.Workflow.SweepFulfillments(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "swept once")

		o.env.MustDo(t, c.tokAdmin, retry, map[string]any{"id": itemID}, nil)
		require.Equal(t, "APPROVED", o.fulItem(t, c.tokB, itemID).Status)
	})
}

// TestFulfilRetryReadsJobsInItsTransaction: a retry looks for the item's
// live job through its own write transaction. On SQLite the job runner has a
// connection of its own; a read on it while the transaction holds the write
// lock would wait for that lock whenever the runner is beginning a
// transaction, until both fail with "database is locked". Here the runner's
// connection is closed, so such a read fails at once: the retry must still
// find the job to run and answer CONFLICT.
func TestFulfilRetryReadsJobsInItsTransaction(t *testing.T) {
	t.Parallel()
	o := fulOrg(t, dbtest.NewSQLite(t), apitest.Options{NoJobs: true})
	c := o.fulCast(t)
	_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
	req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
	itemID := req.Items[0].ID
	require.Equal(t, "APPROVED", o.fulItem(t, c.tokB, itemID).Status)

	require.NoError(t, o.env.RiverDB.Close())
	res := o.env.Do(t, c.tokAdmin, `mutation($id: ID!) { retryFulfillment(itemId: $id) { id } }`, map[string]any{"id": itemID})
	require.Equal(t, "CONFLICT", res.Code(), "the job still to run is found in the transaction: %v", res.Errors)
	require.Contains(t, res.Errors[0].Message, "runs again at")
}

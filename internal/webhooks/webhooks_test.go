package webhooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/webhookdelivery"
	"gatehouse/ent/webhookendpoint"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/webhooks"
	"gatehouse/internal/webhooks/webhookstest"
)

// org is a requester, a manager who reviews and a manual application.
type org struct {
	env        *apitest.Env
	admin      string // tokens
	requester  string
	manager    string
	managerID  pulid.ID
	app        *ent.Application
	entitlemnt int
}

func newOrg(t *testing.T, env *apitest.Env) *org {
	sys := apitest.Sys()
	a := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	m := env.User(t, "m@example.com", enum.PlatformRoleUser)
	r := env.User(t, "r@example.com", enum.PlatformRoleUser)
	require.NoError(t, r.Update().SetManagerID(m.ID).Exec(sys))
	app, err := env.Client.Application.Create().SetName("App").
		SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(sys)
	require.NoError(t, err)
	return &org{env: env, admin: env.Token(t, a), requester: env.Token(t, r), manager: env.Token(t, m), managerID: m.ID, app: app}
}

// submit makes the requester ask for a new entitlement and returns the
// request's ID.
func (o *org) submit(t *testing.T) pulid.ID {
	o.entitlemnt++
	name := "e" + string(rune('a'+o.entitlemnt))
	e, err := o.env.Client.Entitlement.Create().SetApplication(o.app).SetExternalID(name).SetName(name).Save(apitest.Sys())
	require.NoError(t, err)
	var out struct{ SubmitAccessRequest struct{ ID pulid.ID } }
	o.env.MustDo(t, o.requester, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e.ID}}}, &out)
	return out.SubmitAccessRequest.ID
}

// approve makes the manager approve the request's task.
func (o *org) approve(t *testing.T, req pulid.ID) {
	task, err := o.env.Client.ReviewTask.Query().Where(reviewtask.RequestID(req)).Only(apitest.Sys())
	require.NoError(t, err)
	o.env.MustDo(t, o.manager, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
		map[string]any{"id": task.ID}, nil)
}

const createEndpoint = `mutation($in: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $in) { secret endpoint { id url eventTypes kind enabled } }
}`

type created struct {
	CreateWebhookEndpoint struct {
		Secret   string
		Endpoint struct {
			ID         pulid.ID
			URL        string
			EventTypes []string
			Kind       string
			Enabled    bool
		}
	}
}

func (o *org) create(t *testing.T, in map[string]any) (pulid.ID, string) {
	var out created
	o.env.MustDo(t, o.admin, createEndpoint, map[string]any{"in": in}, &out)
	return out.CreateWebhookEndpoint.Endpoint.ID, out.CreateWebhookEndpoint.Secret
}

const deliveriesQuery = `query($id: ID!) { webhookDeliveries(endpointId: $id, first: 50) {
  totalCount edges { node { id eventID eventType status attempts responseCode lastError deliveredAt } } } }`

type delivery struct {
	ID           pulid.ID
	EventID      pulid.ID
	EventType    string
	Status       string
	Attempts     int
	ResponseCode *int
	LastError    string
	DeliveredAt  *time.Time
}

func (o *org) deliveries(t *testing.T, endpoint pulid.ID) []delivery {
	var out struct {
		WebhookDeliveries struct {
			TotalCount int
			Edges      []struct{ Node delivery }
		}
	}
	o.env.MustDo(t, o.admin, deliveriesQuery, map[string]any{"id": endpoint}, &out)
	var ds []delivery
	for _, e := range out.WebhookDeliveries.Edges {
		ds = append(ds, e.Node)
	}
	return ds
}

// TestWebhooksDeliverSubscribedEventsSigned: a request's life delivers to a
// STANDARD endpoint exactly the event types it subscribed to, each signed
// so that a Standard Webhooks verifier accepts it, with the audit event's
// data and the delivery's ID as webhook-id; the delivery log records each;
// a SLACK endpoint gets an unsigned {"text"} message; the secret is shown
// once and never in a query result or the audit trail; endpoint changes
// are audited; and a non-admin is refused.
func TestWebhooksDeliverSubscribedEventsSigned(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		o := newOrg(t, env)
		std := webhookstest.Start(t, http.StatusNoContent)
		slack := webhookstest.Start(t, http.StatusOK)

		id, secret := o.create(t, map[string]any{
			"url": std.URL + "/hooks", "eventTypes": []string{"ITEM_APPROVED", "REQUEST_SUBMITTED"}, "description": "ticketing",
		})
		require.True(t, strings.HasPrefix(secret, "whsec_"), "a generated secret")
		std.SetSecret(secret)
		slackID, _ := o.create(t, map[string]any{"url": slack.URL, "eventTypes": []string{"ITEM_APPROVED"}, "kind": "SLACK"})

		req := o.submit(t)
		o.approve(t, req)
		std.Await(t, 2)
		slack.Await(t, 1)

		types := map[string]bool{}
		for _, h := range std.Hits() {
			require.True(t, h.Valid, "signature verifies: %s", h.Header.Get("webhook-signature"))
			var p struct {
				Type      string
				Timestamp time.Time
				Data      map[string]any
			}
			require.NoError(t, json.Unmarshal(h.Body, &p))
			types[p.Type] = true
			require.Equal(t, string(req), p.Data["request"])
			require.NotEmpty(t, p.Data["event"])
			require.False(t, p.Timestamp.IsZero())
			if p.Type == "ITEM_APPROVED" {
				require.NotEmpty(t, p.Data["item"])
			}
		}
		require.Equal(t, map[string]bool{"REQUEST_SUBMITTED": true, "ITEM_APPROVED": true}, types)

		// The log holds one delivery per subscribed event: the unsubscribed
		// ones (ITEM_ADDED, TASK_ASSIGNED, TASK_APPROVED, …) of the same
		// changes were never delivered.
		var log []delivery
		require.Eventually(t, func() bool { // recorded once the answer is read
			log = o.deliveries(t, id)
			return len(log) == 2 && log[0].Status == "SUCCEEDED" && log[1].Status == "SUCCEEDED"
		}, webhookstest.Wait, 20*time.Millisecond)
		require.Len(t, log, 2)
		ids := map[string]bool{}
		for _, h := range std.Hits() {
			ids[h.Header.Get("webhook-id")] = true
		}
		for _, d := range log {
			require.Equal(t, "SUCCEEDED", d.Status, d.EventType)
			require.Equal(t, 1, d.Attempts)
			require.Equal(t, http.StatusNoContent, *d.ResponseCode)
			require.NotNil(t, d.DeliveredAt)
			require.True(t, ids[string(d.ID)], "webhook-id is the delivery's ID")
			ev, err := env.Client.AuditEvent.Get(apitest.Sys(), d.EventID)
			require.NoError(t, err)
			require.Equal(t, d.EventType, ev.Action)
		}

		hit := slack.Hits()[0]
		require.Empty(t, hit.Header.Get("webhook-signature"), "Slack messages are not signed")
		var msg map[string]string
		require.NoError(t, json.Unmarshal(hit.Body, &msg))
		require.Contains(t, msg["text"], "item approved")
		require.Contains(t, msg["text"], string(req))
		require.Eventually(t, func() bool {
			d := o.deliveries(t, slackID)
			return len(d) == 1 && d[0].Status == "SUCCEEDED"
		}, webhookstest.Wait, 20*time.Millisecond)

		// The secret never comes back.
		key := strings.TrimPrefix(secret, "whsec_")
		for _, q := range []string{
			`{ webhookEndpoints { edges { node { id url description eventTypes kind enabled consecutiveFailures disabledAt createdAt updatedAt } } } }`,
			`query($id: ID!) { node(id: $id) { id ... on WebhookEndpoint { url eventTypes } } }`,
			deliveriesQuery,
			`{ auditEvents(first: 100) { edges { node { action data } } } }`,
		} {
			res := env.Do(t, o.admin, q, map[string]any{"id": id})
			require.Empty(t, res.Errors, q)
			require.NotContains(t, string(res.Data), key, q)
		}
		var rotated struct{ RotateWebhookSecret struct{ Secret string } }
		env.MustDo(t, o.admin, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }`, map[string]any{"id": id}, &rotated)
		require.True(t, strings.HasPrefix(rotated.RotateWebhookSecret.Secret, "whsec_"))
		require.NotEqual(t, secret, rotated.RotateWebhookSecret.Secret)

		// Every endpoint change is on the system chain, naming fields only.
		changes, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.CatalogChanged))).All(apitest.Sys())
		require.NoError(t, err)
		var ops []string
		for _, c := range changes {
			if c.Data["entity"] == "WebhookEndpoint" && c.Data["id"] == string(id) {
				ops = append(ops, c.Data["op"].(string))
			}
			b, _ := json.Marshal(c.Data)
			require.NotContains(t, string(b), key)
		}
		require.Equal(t, []string{"OpCreate", "OpUpdateOne"}, ops, "created, then the secret rotated")

		// Only IT admins.
		for _, q := range []string{
			`{ webhookEndpoints { totalCount } }`,
			`{ webhookEventTypes }`,
		} {
			require.Equal(t, "FORBIDDEN", env.Do(t, o.requester, q, nil).Code(), q)
		}
		require.Equal(t, "FORBIDDEN", env.Do(t, o.requester, deliveriesQuery, map[string]any{"id": id}).Code())
		require.Equal(t, "FORBIDDEN", env.Do(t, o.manager, createEndpoint, map[string]any{"in": map[string]any{
			"url": std.URL, "eventTypes": []string{"*"},
		}}).Code())
		require.Equal(t, "FORBIDDEN", env.Do(t, o.requester, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": id}).Code())

		// Deleting removes the endpoint and its log.
		env.MustDo(t, o.admin, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": id}, nil)
		require.Equal(t, "NOT_FOUND", env.Do(t, o.admin, deliveriesQuery, map[string]any{"id": id}).Code())
	})
}

// TestWebhooksDeliverBreakGlassAndSodEvents: the break-glass and
// separation-of-duties audit actions of a request's chain are webhook event
// types like the others: an endpoint subscribed to BREAK_GLASS_INVOKED,
// BREAK_GLASS_REVOKED and SOD_CONFLICT_WARNED receives, signed, the
// emergency request's invocation and its after-the-fact denial, and the
// conflict a submission records, and none of the request events it did
// not subscribe to.
func TestWebhooksDeliverBreakGlassAndSodEvents(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		o := newOrg(t, env)
		std := webhookstest.Start(t, http.StatusNoContent)
		kinds := []string{"BREAK_GLASS_INVOKED", "BREAK_GLASS_REVOKED", "SOD_CONFLICT_WARNED"}
		id, secret := o.create(t, map[string]any{"url": std.URL, "eventTypes": kinds})
		std.SetSecret(secret)
		entitlement := func(name string) pulid.ID {
			e, err := env.Client.Entitlement.Create().SetApplication(o.app).SetExternalID(name).SetName(name).Save(apitest.Sys())
			require.NoError(t, err)
			return e.ID
		}
		submit := func(in map[string]any) pulid.ID {
			var out struct{ SubmitAccessRequest struct{ ID pulid.ID } }
			env.MustDo(t, o.requester, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
				map[string]any{"in": in}, &out)
			return out.SubmitAccessRequest.ID
		}

		// An emergency request, denied after the fact by the manager.
		env.MustDo(t, o.admin, `mutation($a: ID!) { setRequestPolicy(applicationId: $a, input: {breakGlassAllowed: true, breakGlassMaxDuration: "PT2H"}) {
		  breakGlassAllowed { value } } }`, map[string]any{"a": string(o.app.ID)}, nil)
		emergency := submit(map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{entitlement("prod")},
			"emergency": true, "emergencyReason": "incident 4711"})
		task, err := env.Client.ReviewTask.Query().
			Where(reviewtask.RequestID(emergency), reviewtask.ReviewerID(o.managerID), reviewtask.StatusEQ(enum.TaskStatusPending)).
			Only(apitest.Sys())
		require.NoError(t, err)
		env.MustDo(t, o.manager, `mutation($id: ID!) { decideReviewTask(id: $id, decision: DENY) { id } }`, map[string]any{"id": task.ID}, nil)

		// A request whose two entitlements a WARN conflict set keeps apart.
		vendor, payment := entitlement("vendor"), entitlement("payment")
		env.MustDo(t, o.admin, `mutation($in: CreateSodConflictSetInput!) { createSodConflictSet(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "Vendor and payment", "mode": "WARN", "entitlementIds": []pulid.ID{vendor, payment}}}, nil)
		conflicting := submit(map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{vendor, payment}})

		var log []delivery
		require.Eventually(t, func() bool {
			log = o.deliveries(t, id)
			types := map[string]bool{}
			for _, d := range log {
				if d.Status != "SUCCEEDED" {
					return false
				}
				types[d.EventType] = true
			}
			return len(types) == len(kinds)
		}, webhookstest.Wait, 20*time.Millisecond, "every subscribed kind is delivered")
		for _, d := range log {
			require.Contains(t, kinds, d.EventType, "only the subscribed kinds")
		}
		want := map[string]pulid.ID{"BREAK_GLASS_INVOKED": emergency, "BREAK_GLASS_REVOKED": emergency, "SOD_CONFLICT_WARNED": conflicting}
		hits := std.Hits()
		require.Len(t, hits, len(log), "one request per delivery")
		for _, h := range hits {
			require.True(t, h.Valid, "signature verifies: %s", h.Header.Get("webhook-signature"))
			var p struct {
				Type string
				Data map[string]any
			}
			require.NoError(t, json.Unmarshal(h.Body, &p))
			require.Equal(t, string(want[p.Type]), p.Data["request"], p.Type)
			require.NotEmpty(t, p.Data["item"], p.Type)
		}
	})
}

// TestWebhookEndpointValidation: a bad URL (not absolute http(s), with
// credentials, or a link-local metadata address), an unknown event type or
// a malformed secret is INVALID_INPUT and creates nothing; a secret given
// is kept and used.
func TestWebhookEndpointValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		o := newOrg(t, env)
		for _, in := range []map[string]any{
			{"url": "ftp://hooks.example.com", "eventTypes": []string{"*"}},
			{"url": "/relative", "eventTypes": []string{"*"}},
			{"url": "https://user:pw@hooks.example.com", "eventTypes": []string{"*"}},
			{"url": "http://169.254.169.254/latest/meta-data", "eventTypes": []string{"*"}},
			{"url": "http://[fe80::1]/x", "eventTypes": []string{"*"}},
			{"url": "https://hooks.example.com", "eventTypes": []string{"NOT_AN_EVENT"}},
			{"url": "https://hooks.example.com", "eventTypes": []string{}},
			{"url": "https://hooks.example.com", "eventTypes": []string{"*"}, "secret": "plain"},
			{"url": "https://hooks.example.com", "eventTypes": []string{"*"}, "secret": "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))},
		} {
			res := env.Do(t, o.admin, createEndpoint, map[string]any{"in": in})
			require.Equal(t, "INVALID_INPUT", res.Code(), "%v", in)
		}
		n, err := env.Client.WebhookEndpoint.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n)

		given := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
		id, secret := o.create(t, map[string]any{"url": "https://hooks.example.com", "eventTypes": []string{"*", "ITEM_DENIED"}, "secret": given})
		require.Equal(t, given, secret)
		ep, err := env.Client.WebhookEndpoint.Get(apitest.Sys(), id)
		require.NoError(t, err)
		require.Equal(t, given, ep.Secret)

		var upd struct{ UpdateWebhookEndpoint struct{ EventTypes []string } }
		env.MustDo(t, o.admin, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {eventTypes: ["TASK_ASSIGNED"]}) { eventTypes } }`,
			map[string]any{"id": id}, &upd)
		require.Equal(t, []string{"TASK_ASSIGNED"}, upd.UpdateWebhookEndpoint.EventTypes)
		require.Equal(t, "INVALID_INPUT", env.Do(t, o.admin, `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {url: "http://169.254.1.1"}) { id } }`,
			map[string]any{"id": id}).Code())
	})
}

// TestWebhookFailuresRetryThenDisable: a receiver that always answers 500
// gets each delivery MaxAttempts times, the log records the attempts, the
// code and the error of each FAILED delivery, and the fifth failed
// delivery in a row disables the endpoint with WEBHOOK_ENDPOINT_DISABLED on
// the system chain, which tells every IT admin (in-app and by e-mail,
// linked to the endpoint) and nobody else; an admin enables it again and
// deliveries resume.
func TestWebhookFailuresRetryThenDisable(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		box := &apitest.Mailbox{}
		env := apitest.NewWith(t, db, apitest.Options{Mail: box})
		o := newOrg(t, env)
		admin2 := env.User(t, "it2@example.com", enum.PlatformRoleITAdmin)
		rcv := webhookstest.Start(t, http.StatusInternalServerError)
		id, secret := o.create(t, map[string]any{"url": rcv.URL, "eventTypes": []string{"REQUEST_SUBMITTED"}})
		rcv.SetSecret(secret)

		for range 5 {
			o.submit(t)
		}
		rcv.Await(t, 5*8)
		require.Eventually(t, func() bool {
			ep, err := env.Client.WebhookEndpoint.Get(apitest.Sys(), id)
			return err == nil && !ep.Enabled
		}, webhookstest.Wait, 20*time.Millisecond, "disabled after five failed deliveries")
		require.Len(t, rcv.Hits(), 5*8, "no attempt beyond the last")

		log := o.deliveries(t, id)
		require.Len(t, log, 5)
		for _, d := range log {
			require.Equal(t, "FAILED", d.Status)
			require.Equal(t, 8, d.Attempts)
			require.Equal(t, http.StatusInternalServerError, *d.ResponseCode)
			require.Contains(t, d.LastError, "unexpected status 500")
			require.Less(t, len(d.LastError), 300, "the answer is read and kept only in part")
			require.Nil(t, d.DeliveredAt)
		}
		for _, h := range rcv.Hits() {
			require.True(t, h.Valid, "every attempt is signed")
		}
		rec := httptest.NewRecorder()
		env.Server.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Contains(t, rec.Body.String(), `gatehouse_webhook_deliveries_total{outcome="failed"} 5`+"\n")
		require.Contains(t, rec.Body.String(), `gatehouse_webhook_deliveries_total{outcome="retrying"} 35`+"\n")
		disabled, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.WebhookEndpointDisabled))).All(apitest.Sys())
		require.NoError(t, err)
		require.Len(t, disabled, 1)
		require.Equal(t, string(id), disabled[0].Data["id"])
		require.Equal(t, "system", disabled[0].Actor)

		env.AwaitJobs(t, "outbox")
		told := func(tok string) []string {
			var out struct {
				Notifications struct {
					Edges []struct{ Node struct{ Kind, Link string } }
				}
			}
			env.MustDo(t, tok, `{ notifications(first: 100) { edges { node { kind link } } } }`, nil, &out)
			var got []string
			for _, e := range out.Notifications.Edges {
				if e.Node.Kind == "WEBHOOK_ENDPOINT_DISABLED" {
					got = append(got, e.Node.Link)
				}
			}
			return got
		}
		link := "/app/admin/webhooks/" + string(id)
		require.Equal(t, []string{link}, told(o.admin), "the IT admin is told once")
		require.Equal(t, []string{link}, told(env.Token(t, admin2)), "every IT admin is told")
		require.Empty(t, told(o.manager), "a user is not")
		require.Empty(t, told(o.requester))
		for _, addr := range []string{"it@example.com", "it2@example.com"} {
			var subjects []string
			for _, m := range box.To(addr) {
				subjects = append(subjects, m.Subject)
			}
			require.Contains(t, subjects, "[Gatehouse] Event webhook endpoint disabled", addr)
		}

		rcv.SetStatus(http.StatusOK)
		var en struct {
			EnableWebhookEndpoint struct {
				Enabled             bool
				ConsecutiveFailures int
			}
		}
		env.MustDo(t, o.admin, `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { enabled consecutiveFailures } }`, map[string]any{"id": id}, &en)
		require.True(t, en.EnableWebhookEndpoint.Enabled)
		require.Zero(t, en.EnableWebhookEndpoint.ConsecutiveFailures)
		after := o.submit(t)
		rcv.Await(t, 1)
		last := rcv.Hits()[len(rcv.Hits())-1]
		require.Contains(t, string(last.Body), string(after))
		require.Eventually(t, func() bool {
			return len(o.deliveries(t, id)) == 6 && o.deliveries(t, id)[0].Status == "SUCCEEDED"
		}, webhookstest.Wait, 20*time.Millisecond)
		n, err := env.Client.WebhookEndpoint.Query().Where(webhookendpoint.ID(id), webhookendpoint.Enabled(true)).Count(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// The failure counts are bookkeeping: the system chain holds the
		// creation, the disabling and the enabling, nothing per attempt.
		trail, err := env.Client.AuditEvent.Query().Where(auditevent.Chain(audit.SystemChain)).All(apitest.Sys())
		require.NoError(t, err)
		var actions []string
		for _, e := range trail {
			if e.Data["id"] == string(id) {
				actions = append(actions, e.Action)
			}
		}
		require.Equal(t, []string{"CATALOG_CHANGED", "WEBHOOK_ENDPOINT_DISABLED", "CATALOG_CHANGED"}, actions)
	})
}

// TestFanOutIsIdempotent: each change's outbox job has a fan-out part
// naming its events; running the fan-out twice for them writes one
// delivery per endpoint and subscribed event and asks for the same
// delivery jobs, and a disabled endpoint gets none.
func TestFanOutIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		o := newOrg(t, env)
		all, _ := o.create(t, map[string]any{"url": "https://a.example.com", "eventTypes": []string{"*"}})
		one, _ := o.create(t, map[string]any{"url": "https://b.example.com", "eventTypes": []string{"TASK_ASSIGNED"}})
		off, _ := o.create(t, map[string]any{"url": "https://c.example.com", "eventTypes": []string{"*"}})
		require.NoError(t, env.Client.WebhookEndpoint.UpdateOneID(off).SetEnabled(false).Exec(apitest.Sys()))

		req := o.submit(t)
		ctx := context.Background()
		_, parts := env.OutboxParts(t, "webhooks")
		require.Len(t, parts, 1, "the change's outbox job has a fan-out part")
		var ids []pulid.ID
		require.NoError(t, json.Unmarshal(parts[0], &ids))
		events, err := env.Client.AuditEvent.Query().Where(auditevent.RequestID(req)).Order(auditevent.BySeq()).IDs(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, events, ids, "the change's events, in order")

		first, err := env.Server.Webhooks.FanOut(ctx, ids)
		require.NoError(t, err)
		again, err := env.Server.Webhooks.FanOut(ctx, ids)
		require.NoError(t, err)
		require.Equal(t, first, again)
		require.Len(t, first, len(events)+1, "every event to the first endpoint, TASK_ASSIGNED to the second")
		for ep, want := range map[pulid.ID]int{all: len(events), one: 1, off: 0} {
			n, err := env.Client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(ep)).Count(apitest.Sys())
			require.NoError(t, err)
			require.Equal(t, want, n, ep)
		}
	})
}

// TestFanOutWithoutEndpointReadsOnlyEndpoints: on a server with no
// enabled endpoint (none, or only a disabled one) the fan-out of a change
// reads the enabled endpoints, one statement, and neither the events nor
// the deliveries; it writes nothing and asks for no delivery job. Once an
// endpoint is enabled, the same events are delivered to it.
func TestFanOutWithoutEndpointReadsOnlyEndpoints(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		o := newOrg(t, env)
		off, _ := o.create(t, map[string]any{"url": "https://a.example.com", "eventTypes": []string{"*"}})
		require.NoError(t, env.Client.WebhookEndpoint.UpdateOneID(off).SetEnabled(false).Exec(apitest.Sys()))
		req := o.submit(t)
		events, err := env.Client.AuditEvent.Query().Where(auditevent.RequestID(req)).IDs(apitest.Sys())
		require.NoError(t, err)
		require.NotEmpty(t, events)

		counter := &dbtest.Counter{}
		hooks := webhooks.New(webhooks.Config{Client: ent.NewClient(ent.Driver(counter.Wrap(entsql.OpenDB(db.Dialect, db.SQL))))})
		ctx := context.Background()
		jobs, err := hooks.FanOut(ctx, events)
		require.NoError(t, err)
		require.Empty(t, jobs)
		require.EqualValues(t, 1, counter.Count(), "the enabled endpoints only")
		n, err := env.Client.WebhookDelivery.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n)

		require.NoError(t, env.Client.WebhookEndpoint.UpdateOneID(off).SetEnabled(true).Exec(apitest.Sys()))
		jobs, err = hooks.FanOut(ctx, events)
		require.NoError(t, err)
		require.Len(t, jobs, len(events), "every event once the endpoint is enabled")
	})
}

// TestDisablingIsAStateChange: the delivery whose failure disables its
// endpoint records the disabling through the workflow's one write path,
// not as a job's side work: run outside any River job, the last failed
// attempt disables the endpoint, the system chain holds one
// WEBHOOK_ENDPOINT_DISABLED naming it, and the same transaction queued the
// IT admins' notification job with exactly that event. A failure on a
// disabled endpoint counts and disables nothing twice.
func TestDisablingIsAStateChange(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		o := newOrg(t, env)
		rcv := webhookstest.Start(t, http.StatusInternalServerError)
		id, _ := o.create(t, map[string]any{"url": rcv.URL, "eventTypes": []string{"REQUEST_SUBMITTED"}})
		sys := apitest.Sys()
		require.NoError(t, env.Client.WebhookEndpoint.UpdateOneID(id).SetConsecutiveFailures(webhooks.DisableAfter-1).Exec(sys))
		o.submit(t)
		o.submit(t)
		events, err := env.Client.AuditEvent.Query().Where(auditevent.Action("REQUEST_SUBMITTED")).IDs(sys)
		require.NoError(t, err)
		ctx := context.Background()
		params, err := env.Server.Webhooks.FanOut(ctx, events)
		require.NoError(t, err)
		require.Len(t, params, 2)

		last := params[0].Args.(webhooks.DeliverArgs).Delivery
		require.NoError(t, env.Server.Webhooks.Deliver(ctx, last, webhooks.MaxAttempts, webhooks.MaxAttempts))
		ep, err := env.Client.WebhookEndpoint.Get(sys, id)
		require.NoError(t, err)
		require.False(t, ep.Enabled)
		require.Equal(t, webhooks.DisableAfter, ep.ConsecutiveFailures)
		disabled, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.WebhookEndpointDisabled))).All(sys)
		require.NoError(t, err)
		require.Len(t, disabled, 1)
		require.Equal(t, string(id), disabled[0].Data["id"])
		_, parts := env.OutboxParts(t, "notify")
		var told []string
		for _, part := range parts {
			var events []struct {
				Action string
				Data   map[string]any
			}
			require.NoError(t, json.Unmarshal(part, &events))
			for _, e := range events {
				if e.Action == string(audit.WebhookEndpointDisabled) {
					told = append(told, e.Data["id"].(string))
				}
			}
		}
		require.Equal(t, []string{string(id)}, told, "one notification job carries the disabling")

		// The second delivery finds the endpoint disabled: CANCELLED, no
		// attempt, nothing more recorded.
		second := params[1].Args.(webhooks.DeliverArgs).Delivery
		require.NoError(t, env.Server.Webhooks.Deliver(ctx, second, webhooks.MaxAttempts, webhooks.MaxAttempts))
		d, err := env.Client.WebhookDelivery.Get(sys, second)
		require.NoError(t, err)
		require.Equal(t, enum.WebhookDeliveryCancelled, d.Status)
		n, err := env.Client.AuditEvent.Query().Where(auditevent.Action(string(audit.WebhookEndpointDisabled))).Count(sys)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		// Counted directly, a failure of a disabled endpoint disables it
		// no second time.
		failures, again, err := env.Workflow.RecordWebhookFailure(ctx, id, webhooks.DisableAfter)
		require.NoError(t, err)
		require.False(t, again)
		require.Equal(t, webhooks.DisableAfter+1, failures)
	})
}

// TestEarlierFanOutJobsAreWorked: a fan-out job of the kind earlier
// versions inserted (webhook_fanout), still waiting when the server is
// upgraded, is worked as before: its events reach the endpoints.
func TestEarlierFanOutJobsAreWorked(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		o := newOrg(t, env)
		req := o.submit(t)
		env.AwaitJobs(t, "outbox")
		receiver := webhookstest.Start(t, http.StatusNoContent)
		o.create(t, map[string]any{"url": receiver.URL, "eventTypes": []string{"REQUEST_SUBMITTED"}})
		events, err := env.Client.AuditEvent.Query().Where(auditevent.RequestID(req)).IDs(apitest.Sys())
		require.NoError(t, err)

		_, err = env.Server.Jobs.Client().Insert(context.Background(), webhooks.FanOutArgs{Events: events}, nil)
		require.NoError(t, err)
		receiver.Await(t, 1)
		var p struct{ Type string }
		require.NoError(t, json.Unmarshal(receiver.Hits()[0].Body, &p))
		require.Equal(t, "REQUEST_SUBMITTED", p.Type)
	})
}

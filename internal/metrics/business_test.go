package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/progress"
)

// wait bounds every wait for background work.
const wait = 20 * time.Second

// fresh scrapes after moving the clock past the TTL of the figures read
// from the database, so that the scrape reads them again.
func fresh(t *testing.T, env *apitest.Env) string {
	t.Helper()
	env.Clock.Advance(10 * time.Second)
	return scrapeEnv(t, env)
}

// scrapeEnv returns the text exposition of the server's /metrics handler.
func scrapeEnv(t *testing.T, env *apitest.Env) string {
	t.Helper()
	rec := httptest.NewRecorder()
	env.Server.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// value returns the value of one series (name with its labels, in the
// exposition's order), and whether it is present.
func value(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// must returns the value of a series that must be present.
func must(t *testing.T, body, series string) float64 {
	t.Helper()
	v, ok := value(body, series)
	require.True(t, ok, "series %s is exposed", series)
	return v
}

// TestBusinessMetrics plays a request through GraphQL — submitted, decided,
// fulfilled through the webhook connector after one failed attempt, then
// expired — with a reviewer's websocket and a slow in-process subscriber,
// and scrapes /metrics between the steps: every business family is exposed
// and moves with what happened.
func TestBusinessMetrics(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		rcv := apitest.NewReceiver(t)
		// A buffer of one drops the subscriber that does not read at the
		// second event; the checkpoint job runs once, at start, so that the
		// checkpoint lag is the test's to move.
		env := apitest.NewWith(t, db, apitest.Options{Env: rcv.Env(), FeedBuffer: 1, CheckpointInterval: time.Hour})
		ctx := apitest.Sys()
		awaitStartupCheckpoint(t, env)

		admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		b, err := env.Client.User.Create().SetEmail("b@example.com").SetName("B").SetManager(m).Save(ctx)
		require.NoError(t, err)
		app, err := env.Client.Application.Create().SetName("Wiki").SetFulfillment(enum.FulfillmentDirect).
			SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(rcv.Config()).Save(ctx)
		require.NoError(t, err)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("wiki-users").SetName("Wiki users").Save(ctx)
		require.NoError(t, err)
		_, err = env.AuditLog.Checkpoint(ctx)
		require.NoError(t, err) // the catalog's events

		body := fresh(t, env)
		for _, st := range enum.AllRequestStatuses {
			require.Zero(t, must(t, body, `gatehouse_requests{status="`+string(st)+`"}`), st)
		}
		require.Zero(t, must(t, body, "gatehouse_review_tasks_pending"))
		require.Zero(t, must(t, body, "gatehouse_review_task_oldest_pending_seconds"))
		require.Zero(t, must(t, body, "gatehouse_audit_checkpoint_lag_seconds"))
		require.Zero(t, must(t, body, "gatehouse_websocket_connections"))
		require.Zero(t, must(t, body, "gatehouse_websocket_connections_pending"))
		require.Zero(t, must(t, body, "gatehouse_events_published_total"))
		require.Zero(t, must(t, body, "gatehouse_events_subscribers_dropped_total"))
		require.Zero(t, must(t, body, "gatehouse_state_read_errors_total"))
		_, ok := value(body, `gatehouse_fulfillment_attempts_total{connector_kind="WEBHOOK"}`)
		require.False(t, ok, "no attempt yet")

		// The reviewer's websocket with one subscription, open, then closed.
		ws := dialWS(t, env, env.Token(t, m))
		require.NoError(t, ws.WriteJSON(map[string]any{"id": "1", "type": "subscribe",
			"payload": map[string]any{"query": "subscription { myTaskProgress { mine { done total } } }"}}))
		awaitScrape(t, env, func(body string) bool {
			v, _ := value(body, "gatehouse_websocket_connections")
			s, _ := value(body, `gatehouse_graphql_subscriptions{field="myTaskProgress"}`)
			n, _ := value(body, "gatehouse_events_subscribers")
			return v == 1 && s == 1 && n == 1
		}, "one websocket with one myTaskProgress subscription")
		require.NoError(t, ws.Close())
		awaitScrape(t, env, func(body string) bool {
			v, _ := value(body, "gatehouse_websocket_connections")
			s, _ := value(body, `gatehouse_graphql_subscriptions{field="myTaskProgress"}`)
			n, _ := value(body, "gatehouse_events_subscribers")
			return v == 0 && s == 0 && n == 0
		}, "the websocket and its subscription are gone")

		// A subscriber that never reads: dropped at its second event.
		v, err := env.Auth.Authenticate(context.Background(), env.Token(t, admin))
		require.NoError(t, err)
		subCtx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		_ = progress.SubscribeVisible(subCtx, env.Feed, v, func(*progress.Event) (struct{}, bool) { return struct{}{}, true })
		// And one that reads: events are computed and published only while
		// someone subscribes.
		reading := progress.SubscribeVisible(subCtx, env.Feed, v, func(*progress.Event) (struct{}, bool) { return struct{}{}, true })
		go func() {
			for range reading {
			}
		}()

		// Submitted: one request PENDING_REVIEW, one task waiting, events
		// not yet checkpointed.
		var sub struct{ SubmitAccessRequest struct{ ID pulid.ID } }
		env.MustDo(t, env.Token(t, b), `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT10M"}}, &sub)
		reqID := sub.SubmitAccessRequest.ID
		env.Clock.Advance(time.Minute)
		body = fresh(t, env)
		require.Equal(t, 1.0, must(t, body, `gatehouse_requests{status="PENDING_REVIEW"}`))
		require.Equal(t, 1.0, must(t, body, "gatehouse_review_tasks_pending"))
		require.InDelta(t, 70.0, must(t, body, "gatehouse_review_task_oldest_pending_seconds"), 60.0, "a minute and ten seconds on the clock")
		require.InDelta(t, 70.0, must(t, body, "gatehouse_audit_checkpoint_lag_seconds"), 60.0)
		awaitScrape(t, env, func(body string) bool {
			v, _ := value(body, "gatehouse_events_published_total")
			return v >= 1
		}, "the submission's event is published")

		// Decided: the first delivery fails with 503, the second attempt is
		// held at the receiver while the job runs.
		rcv.FailNext(1, http.StatusServiceUnavailable)
		held, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		rcv.BeforeAnswer(func(ctx context.Context, _ webhook.Payload, _ bool) {
			once.Do(func() {
				close(held)
				select {
				case <-release:
				case <-ctx.Done():
				}
			})
		})
		t.Cleanup(func() {
			select {
			case <-release:
			default:
				close(release)
			}
		})
		task, err := env.Client.ReviewTask.Query().Only(ctx)
		require.NoError(t, err)
		env.MustDo(t, env.Token(t, m), `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
			map[string]any{"id": task.ID}, nil)
		select {
		case <-held:
		case <-time.After(wait):
			t.Fatal("the second attempt did not reach the receiver")
		}
		body = fresh(t, env)
		require.Zero(t, must(t, body, "gatehouse_review_tasks_pending"))
		require.Zero(t, must(t, body, "gatehouse_review_task_oldest_pending_seconds"))
		require.Zero(t, must(t, body, `gatehouse_requests{status="PENDING_REVIEW"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_requests{status="FULFILLING"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_fulfillment_attempts_total{connector_kind="WEBHOOK"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_fulfillment_failures_total{connector_kind="WEBHOOK",error_class="http_5xx"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_jobs{kind="fulfill_item",state="running"}`))
		require.GreaterOrEqual(t, must(t, body, `gatehouse_job_oldest_seconds{kind="fulfill_item",state="running"}`), 0.0)

		// Fulfilled: the attempt counts, the job is done and the expiry is
		// scheduled.
		close(release)
		item := awaitItem(t, env, reqID, enum.ItemStatusFulfilled)
		awaitJobs(t, env, "fulfill_item", rivertype.JobStateRunning, 0) // River completes the job after it returns
		body = fresh(t, env)
		require.Equal(t, 2.0, must(t, body, `gatehouse_fulfillment_attempts_total{connector_kind="WEBHOOK"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_fulfillment_failures_total{connector_kind="WEBHOOK",error_class="http_5xx"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_requests{status="COMPLETED"}`))
		require.Zero(t, must(t, body, `gatehouse_requests{status="FULFILLING"}`))
		require.Zero(t, must(t, body, `gatehouse_jobs{kind="fulfill_item",state="running"}`))
		require.Equal(t, 1.0, must(t, body, `gatehouse_jobs{kind="expire_grant",state="scheduled"}`))
		require.Zero(t, must(t, body, `gatehouse_job_oldest_seconds{kind="expire_grant",state="scheduled"}`), "not due yet")
		_, ok = value(body, `gatehouse_grant_expiries_total{connector_kind="WEBHOOK"}`)
		require.False(t, ok, "nothing expired yet")
		published := must(t, body, "gatehouse_events_published_total")
		require.GreaterOrEqual(t, published, 3.0, "submitted, decided, fulfilled")
		require.Equal(t, 1.0, must(t, body, "gatehouse_events_subscribers_dropped_total"), "the subscriber that never reads")
		require.Equal(t, 1.0, must(t, body, "gatehouse_events_subscribers"), "the subscriber that reads")

		// Expired: the expiry counts and its job is gone.
		env.Clock.Advance(10 * time.Minute)
		require.Equal(t, 1, env.RunDue(t, "expire_grant"))
		awaitItemID(t, env, item.ID, enum.ItemStatusExpired)
		awaitJobs(t, env, "expire_grant", rivertype.JobStateRunning, 0)
		body = fresh(t, env)
		require.Equal(t, 1.0, must(t, body, `gatehouse_grant_expiries_total{connector_kind="WEBHOOK"}`))
		require.Zero(t, must(t, body, `gatehouse_jobs{kind="expire_grant",state="scheduled"}`))
		require.Greater(t, must(t, body, "gatehouse_audit_checkpoint_lag_seconds"), 0.0)

		// Checkpointed: no lag.
		_, err = env.AuditLog.Checkpoint(ctx)
		require.NoError(t, err)
		body = fresh(t, env)
		require.Zero(t, must(t, body, "gatehouse_audit_checkpoint_lag_seconds"))
		require.Zero(t, must(t, body, "gatehouse_state_read_errors_total"))

		// The sample dashboard and the README's alerts name exposed metrics.
		for _, doc := range []string{"../../deploy/grafana-dashboard.json", "../../README.md"} {
			raw, err := os.ReadFile(doc)
			require.NoError(t, err)
			text := string(raw)
			if _, section, ok := strings.Cut(text, "\n## Metrics and alerts\n"); ok {
				text, _, _ = strings.Cut(section, "\n## ")
			}
			names := regexp.MustCompile(`gatehouse_[a-z_]+[a-z]`).FindAllString(text, -1)
			require.NotEmpty(t, names, doc)
			for _, name := range names {
				require.Contains(t, body, "# TYPE "+name+" ", "%s names %s", doc, name)
			}
		}
	})
}

// awaitStartupCheckpoint waits for the checkpoint job that runs at start,
// so that it cannot fold the test's events behind its back.
func awaitStartupCheckpoint(t *testing.T, env *apitest.Env) {
	t.Helper()
	require.Eventually(t, func() bool {
		res, err := env.Server.Jobs.Client().JobList(context.Background(),
			river.NewJobListParams().Kinds("audit_checkpoint").States(rivertype.JobStateCompleted))
		return err == nil && len(res.Jobs) > 0
	}, wait, 10*time.Millisecond, "the start-up checkpoint ran")
}

// awaitJobs waits until n jobs of kind are in state.
func awaitJobs(t *testing.T, env *apitest.Env, kind string, state rivertype.JobState, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		res, err := env.Server.Jobs.Client().JobList(context.Background(),
			river.NewJobListParams().Kinds(kind).States(state))
		return err == nil && len(res.Jobs) == n
	}, wait, 10*time.Millisecond, "%d %s jobs %s", n, kind, state)
}

// awaitScrape scrapes until ok holds (for figures not read from the
// database).
func awaitScrape(t *testing.T, env *apitest.Env, ok func(body string) bool, msg string) {
	t.Helper()
	var last string
	if !assertEventually(func() bool {
		last = scrapeEnv(t, env)
		return ok(last)
	}) {
		t.Fatalf("%s; last scrape:\n%s", msg, grepGatehouse(last))
	}
}

func assertEventually(cond func() bool) bool {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

func grepGatehouse(body string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "gatehouse_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// awaitItem waits until the only item of request reqID has status.
func awaitItem(t *testing.T, env *apitest.Env, reqID pulid.ID, status enum.ItemStatus) *ent.RequestItem {
	t.Helper()
	req, err := env.Client.AccessRequest.Get(apitest.Sys(), reqID)
	require.NoError(t, err)
	items, err := req.QueryItems().All(apitest.Sys())
	require.NoError(t, err)
	require.Len(t, items, 1)
	return awaitItemID(t, env, items[0].ID, status)
}

func awaitItemID(t *testing.T, env *apitest.Env, id pulid.ID, status enum.ItemStatus) *ent.RequestItem {
	t.Helper()
	var item *ent.RequestItem
	if !assertEventually(func() bool {
		var err error
		item, err = env.Client.RequestItem.Get(apitest.Sys(), id)
		return err == nil && item.Status == status
	}) {
		t.Fatalf("item %s did not become %s; last seen %+v", id, status, item)
	}
	return item
}

// dialWS opens a graphql-transport-ws connection authenticated with token
// and waits for connection_ack.
func dialWS(t *testing.T, env *apitest.Env, token string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: wait}
	conn, resp, err := d.Dial(env.WebsocketURL(), nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	t.Cleanup(func() { _ = conn.Close() })
	init := json.RawMessage(fmt.Sprintf(`{"authorization":"Bearer %s"}`, token))
	require.NoError(t, conn.WriteJSON(map[string]any{"type": "connection_init", "payload": init}))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	var ack struct{ Type string }
	require.NoError(t, conn.ReadJSON(&ack))
	require.Equal(t, "connection_ack", ack.Type)
	return conn
}

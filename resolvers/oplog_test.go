package resolvers_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/httpserver"
)

// logBuffer collects a server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the log lines whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.text()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestLogsAnOperatorReads runs a request through submission, approval and a
// fulfilment the application refuses with 404, and reads the server's log:
// one access line per GraphQL operation with its name, type, principal and
// error codes, never its variables or the bearer token; one INFO line per
// state change, from the audit events, with the IDs; and the connector
// failure at ERROR with the item, the connector kind and the error class.
func TestLogsAnOperatorReads(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		logs := &logBuffer{}
		rcv := apitest.NewReceiver(t)
		env := apitest.NewWith(t, db, apitest.Options{
			Env: rcv.Env(),
			Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		o := &org{env: env, receiver: rcv, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)}
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		rcv.FailNext(1, 404)

		const marker = "justification-that-stays-out-of-the-log"
		const submit = `mutation SubmitForLog($in: SubmitAccessRequestInput!) {
		  submitAccessRequest(input: $in) { id items { id } } }`
		var out struct {
			SubmitAccessRequest struct {
				ID    string
				Items []struct{ ID string }
			}
		}
		env.MustDo(t, c.tokB, submit, map[string]any{"in": map[string]any{
			"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": marker,
		}}, &out)
		reqID, itemID := out.SubmitAccessRequest.ID, out.SubmitAccessRequest.Items[0].ID
		res := env.Do(t, c.tokB, `mutation RetryForLog($id: ID!) { retryFulfillment(itemId: $id) { id } }`, map[string]any{"id": itemID})
		require.Equal(t, "FORBIDDEN", res.Code())
		o.fulApprove(t, c, reqID, "Wiki users")
		o.fulAwait(t, c.tokB, itemID, "FAILED")

		access := map[string][]map[string]any{}
		for _, l := range logs.lines(t, "http request") {
			if name, ok := l["operation"].(string); ok {
				access[name] = append(access[name], l)
			}
		}
		require.Len(t, access["SubmitForLog"], 1, "one access line per operation")
		sub := access["SubmitForLog"][0]
		require.Equal(t, "mutation", sub["type"])
		require.Equal(t, string(c.b.ID), sub["principal"])
		require.Equal(t, "/query", sub["route"])
		require.EqualValues(t, 200, sub["status"])
		require.Contains(t, sub, "duration_ms")
		require.NotContains(t, sub, "errors")
		require.Len(t, access["RetryForLog"], 1)
		require.Equal(t, []any{"FORBIDDEN"}, access["RetryForLog"][0]["errors"])

		text := logs.text()
		require.NotContains(t, text, marker, "variables never reach the log")
		require.NotContains(t, text, c.tokB, "tokens never reach the log")
		require.NotContains(t, text, c.tokM)

		submitted := logs.lines(t, "request submitted")
		require.Len(t, submitted, 1)
		require.Equal(t, "INFO", submitted[0]["level"])
		require.Equal(t, reqID, submitted[0]["request"])
		approved := logs.lines(t, "item approved")
		require.Len(t, approved, 1)
		require.Equal(t, itemID, approved[0]["item"])
		failed := logs.lines(t, "item failed")
		require.Len(t, failed, 1)
		require.Equal(t, "ERROR", failed[0]["level"])
		require.Equal(t, itemID, failed[0]["item"])

		calls := logs.lines(t, "connector call failed")
		require.Len(t, calls, 1, "a 404 is permanent: one call, logged once")
		call := calls[0]
		require.Equal(t, "ERROR", call["level"])
		require.Equal(t, itemID, call["item"])
		require.Equal(t, reqID, call["request"])
		require.Equal(t, "WEBHOOK", call["kind"])
		require.Equal(t, "http_4xx", call["class"])
		require.Equal(t, "unexpected status 404", call["reason"])
		require.Equal(t, true, call["item_failed"])
	})
}

// TestWebsocketAccessLog: over a websocket, each GraphQL operation gets one
// "graphql operation" line of its own when it ends (stopped by the client,
// ended by the server, or left open until the connection closes) — its name,
// type, principal and error codes, never its variables or the token — and the
// upgrade request its "http request" line with the status actually sent:
// 101 when the connection was upgraded, 403 when its origin was refused.
func TestWebsocketAccessLog(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		logs := &logBuffer{}
		env := apitest.NewWith(t, db, apitest.Options{
			CheckOrigin: httpserver.AllowOrigins([]string{"https://app.example"}),
			Log:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
		admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		token := env.Token(t, r)
		id := submit(t, env, token, manualApp(t, env, "X", admin))

		_, resp, err := dialWS(t, env.WebsocketURL(), http.Header{"Origin": {"https://evil.example"}}, "graphql-transport-ws")
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)

		c := connectWS(t, env.WebsocketURL(), token)
		watch := c.subscribe(`subscription WatchForLog($id: ID!) { requestProgress(id: $id) { status } }`, map[string]any{"id": id})
		watch.data(&struct{}{}) // the snapshot
		watch.stop()
		const missing = "req_01JZZZZZZZZZZZZZZZZSTAYSOUT" // a variable, never in the log
		denied := c.subscribe(`subscription MissingForLog($id: ID!) { requestProgress(id: $id) { status } }`, map[string]any{"id": missing})
		for msg := denied.next(10 * time.Second); msg.Type != "complete"; msg = denied.next(10 * time.Second) {
		}
		// Left open: the connection's close ends it.
		left := c.subscribe(`subscription OpenAtCloseForLog($id: ID!) { requestProgress(id: $id) { status } }`, map[string]any{"id": id})
		left.data(&struct{}{})
		require.NoError(t, c.conn.Close())

		// Both upgrade requests have their line (without an operation,
		// unlike the submission's).
		upgrades := func() []map[string]any {
			var out []map[string]any
			for _, l := range strings.Split(logs.text(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "http request" && m["type"] == nil {
					out = append(out, m)
				}
			}
			return out
		}
		require.Eventually(t, func() bool { return len(upgrades()) == 2 }, time.Minute, 10*time.Millisecond, "the upgrade requests' lines")
		statuses := map[float64]int{}
		for _, l := range upgrades() {
			require.Equal(t, "/query", l["path"])
			statuses[l["status"].(float64)]++
		}
		require.Equal(t, map[float64]int{http.StatusForbidden: 1, http.StatusSwitchingProtocols: 1}, statuses)

		ops := map[string][]map[string]any{}
		require.Eventually(t, func() bool { return len(logs.lines(t, "graphql operation")) >= 3 }, time.Minute, 10*time.Millisecond,
			"the line of the subscription the connection's close ended")
		for _, l := range logs.lines(t, "graphql operation") {
			ops[l["operation"].(string)] = append(ops[l["operation"].(string)], l)
		}
		require.Len(t, ops, 3, "one line per operation: %v", ops)
		require.Len(t, ops["WatchForLog"], 1)
		require.Len(t, ops["MissingForLog"], 1)
		require.Len(t, ops["OpenAtCloseForLog"], 1)
		for name, l := range ops {
			require.Equal(t, "subscription", l[0]["type"], name)
			require.Equal(t, string(r.ID), l[0]["principal"], name)
			require.Contains(t, l[0], "duration_ms", name)
		}
		require.NotContains(t, ops["WatchForLog"][0], "errors")
		require.Equal(t, []any{"NOT_FOUND"}, ops["MissingForLog"][0]["errors"])
		require.NotContains(t, logs.text(), missing, "variables never reach the log")
		require.NotContains(t, logs.text(), token, "tokens never reach the log")
	})
}

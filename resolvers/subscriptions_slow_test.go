package resolvers_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// TestSlowConsumerDroppedWithoutBlockingDecisions: an IT admin's client
// subscribes to every request change with a large selection and stops
// reading. Requests and a decision go on at full speed: the events pile up
// for the client until its subscription's buffer is full, and the feed drops
// it instead of waiting. A reviewer who reads receives every event
// meanwhile.
func TestSlowConsumerDroppedWithoutBlockingDecisions(t *testing.T) {
	t.Parallel()
	env := apitest.NewWith(t, dbtest.NewSQLite(t), apitest.Options{FeedBuffer: 2})
	admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	m := env.User(t, "m@example.com", enum.PlatformRoleUser)
	r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	x := manualApp(t, env, "X", admin)

	// The slow client: a small receive buffer, and it never reads after
	// connection_ack. Each event carries 10 × 4,000 bytes of justification.
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, NetDialContext: (&net.Dialer{
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		},
	}).DialContext}
	slow, resp, err := d.Dial(env.WebsocketURL(), nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	t.Cleanup(func() { _ = slow.Close() })
	initWS(t, slow, env.Token(t, admin))
	var fields strings.Builder
	for i := range 10 {
		fmt.Fprintf(&fields, " j%d: justification", i)
	}
	payload, err := json.Marshal(map[string]any{"query": `subscription { accessRequestChanged(scope: VISIBLE) { id` + fields.String() + ` } }`})
	require.NoError(t, err)
	require.NoError(t, slow.WriteJSON(wsMessage{ID: "1", Type: "subscribe", Payload: payload}))

	// The reviewer reads.
	fast := connectWS(t, env.WebsocketURL(), env.Token(t, m))
	tasks := fast.subscribe(subMyTaskProgress, nil)
	waitSubscribers(t, env, 2)

	rToken, mToken := env.Token(t, r), env.Token(t, m)
	justification := strings.Repeat("j", 4000)
	// The slow client reads nothing until the end: a mutation that waited
	// for it would never return.
	var last string
	for i := 0; env.Feed.Dropped() == 0; i++ {
		require.Less(t, i, 200, "the slow subscriber was never dropped")
		e, err := env.Client.Entitlement.Create().SetApplicationID(x.ApplicationID).
			SetExternalID(fmt.Sprint(i)).SetName(fmt.Sprint("X ", i)).Save(apitest.Sys())
		require.NoError(t, err)
		var sub struct{ SubmitAccessRequest struct{ ID string } }
		env.MustDo(t, rToken, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": justification}}, &sub)
		last = sub.SubmitAccessRequest.ID
		var ev liveTask
		tasks.data(&ev)
		require.Equal(t, last, ev.MyTaskProgress.Request.ID, "the reader gets every event")
	}

	// A decision after the drop goes through and reaches the reader.
	task, err := env.Client.ReviewTask.Query().
		Where(reviewtask.RequestID(pulid.ID(last)), reviewtask.ReviewerID(m.ID)).OnlyID(apitest.Sys())
	require.NoError(t, err)
	env.MustDo(t, mToken, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
		map[string]any{"id": string(task)}, nil)
	var ev liveTask
	tasks.data(&ev)
	require.Equal(t, last, ev.MyTaskProgress.Request.ID)
	require.Equal(t, completion{1, 1, 100}, ev.MyTaskProgress.Mine)

	// The slow client, once it reads again, finds its connection closed
	// with 1013 (try again later), so it reconnects rather than show stale
	// numbers; the reader stays.
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		_, _, err := slow.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, websocket.CloseTryAgainLater, ce.Code)
			break
		}
	}
	require.Equal(t, 1, env.Feed.Subscribers())
}

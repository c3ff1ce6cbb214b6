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
	"gatehouse/resolvers"
)

// TestSlowConsumerDroppedWithoutBlockingDecisions: an IT admin's client
// subscribes to every request change with a large selection and stops
// reading. Requests and a decision go on at full speed: the events fill the
// socket's buffers, then the subscription's buffer of two, and the feed drops
// the client instead of waiting. A reviewer who reads receives every event
// meanwhile. The write timeout and the keepalive are out of the way (an
// hour), so that the drop is the only way the slow client can leave and its
// close frame waits for the client to make room, however slow the machine:
// the rounds needed are bounded by what the kernel buffers for one socket.
func TestSlowConsumerDroppedWithoutBlockingDecisions(t *testing.T) {
	t.Parallel()
	limits := resolvers.DefaultLimits
	limits.WebsocketWrite = time.Hour
	limits.WebsocketKeepAlive = time.Hour // a client that reads nothing answers no ping either
	env := apitest.NewWith(t, dbtest.NewSQLite(t), apitest.Options{FeedBuffer: 2, Limits: &limits, SendBuffer: 4096})
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

	// Once the drop is counted the slow client reads again, for its close
	// frame: the server waits (the write timeout) for it to make room.
	closed, done := make(chan error, 1), make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		tick := time.NewTicker(time.Millisecond) // the feed counts drops; it tells no one
		defer tick.Stop()
		for env.Feed.Dropped() == 0 {
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
		_ = slow.SetReadDeadline(time.Now().Add(time.Minute)) // a failsafe
		for {
			if _, _, err := slow.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()

	rToken, mToken := env.Token(t, r), env.Token(t, m)
	justification := strings.Repeat("j", 4000)
	// Until the drop the slow client reads nothing: a mutation that waited
	// for it would never return. The kernel buffers a few events of 40 kB
	// (4 KiB asked for at each end, which Linux doubles and rounds up);
	// 200 are far more.
	var last string
	for i := 0; ; i++ {
		n := env.Feed.Subscribers() // before Dropped: the feed counts a drop, then removes
		if env.Feed.Dropped() > 0 {
			break
		}
		require.Equal(t, 2, n, "round %d: the slow subscriber left without being dropped", i)
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

	// The slow client finds its connection closed with 1013 (try again
	// later), so it reconnects rather than show stale numbers; the reader
	// stays.
	err = <-closed
	var ce *websocket.CloseError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, websocket.CloseTryAgainLater, ce.Code)
	waitSubscribers(t, env, 1)
}

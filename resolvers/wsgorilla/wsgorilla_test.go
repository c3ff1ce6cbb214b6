package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"gatehouse/internal/pubsub"
	"gatehouse/resolvers/wsgorilla"
)

var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query { name: String! }
	type Subscription { tick(snapshot: Boolean): String!, stream: String! }
`})

// testServer serves a schema whose tick subscription goes through a
// pubsub broker, as Gatehouse's do (tick(snapshot: true) queues a value
// while it is dispatched, as requestProgress queues its snapshot), and
// whose stream subscription is a plain channel the test feeds.
type testServer struct {
	broker    *pubsub.Broker[string]
	stream    chan string
	transport *wsgorilla.Transport
	url       string
}

// offer sends v on ch, failing the test when nothing takes it within five
// seconds instead of blocking until the package's timeout.
func offer[T any](t *testing.T, ch chan<- T, v T) {
	t.Helper()
	select {
	case ch <- v:
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing took %v", v)
	}
}

func serve(t *testing.T, cfg wsgorilla.Config) *testServer {
	t.Helper()
	s := &testServer{broker: pubsub.NewBroker[string](pubsub.Options{Buffer: 4}), stream: make(chan string)}
	t.Cleanup(s.broker.Close)
	h := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			oc := graphql.GetOperationContext(ctx)
			if oc.Operation.Operation != ast.Subscription {
				return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"name":"test"}`)})
			}
			field := oc.Operation.SelectionSet[0].(*ast.Field)
			if field.Name == "stream" {
				return func(ctx context.Context) *graphql.Response {
					select {
					case v := <-s.stream:
						return &graphql.Response{Data: json.RawMessage(`{"stream":"` + v + `"}`)}
					case <-ctx.Done():
						return nil
					}
				}
			}
			sub := pubsub.SubscribeFunc(s.broker, ctx, "t", func(v string) (string, bool) { return v, true })
			if snap, _ := field.ArgumentMap(oc.Variables)["snapshot"].(bool); snap {
				sub.Offer("snapshot")
			}
			return func(ctx context.Context) *graphql.Response {
				select {
				case v, ok := <-sub.C:
					if !ok {
						return nil
					}
					return &graphql.Response{Data: json.RawMessage(`{"tick":"` + v + `"}`)}
				case <-ctx.Done():
					return nil
				}
			}
		},
	})
	s.transport = wsgorilla.New(cfg)
	h.AddTransport(s.transport)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return s
}

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dial(t *testing.T, url, subprotocol string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, header)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, subprotocol, c.Subprotocol())
	t.Cleanup(func() { _ = c.Close() })
	// A safety net for a read that would never end; read renews it per
	// message.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(readWait)))
	return c
}

// connect dials and completes connection_init.
func connect(t *testing.T, url, subprotocol string) *websocket.Conn {
	t.Helper()
	c := dial(t, url, subprotocol, nil)
	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)
	return c
}

func send(t *testing.T, c *websocket.Conn, m message) {
	t.Helper()
	require.NoError(t, c.WriteJSON(m))
}

func subscribe(t *testing.T, c *websocket.Conn, id, query string) {
	t.Helper()
	payload, err := json.Marshal(map[string]string{"query": query})
	require.NoError(t, err)
	send(t, c, message{ID: id, Type: "subscribe", Payload: payload})
}

// readWait bounds the wait for one message: a safety net against a hang,
// far above what any message takes on a loaded machine.
const readWait = 30 * time.Second

func read(t *testing.T, c *websocket.Conn) message {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(readWait)))
	var m message
	require.NoError(t, c.ReadJSON(&m))
	return m
}

// readClose reads until the server closes and returns its close frame.
func readClose(t *testing.T, c *websocket.Conn) *websocket.CloseError {
	t.Helper()
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var closeErr *websocket.CloseError
		require.ErrorAs(t, err, &closeErr)
		return closeErr
	}
}

func TestPubsubSubscriptions(t *testing.T) {
	t.Parallel()
	s := serve(t, wsgorilla.Config{})
	c := connect(t, s.url, "graphql-transport-ws")

	// The value queued while the operation is dispatched comes first.
	subscribe(t, c, "1", `subscription { tick(snapshot: true) }`)
	require.Equal(t, message{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":{"tick":"snapshot"}}`)}, read(t, c))
	subscribe(t, c, "2", `subscription { tick }`)
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 2 }, time.Minute, 5*time.Millisecond)

	s.broker.Publish("t", "a")
	got := map[string]string{}
	for range 2 {
		m := read(t, c)
		require.Equal(t, "next", m.Type)
		got[m.ID] = string(m.Payload)
	}
	require.Equal(t, map[string]string{"1": `{"data":{"tick":"a"}}`, "2": `{"data":{"tick":"a"}}`}, got)

	// The client ends one: it completes and leaves the broker.
	send(t, c, message{ID: "1", Type: "complete"})
	require.Equal(t, message{ID: "1", Type: "complete"}, read(t, c))
	require.Equal(t, 1, s.broker.Subscribers("t"))

	// The server ends the other (the broker closes): it completes.
	s.broker.Close()
	require.Equal(t, message{ID: "2", Type: "complete"}, read(t, c))

	// The connection is still usable.
	send(t, c, message{Type: "ping"})
	require.Equal(t, "pong", read(t, c).Type)
	subscribe(t, c, "q", `{ name }`)
	require.Equal(t, message{ID: "q", Type: "next", Payload: json.RawMessage(`{"data":{"name":"test"}}`)}, read(t, c))
	require.Equal(t, message{ID: "q", Type: "complete"}, read(t, c))
}

// TestOtherStreamsRunOnTheirOwnGoroutine: a subscription that does not go
// through pubsub is served the way gqlgen does, blocking on its channel.
func TestOtherStreamsRunOnTheirOwnGoroutine(t *testing.T) {
	t.Parallel()
	s := serve(t, wsgorilla.Config{})
	c := connect(t, s.url, "graphql-transport-ws")
	subscribe(t, c, "1", `subscription { stream }`)
	for _, v := range []string{"x", "y"} {
		offer(t, s.stream, v)
		require.Equal(t, message{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":{"stream":"` + v + `"}}`)}, read(t, c))
	}
	send(t, c, message{ID: "1", Type: "complete"})
	require.Equal(t, message{ID: "1", Type: "complete"}, read(t, c))
}

// TestIdleSubscriptionsCostOneGoroutinePerConnection: 10 connections with 20
// pubsub subscriptions each leave 10 goroutines in this package (the read
// loops), and none once closed. Not parallel: it counts goroutines.
func TestIdleSubscriptionsCostOneGoroutinePerConnection(t *testing.T) {
	s := serve(t, wsgorilla.Config{KeepAlive: time.Minute, InitTimeout: time.Minute})
	conns := make([]*websocket.Conn, 10)
	for i := range conns {
		conns[i] = connect(t, s.url, "graphql-transport-ws")
		for j := range 20 {
			subscribe(t, conns[i], string(rune('a'+j)), `subscription { tick(snapshot: true) }`)
			require.Equal(t, "next", read(t, conns[i]).Type)
		}
	}
	require.Equal(t, 200, s.broker.Subscribers("t"))
	require.Eventually(t, func() bool { return goroutines() == len(conns) }, time.Minute, 10*time.Millisecond,
		"goroutines in wsgorilla: %d", goroutines())

	s.broker.Publish("t", "v")
	for _, c := range conns {
		for range 20 {
			require.Equal(t, `{"data":{"tick":"v"}}`, string(read(t, c).Payload))
		}
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { return goroutines() == 0 && s.broker.Subscribers("t") == 0 }, time.Minute, 10*time.Millisecond)
	require.Equal(t, 0, s.transport.Connections())
}

func goroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "resolvers/wsgorilla.") && !strings.Contains(g, "wsgorilla_test.") {
			n++
		}
	}
	return n
}

// TestSlowConsumerIsDroppedWithoutBlockingThePublisher: a client that stops
// reading fills its socket, then its subscription's buffer; the broker drops
// it rather than wait, and the other subscriber gets every value. (The write
// timeout that then disconnects such a client is
// TestWriteTimeoutDisconnectsAClientThatStopsReading's.)
func TestSlowConsumerIsDroppedWithoutBlockingThePublisher(t *testing.T) {
	t.Parallel()
	// No write times out while the test runs, however slow the machine: the
	// slow subscriber is dropped because its buffer is full, not because its
	// connection ended.
	s := serve(t, wsgorilla.Config{WriteTimeout: time.Hour})
	slow := connect(t, s.url, "graphql-transport-ws")
	subscribe(t, slow, "1", `subscription { tick }`)
	fast := connect(t, s.url, "graphql-transport-ws")
	subscribe(t, fast, "1", `subscription { tick }`)
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 2 }, time.Minute, 5*time.Millisecond)

	// The fast client reads each value before the next is published; the
	// slow one reads nothing.
	big := strings.Repeat("x", 256<<10)
	for i := range 100 {
		s.broker.Publish("t", big)
		m := read(t, fast)
		require.Equal(t, "next", m.Type, "value %d", i)
	}
	// The broker dropped the slow subscription when its buffer filled,
	// instead of waiting for it (a publisher that waited would have seen
	// it unsubscribed by the write timeout, not dropped).
	require.Equal(t, int64(1), s.broker.Dropped())
	require.Equal(t, 1, s.broker.Subscribers("t"))
}

// TestWriteTimeoutDisconnectsAClientThatStopsReading: values from a
// stream outside pubsub (nothing drops them) to a client that never reads
// fill its socket; the stuck write fails after the write timeout and the
// connection ends instead of holding a writer forever.
func TestWriteTimeoutDisconnectsAClientThatStopsReading(t *testing.T) {
	t.Parallel()
	s := serve(t, wsgorilla.Config{WriteTimeout: 300 * time.Millisecond})
	c := connect(t, s.url, "graphql-transport-ws")
	subscribe(t, c, "1", `subscription { stream }`)
	big := strings.Repeat("x", 256<<10)
	// 10 MiB, more than the socket buffers hold; on a loaded machine the
	// connection may time out before the stream has taken them all.
	for sent := 0; sent < 40 && s.transport.Connections() > 0; {
		select {
		case s.stream <- big:
			sent++
		case <-time.After(10 * time.Millisecond):
		}
	}
	require.Eventually(t, func() bool { return s.transport.Connections() == 0 }, time.Minute, 10*time.Millisecond)
}

func TestCloseCodes(t *testing.T) {
	t.Parallel()
	refuse := func(ctx context.Context, p map[string]any) (context.Context, error) {
		switch p["token"] {
		case "good":
			return ctx, nil
		case "broken":
			return nil, errors.New("database down")
		}
		return nil, &wsgorilla.CloseError{Code: wsgorilla.CloseUnauthorized, Reason: "bad token"}
	}
	// The init timeout's clock does not move: each case's messages are read
	// however late they come.
	s := serve(t, wsgorilla.Config{Init: refuse, InitTimeout: time.Minute, MaxOperations: 1, Clock: newManualClock()})
	// A client that sends nothing is closed once the init timeout passes.
	silent := serve(t, wsgorilla.Config{Init: refuse, InitTimeout: 100 * time.Millisecond})
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		closeErr := readClose(t, dial(t, silent.url, proto, nil))
		require.Equal(t, wsgorilla.CloseInitTimeout, closeErr.Code, proto)
		require.Equal(t, "Connection initialisation timeout", closeErr.Text, proto)
	}

	init := message{Type: "connection_init", Payload: json.RawMessage(`{"token":"good"}`)}
	sub := message{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { tick }"}`)}
	for _, tt := range []struct {
		name     string
		proto    string
		messages []message
		code     int
		reason   string
	}{
		{"refused credentials", "graphql-transport-ws",
			[]message{{Type: "connection_init", Payload: json.RawMessage(`{"token":"bad"}`)}}, wsgorilla.CloseUnauthorized, "bad token"},
		{"refused credentials, legacy", "graphql-ws",
			[]message{{Type: "connection_init"}}, wsgorilla.CloseUnauthorized, "bad token"},
		{"an error without a code", "graphql-transport-ws",
			[]message{{Type: "connection_init", Payload: json.RawMessage(`{"token":"broken"}`)}}, wsgorilla.CloseForbidden, "Forbidden"},
		{"subscribe before connection_init", "graphql-transport-ws", []message{sub}, wsgorilla.CloseUnauthorized, "Unauthorized"},
		{"two connection_init", "graphql-transport-ws", []message{init, init}, wsgorilla.CloseTooManyInits, "Too many initialisation requests"},
		{"an ID in use", "graphql-transport-ws", []message{init, sub, sub}, wsgorilla.CloseDuplicateID, "Subscriber for 1 already exists"},
		{"an unknown message", "graphql-transport-ws", []message{init, {Type: "hello"}}, wsgorilla.CloseBadRequest, "Invalid message received"},
		{"a legacy message on the new protocol", "graphql-transport-ws", []message{init, {ID: "1", Type: "start"}}, wsgorilla.CloseBadRequest, "Invalid message received"},
		{"subscribe without an ID", "graphql-transport-ws", []message{init, {Type: "subscribe"}}, wsgorilla.CloseBadRequest, "Invalid message received"},
		{"connection_terminate", "graphql-ws", []message{init, {Type: "connection_terminate"}}, websocket.CloseNormalClosure, "terminated"},
	} {
		c := dial(t, s.url, tt.proto, nil)
		for _, m := range tt.messages {
			send(t, c, m)
		}
		closeErr := readClose(t, c)
		require.Equal(t, tt.code, closeErr.Code, tt.name)
		require.Equal(t, tt.reason, closeErr.Text, tt.name)
	}

	// Not JSON at all.
	c := dial(t, s.url, "graphql-transport-ws", nil)
	require.NoError(t, c.WriteMessage(websocket.TextMessage, []byte("{")))
	require.Equal(t, wsgorilla.CloseBadRequest, readClose(t, c).Code)

	// The legacy protocol says why before closing.
	legacy := dial(t, s.url, "graphql-ws", nil)
	send(t, legacy, message{Type: "connection_init", Payload: json.RawMessage(`{"token":"bad"}`)})
	require.Equal(t, message{Type: "connection_error", Payload: json.RawMessage(`{"message":"bad token"}`)}, read(t, legacy))
}

func TestOperationErrors(t *testing.T) {
	t.Parallel()
	s := serve(t, wsgorilla.Config{MaxOperations: 1})
	c := connect(t, s.url, "graphql-transport-ws")

	// A document that does not validate: one error message, no complete.
	subscribe(t, c, "bad", `subscription { nope }`)
	m := read(t, c)
	require.Equal(t, "error", m.Type)
	require.Equal(t, "bad", m.ID)
	require.Contains(t, string(m.Payload), `Cannot query field \"nope\"`)

	// A payload that is not a GraphQL request.
	send(t, c, message{ID: "3", Type: "subscribe", Payload: json.RawMessage(`[1]`)})
	m = read(t, c)
	require.Equal(t, message{ID: "3", Type: "error", Payload: json.RawMessage(
		`[{"message":"the payload is not a GraphQL request","extensions":{"code":"INVALID_INPUT"}}]`)}, m)

	// Over the cap: a coded error in next, then complete.
	subscribe(t, c, "1", `subscription { tick }`)
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 1 }, time.Minute, 5*time.Millisecond)
	subscribe(t, c, "2", `subscription { tick }`)
	m = read(t, c)
	require.Equal(t, "next", m.Type)
	require.JSONEq(t, `{"data":null,"errors":[{"message":"too many subscriptions on this connection (at most 1)","extensions":{"code":"INVALID_INPUT"}}]}`, string(m.Payload))
	require.Equal(t, message{ID: "2", Type: "complete"}, read(t, c))

}

func TestLegacyProtocol(t *testing.T) {
	t.Parallel()
	// The keepalive's clock does not move: no "ka" but the first.
	s := serve(t, wsgorilla.Config{KeepAlive: time.Minute, Clock: newManualClock()})
	c := dial(t, s.url, "graphql-ws", nil)
	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)
	require.Equal(t, "ka", read(t, c).Type)

	send(t, c, message{ID: "1", Type: "start", Payload: json.RawMessage(`{"query":"subscription { tick(snapshot: true) }"}`)})
	require.Equal(t, message{ID: "1", Type: "data", Payload: json.RawMessage(`{"data":{"tick":"snapshot"}}`)}, read(t, c))
	send(t, c, message{ID: "1", Type: "stop"})
	require.Equal(t, message{ID: "1", Type: "complete"}, read(t, c))
}

// TestKeepAlive: on graphql-transport-ws the server pings every interval; a
// client that answers is kept, one that sends nothing for two intervals is
// closed with 1001. The test moves the transport's clock, so a loaded
// machine changes nothing.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	s := serve(t, wsgorilla.Config{KeepAlive: time.Minute, Clock: clock})
	live := connect(t, s.url, "graphql-transport-ws")
	silent := connect(t, s.url, "graphql-transport-ws")
	// The keepalive starts just after connection_ack is written.
	require.Eventually(t, func() bool { return clock.Timers() == 2 }, time.Minute, 5*time.Millisecond)

	for i := range 4 {
		clock.Advance(time.Minute)
		require.Equal(t, "ping", read(t, live).Type, "ping %d", i)
		send(t, live, message{Type: "pong"})
		// The server has read the pong once it answers a ping sent after it.
		send(t, live, message{Type: "ping"})
		require.Equal(t, "pong", read(t, live).Type)
		if i == 1 {
			// Nothing from the silent client for two intervals.
			require.Equal(t, websocket.CloseGoingAway, readClose(t, silent).Code)
		}
	}
	require.Eventually(t, func() bool { return s.transport.Connections() == 1 }, time.Minute, 10*time.Millisecond)
}

// TestKeepAliveLegacy: on graphql-ws the server sends "ka" after
// connection_ack and every interval.
func TestKeepAliveLegacy(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	s := serve(t, wsgorilla.Config{KeepAlive: time.Minute, Clock: clock})
	c := dial(t, s.url, "graphql-ws", nil)
	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)
	require.Equal(t, "ka", read(t, c).Type)
	require.Eventually(t, func() bool { return clock.Timers() == 1 }, time.Minute, 5*time.Millisecond)
	clock.Advance(time.Minute)
	require.Equal(t, "ka", read(t, c).Type) // gorilla answers the websocket ping as it reads
}

func TestReadLimit(t *testing.T) {
	t.Parallel()
	s := serve(t, wsgorilla.Config{ReadLimit: 2048})
	c := connect(t, s.url, "graphql-transport-ws")
	// A message a little under the limit crosses the small read buffer.
	subscribe(t, c, "1", `{ name }`+strings.Repeat(" ", 1900))
	require.Equal(t, "next", read(t, c).Type)
	require.Equal(t, "complete", read(t, c).Type)
	subscribe(t, c, "2", `{ name }`+strings.Repeat(" ", 4096))
	require.Equal(t, websocket.CloseMessageTooBig, readClose(t, c).Code)
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	refused := func(url, origin string) {
		_, resp, err := d.Dial(url, http.Header{"Origin": {origin}})
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
	}
	// By default only same-origin browsers and clients without an Origin.
	s := serve(t, wsgorilla.Config{})
	refused(s.url, "https://evil.example")
	dial(t, s.url, "graphql-transport-ws", nil)

	allowList := serve(t, wsgorilla.Config{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://app.example"
	}})
	refused(allowList.url, "https://evil.example")
	dial(t, allowList.url, "graphql-transport-ws", http.Header{"Origin": {"https://app.example"}})
}

// TestShutdownClosesConnections: when the transport's context ends, every
// connection closes with 1001 and new ones are refused the same way.
func TestShutdownClosesConnections(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s := serve(t, wsgorilla.Config{Context: ctx})
	c := connect(t, s.url, "graphql-transport-ws")
	subscribe(t, c, "1", `subscription { tick }`)
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 1 }, time.Minute, 5*time.Millisecond)
	cancel()
	require.Equal(t, websocket.CloseGoingAway, readClose(t, c).Code)
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 0 }, time.Minute, 5*time.Millisecond)
	later := dial(t, s.url, "graphql-transport-ws", nil)
	require.Equal(t, websocket.CloseGoingAway, readClose(t, later).Code)
}

// TestAbruptDisconnectEndsSubscriptions: a TCP close without a close frame
// ends the connection's subscriptions.
func TestAbruptDisconnectEndsSubscriptions(t *testing.T) {
	t.Parallel()
	s := serve(t, wsgorilla.Config{})
	c := connect(t, s.url, "graphql-transport-ws")
	for _, id := range []string{"1", "2", "3"} {
		subscribe(t, c, id, `subscription { tick }`)
	}
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 3 }, time.Minute, 5*time.Millisecond)
	require.NoError(t, c.NetConn().(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.NetConn().Close())
	require.Eventually(t, func() bool { return s.broker.Subscribers("t") == 0 && s.transport.Connections() == 0 }, time.Minute, 5*time.Millisecond)
}

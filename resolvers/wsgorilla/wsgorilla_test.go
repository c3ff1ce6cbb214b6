package wsgorilla_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/resolvers/wsgorilla"
)

type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// serve starts gqlgen's test schema behind transport.Websocket using the
// gorilla implementation; configure may adjust the transport.
func serve(t *testing.T, opts wsgorilla.Options, configure func(*transport.Websocket)) (*testserver.TestServer, string) {
	t.Helper()
	ws := transport.Websocket{Implementation: wsgorilla.New(opts), InitTimeout: 100 * time.Millisecond}
	if configure != nil {
		configure(&ws)
	}
	h := testserver.New()
	h.AddTransport(ws)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(t *testing.T, url, subprotocol string, header http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, header)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, subprotocol, c.Subprotocol())
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	return c
}

func send(t *testing.T, c *websocket.Conn, m message) {
	t.Helper()
	require.NoError(t, c.WriteJSON(m))
}

func read(t *testing.T, c *websocket.Conn) message {
	t.Helper()
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

func TestTransportWSSubscription(t *testing.T) {
	t.Parallel()
	h, url := serve(t, wsgorilla.Options{}, nil)
	c := dial(t, url, "graphql-transport-ws", nil)

	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)

	send(t, c, message{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { name }"}`)})
	for range 2 {
		h.SendNextSubscriptionMessage()
		m := read(t, c)
		require.Equal(t, "next", m.Type)
		require.Equal(t, "1", m.ID)
		require.JSONEq(t, `{"data":{"name":"test"}}`, string(m.Payload))
	}

	// The client ends the subscription; gqlgen acknowledges with complete.
	send(t, c, message{ID: "1", Type: "complete"})
	require.Equal(t, message{ID: "1", Type: "complete"}, read(t, c))

	// The server ends the next subscription.
	send(t, c, message{ID: "2", Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { name }"}`)})
	h.SendCompleteSubscriptionMessage()
	require.Equal(t, message{ID: "2", Type: "complete"}, read(t, c))

	// The connection is still usable: ping gets pong.
	send(t, c, message{Type: "ping"})
	require.Equal(t, "pong", read(t, c).Type)
}

func TestInitTimeoutClosesWith4408(t *testing.T) {
	t.Parallel()
	_, url := serve(t, wsgorilla.Options{}, nil)
	c := dial(t, url, "graphql-transport-ws", nil)

	closeErr := readClose(t, c)
	require.Equal(t, wsgorilla.CloseInitTimeout, closeErr.Code)
	require.Equal(t, "Connection initialisation timeout", closeErr.Text)
}

func TestOtherProtocolErrorsKeep1002(t *testing.T) {
	t.Parallel()
	_, url := serve(t, wsgorilla.Options{}, nil)

	// A subscribe before connection_init is a protocol error, not a timeout.
	c := dial(t, url, "graphql-transport-ws", nil)
	send(t, c, message{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":"subscription { name }"}`)})
	closeErr := readClose(t, c)
	require.Equal(t, websocket.CloseProtocolError, closeErr.Code)
	require.Equal(t, "unexpected message", closeErr.Text)

	// The legacy protocol defines no 4408, so its init timeout stays 1002.
	legacy := dial(t, url, "graphql-ws", nil)
	closeErr = readClose(t, legacy)
	require.Equal(t, websocket.CloseProtocolError, closeErr.Code)
	require.Equal(t, "connection initialisation timeout", closeErr.Text)
}

func TestLegacyGraphQLWS(t *testing.T) {
	t.Parallel()
	h, url := serve(t, wsgorilla.Options{}, nil)
	c := dial(t, url, "graphql-ws", nil)

	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)
	require.Equal(t, "ka", read(t, c).Type)

	send(t, c, message{ID: "1", Type: "start", Payload: json.RawMessage(`{"query":"subscription { name }"}`)})
	h.SendNextSubscriptionMessage()
	m := read(t, c)
	require.Equal(t, "data", m.Type)
	require.JSONEq(t, `{"data":{"name":"test"}}`, string(m.Payload))

	send(t, c, message{ID: "1", Type: "stop"})
	require.Equal(t, message{ID: "1", Type: "complete"}, read(t, c))

	send(t, c, message{Type: "connection_terminate"})
	require.Equal(t, websocket.CloseNormalClosure, readClose(t, c).Code)
}

func TestReadLimitClosesConnection(t *testing.T) {
	t.Parallel()
	limit := int64(256)
	_, url := serve(t, wsgorilla.Options{}, func(ws *transport.Websocket) { ws.PayloadReadLimit = &limit })
	c := dial(t, url, "graphql-transport-ws", nil)

	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)

	query, err := json.Marshal(map[string]string{"query": "subscription { name }" + strings.Repeat(" ", 1024)})
	require.NoError(t, err)
	send(t, c, message{ID: "1", Type: "subscribe", Payload: query})
	require.Equal(t, websocket.CloseMessageTooBig, readClose(t, c).Code)
}

func TestCheckOrigin(t *testing.T) {
	t.Parallel()
	_, url := serve(t, wsgorilla.Options{CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://app.example"
	}}, nil)

	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	c, resp, err := d.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Nil(t, c)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NoError(t, resp.Body.Close())

	ok := dial(t, url, "graphql-transport-ws", http.Header{"Origin": {"https://app.example"}})
	send(t, ok, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, ok).Type)
}

func TestDefaultCheckOriginIsSameOrigin(t *testing.T) {
	t.Parallel()
	_, url := serve(t, wsgorilla.Options{}, nil)

	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
	_, resp, err := d.Dial(url, http.Header{"Origin": {"https://evil.example"}})
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
}

func TestReuseHTTPBuffers(t *testing.T) {
	t.Parallel()
	h, url := serve(t, wsgorilla.Options{ReuseHTTPBuffers: true}, nil)
	c := dial(t, url, "graphql-transport-ws", nil)
	send(t, c, message{Type: "connection_init"})
	require.Equal(t, "connection_ack", read(t, c).Type)
	// A message larger than the 4 KiB buffers crosses their boundaries.
	query, err := json.Marshal(map[string]string{"query": "subscription { name }" + strings.Repeat(" ", 10<<10)})
	require.NoError(t, err)
	send(t, c, message{ID: "1", Type: "subscribe", Payload: query})
	h.SendNextSubscriptionMessage()
	m := read(t, c)
	require.Equal(t, "next", m.Type)
	require.JSONEq(t, `{"data":{"name":"test"}}`, string(m.Payload))
}

// TestWriteTimeoutFailsStuckWrites: a peer that stops reading makes writes
// fail after the timeout instead of blocking forever.
func TestWriteTimeoutFailsStuckWrites(t *testing.T) {
	t.Parallel()
	impl := wsgorilla.New(wsgorilla.Options{WriteTimeout: 200 * time.Millisecond})
	result := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := impl.Accept(w, r, transport.WebsocketAcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			result <- err
			return
		}
		defer conn.Close()
		big := map[string]string{"payload": strings.Repeat("x", 64<<10)}
		start := time.Now()
		for time.Since(start) < 10*time.Second {
			if err := conn.WriteJSON(big); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	}))
	t.Cleanup(srv.Close)
	c := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http"), "graphql-transport-ws", nil)
	_ = c // never read
	select {
	case err := <-result:
		require.Error(t, err, "writes to a peer that does not read must fail")
	case <-time.After(15 * time.Second):
		t.Fatal("a write blocked past the timeout")
	}
}

package resolvers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// wsMessage is a graphql-transport-ws (or graphql-ws) message.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a graphql-transport-ws client over gorilla for tests: it
// reads in the background and routes each operation's messages to its own
// channel.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn

	mu     sync.Mutex
	ops    map[string]chan wsMessage
	next   int
	closed chan struct{}
	// pings has a value for each server ping answered (up to its buffer).
	pings chan struct{}
	// closeErr is how the server closed the socket, once closed.
	closeErr error
}

func dialWS(t testing.TB, url string, header http.Header, subprotocol string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if c != nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, resp, err
}

// initMessage is connection_init carrying token.
func initMessage(token string) wsMessage {
	return wsMessage{Type: "connection_init", Payload: json.RawMessage(fmt.Sprintf(`{"authorization":"Bearer %s"}`, token))}
}

// initWS sends connection_init with token on conn and waits for
// connection_ack (either protocol).
func initWS(t testing.TB, conn *websocket.Conn, token string) {
	t.Helper()
	require.NoError(t, conn.WriteJSON(initMessage(token)))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var ack wsMessage
	require.NoError(t, conn.ReadJSON(&ack))
	require.Equal(t, "connection_ack", ack.Type)
	require.NoError(t, conn.SetReadDeadline(time.Time{}))
}

// connectWS opens a graphql-transport-ws connection authenticated with
// token and waits for connection_ack.
func connectWS(t testing.TB, url, token string) *wsClient {
	t.Helper()
	conn, _, err := dialWS(t, url, nil, "graphql-transport-ws")
	require.NoError(t, err)
	initWS(t, conn, token)
	c := &wsClient{t: t, conn: conn, ops: map[string]chan wsMessage{}, closed: make(chan struct{}), pings: make(chan struct{}, 16)}
	go c.read()
	t.Cleanup(func() { _ = conn.Close(); <-c.closed })
	return c
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		var m wsMessage
		if err := c.conn.ReadJSON(&m); err != nil {
			c.mu.Lock()
			c.closeErr = err
			for _, ch := range c.ops {
				close(ch)
			}
			c.ops = map[string]chan wsMessage{}
			c.mu.Unlock()
			return
		}
		switch m.Type {
		case "ping":
			c.mu.Lock()
			_ = c.conn.WriteJSON(wsMessage{Type: "pong"})
			c.mu.Unlock()
			select {
			case c.pings <- struct{}{}:
			default:
			}
			continue
		case "pong":
			continue
		}
		c.mu.Lock()
		ch := c.ops[m.ID]
		c.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case ch <- m:
		default:
			panic("test subscription buffer full")
		}
	}
}

// wsSub is one subscription of a wsClient.
type wsSub struct {
	c  *wsClient
	id string
	ch chan wsMessage
}

// subscribe starts an operation and returns its stream.
func (c *wsClient) subscribe(query string, vars map[string]any) *wsSub {
	c.t.Helper()
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(c.t, err)
	c.mu.Lock()
	c.next++
	s := &wsSub{c: c, id: fmt.Sprint(c.next), ch: make(chan wsMessage, 1000)}
	c.ops[s.id] = s.ch
	err = c.conn.WriteJSON(wsMessage{ID: s.id, Type: "subscribe", Payload: payload})
	c.mu.Unlock()
	require.NoError(c.t, err)
	return s
}

// stop completes the subscription from the client side.
func (s *wsSub) stop() {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	_ = s.c.conn.WriteJSON(wsMessage{ID: s.id, Type: "complete"})
}

// next returns the subscription's next message, failing after timeout.
func (s *wsSub) next(timeout time.Duration) wsMessage {
	s.c.t.Helper()
	select {
	case m, ok := <-s.ch:
		require.True(s.c.t, ok, "connection closed: %v", s.c.closeErr)
		return m
	case <-time.After(timeout):
		s.c.t.Fatalf("subscription %s: no message within %s", s.id, timeout)
		return wsMessage{}
	}
}

// data decodes the next "next" message's data into v; other messages fail.
func (s *wsSub) data(v any) {
	s.c.t.Helper()
	m := s.next(10 * time.Second)
	require.Equal(s.c.t, "next", m.Type, "message %s", m.Payload)
	var res struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string
			Extensions struct{ Code string }
		} `json:"errors"`
	}
	require.NoError(s.c.t, json.Unmarshal(m.Payload, &res))
	require.Empty(s.c.t, res.Errors)
	require.NoError(s.c.t, json.Unmarshal(res.Data, v))
}

// quiet requires no message for d.
func (s *wsSub) quiet(d time.Duration) {
	s.c.t.Helper()
	select {
	case m := <-s.ch:
		s.c.t.Fatalf("subscription %s: unexpected %s %s", s.id, m.Type, m.Payload)
	case <-time.After(d):
	}
}

package wsgorilla_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/resolvers/wsgorilla"
)

type principalKey struct{}

// byName accepts connection_init {"name": …} and keys the connection by
// that name (the principal) and "token:"+token when one is given.
var byName = wsgorilla.Config{
	Init: func(ctx context.Context, p map[string]any) (context.Context, error) {
		return context.WithValue(ctx, principalKey{}, p), nil
	},
	Keys: func(ctx context.Context) []string {
		p, _ := ctx.Value(principalKey{}).(map[string]any)
		keys := []string{"user:" + p["name"].(string)}
		if tok, ok := p["token"].(string); ok {
			keys = append(keys, "token:"+tok)
		}
		return keys
	},
}

func connectAs(t *testing.T, url, proto, name string, extra ...string) (*websocket.Conn, message) {
	t.Helper()
	c := dial(t, url, proto, nil)
	p := map[string]string{"name": name}
	if len(extra) > 0 {
		p["token"] = extra[0]
	}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	send(t, c, message{Type: "connection_init", Payload: b})
	return c, read(t, c)
}

// TestMaxPerPrincipal: a principal holding MaxPerPrincipal connections is
// refused one more with 4429 and a reason that says why (the legacy
// protocol also sends connection_error); other principals are not
// affected, and a closed connection frees its place.
func TestMaxPerPrincipal(t *testing.T) {
	t.Parallel()
	cfg := byName
	cfg.MaxPerPrincipal = 2
	s := serve(t, cfg)

	a1, m := connectAs(t, s.url, "graphql-transport-ws", "alice")
	require.Equal(t, "connection_ack", m.Type)
	_, m = connectAs(t, s.url, "graphql-ws", "alice")
	require.Equal(t, "connection_ack", m.Type)

	over := dial(t, s.url, "graphql-transport-ws", nil)
	send(t, over, message{Type: "connection_init", Payload: json.RawMessage(`{"name":"alice"}`)})
	closeErr := readClose(t, over)
	require.Equal(t, wsgorilla.CloseTooManyConnections, closeErr.Code)
	require.Equal(t, "Too many connections for this principal (at most 2)", closeErr.Text)

	legacy, m := connectAs(t, s.url, "graphql-ws", "alice")
	require.Equal(t, "connection_error", m.Type)
	require.JSONEq(t, `{"message":"Too many connections for this principal (at most 2)"}`, string(m.Payload))
	require.Equal(t, wsgorilla.CloseTooManyConnections, readClose(t, legacy).Code)

	_, m = connectAs(t, s.url, "graphql-transport-ws", "bob")
	require.Equal(t, "connection_ack", m.Type)

	require.NoError(t, a1.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")))
	readClose(t, a1)
	require.Eventually(t, func() bool { return s.transport.Connections() == 2 }, time.Minute, 5*time.Millisecond)
	_, m = connectAs(t, s.url, "graphql-transport-ws", "alice")
	require.Equal(t, "connection_ack", m.Type)
}

// TestMaxPending: connections that have not finished connection_init hold
// a place among MaxPending; one more upgrade is answered 503 without
// upgrading, and a connection that is acknowledged, or that goes away,
// frees its place.
func TestMaxPending(t *testing.T) {
	t.Parallel()
	cfg := byName
	cfg.MaxPending = 2
	s := serve(t, cfg)

	first := dial(t, s.url, "graphql-transport-ws", nil)
	second := dial(t, s.url, "graphql-ws", nil)
	require.Equal(t, 2, s.transport.Pending())

	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 5 * time.Second}
	_, resp, err := d.Dial(s.url, nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	require.NoError(t, resp.Body.Close())

	send(t, first, message{Type: "connection_init", Payload: json.RawMessage(`{"name":"alice"}`)})
	require.Equal(t, "connection_ack", read(t, first).Type)
	require.Equal(t, 1, s.transport.Pending())
	third := dial(t, s.url, "graphql-transport-ws", nil)

	require.NoError(t, second.Close())
	require.NoError(t, third.Close())
	require.Eventually(t, func() bool { return s.transport.Pending() == 0 }, time.Minute, 5*time.Millisecond)
	require.Equal(t, 1, s.transport.Connections())
}

// TestCloseKey: CloseKey closes exactly the connections under a key, with
// the code and reason given.
func TestCloseKey(t *testing.T) {
	t.Parallel()
	s := serve(t, byName)
	withToken, _ := connectAs(t, s.url, "graphql-transport-ws", "alice", "t1")
	otherToken, _ := connectAs(t, s.url, "graphql-ws", "alice", "t2")
	bob, _ := connectAs(t, s.url, "graphql-transport-ws", "bob", "t3")

	require.Equal(t, 1, s.transport.CloseKey("token:t1", wsgorilla.CloseUnauthorized, "Credentials revoked"))
	closeErr := readClose(t, withToken)
	require.Equal(t, wsgorilla.CloseUnauthorized, closeErr.Code)
	require.Equal(t, "Credentials revoked", closeErr.Text)

	require.Eventually(t, func() bool { return s.transport.Connections() == 2 }, time.Minute, 5*time.Millisecond)
	require.Equal(t, 1, s.transport.CloseKey("user:alice", wsgorilla.CloseUnauthorized, "Credentials revoked"))
	require.Equal(t, wsgorilla.CloseUnauthorized, readClose(t, otherToken).Code)
	require.Zero(t, s.transport.CloseKey("user:nobody", wsgorilla.CloseUnauthorized, ""))

	subscribe(t, bob, "1", `query { name }`)
	require.Equal(t, "next", read(t, bob).Type)
}

// TestCheckRunsBeforeEachOperation: a Check that refuses with a
// *CloseError closes the connection before the operation runs; another
// error fails that operation only.
func TestCheckRunsBeforeEachOperation(t *testing.T) {
	t.Parallel()
	var verdict = make(chan error, 1)
	cfg := byName
	cfg.Check = func(ctx context.Context) error {
		if p, _ := ctx.Value(principalKey{}).(map[string]any); p["name"] != "alice" {
			return errors.New("the connection's context is missing")
		}
		return <-verdict
	}
	s := serve(t, cfg)
	c, _ := connectAs(t, s.url, "graphql-transport-ws", "alice")

	offer(t, verdict, nil)
	subscribe(t, c, "1", `query { name }`)
	require.Equal(t, message{ID: "1", Type: "next", Payload: json.RawMessage(`{"data":{"name":"test"}}`)}, read(t, c))
	require.Equal(t, "complete", read(t, c).Type)

	offer(t, verdict, errors.New("database down"))
	subscribe(t, c, "2", `query { name }`)
	require.Equal(t, message{ID: "2", Type: "error", Payload: json.RawMessage(`[{"message":"internal error"}]`)}, read(t, c))

	offer[error](t, verdict, &wsgorilla.CloseError{Code: wsgorilla.CloseUnauthorized, Reason: "Credentials no longer valid"})
	subscribe(t, c, "3", `query { name }`)
	closeErr := readClose(t, c)
	require.Equal(t, wsgorilla.CloseUnauthorized, closeErr.Code)
	require.Equal(t, "Credentials no longer valid", closeErr.Text)
}

// TestLegacyKeepAliveClosesASilentClient: the legacy protocol has no
// message a client must answer, so its keepalive pings at the websocket
// level: a client whose library answers pings stays, one that does not
// (gone, or reading nothing) is closed after two intervals, as on the new
// protocol.
func TestLegacyKeepAliveClosesASilentClient(t *testing.T) {
	t.Parallel()
	// A second between pings leaves a live client on a loaded machine time
	// to answer before the two-interval deadline.
	s := serve(t, wsgorilla.Config{KeepAlive: time.Second})

	live := connect(t, s.url, "graphql-ws") // gorilla answers pings while reading
	kas := make(chan struct{}, 100)
	go func() {
		for {
			var m message
			if live.ReadJSON(&m) != nil {
				return
			}
			if m.Type == "ka" {
				select { // the test reads four; later ones are not waited for
				case kas <- struct{}{}:
				default:
				}
			}
		}
	}()

	silent := connect(t, s.url, "graphql-ws")
	silent.SetPingHandler(func(string) error { return nil })
	closeErr := readClose(t, silent)
	require.Equal(t, websocket.CloseGoingAway, closeErr.Code)
	require.Equal(t, "keepalive timeout", closeErr.Text)

	for range 4 {
		select {
		case <-kas:
		case <-time.After(5 * time.Second):
			t.Fatal("no keepalive")
		}
	}
	require.Eventually(t, func() bool { return s.transport.Connections() == 1 }, time.Minute, 10*time.Millisecond)
}

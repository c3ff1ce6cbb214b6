package resolvers_test

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/httpserver"
	"gatehouse/resolvers"
)

// transportEnv is a server with a small subscription cap and an allow-list
// of one foreign origin. Its websocket timers are the production ones
// unless tune changes them: only the tests of those timers may shorten them,
// for a short timer fires in the middle of any other test on a loaded
// machine.
func transportEnv(t *testing.T, tune func(*resolvers.Limits)) (*apitest.Env, string) {
	t.Helper()
	limits := resolvers.DefaultLimits
	limits.Subscriptions = 3
	if tune != nil {
		tune(&limits)
	}
	env := apitest.NewWith(t, dbtest.NewSQLite(t), apitest.Options{
		Limits:      &limits,
		CheckOrigin: httpserver.AllowOrigins([]string{"https://app.example"}),
	})
	u := env.User(t, "u@example.com", enum.PlatformRoleUser)
	return env, env.Token(t, u)
}

// closeCode reads until the server closes the socket and returns the code.
func closeCode(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		return ce.Code
	}
}

func TestWebsocketAuthenticationClosesWith4401(t *testing.T) {
	t.Parallel()
	env, token := transportEnv(t, nil)
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		for name, payload := range map[string]string{
			"bad token":     `{"authorization":"Bearer not-a-token"}`,
			"no token":      `{}`,
			"no payload":    ``,
			"wrong scheme":  `{"authorization":"Basic ` + token + `"}`,
			"expired token": `{"authorization":"Bearer ` + token + `x"}`,
		} {
			c, _, err := dialWS(t, env.WebsocketURL(), nil, proto)
			require.NoError(t, err)
			m := wsMessage{Type: "connection_init"}
			if payload != "" {
				m.Payload = json.RawMessage(payload)
			}
			require.NoError(t, c.WriteJSON(m))
			require.Equal(t, 4401, closeCode(t, c), "%s over %s", name, proto)
		}
	}
	// The good token is accepted on both.
	connectWS(t, env.WebsocketURL(), token)
	c, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-ws")
	require.NoError(t, err)
	initWS(t, c, token)
}

func TestWebsocketInitTimeoutClosesWith4408(t *testing.T) {
	t.Parallel()
	env, _ := transportEnv(t, func(l *resolvers.Limits) { l.WebsocketInit = 200 * time.Millisecond })
	c, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-transport-ws")
	require.NoError(t, err)
	require.Equal(t, 4408, closeCode(t, c), "the server closed the silent connection itself")
}

func TestWebsocketOriginAllowList(t *testing.T) {
	t.Parallel()
	env, token := transportEnv(t, nil)
	for origin, allowed := range map[string]bool{
		"":                         true, // non-browser clients send none
		"https://app.example":      true, // GATEHOUSE_ALLOWED_ORIGINS
		env.URL:                    true, // same origin
		"https://evil.example":     false,
		"https://app.example.evil": false,
		"null":                     false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := dialWS(t, env.WebsocketURL(), h, "graphql-transport-ws")
		if !allowed {
			require.ErrorIs(t, err, websocket.ErrBadHandshake, origin)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, origin)
			continue
		}
		require.NoError(t, err, origin)
		initWS(t, c, token)
	}
}

func TestWebsocketSubscriptionCapPerConnection(t *testing.T) {
	t.Parallel()
	env, token := transportEnv(t, nil)
	c := connectWS(t, env.WebsocketURL(), token)
	subs := make([]*wsSub, 3)
	for i := range subs {
		subs[i] = c.subscribe(subMyTaskProgress, nil)
	}
	waitSubscribers(t, env, 3)
	over := c.subscribe(subMyTaskProgress, nil)
	m := over.next(5 * time.Second)
	require.Contains(t, []string{"next", "error"}, m.Type)
	require.Contains(t, string(m.Payload), "too many subscriptions")
	require.Equal(t, "complete", over.next(5*time.Second).Type)

	// Ending one makes room; another connection has its own allowance.
	subs[0].stop()
	require.Equal(t, "complete", subs[0].next(5*time.Second).Type)
	waitSubscribers(t, env, 2)
	c.subscribe(subMyTaskProgress, nil)
	other := connectWS(t, env.WebsocketURL(), token)
	for range 3 {
		other.subscribe(subMyTaskProgress, nil)
	}
	waitSubscribers(t, env, 6)
}

func TestWebsocketReadLimit(t *testing.T) {
	t.Parallel()
	env, token := transportEnv(t, nil)
	c, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-transport-ws")
	require.NoError(t, err)
	initWS(t, c, token)

	// 64 KiB is the limit: a query just under it is read (and refused by the
	// parser's token limit or run), one over it closes the socket with 1009.
	payload, err := json.Marshal(map[string]string{"query": "subscription { myTaskProgress { mine { done } } }" + strings.Repeat(" ", 65<<10)})
	require.NoError(t, err)
	require.NoError(t, c.WriteJSON(wsMessage{ID: "1", Type: "subscribe", Payload: payload}))
	require.Equal(t, websocket.CloseMessageTooBig, closeCode(t, c))
}

// TestWebsocketKeepAlive: the server's keepalive interval reaches the
// transport. On graphql-transport-ws the server pings, and closes (1001) a
// client that sends nothing for two intervals; on graphql-ws it sends "ka"
// messages. Each step waits for the event it names, and none needs the
// client to answer in time: that a client that answers is kept, with the
// clock moved by the test, is wsgorilla's TestKeepAlive.
func TestWebsocketKeepAlive(t *testing.T) {
	t.Parallel()
	env, token := transportEnv(t, func(l *resolvers.Limits) { l.WebsocketKeepAlive = time.Second })

	// A client that answers nothing is closed, whether or not a ping came
	// before its deadline.
	c, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-transport-ws")
	require.NoError(t, err)
	require.NoError(t, c.WriteJSON(initMessage(token)))
	require.Equal(t, websocket.CloseGoingAway, closeCode(t, c))

	// The first ping comes one interval after connection_ack, before any
	// deadline.
	live := connectWS(t, env.WebsocketURL(), token)
	select {
	case <-live.pings:
	case <-live.closed:
		t.Fatalf("closed before the first ping: %v", live.closeErr)
	case <-time.After(10 * time.Second):
		t.Fatal("no ping within 10 s")
	}

	// graphql-ws: "ka" after connection_ack, then one interval later.
	legacy, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-ws")
	require.NoError(t, err)
	require.NoError(t, legacy.WriteJSON(initMessage(token)))
	require.NoError(t, legacy.SetReadDeadline(time.Now().Add(10*time.Second)))
	kas := 0
	for kas < 2 {
		var m wsMessage
		require.NoError(t, legacy.ReadJSON(&m))
		if m.Type == "ka" {
			kas++
		}
	}
}

// TestLegacyProtocolDeliversEvents subscribes over graphql-ws.
func TestLegacyProtocolDeliversEvents(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		x := manualApp(t, env, "X", admin)

		c, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-ws")
		require.NoError(t, err)
		require.NoError(t, c.WriteJSON(initMessage(env.Token(t, m))))
		require.NoError(t, c.WriteJSON(wsMessage{ID: "1", Type: "start", Payload: json.RawMessage(`{"query":"subscription { myTaskProgress { mine { done total percent } } }"}`)}))
		waitSubscribers(t, env, 1)
		submit(t, env, env.Token(t, r), x)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
		for {
			var msg wsMessage
			require.NoError(t, c.ReadJSON(&msg))
			if msg.Type == "data" {
				require.Equal(t, "1", msg.ID)
				require.JSONEq(t, `{"data":{"myTaskProgress":{"mine":{"done":0,"total":1,"percent":0}}}}`, string(msg.Payload))
				return
			}
		}
	})
}

// TestNoGoroutineLeakAfterSubscribeCycles opens and ends 100 subscriptions
// over one websocket (half of them ended before their snapshot), then drops
// 20 connections abruptly (TCP close, no close frame) while each holds two
// live subscriptions, and checks that the server holds no subscription and
// is back to its goroutines: a goroutine left per subscription or per
// connection is 50 to 100 or 20 too many, far more than the few of the
// warm-up that may still be ending when the base is counted. Not parallel:
// it counts the process's goroutines.
func TestNoGoroutineLeakAfterSubscribeCycles(t *testing.T) {
	env := apitest.New(t, dbtest.NewSQLite(t))
	admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	m := env.User(t, "m@example.com", enum.PlatformRoleUser)
	r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	id := submit(t, env, env.Token(t, r), manualApp(t, env, "X", admin))
	token := env.Token(t, r)

	// Warm up (pools, caches), then count.
	warm := connectWS(t, env.WebsocketURL(), token)
	p := &progressStream{sub: warm.subscribe(subRequestProgress, map[string]any{"id": id})}
	p.expect(t, "warm-up", completion{0, 1, 0}, completion{0, 0, 100})
	p.sub.stop()
	waitSubscribers(t, env, 0)
	base, _ := serverGoroutines()

	c := connectWS(t, env.WebsocketURL(), token)
	for i := range 100 {
		s := c.subscribe(subRequestProgress, map[string]any{"id": id})
		if i%2 == 0 {
			s.next(10 * time.Second) // the snapshot
		}
		s.stop()
	}
	for range 20 {
		abrupt := connectWS(t, env.WebsocketURL(), token)
		abrupt.subscribe(subMyTaskProgress, nil)
		abrupt.subscribe(subRequestProgress, map[string]any{"id": id}).next(10 * time.Second) // live
		_ = abrupt.conn.UnderlyingConn().Close()
	}
	require.NoError(t, c.conn.Close())
	waitSubscribers(t, env, 0)
	deadline := time.Now().Add(time.Minute)
	for {
		n, dump := serverGoroutines()
		if n <= base {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("websocket goroutines: %d, want at most %d\n%s", n, base, dump)
		}
		time.Sleep(20 * time.Millisecond) // polls for the goroutines to end
	}
}

// serverGoroutines counts the goroutines that serve connections and
// subscriptions (River's come and go on their own), and returns their stacks.
// The test's own clients are left out: a client's reader matches a marker
// only while it waits in gorilla, not while it hands a message on.
func serverGoroutines() (int, string) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var dump strings.Builder
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "gatehouse/resolvers_test.") {
			continue
		}
		for _, marker := range []string{"gqlgen/graphql/handler/transport", "gorilla/websocket", "gatehouse/internal/pubsub",
			"gatehouse/resolvers.", "gatehouse/resolvers/wsgorilla.", "net/http.(*conn).serve"} {
			if strings.Contains(g, marker) {
				n++
				dump.WriteString(g + "\n\n")
				break
			}
		}
	}
	return n, dump.String()
}

// TestWebsocketClosedWhenCredentialsLapse: open websockets are rechecked
// (here every 100 ms) and closed with 4401 once their credentials no longer
// hold — a terminated user, a demoted IT admin, an expired JWT, a revoked
// API token — on both databases; a connection whose credentials hold stays.
func TestWebsocketClosedWhenCredentialsLapse(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		limits := resolvers.DefaultLimits
		limits.WebsocketRecheck = 100 * time.Millisecond
		env := apitest.NewWith(t, db, apitest.Options{Limits: &limits})
		admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		demoted := env.User(t, "demoted@example.com", enum.PlatformRoleITAdmin)
		leaver := env.User(t, "leaver@example.com", enum.PlatformRoleUser)
		stays := env.User(t, "stays@example.com", enum.PlatformRoleUser)
		shortJWT, err := env.Auth.IssueJWT(stays.ID, time.Minute)
		require.NoError(t, err)
		revoked := createToken(t, env, env.Token(t, admin), map[string]any{"name": "ci", "scope": "READ"})

		open := func(token string) *websocket.Conn {
			c, _, err := dialWS(t, env.WebsocketURL(), nil, "graphql-transport-ws")
			require.NoError(t, err)
			initWS(t, c, token)
			return c
		}
		conns := map[string]*websocket.Conn{
			"terminated user": open(env.Token(t, leaver)),
			"demoted admin":   open(env.Token(t, demoted)),
			"expired JWT":     open(shortJWT),
			"revoked token":   open(revoked.Token),
		}
		kept := connectWS(t, env.WebsocketURL(), env.Token(t, stays))
		kept.subscribe(subMyTaskProgress, nil)
		waitSubscribers(t, env, 1)

		// The short JWT expires on the server's clock; the others hold for
		// an hour.
		env.Clock.Advance(2 * time.Minute)
		ctx := apitest.Sys()
		require.NoError(t, env.Client.User.UpdateOne(leaver).SetStatus(enum.UserStatusTerminated).Exec(ctx))
		require.NoError(t, env.Client.User.UpdateOne(demoted).SetPlatformRole(enum.PlatformRoleUser).Exec(ctx))
		env.MustDo(t, env.Token(t, admin), `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, map[string]any{"id": revoked.APIToken.ID}, nil)
		for name, c := range conns {
			require.Equal(t, 4401, closeCode(t, c), name)
		}
		require.Equal(t, 1, env.Feed.Subscribers(), "a connection whose credentials hold stays")
	})
}

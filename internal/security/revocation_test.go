package security_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/resolvers"
	"gatehouse/resolvers/wsgorilla"
)

// Revocation: a credential revoked, a user terminated, a platform role
// changed closes the websockets that credential opened, with 4401, on every
// replica (the change's notice crosses replicas through PostgreSQL
// LISTEN/NOTIFY), and every operation a websocket starts checks the
// credential again, so that a lost notice does not leave a revoked
// credential working. On SQLite the two "replicas" are one server; on
// PostgreSQL they are two servers over one database, each with its own
// pool and LISTEN connection.

// wait bounds every wait on the server; generous, since these are not
// timing assertions.
const wait = 30 * time.Second

// replicas returns two servers over db: on PostgreSQL two replicas, on
// SQLite one server twice. Their periodic recheck of open websockets waits
// an hour, so that only a revocation notice (or the check before an
// operation) can close a socket in a test.
func replicas(t *testing.T, db *dbtest.DB, opts apitest.Options) (a, b *apitest.Env) {
	t.Helper()
	if opts.Limits == nil {
		opts.Limits = limits(func(*resolvers.Limits) {})
	}
	opts.Limits.WebsocketRecheck = time.Hour
	if db.Name != "postgres" {
		env := apitest.NewWith(t, db, opts)
		return env, env
	}
	opts.OwnPool = true
	return apitest.NewWith(t, db, opts), apitest.NewWith(t, db, opts)
}

// wsMessage is a protocol message of graphql-transport-ws or graphql-ws.
type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// socket is a websocket client whose messages and close arrive on channels.
type socket struct {
	c      *websocket.Conn
	msgs   chan wsMessage
	closed chan int // the server's close code (1006 without one)
}

// dialSocket opens a websocket without sending connection_init; setup runs
// before the socket is read.
func dialSocket(t *testing.T, env *apitest.Env, proto string, setup ...func(*websocket.Conn)) *socket {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{proto}, HandshakeTimeout: wait}
	c, resp, err := d.Dial(env.WebsocketURL(), nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	t.Cleanup(func() { _ = c.Close() })
	for _, fn := range setup {
		fn(c)
	}
	s := &socket{c: c, msgs: make(chan wsMessage, 64), closed: make(chan int, 1)}
	go func() {
		for {
			var m wsMessage
			_, data, err := c.ReadMessage()
			if err != nil {
				code := websocket.CloseAbnormalClosure
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				s.closed <- code
				close(s.msgs)
				return
			}
			if json.Unmarshal(data, &m) == nil && m.Type != "ka" && m.Type != "ping" {
				s.msgs <- m
			}
		}
	}()
	return s
}

// init sends connection_init with the token.
func (s *socket) init(t *testing.T, token string) {
	t.Helper()
	s.send(t, wsMessage{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer ` + token + `"}`)})
}

// openSocket opens a graphql-transport-ws websocket authenticated with the
// token.
func openSocket(t *testing.T, env *apitest.Env, token string) *socket {
	t.Helper()
	s := dialSocket(t, env, "graphql-transport-ws")
	s.init(t, token)
	require.Equal(t, "connection_ack", s.next(t).Type)
	return s
}

func (s *socket) send(t *testing.T, m wsMessage) {
	t.Helper()
	require.NoError(t, s.c.WriteJSON(m))
}

// next returns the next message; the test fails if the socket closes or
// nothing comes.
func (s *socket) next(t *testing.T) wsMessage {
	t.Helper()
	select {
	case m, ok := <-s.msgs:
		require.True(t, ok, "the socket closed")
		return m
	case <-time.After(wait):
		t.Fatal("no message")
	}
	return wsMessage{}
}

// start sends an operation. The server may have closed the socket already
// (a revocation outran it): then the write fails, and closeCode tells.
func (s *socket) start(t *testing.T, id, query string) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"query": query})
	require.NoError(t, err)
	_ = s.c.WriteJSON(wsMessage{ID: id, Type: "subscribe", Payload: payload})
}

// do runs a query or mutation and returns its payload.
func (s *socket) do(t *testing.T, id, query string) *apitest.Response {
	t.Helper()
	s.start(t, id, query)
	m := s.next(t)
	require.Equal(t, id, m.ID)
	require.Equal(t, "next", m.Type, "payload: %s", m.Payload)
	var res apitest.Response
	require.NoError(t, json.Unmarshal(m.Payload, &res))
	require.Equal(t, wsMessage{ID: id, Type: "complete"}, s.next(t))
	return &res
}

// closeCode waits for the server to close the socket and returns its code,
// failing the test if any message carrying data arrives first.
func (s *socket) closeCode(t *testing.T) int {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return <-s.closed
			}
			require.NotEqual(t, "next", m.Type, "an operation ran: %s", m.Payload)
		case <-deadline:
			t.Fatal("the socket stayed open")
		}
	}
}

// createToken mints an API token over HTTP and returns it and its ID.
func createToken(t *testing.T, env *apitest.Env, bearer, scope string) (string, pulid.ID) {
	t.Helper()
	var out struct {
		CreateApiToken struct {
			Token    string
			ApiToken struct{ ID pulid.ID }
		}
	}
	env.MustDo(t, bearer, `mutation($s: TokenScope!) { createApiToken(input: {name: "ci", scope: $s}) { token apiToken { id } } }`,
		map[string]any{"s": scope}, &out)
	return out.CreateApiToken.Token, out.CreateApiToken.ApiToken.ID
}

const mintToken = `mutation { createApiToken(input: {name: "minted on the socket", scope: WRITE}) { token } }`

// hookless returns an ent client over db without Gatehouse's hooks: its
// writes send no revocation notice, as if the notice were lost.
func hookless(db *dbtest.DB) *ent.Client {
	return ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
}

// TestRevokedTokenClosesItsWebsocketsOnEveryReplica: a WRITE API token
// revoked over HTTP on replica A closes, with 4401, the websocket it opened
// on replica B, which until then minted tokens; the same user's websocket
// opened with a JWT stays and works; the token opens no new websocket.
func TestRevokedTokenClosesItsWebsocketsOnEveryReplica(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		a, b := replicas(t, db, apitest.Options{NoJobs: true})
		u := a.User(t, "writer@example.com", enum.PlatformRoleUser)
		jwt := a.Token(t, u)
		token, id := createToken(t, a, jwt, "WRITE")

		withToken := openSocket(t, b, token)
		withJWT := openSocket(t, b, jwt)
		res := withToken.do(t, "1", mintToken)
		require.Empty(t, res.Errors)
		require.Contains(t, string(res.Data), `"token":"ght_`)

		revoked := time.Now()
		a.MustDo(t, jwt, `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, map[string]any{"id": id}, nil)
		require.Equal(t, wsgorilla.CloseUnauthorized, withToken.closeCode(t))
		t.Logf("%s: revoked on A, websocket on B closed %s later", db.Name, time.Since(revoked))

		res = withJWT.do(t, "2", `{ viewer { email } }`)
		require.JSONEq(t, `{"viewer":{"email":"writer@example.com"}}`, string(res.Data))

		again := dialSocket(t, b, "graphql-transport-ws")
		again.init(t, token)
		require.Equal(t, wsgorilla.CloseUnauthorized, again.closeCode(t))
	})
}

// TestOperationAfterRevocationIsRefused: every operation a websocket starts
// checks its credential again. A mutation sent on replica B the moment a
// revocation on A has committed is refused (mutations check the database,
// not a cache), and so is any operation after a revocation whose notice was
// lost (written here without the hooks that send it): the socket closes
// with 4401 and nothing runs.
func TestOperationAfterRevocationIsRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		a, b := replicas(t, db, apitest.Options{NoJobs: true})
		u := a.User(t, "writer@example.com", enum.PlatformRoleUser)
		jwt := a.Token(t, u)

		// Revoked over HTTP on A; the mutation follows at once on B.
		token, id := createToken(t, a, jwt, "WRITE")
		s := openSocket(t, b, token)
		require.Empty(t, s.do(t, "1", `{ viewer { id } }`).Errors) // the check's cache holds the token
		a.MustDo(t, jwt, `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, map[string]any{"id": id}, nil)
		s.start(t, "2", mintToken)
		require.Equal(t, wsgorilla.CloseUnauthorized, s.closeCode(t))

		// Revoked with the notice lost: the socket stays open until it
		// starts an operation.
		token, id = createToken(t, a, jwt, "WRITE")
		s = openSocket(t, b, token)
		require.Empty(t, s.do(t, "1", `{ viewer { id } }`).Errors)
		_, err := hookless(db).ApiToken.UpdateOneID(id).SetRevokedAt(time.Now()).Save(apitest.Sys())
		require.NoError(t, err)
		s.start(t, "2", mintToken)
		require.Equal(t, wsgorilla.CloseUnauthorized, s.closeCode(t))

		// No token was minted on a socket after its revocation.
		n, err := a.Client.ApiToken.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, 2, n)
	})
}

// TestTerminatedUserWebsocketsClose: terminating a user over HTTP on A
// closes every websocket of theirs on B, opened with a JWT or an API token;
// and a terminated user whose notice was lost gets no answer to a query.
func TestTerminatedUserWebsocketsClose(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		a, b := replicas(t, db, apitest.Options{NoJobs: true})
		admin := a.Token(t, a.User(t, "it@example.com", enum.PlatformRoleITAdmin))
		u := a.User(t, "leaver@example.com", enum.PlatformRoleUser)
		jwt := a.Token(t, u)
		token, _ := createToken(t, a, jwt, "READ")
		withJWT, withToken := openSocket(t, b, jwt), openSocket(t, b, token)
		require.Empty(t, withJWT.do(t, "1", `{ viewer { id } }`).Errors)

		a.MustDo(t, admin, `mutation($id: ID!) { updateUser(id: $id, input: {status: TERMINATED}) { id } }`,
			map[string]any{"id": u.ID}, nil)
		require.Equal(t, wsgorilla.CloseUnauthorized, withJWT.closeCode(t))
		require.Equal(t, wsgorilla.CloseUnauthorized, withToken.closeCode(t))

		// The notice lost: the next operation is refused.
		v := a.User(t, "quiet-leaver@example.com", enum.PlatformRoleUser)
		s := openSocket(t, b, a.Token(t, v))
		_, err := hookless(db).User.UpdateOneID(v.ID).SetStatus(enum.UserStatusTerminated).Save(apitest.Sys())
		require.NoError(t, err)
		s.start(t, "1", `{ viewer { email } }`)
		require.Equal(t, wsgorilla.CloseUnauthorized, s.closeCode(t))
	})
}

// TestDemotedRiskManagerLosesTheAuditLog: a risk manager reads auditEvents
// on a websocket; demoted to USER over HTTP on A, their websocket on B
// closes with 4401, and on reconnecting the new role applies (FORBIDDEN).
// A demotion whose notice was lost refuses the next operation.
func TestDemotedRiskManagerLosesTheAuditLog(t *testing.T) {
	t.Parallel()
	const audit = `{ auditEvents(first: 1) { totalCount } }`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		a, b := replicas(t, db, apitest.Options{NoJobs: true})
		admin := a.Token(t, a.User(t, "it@example.com", enum.PlatformRoleITAdmin))
		rm := a.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		jwt := a.Token(t, rm)
		s := openSocket(t, b, jwt)
		require.Empty(t, s.do(t, "1", audit).Errors)

		a.MustDo(t, admin, `mutation($id: ID!) { updateUser(id: $id, input: {platformRole: USER}) { id } }`,
			map[string]any{"id": rm.ID}, nil)
		require.Equal(t, wsgorilla.CloseUnauthorized, s.closeCode(t))

		s = openSocket(t, b, jwt)
		res := s.do(t, "2", audit)
		require.Equal(t, "FORBIDDEN", res.Code())

		// Setting the same role again closes nothing.
		a.MustDo(t, admin, `mutation($id: ID!) { updateUser(id: $id, input: {platformRole: USER, name: "Risk"}) { id } }`,
			map[string]any{"id": rm.ID}, nil)
		require.Equal(t, "FORBIDDEN", s.do(t, "3", audit).Code())

		// The notice lost: the next operation is refused.
		other := a.User(t, "risk2@example.com", enum.PlatformRoleRiskManager)
		s = openSocket(t, b, a.Token(t, other))
		_, err := hookless(db).User.UpdateOneID(other.ID).SetPlatformRole(enum.PlatformRoleUser).Save(apitest.Sys())
		require.NoError(t, err)
		s.start(t, "1", audit)
		require.Equal(t, wsgorilla.CloseUnauthorized, s.closeCode(t))
	})
}

// limits returns the default limits changed by fn.
func limits(fn func(*resolvers.Limits)) *resolvers.Limits {
	l := resolvers.DefaultLimits
	fn(&l)
	return &l
}

// TestWebsocketsPerUserAreCapped: a user holds at most
// WebsocketPerPrincipal websockets, whatever the credentials (JWT or API
// tokens); one more is closed with 4429 and a reason saying so; other users
// are not affected.
func TestWebsocketsPerUserAreCapped(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true, Limits: limits(func(l *resolvers.Limits) {
			l.WebsocketPerPrincipal = 2
		})})
		u := env.User(t, "many@example.com", enum.PlatformRoleUser)
		jwt := env.Token(t, u)
		token, _ := createToken(t, env, jwt, "READ")
		openSocket(t, env, jwt)
		openSocket(t, env, token)

		over := dialSocket(t, env, "graphql-transport-ws")
		over.init(t, jwt)
		require.Equal(t, wsgorilla.CloseTooManyConnections, over.closeCode(t))

		openSocket(t, env, env.Token(t, env.User(t, "other@example.com", enum.PlatformRoleUser)))
	})
}

// TestPendingWebsocketsAreCapped: websockets that have not sent
// connection_init hold a place among WebsocketPending; one more upgrade is
// answered 503 before any websocket exists.
func TestPendingWebsocketsAreCapped(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true, Limits: limits(func(l *resolvers.Limits) {
			l.WebsocketPending = 2
		})})
		dialSocket(t, env, "graphql-transport-ws")
		dialSocket(t, env, "graphql-ws")
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: wait}
		_, resp, err := d.Dial(env.WebsocketURL(), nil)
		require.ErrorIs(t, err, websocket.ErrBadHandshake)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
	})
}

// TestLegacyProtocolClosesASilentClient: a graphql-ws (legacy) client that
// answers nothing, not even the server's websocket pings, is closed after
// two keepalive intervals, as graphql-transport-ws clients are.
func TestLegacyProtocolClosesASilentClient(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true, Limits: limits(func(l *resolvers.Limits) {
			l.WebsocketKeepAlive = 100 * time.Millisecond
		})})
		s := dialSocket(t, env, "graphql-ws", func(c *websocket.Conn) {
			c.SetPingHandler(func(string) error { return nil }) // answers no ping
		})
		s.init(t, env.Token(t, env.User(t, "u@example.com", enum.PlatformRoleUser)))
		require.Equal(t, "connection_ack", s.next(t).Type)
		require.Equal(t, websocket.CloseGoingAway, s.closeCode(t))
	})
}

// BenchmarkRevocationAcrossReplicas measures, on PostgreSQL, the time from
// revoking an API token over HTTP on replica A to its websocket on replica
// B being closed with 4401 (the HTTP round trip, the commit, NOTIFY, the
// listener, the close frame).
func BenchmarkRevocationAcrossReplicas(b *testing.B) {
	if os.Getenv(dbtest.EnvPostgresURL) == "" {
		b.Skip(dbtest.EnvPostgresURL + " is not set")
	}
	db := dbtest.NewPostgres(b)
	envA := apitest.NewWith(b, db, apitest.Options{NoJobs: true, OwnPool: true})
	envB := apitest.NewWith(b, db, apitest.Options{NoJobs: true, OwnPool: true, Limits: limits(func(l *resolvers.Limits) {
		l.WebsocketPerPrincipal = 0
	})})
	u := envA.User(b, "bench@example.com", enum.PlatformRoleUser)
	jwt := envA.Token(b, u)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		var out struct {
			CreateApiToken struct {
				Token    string
				ApiToken struct{ ID pulid.ID }
			}
		}
		envA.MustDo(b, jwt, `mutation { createApiToken(input: {name: "b", scope: WRITE}) { token apiToken { id } } }`, nil, &out)
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		c, resp, err := d.Dial(envB.WebsocketURL(), nil)
		require.NoError(b, err)
		require.NoError(b, resp.Body.Close())
		require.NoError(b, c.WriteJSON(wsMessage{Type: "connection_init",
			Payload: json.RawMessage(`{"authorization":"Bearer ` + out.CreateApiToken.Token + `"}`)}))
		var ack wsMessage
		require.NoError(b, c.ReadJSON(&ack))
		require.Equal(b, "connection_ack", ack.Type)
		b.StartTimer()
		start := time.Now()
		envA.MustDo(b, jwt, `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`,
			map[string]any{"id": out.CreateApiToken.ApiToken.ID}, nil)
		for err == nil {
			_, _, err = c.ReadMessage()
		}
		total += time.Since(start)
		var ce *websocket.CloseError
		require.ErrorAs(b, err, &ce)
		require.Equal(b, wsgorilla.CloseUnauthorized, ce.Code)
		_ = c.Close()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/revocation")
}

// TestMinterTerminatedClosesServiceAccountWebsockets: a service account's
// token dies with the person who minted it, on open websockets too; its
// connections do not count against the minter's own cap.
func TestMinterTerminatedClosesServiceAccountWebsockets(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		a, b := replicas(t, db, apitest.Options{NoJobs: true, Limits: limits(func(l *resolvers.Limits) {
			l.WebsocketPerPrincipal = 1
		})})
		boss := a.Token(t, a.User(t, "boss@example.com", enum.PlatformRoleITAdmin))
		minter := a.User(t, "minter@example.com", enum.PlatformRoleITAdmin)
		minterJWT := a.Token(t, minter)
		var sa struct{ CreateUser struct{ ID string } }
		a.MustDo(t, minterJWT, `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"email": "sync@example.com", "name": "sync", "kind": "SERVICE"}}, &sa)
		var minted struct{ CreateAPIToken struct{ Token string } }
		a.MustDo(t, minterJWT, `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { token } }`,
			map[string]any{"in": map[string]any{"name": "sync", "scope": "READ", "ownerID": sa.CreateUser.ID}}, &minted)
		s := openSocket(t, b, minted.CreateAPIToken.Token)
		require.Empty(t, s.do(t, "1", `{ viewer { id } }`).Errors)
		own := openSocket(t, b, minterJWT)
		require.Empty(t, own.do(t, "1", `{ viewer { id } }`).Errors, "the service account's socket is not the minter's")

		a.MustDo(t, boss, `mutation($id: ID!) { updateUser(id: $id, input: {status: TERMINATED}) { id } }`,
			map[string]any{"id": minter.ID}, nil)
		require.Equal(t, wsgorilla.CloseUnauthorized, s.closeCode(t))
		require.Equal(t, wsgorilla.CloseUnauthorized, own.closeCode(t))
		require.Equal(t, "UNAUTHENTICATED", a.Do(t, minted.CreateAPIToken.Token, `{ viewer { id } }`, nil).Code())
	})
}

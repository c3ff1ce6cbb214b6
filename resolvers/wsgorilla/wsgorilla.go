// Package wsgorilla serves GraphQL subscriptions over websockets for gqlgen,
// on github.com/gorilla/websocket: the graphql-transport-ws protocol and the
// legacy graphql-ws one. handler.go adds New(...) as a gqlgen transport;
// nothing else in Gatehouse needs to import this package.
//
// It replaces gqlgen's transport.Websocket to serve many idle subscribers
// cheaply. A connection costs one goroutine, its read loop, and no buffer
// while it has nothing to write: init timeouts and keepalives are timers,
// and a subscription created through internal/pubsub (which reports to the
// connection as a pubsub.Waker) costs no goroutine at all. When a
// subscription has a value, its connection is queued on a small pool of
// writers, which executes the response and writes it. Operations that do not
// go through pubsub (queries, mutations) run on a goroutine of their own
// until they end.
package wsgorilla

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
)

// Close codes sent by the server.
const (
	CloseBadRequest   = 4400 // a message that is not valid for the protocol
	CloseUnauthorized = 4401 // refused credentials, or an operation before connection_ack
	CloseForbidden    = 4403 // connection_init refused without a code of its own
	CloseInitTimeout  = 4408 // no connection_init in time
	CloseDuplicateID  = 4409 // an operation ID already in use on the connection
	CloseTooManyInits = 4429 // a second connection_init
	// CloseTooManyConnections refuses a connection_init of a principal that
	// holds Config.MaxPerPrincipal connections already; the reason says so.
	// (graphql-ws clients take 4429 as final and do not retry.)
	CloseTooManyConnections = 4429
	CloseInternalError      = 4500
)

// Subprotocols are the websocket subprotocols served, in order of preference.
var Subprotocols = []string{transportWS.name, legacyWS.name}

// CloseError makes an InitFunc refuse a connection with a close code.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return e.Reason }

// InitFunc accepts or refuses a connection_init payload (nil when the client
// sent none). The context it returns is the connection's, under every
// operation. A refusal closes the socket with the code of a *CloseError, or
// 4403. It runs on a goroutine of its own.
type InitFunc func(ctx context.Context, payload map[string]any) (context.Context, error)

// Config configures a Transport. The zero value accepts every connection
// with no limits.
type Config struct {
	// CheckOrigin reports whether the upgrade request's Origin is allowed; a
	// refused request gets 403. Nil allows requests without an Origin and
	// same-origin ones (gorilla's rule).
	CheckOrigin func(r *http.Request) bool
	Init        InitFunc
	// InitTimeout is how long a client may take to send connection_init
	// (then 4408); zero means no limit.
	InitTimeout time.Duration
	// KeepAlive is the interval of the server's ping (graphql-transport-ws;
	// a client that sends nothing, not even a pong, for two intervals is
	// closed) and of "ka" messages (graphql-ws). Zero sends none.
	KeepAlive time.Duration
	// ReadLimit bounds one message from the client in bytes (a larger one
	// closes the socket with 1009); zero means no limit.
	ReadLimit int64
	// WriteTimeout bounds each write, so that a client that stops reading
	// fails instead of holding a writer; zero means no limit.
	WriteTimeout time.Duration
	// MaxOperations is the number of operations one connection may run at
	// once; zero means no limit.
	MaxOperations int
	// Writers is the size of the pool that executes and writes subscription
	// events; zero means 64.
	Writers int
	// Recheck, when set, is called every RecheckEvery (default one minute)
	// with the contexts Init returned for the open connections, all at once,
	// and reports whether each connection's credentials still hold; a
	// connection whose do not is closed with 4401. Nothing runs while there
	// is no connection.
	Recheck      func(ctx context.Context, conns []context.Context) ([]bool, error)
	RecheckEvery time.Duration
	// Keys names, from the context Init returned, what a connection acts
	// for: CloseKey closes the connections under a key (a user, an API
	// token), and the first key names the principal whose connections
	// MaxPerPrincipal counts. Nil gives connections no keys.
	Keys func(ctx context.Context) []string
	// MaxPerPrincipal is how many connections one principal may hold open
	// at once; a connection_init beyond it is refused with 4429. Zero means
	// no limit.
	MaxPerPrincipal int
	// MaxPending is how many connections, over the whole transport, may be
	// waiting for connection_init or its answer; an upgrade beyond it is
	// answered 503 without upgrading. Zero means no limit.
	MaxPending int
	// Check, when set, runs before each operation is executed, once its
	// document is parsed and validated, with the connection's context and
	// the operation's (graphql.GetOperationContext): a *CloseError closes
	// the connection with its code and the operation does not run; another
	// error fails the operation with "internal error".
	Check func(ctx context.Context) error
	// Log receives panics and unexpected errors; nil discards them.
	Log *slog.Logger
	// Context ends every connection (1001) when it ends; nil never does.
	Context context.Context
	// Clock runs the init timeout and keepalive timers and dates what a
	// client last sent; nil means the wall clock. Tests pass one they move.
	Clock Clock
}

// Clock is the time a Transport's timers follow.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer set by a Clock; *time.Timer is one.
type Timer interface {
	Stop() bool
	Reset(d time.Duration) bool
}

type wallClock struct{}

func (wallClock) Now() time.Time                            { return time.Now() }
func (wallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Transport is a gqlgen transport for websocket upgrades. It is safe for
// concurrent use.
type Transport struct {
	cfg      Config
	upgrader websocket.Upgrader
	writers  *writerPool

	mu      sync.Mutex
	conns   map[*conn]struct{}
	keys    map[string]map[*conn]struct{} // of acknowledged connections
	pending int                           // connections holding a pending slot
	ended   bool
	recheck *time.Timer // running while there are connections
}

var _ graphql.Transport = (*Transport)(nil)

// New returns a Transport configured by cfg.
func New(cfg Config) *Transport {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 64
	}
	if cfg.RecheckEvery <= 0 {
		cfg.RecheckEvery = time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	t := &Transport{
		cfg: cfg,
		upgrader: websocket.Upgrader{
			Subprotocols: Subprotocols,
			CheckOrigin:  cfg.CheckOrigin,
			// Client messages are few and small; a larger one is read
			// through the buffer in pieces. Write buffers are lent by the
			// pool only while a message is written, so an idle connection
			// holds none.
			ReadBufferSize:  256,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
		},
		writers: &writerPool{max: cfg.Writers},
		conns:   map[*conn]struct{}{},
		keys:    map[string]map[*conn]struct{}{},
	}
	if cfg.Context != nil {
		context.AfterFunc(cfg.Context, t.shutdown)
	}
	return t
}

// Supports reports whether r asks for an upgrade (as gqlgen's HTTP
// transports refuse those); a malformed handshake gets 400.
func (t *Transport) Supports(r *http.Request) bool {
	return r.Header.Get("Upgrade") != ""
}

// Do upgrades the request and serves the connection until it closes. It
// returns once the connection is set up: the connection lives on its own
// goroutine, not on the HTTP handler's. On a failed upgrade gorilla has
// written the HTTP error (403 for a refused Origin, 400 for a bad
// handshake); with MaxPending connections waiting for connection_init
// already, the answer is 503 and nothing is upgraded.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.reservePending() {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many websocket connections waiting for connection_init; try again", http.StatusServiceUnavailable)
		return
	}
	ws, err := t.upgrader.Upgrade(w, r, nil)
	if err != nil {
		t.releasePending()
		return
	}
	proto := transportWS
	if ws.Subprotocol() != transportWS.name {
		proto = legacyWS // also when none was negotiated, as gqlgen does
	}
	// The connection outlives the request, whose context ends when Do
	// returns; it keeps the request's values. Its operations are ended one
	// by one when it closes, which spares a cancellable context per
	// connection.
	c := &conn{
		t:       t,
		ws:      ws,
		proto:   proto,
		exec:    exec,
		ctx:     context.WithoutCancel(r.Context()),
		pending: true,
	}
	if t.cfg.ReadLimit > 0 {
		ws.SetReadLimit(t.cfg.ReadLimit)
	}
	if proto.legacy {
		// The legacy protocol has no message that a client must answer; its
		// keepalive sends a websocket ping too, which clients answer by
		// themselves, and the pong shows the client is still there.
		ws.SetPongHandler(func(string) error {
			c.seen()
			return nil
		})
	}
	if !t.add(c) {
		c.close(websocket.CloseGoingAway, "server shutting down")
	}
	if t.cfg.InitTimeout > 0 {
		c.mu.Lock()
		c.timer = t.cfg.Clock.AfterFunc(t.cfg.InitTimeout, c.initTimedOut)
		c.mu.Unlock()
	}
	go c.readLoop()
}

// Connections returns the number of open websocket connections.
func (t *Transport) Connections() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Pending returns the number of connections waiting for connection_init or
// its answer.
func (t *Transport) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pending
}

// CloseKey closes, with code and reason, every acknowledged connection that
// Config.Keys put under key, and returns how many. It does not block.
func (t *Transport) CloseKey(key string, code int, reason string) int {
	t.mu.Lock()
	conns := make([]*conn, 0, len(t.keys[key]))
	for c := range t.keys[key] {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		go c.close(code, reason)
	}
	return len(conns)
}

// Recheck runs Config.Recheck over every acknowledged connection now,
// without waiting for the next period (for instance after events that
// would have closed some may have been lost). It does not block.
func (t *Transport) Recheck() {
	if t.cfg.Recheck != nil {
		go t.recheckOnce()
	}
}

// reservePending takes a slot for a connection waiting for
// connection_init, or reports false when MaxPending are taken.
func (t *Transport) reservePending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.MaxPending > 0 && t.pending >= t.cfg.MaxPending {
		return false
	}
	t.pending++
	return true
}

// releasePending gives back the pending slot of a connection that failed
// to upgrade (register and remove give back those of the others).
func (t *Transport) releasePending() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending--
}

// register puts an accepted connection under its keys and gives back its
// pending slot, or reports false when its principal (keys[0]) holds
// MaxPerPrincipal connections already.
func (t *Transport) register(c *conn, keys []string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(keys) > 0 && t.cfg.MaxPerPrincipal > 0 && len(t.keys[keys[0]]) >= t.cfg.MaxPerPrincipal {
		return false
	}
	if _, open := t.conns[c]; !open {
		return true // ended meanwhile; nothing to count
	}
	for _, k := range keys {
		set := t.keys[k]
		if set == nil {
			set = map[*conn]struct{}{}
			t.keys[k] = set
		}
		set[c] = struct{}{}
	}
	c.keys = keys
	if c.pending {
		c.pending = false
		t.pending--
	}
	return true
}

func (t *Transport) add(c *conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return false
	}
	t.conns[c] = struct{}{}
	if t.cfg.Recheck != nil && t.recheck == nil {
		t.recheck = time.AfterFunc(t.cfg.RecheckEvery, t.recheckAll)
	}
	return true
}

// recheckAll runs recheckOnce, then again after RecheckEvery while
// connections remain.
func (t *Transport) recheckAll() {
	t.recheckOnce()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.conns) == 0 || t.ended {
		t.recheck = nil
		return
	}
	t.recheck.Reset(t.cfg.RecheckEvery)
}

// recheckOnce asks Config.Recheck about every acknowledged connection and
// closes those whose credentials no longer hold.
func (t *Transport) recheckOnce() {
	t.mu.Lock()
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	checked, ctxs := conns[:0], make([]context.Context, 0, len(conns))
	for _, c := range conns {
		c.mu.Lock()
		if c.acked && !c.closing {
			checked = append(checked, c)
			ctxs = append(ctxs, c.opCtx)
		}
		c.mu.Unlock()
	}
	if len(ctxs) > 0 {
		ctx := t.cfg.Context
		if ctx == nil {
			ctx = context.Background()
		}
		ok, err := t.cfg.Recheck(ctx, ctxs)
		if err != nil {
			t.cfg.Log.Error("websocket credential recheck; trying again later", "error", err)
		}
		for i, c := range checked {
			if err == nil && !ok[i] {
				go c.close(CloseUnauthorized, "Credentials no longer valid")
			}
		}
	}
}

func (t *Transport) remove(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	for _, k := range c.keys {
		if set := t.keys[k]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(t.keys, k)
			}
		}
	}
	c.keys = nil
	if c.pending {
		c.pending = false
		t.pending--
	}
}

// shutdown closes every connection with 1001; later ones are refused.
func (t *Transport) shutdown() {
	t.mu.Lock()
	t.ended = true
	conns := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		go c.close(websocket.CloseGoingAway, "server shutting down") // a stuck peer holds its own close for a second
	}
}

// writerPool runs the flushes of connections that have something to write
// on at most max goroutines, started when work comes and ended when none is
// left. A connection is queued at most once at a time.
type writerPool struct {
	max int

	mu      sync.Mutex
	queue   []*conn
	running int
}

func (p *writerPool) schedule(c *conn) {
	p.mu.Lock()
	p.queue = append(p.queue, c)
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

func (p *writerPool) work() {
	var buf []byte
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.queue = nil // let a burst's backing array go
			p.running--
			p.mu.Unlock()
			return
		}
		c := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.mu.Unlock()
		buf = c.flush(buf[:0])
		if cap(buf) > 64<<10 {
			buf = nil // one large response must not stay pinned
		}
	}
}

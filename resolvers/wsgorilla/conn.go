package wsgorilla

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/errcode"
)

// protocol names the messages of one subprotocol.
type protocol struct {
	name      string
	subscribe string // client: start an operation
	stop      string // client: end one
	next      string // server: a result
	keepAlive []byte // server: the periodic message
	legacy    bool
}

var (
	transportWS = &protocol{
		name: "graphql-transport-ws", subscribe: "subscribe", stop: "complete", next: "next",
		keepAlive: []byte(`{"type":"ping"}`),
	}
	legacyWS = &protocol{
		name: "graphql-ws", subscribe: "start", stop: "stop", next: "data",
		keepAlive: []byte(`{"type":"ka"}`), legacy: true,
	}
)

// maxOutbox bounds the messages waiting for a writer on one connection; a
// client that lets more pile up is closed.
const maxOutbox = 256

// message is a protocol message as read and as written outside the event
// path.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// conn is one websocket connection. Its read loop is its only goroutine;
// writes happen on the transport's writer pool (and, before connection_ack,
// on the init goroutine), one at a time under wmu.
type conn struct {
	t     *Transport
	ws    *websocket.Conn
	proto *protocol
	exec  graphql.GraphExecutor
	ctx   context.Context // the connection's; operations run under opCtx

	wmu sync.Mutex // serialises data writes

	// Under t.mu.
	pending bool     // holds a pending slot (MaxPending)
	keys    []string // registered under (Config.Keys)

	mu          sync.Mutex
	initStarted bool
	acked       bool
	closing     bool
	opCtx       context.Context
	ops         []*operation // running; a few, so a slice is smaller than a map
	ready       []*operation // subscriptions with values to write
	outbox      [][]byte     // other messages to write, in order
	scheduled   bool         // queued on, or being flushed by, the pool
	timer       Timer        // the init timeout, then the keepalive
	lastSeen    time.Time    // on the Clock: when the acknowledged client last sent something
}

func (c *conn) readLoop() {
	defer c.end()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				c.close(websocket.CloseGoingAway, "keepalive timeout")
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has sent 1009. The rest of the message is still
				// coming: closing with it unread would reset the connection
				// and lose the close frame, so read it away first (for a
				// second at most).
				_ = c.ws.SetReadDeadline(time.Now().Add(time.Second))
				_, _ = io.Copy(io.Discard, c.ws.NetConn())
			}
			return
		}
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			continue // until the peer answers the close, or the deadline
		}
		c.handle(data)
	}
}

func (c *conn) handle(data []byte) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		c.close(CloseBadRequest, "Invalid message received")
		return
	}
	// Seen when it arrives, before it is handled: connection_init's
	// handling starts the keepalive from the acknowledgement, and a later
	// note of the same message would move the client's silence past it.
	c.seen()
	switch {
	case m.Type == "connection_init":
		c.init(m.Payload)
	case m.Type == c.proto.subscribe:
		c.subscribe(m.ID, m.Payload)
	case m.Type == c.proto.stop:
		c.mu.Lock()
		op := c.opLocked(m.ID)
		c.mu.Unlock()
		if op != nil {
			op.stop() // the operation completes as it ends
		}
	case m.Type == "ping" && !c.proto.legacy:
		c.send([]byte(`{"type":"pong"}`))
	case m.Type == "pong" && !c.proto.legacy:
	case m.Type == "connection_terminate" && c.proto.legacy:
		c.close(websocket.CloseNormalClosure, "terminated")
	default:
		c.close(CloseBadRequest, "Invalid message received")
	}
}

// seen notes that the client sent something (a message; a pong on the
// legacy protocol): the keepalive closes a client that sends nothing for two
// intervals.
func (c *conn) seen() {
	if c.t.cfg.KeepAlive <= 0 {
		return
	}
	now := c.t.cfg.Clock.Now()
	c.mu.Lock()
	c.lastSeen = now
	c.mu.Unlock()
}

// init accepts or refuses connection_init. The InitFunc (typically a
// database query) and the answer run on a short-lived goroutine while the
// read loop waits: a goroutine's stack keeps its deepest size for a while,
// and the read loop lives as long as the connection.
func (c *conn) init(payload json.RawMessage) {
	c.mu.Lock()
	again := c.initStarted
	c.initStarted = true
	c.mu.Unlock()
	if again {
		c.close(CloseTooManyInits, "Too many initialisation requests")
		return
	}
	var p map[string]any
	if len(payload) > 0 && !bytes.Equal(payload, []byte("null")) {
		if err := json.Unmarshal(payload, &p); err != nil {
			c.close(CloseBadRequest, "Invalid connection_init payload")
			return
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, err := c.ctx, error(nil)
		if c.t.cfg.Init != nil {
			ctx, err = c.t.cfg.Init(c.ctx, p)
		}
		if err != nil {
			code, reason := CloseForbidden, "Forbidden"
			var ce *CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			if c.proto.legacy {
				b, _ := json.Marshal(map[string]string{"message": reason})
				c.write(mustMessage(message{Type: "connection_error", Payload: b}))
			}
			c.close(code, reason)
			return
		}
		var keys []string
		if c.t.cfg.Keys != nil {
			keys = c.t.cfg.Keys(ctx)
		}
		if !c.t.register(c, keys) {
			reason := fmt.Sprintf("Too many connections for this principal (at most %d)", c.t.cfg.MaxPerPrincipal)
			if c.proto.legacy {
				b, _ := json.Marshal(map[string]string{"message": reason})
				c.write(mustMessage(message{Type: "connection_error", Payload: b}))
			}
			c.close(CloseTooManyConnections, reason)
			return
		}
		// The ack precedes every operation's messages: operations start only
		// once acked is set, after it.
		c.write([]byte(`{"type":"connection_ack"}`))
		if c.proto.legacy && c.t.cfg.KeepAlive > 0 {
			c.write(c.proto.keepAlive)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closing {
			return
		}
		c.acked, c.opCtx = true, ctx
		if c.timer != nil {
			c.timer.Stop()
		}
		if ka := c.t.cfg.KeepAlive; ka > 0 {
			c.lastSeen = c.t.cfg.Clock.Now()
			c.timer = c.t.cfg.Clock.AfterFunc(ka, c.keepAlive)
		}
	}()
	<-done
}

func (c *conn) initTimedOut() {
	c.mu.Lock()
	started := c.initStarted
	c.mu.Unlock()
	if !started {
		c.close(CloseInitTimeout, "Connection initialisation timeout")
	}
}

// keepAlive runs every KeepAlive interval once the connection is
// acknowledged: it closes a client that has sent nothing for two intervals,
// and sends the others the protocol's keepalive.
func (c *conn) keepAlive() {
	ka := c.t.cfg.KeepAlive
	now := c.t.cfg.Clock.Now()
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if now.Sub(c.lastSeen) >= 2*ka {
		c.mu.Unlock()
		c.close(websocket.CloseGoingAway, "keepalive timeout")
		return
	}
	c.outbox = append(c.outbox, c.proto.keepAlive)
	c.scheduleLocked()
	c.timer.Reset(ka)
	c.mu.Unlock()
	if c.proto.legacy {
		// Answered by the client's websocket library (the pong handler set
		// in Do); a client that does not answer is closed at its deadline.
		_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(ka))
	}
}

// subscribe starts an operation on its own goroutine; the read loop goes on
// reading (a stop for it may follow at once).
func (c *conn) subscribe(id string, payload json.RawMessage) {
	received := graphql.Now()
	c.mu.Lock()
	if c.closing { // cancelOperations has run or will not see it
		c.mu.Unlock()
		return
	}
	acked, ctx := c.acked, c.opCtx
	dup := c.opLocked(id) != nil
	full := c.t.cfg.MaxOperations > 0 && len(c.ops) >= c.t.cfg.MaxOperations
	var op *operation
	if acked && id != "" && !dup && !full {
		op = newOperation(c, ctx, id)
		c.ops = append(c.ops, op)
	}
	c.mu.Unlock()
	switch {
	case !acked:
		c.close(CloseUnauthorized, "Unauthorized")
	case id == "":
		c.close(CloseBadRequest, "Invalid message received")
	case dup:
		c.close(CloseDuplicateID, truncate("Subscriber for "+id+" already exists"))
	case full:
		msg := fmt.Sprintf("too many subscriptions on this connection (at most %d)", c.t.cfg.MaxOperations)
		resp := c.exec.DispatchError(ctx, gqlerror.List{invalidInput(msg)})
		ref := &operation{c: c, id: id, idJSON: jsonString(id)}
		c.send(ref.appendNext(nil, resp))
		c.send(ref.completeMessage())
	default:
		go op.run(payload, received)
	}
}

// opLocked returns the running operation with the ID, or nil.
func (c *conn) opLocked(id string) *operation {
	for _, op := range c.ops {
		if op.id == id {
			return op
		}
	}
	return nil
}

// send queues a message for the writer pool.
func (c *conn) send(b []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if len(c.outbox) >= maxOutbox {
		c.mu.Unlock()
		c.close(websocket.ClosePolicyViolation, "Client too slow")
		return
	}
	c.outbox = append(c.outbox, b)
	c.scheduleLocked()
	c.mu.Unlock()
}

func (c *conn) scheduleLocked() {
	if !c.scheduled && !c.closing {
		c.scheduled = true
		c.t.writers.schedule(c)
	}
}

// flush writes what the connection has waiting, on a pool goroutine, until
// nothing is left. buf is the worker's scratch buffer, returned for reuse.
func (c *conn) flush(buf []byte) []byte {
	for {
		c.mu.Lock()
		out, ready := c.outbox, c.ready
		c.outbox, c.ready = nil, nil
		for _, op := range ready {
			op.queued = false
		}
		if c.closing || (len(out) == 0 && len(ready) == 0) {
			c.scheduled = false
			c.mu.Unlock()
			return buf
		}
		c.mu.Unlock()
		for _, b := range out {
			if !c.write(b) {
				break
			}
		}
		for _, op := range ready {
			buf = op.drain(buf)
		}
	}
}

// write writes one message within the write timeout and reports whether it
// went out; a failed write closes the connection (gorilla's state is
// undefined after it).
func (c *conn) write(b []byte) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if wt := c.t.cfg.WriteTimeout; wt > 0 {
		_ = c.ws.SetWriteDeadline(time.Now().Add(wt))
	}
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	if err != nil {
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		_ = c.ws.NetConn().Close() // the read loop ends the connection
		return false
	}
	return true
}

// close sends a close frame and ends every operation; the read loop waits
// for the client's close frame, then closes the socket. Both waits take a
// second, or the write timeout when that is longer: the close frame queues
// behind a data write in progress, which that timeout bounds.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	deadline := time.Now().Add(max(time.Second, c.t.cfg.WriteTimeout))
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, truncate(reason)), deadline)
	_ = c.ws.SetReadDeadline(deadline)
	c.cancelOperations()
}

// cancelOperations ends every operation of a closing connection; their
// subscriptions leave the broker.
func (c *conn) cancelOperations() {
	c.mu.Lock()
	ops := slices.Clone(c.ops)
	c.mu.Unlock()
	for _, op := range ops {
		op.stop()
	}
}

// end runs when the read loop stops: it ends every operation (their
// subscriptions leave the broker) and closes the socket.
func (c *conn) end() {
	c.mu.Lock()
	c.closing = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.cancelOperations()
	_ = c.ws.Close()
	c.t.remove(c)
}

// truncate keeps a close reason within a control frame (125 bytes with the
// code).
func truncate(reason string) string {
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	return reason
}

// invalidInput is a GraphQL error with the INVALID_INPUT code.
func invalidInput(msg string) *gqlerror.Error {
	return &gqlerror.Error{
		Message: msg, Err: errcode.New(errcode.InvalidInput, "%s", msg),
		Extensions: map[string]any{"code": string(errcode.InvalidInput)},
	}
}

func jsonString(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

func mustMessage(m message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a message of strings and raw JSON always marshals
	}
	return b
}

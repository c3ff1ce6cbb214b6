package wsgorilla

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	gqlerrcode "github.com/99designs/gqlgen/graphql/errcode"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/pubsub"
)

// operation is one subscribe (or start) of a connection. A subscription
// made through internal/pubsub reports to it as a pubsub.Waker and is
// driven by the writer pool: its response handler is called only when its
// channel holds a value or has closed, so that it never blocks and needs no
// goroutine. Any other operation runs on its own goroutine.
type operation struct {
	c      *conn
	id     string
	idJSON []byte
	ctx    context.Context
	cancel context.CancelFunc

	attached atomic.Bool
	pending  atomic.Int64 // values announced by Wake(false) and not yet taken
	closed   atomic.Bool  // the channel has closed
	done     atomic.Bool

	// Under c.mu.
	ends      []func() // end the operation's pubsub subscriptions
	stopped   bool
	started   bool // dispatched
	queued    bool // on c.ready
	responses graphql.ResponseHandler
	rctx      context.Context
}

var _ pubsub.Waker = (*operation)(nil)

func newOperation(c *conn, parent context.Context, id string) *operation {
	ctx, cancel := context.WithCancel(parent)
	return &operation{c: c, id: id, idJSON: jsonString(id), ctx: ctx, cancel: cancel}
}

// Attached implements pubsub.Waker.
func (op *operation) Attached(end func()) {
	op.attached.Store(true)
	c := op.c
	c.mu.Lock()
	stopped := op.stopped
	if !stopped {
		op.ends = append(op.ends, end)
	}
	c.mu.Unlock()
	if stopped {
		end()
	}
}

// Dropped implements pubsub.Waker: a client that does not keep up with its
// events would miss some, so its connection is closed with 1013 (try again
// later), on which clients reconnect and subscribe again, with a fresh
// snapshot, rather than show stale numbers.
func (op *operation) Dropped() {
	go op.c.close(websocket.CloseTryAgainLater, "Subscriber too slow")
}

// stop cancels the operation and ends its subscriptions; the operation
// completes as they close.
func (op *operation) stop() {
	c := op.c
	c.mu.Lock()
	op.stopped = true
	ends := op.ends
	op.ends = nil
	c.mu.Unlock()
	op.cancel()
	for _, end := range ends {
		end()
	}
}

// Wake implements pubsub.Waker: it queues the operation for the writer pool
// once it is dispatched (values queued during dispatch, such as a snapshot,
// wait for that).
func (op *operation) Wake(closed bool) {
	if closed {
		op.closed.Store(true)
	} else {
		op.pending.Add(1)
	}
	c := op.c
	c.mu.Lock()
	op.queueLocked()
	c.mu.Unlock()
}

func (op *operation) queueLocked() {
	c := op.c
	if op.started && !op.queued && !c.closing {
		op.queued = true
		c.ready = append(c.ready, op)
		c.scheduleLocked()
	}
}

// run parses, validates and dispatches the operation. A pubsub subscription
// is then left to the writer pool; anything else is served here until it
// ends.
func (op *operation) run(payload json.RawMessage, received time.Time) {
	c := op.c
	defer func() {
		if p := recover(); p != nil {
			c.t.cfg.Log.Error("panic in websocket operation", "panic", p, "stack", string(debug.Stack()))
			op.fail(gqlerror.List{{Message: "internal error"}})
		}
	}()
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		op.fail(gqlerror.List{invalidInput("the payload is not a GraphQL request")})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: received, End: graphql.Now()}
	ctx := graphql.StartOperationTrace(op.ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if gqlerrcode.GetErrorKind(errs) == gqlerrcode.KindProtocol {
			op.fail(resp.Errors) // parse and validation errors
			return
		}
		c.send(op.appendNext(nil, resp))
		op.end(true)
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	if check := c.t.cfg.Check; check != nil {
		if err := check(ctx); err != nil {
			var ce *CloseError
			if errors.As(err, &ce) {
				c.close(ce.Code, ce.Reason) // ends the operation with the others
				return
			}
			c.t.cfg.Log.Error("websocket operation check", "error", err)
			op.fail(gqlerror.List{{Message: "internal error"}})
			return
		}
	}
	ctx = pubsub.WithWaker(ctx, op)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	if op.attached.Load() {
		c.mu.Lock()
		op.responses, op.rctx, op.started = responses, ctx, true
		if op.pending.Load() > 0 || op.closed.Load() {
			op.queueLocked()
		}
		c.mu.Unlock()
		return
	}
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		if op.ctx.Err() == nil {
			c.send(op.appendNext(nil, resp))
		}
	}
	op.end(true)
}

// drain writes the values the subscription has, on a pool goroutine, and
// completes it once its channel has closed. It calls the response handler
// only for announced values or a closed channel, so the call never blocks.
func (op *operation) drain(buf []byte) []byte {
	for !op.done.Load() {
		if op.pending.Load() > 0 {
			op.pending.Add(-1)
		} else if !op.closed.Load() {
			return buf
		}
		resp := op.respond()
		if resp == nil {
			op.end(true)
			return buf
		}
		if op.ctx.Err() != nil {
			continue // stopped by the client: nothing more to send
		}
		buf = op.appendNext(buf[:0], resp)
		if !op.c.write(buf) {
			return buf
		}
	}
	return buf
}

func (op *operation) respond() (resp *graphql.Response) {
	defer func() {
		if p := recover(); p != nil {
			op.c.t.cfg.Log.Error("panic in websocket response", "panic", p, "stack", string(debug.Stack()))
			op.fail(gqlerror.List{{Message: "internal error"}})
			resp = nil
		}
	}()
	return op.responses(op.rctx)
}

// fail ends the operation with an error message (no complete follows: the
// protocol ends the operation with it).
func (op *operation) fail(errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal error"}]`)
	}
	// Removed first: a client that starts another operation on reading the
	// error finds the slot free.
	if op.remove() {
		op.c.send(mustMessage(message{ID: op.id, Type: "error", Payload: b}))
	}
}

// end removes the operation from its connection and, when complete is set,
// tells the client it is over.
func (op *operation) end(complete bool) {
	if op.remove() && complete {
		op.c.send(op.completeMessage())
	}
}

// remove takes the operation off its connection and stops it, once; it
// reports whether this call did.
func (op *operation) remove() bool {
	if !op.done.CompareAndSwap(false, true) {
		return false
	}
	c := op.c
	c.mu.Lock()
	if i := slices.Index(c.ops, op); i >= 0 {
		c.ops = slices.Delete(c.ops, i, i+1)
	}
	c.mu.Unlock()
	op.stop()
	return true
}

func (op *operation) completeMessage() []byte {
	return fmt.Appendf(nil, `{"id":%s,"type":"complete"}`, op.idJSON)
}

// appendNext appends the next (graphql-ws: data) message carrying resp. A
// response of data alone, the common case, is framed around the bytes the
// executor produced instead of being encoded again. (The executor sets
// Extensions to an empty map when there are none.)
func (op *operation) appendNext(buf []byte, resp *graphql.Response) []byte {
	buf = append(buf, `{"id":`...)
	buf = append(buf, op.idJSON...)
	buf = append(buf, `,"type":"`...)
	buf = append(buf, op.c.proto.next...)
	buf = append(buf, `","payload":`...)
	if len(resp.Errors) == 0 && len(resp.Data) > 0 && len(resp.Extensions) == 0 &&
		resp.HasNext == nil && resp.Path == nil && resp.Label == "" {
		buf = append(buf, `{"data":`...)
		buf = append(buf, resp.Data...)
		buf = append(buf, '}')
	} else {
		b, err := json.Marshal(resp)
		if err != nil {
			b = []byte(`{"errors":[{"message":"internal error"}]}`)
		}
		buf = append(buf, b...)
	}
	return append(buf, '}')
}

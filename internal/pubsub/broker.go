// Package pubsub delivers change events to subscribers: Broker fans values
// out to the subscribers of a topic in this process, Coalescer hands keys
// from any goroutine to one worker in batches, and Listener bridges
// processes through PostgreSQL LISTEN/NOTIFY on one connection per process
// (Notify sends from inside a transaction, so events leave only on commit),
// and Relay carries short notices to every process, over that connection on
// PostgreSQL or in process after commit on a single one.
//
// Nothing here blocks a publisher: subscribers have bounded buffers, and a
// subscriber whose buffer is full is dropped (its channel closed) rather than
// waited for. Subscriptions end, and their channels close, when their context
// ends, or, for a transport that reads them through a Waker, when the Waker
// ends them. The package imports nothing of Gatehouse.
package pubsub

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultBuffer is the per-subscriber buffer when Options.Buffer is zero.
const DefaultBuffer = 16

// Options configures a Broker.
type Options struct {
	// Buffer is the number of values a subscriber may have pending before it
	// is dropped; zero means DefaultBuffer.
	Buffer int
}

// Broker fans values of type T out to the subscribers of a topic. It is safe
// for concurrent use; the zero value is not usable, call NewBroker.
type Broker[T any] struct {
	buffer  int
	dropped atomic.Int64

	mu     sync.Mutex
	topics map[string]map[*entry[T]]struct{}
	closed bool
}

// entry is one subscriber as the broker sees it.
type entry[T any] struct {
	topic string
	// offer delivers v without blocking; false means the buffer is full.
	offer func(v T) bool
	// shut closes the subscriber's channel.
	shut func()
	// dropped tells the subscriber's Waker that it is dropped; nil without
	// one.
	dropped func()
	// stop cancels the context.AfterFunc that removes the entry; nil when a
	// Waker ends the subscription instead.
	stop func() bool
}

// NewBroker returns an empty broker.
func NewBroker[T any](opts Options) *Broker[T] {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	return &Broker[T]{buffer: opts.Buffer, topics: map[string]map[*entry[T]]struct{}{}}
}

// Subscription is one subscriber's bounded stream of values.
type Subscription[U any] struct {
	// C receives the values. It is closed when the subscription's context
	// ends, when the subscriber is dropped for being slow, or when the broker
	// closes.
	C <-chan U

	waker  Waker
	end    func()
	mu     sync.Mutex
	ch     chan U
	closed bool
}

// Waker lets a transport read subscription channels only when they have
// something to give, instead of parking a goroutine on each. A transport
// puts one in the context (WithWaker) before the resolver subscribes.
// SubscribeFunc then calls Attached once with the function that ends the
// subscription, which the Waker must call when its operation ends (the
// context is not watched then: that saves a context registration per
// subscription), and Wake after every value it queues on the channel and
// once after the channel closes. Wake is called from publishers and must not
// block. A value is queued before its Wake, so a reader that takes one value
// per Wake(false), and reads on after Wake(true) until the channel is
// drained, never blocks. Dropped is called, before Wake(true), when the
// broker drops the subscription for not keeping up; it must not block
// either.
type Waker interface {
	Attached(end func())
	Wake(closed bool)
	Dropped()
}

type wakerKey struct{}

// WithWaker returns a context whose subscriptions report to w.
func WithWaker(ctx context.Context, w Waker) context.Context {
	return context.WithValue(ctx, wakerKey{}, w)
}

// Offer puts v in the subscription's buffer without blocking, as the broker
// does; it reports false when the buffer is full or the subscription ended.
// Subscribers use it to queue an initial value (a snapshot) of their own.
func (s *Subscription[U]) Offer(v U) bool {
	s.mu.Lock()
	ok := false
	if !s.closed {
		select {
		case s.ch <- v:
			ok = true
		default:
		}
	}
	s.mu.Unlock()
	if ok && s.waker != nil {
		s.waker.Wake(false)
	}
	return ok
}

// End ends the subscription before its context does and closes C.
func (s *Subscription[U]) End() {
	if s.end != nil {
		s.end()
	}
	s.shut()
}

func (s *Subscription[U]) shut() {
	s.mu.Lock()
	was := s.closed
	if !was {
		s.closed = true
		close(s.ch)
	}
	s.mu.Unlock()
	if !was && s.waker != nil {
		s.waker.Wake(true)
	}
}

// Subscribe subscribes to topic until ctx ends.
func (b *Broker[T]) Subscribe(ctx context.Context, topic string) *Subscription[T] {
	return SubscribeFunc(b, ctx, topic, func(v T) (T, bool) { return v, true })
}

// SubscribeFunc subscribes to topic until ctx ends, passing every value
// through fn, which the publisher calls: fn filters (false skips the value)
// and maps it to what this subscriber receives. fn must be fast and must not
// block; it is where per-subscriber authorization belongs, so that one
// computed event serves every subscriber without a query each. A Waker in
// ctx (WithWaker) is told of every value and of the end, and ends the
// subscription itself.
func SubscribeFunc[T, U any](b *Broker[T], ctx context.Context, topic string, fn func(T) (U, bool)) *Subscription[U] {
	s := &Subscription[U]{ch: make(chan U, b.buffer)}
	s.C = s.ch
	s.waker, _ = ctx.Value(wakerKey{}).(Waker)
	e := &entry[T]{
		topic: topic,
		offer: func(v T) bool {
			u, ok := fn(v)
			if !ok {
				return true
			}
			return s.Offer(u)
		},
		shut: s.shut,
	}
	b.mu.Lock()
	if b.closed || ctx.Err() != nil {
		b.mu.Unlock()
		if s.waker != nil {
			s.waker.Attached(func() {})
		}
		s.shut()
		return s
	}
	subs := b.topics[topic]
	if subs == nil {
		subs = map[*entry[T]]struct{}{}
		b.topics[topic] = subs
	}
	subs[e] = struct{}{}
	s.end = func() { b.remove(e) }
	if s.waker != nil {
		e.dropped = s.waker.Dropped
	} else {
		e.stop = context.AfterFunc(ctx, s.end)
	}
	b.mu.Unlock()
	if s.waker != nil {
		s.waker.Attached(s.End)
	}
	return s
}

// remove ends one subscription, if it is still registered.
func (b *Broker[T]) remove(e *entry[T]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(e)
}

func (b *Broker[T]) removeLocked(e *entry[T]) {
	subs, ok := b.topics[e.topic]
	if !ok {
		return
	}
	if _, ok := subs[e]; !ok {
		return
	}
	delete(subs, e)
	if len(subs) == 0 {
		delete(b.topics, e.topic)
	}
	if e.stop != nil {
		e.stop()
	}
	e.shut()
}

// Publish offers v to every subscriber of topic and returns how many took it
// (filtered subscribers excluded). It never blocks on a subscriber: one whose
// buffer is full is dropped and its channel closed.
func (b *Broker[T]) Publish(topic string, v T) (delivered int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for e := range b.topics[topic] {
		if e.offer(v) {
			delivered++
			continue
		}
		b.dropped.Add(1)
		if e.dropped != nil {
			e.dropped()
		}
		b.removeLocked(e)
	}
	return delivered
}

// Topics returns the topics that have subscribers.
func (b *Broker[T]) Topics() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.topics))
	for t := range b.topics {
		out = append(out, t)
	}
	return out
}

// Subscribers returns the number of subscribers of topic.
func (b *Broker[T]) Subscribers(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.topics[topic])
}

// Total returns the number of subscribers of every topic.
func (b *Broker[T]) Total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, subs := range b.topics {
		n += len(subs)
	}
	return n
}

// Dropped returns how many slow subscribers have been dropped.
func (b *Broker[T]) Dropped() int64 { return b.dropped.Load() }

// Close ends every subscription; later subscriptions end at once. Closing
// twice is harmless.
func (b *Broker[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, subs := range b.topics {
		for e := range subs {
			b.removeLocked(e)
		}
	}
}

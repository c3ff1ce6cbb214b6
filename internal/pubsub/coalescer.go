package pubsub

import (
	"context"
	"sync"
)

// Coalescer collects keys from any goroutine without blocking and hands them,
// without duplicates and in arrival order, to one worker goroutine in batches
// of at most Max keys. A key added again before the worker takes it is
// handled once. Start runs the worker; Stop ends it, Drain too once the keys
// added before it are handled.
type Coalescer struct {
	max    int
	handle func(ctx context.Context, keys []string)

	mu      sync.Mutex
	pending []string
	queued  map[string]struct{}
	wake    chan struct{}

	drain     chan struct{}
	drainOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// NewCoalescer returns a coalescer that calls handle with batches of at most
// max keys (max ≤ 0 means 500).
func NewCoalescer(max int, handle func(ctx context.Context, keys []string)) *Coalescer {
	if max <= 0 {
		max = 500
	}
	return &Coalescer{max: max, handle: handle, queued: map[string]struct{}{}, wake: make(chan struct{}, 1), drain: make(chan struct{})}
}

// Add queues keys for the worker. It never blocks.
func (c *Coalescer) Add(keys ...string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	for _, k := range keys {
		if _, ok := c.queued[k]; !ok {
			c.queued[k] = struct{}{}
			c.pending = append(c.pending, k)
		}
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the next batch.
func (c *Coalescer) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.pending), c.max)
	if n == 0 {
		return nil
	}
	batch := make([]string, n)
	copy(batch, c.pending)
	c.pending = append(c.pending[:0], c.pending[n:]...)
	for _, k := range batch {
		delete(c.queued, k)
	}
	return batch
}

// Start runs the worker until ctx ends or Stop is called. Starting twice
// without a Stop in between is a mistake and panics.
func (c *Coalescer) Start(ctx context.Context) {
	if c.done != nil {
		panic("pubsub: Coalescer started twice")
	}
	ctx, c.stop = context.WithCancel(ctx)
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		for {
			for batch := c.take(); batch != nil; batch = c.take() {
				c.handle(ctx, batch)
				if ctx.Err() != nil {
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-c.drain:
				for batch := c.take(); batch != nil && ctx.Err() == nil; batch = c.take() {
					c.handle(ctx, batch)
				}
				return
			case <-c.wake:
			}
		}
	}()
}

// Drain handles the keys added so far, then ends the worker like Stop.
// Draining twice, or before Start, is harmless.
func (c *Coalescer) Drain() {
	if c.done == nil {
		return
	}
	c.drainOnce.Do(func() { close(c.drain) })
	<-c.done
	c.stop()
}

// Stop ends the worker and waits for the batch in hand to finish. Keys still
// pending are discarded. Stopping twice, or before Start, is harmless.
func (c *Coalescer) Stop() {
	if c.done == nil {
		return
	}
	c.stop()
	<-c.done
}

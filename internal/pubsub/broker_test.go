package pubsub_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/pubsub"
)

// waitGoroutines waits until the number of goroutines is back to at most
// base, or fails with a dump of the goroutines.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, want at most %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBrokerDeliversToTopicSubscribers(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{Buffer: 4})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a1, a2 := b.Subscribe(ctx, "a"), b.Subscribe(ctx, "a")
	other := b.Subscribe(ctx, "b")

	require.Equal(t, 2, b.Publish("a", 1))
	require.Equal(t, 1, <-a1.C)
	require.Equal(t, 1, <-a2.C)
	require.Empty(t, other.C)
	require.Equal(t, 0, b.Publish("nobody", 2))
	require.Equal(t, 3, b.Total())
	require.ElementsMatch(t, []string{"a", "b"}, b.Topics())
}

func TestSubscribeFuncFiltersAndMapsPerSubscriber(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{})
	ctx := t.Context()
	even := pubsub.SubscribeFunc(b, ctx, "n", func(n int) (string, bool) { return fmt.Sprint("even ", n), n%2 == 0 })
	all := pubsub.SubscribeFunc(b, ctx, "n", func(n int) (string, bool) { return fmt.Sprint("n ", n), true })
	for i := range 4 {
		b.Publish("n", i)
	}
	require.Equal(t, []string{"even 0", "even 2"}, drain(even.C, 2))
	require.Equal(t, []string{"n 0", "n 1", "n 2", "n 3"}, drain(all.C, 4))
}

func drain[U any](c <-chan U, n int) []U {
	out := make([]U, 0, n)
	for range n {
		out = append(out, <-c)
	}
	return out
}

// TestSlowSubscriberIsDroppedWithoutBlocking: a subscriber that does not
// read is dropped when its buffer is full; the publisher never waits, and
// the others keep receiving.
func TestSlowSubscriberIsDroppedWithoutBlocking(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{Buffer: 8})
	ctx := t.Context()
	slow := b.Subscribe(ctx, "t")
	fast := b.Subscribe(ctx, "t")

	// slow never reads: a Publish that waited for it would never return.
	for i := range 1000 {
		b.Publish("t", i)
		require.Equal(t, i, <-fast.C, "the fast subscriber receives everything")
	}
	require.Equal(t, int64(1), b.Dropped())
	require.Equal(t, 1, b.Subscribers("t"))

	// The slow subscriber gets what its buffer held, then a closed channel.
	got := 0
	for range slow.C {
		got++
	}
	require.Equal(t, 8, got)
	b.Close()
	_, open := <-fast.C
	require.False(t, open)
}

func TestSubscriptionEndsWithContext(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	s := b.Subscribe(ctx, "t")
	require.Equal(t, 1, b.Total())
	cancel()
	_, open := <-s.C
	require.False(t, open)
	require.Eventually(t, func() bool { return b.Total() == 0 }, time.Minute, time.Millisecond)

	// A subscription with an ended context is closed at once.
	s = b.Subscribe(ctx, "t")
	_, open = <-s.C
	require.False(t, open)
	require.Zero(t, b.Total())
	require.False(t, s.Offer(1))
}

func TestCloseEndsSubscriptionsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{})
	s := b.Subscribe(t.Context(), "t")
	b.Close()
	b.Close()
	_, open := <-s.C
	require.False(t, open)
	_, open = <-b.Subscribe(t.Context(), "t").C
	require.False(t, open)
	require.Zero(t, b.Publish("t", 1))
}

// TestNoGoroutineLeakAfterSubscribeCycles subscribes and unsubscribes 1,000
// times, with publishing going on, and checks that no goroutine is left.
func TestNoGoroutineLeakAfterSubscribeCycles(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	b := pubsub.NewBroker[int](pubsub.Options{Buffer: 2})
	base := runtime.NumGoroutine()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				b.Publish("t", i)
			}
		}
	})
	for i := range 1000 {
		ctx, cancel := context.WithCancel(context.Background())
		s := b.Subscribe(ctx, "t")
		if i%2 == 0 {
			<-s.C // some read, some are dropped, all are cancelled
		}
		cancel()
		for range s.C {
		}
	}
	close(stop)
	wg.Wait()
	require.Eventually(t, func() bool { return b.Total() == 0 }, time.Minute, time.Millisecond)
	waitGoroutines(t, base)
}

func TestOfferQueuesOwnValue(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{Buffer: 2})
	s := b.Subscribe(t.Context(), "t")
	require.True(t, s.Offer(-1))
	b.Publish("t", 1)
	require.Equal(t, []int{-1, 1}, drain(s.C, 2))
}

// recordingWaker records what SubscribeFunc tells a Waker.
type recordingWaker struct {
	mu      sync.Mutex
	ends    []func()
	values  int
	closed  int
	dropped int
}

func (w *recordingWaker) Attached(end func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ends = append(w.ends, end)
}

func (w *recordingWaker) Dropped() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropped++
}

func (w *recordingWaker) Wake(closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if closed {
		w.closed++
	} else {
		w.values++
	}
}

func (w *recordingWaker) counts() (values, closed, dropped int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.values, w.closed, w.dropped
}

// TestWaker: a Waker hears of every queued value, then of the end; it ends
// the subscription itself (the context is not watched), and hears of a
// drop.
func TestWaker(t *testing.T) {
	t.Parallel()
	b := pubsub.NewBroker[int](pubsub.Options{Buffer: 2})
	w := &recordingWaker{}
	ctx, cancel := context.WithCancel(pubsub.WithWaker(context.Background(), w))
	s := pubsub.SubscribeFunc(b, ctx, "t", func(v int) (int, bool) { return v, v > 0 })
	require.Len(t, w.ends, 1)

	require.True(t, s.Offer(7))
	b.Publish("t", 0) // filtered out: no value, no wake
	b.Publish("t", 1)
	require.Equal(t, []int{7, 1}, drain(s.C, 2))
	values, closed, dropped := w.counts()
	require.Equal(t, []int{2, 0, 0}, []int{values, closed, dropped})

	cancel()
	b.Publish("t", 3)
	require.Equal(t, []int{3}, drain(s.C, 1), "with a Waker, the context is not watched")
	require.Equal(t, 1, b.Subscribers("t"))
	w.ends[0]()
	_, open := <-s.C
	require.False(t, open)
	require.Zero(t, b.Subscribers("t"))
	_, closed, _ = w.counts()
	require.Equal(t, 1, closed)

	// A subscriber that does not keep up is dropped, and its Waker told.
	w2 := &recordingWaker{}
	s2 := pubsub.SubscribeFunc(b, pubsub.WithWaker(context.Background(), w2), "t", func(v int) (int, bool) { return v, true })
	for i := range 3 {
		b.Publish("t", i)
	}
	require.Equal(t, []int{0, 1}, drain(s2.C, 2))
	values, closed, dropped = w2.counts()
	require.Equal(t, []int{2, 1, 1}, []int{values, closed, dropped})
	require.Equal(t, int64(1), b.Dropped())

	// Subscribing with an ended context ends at once, and says so.
	w3 := &recordingWaker{}
	ended, stop := context.WithCancel(pubsub.WithWaker(context.Background(), w3))
	stop()
	s3 := pubsub.SubscribeFunc(b, ended, "t", func(v int) (int, bool) { return v, true })
	_, open = <-s3.C
	require.False(t, open)
	_, closed, _ = w3.counts()
	require.Equal(t, 1, closed)
	require.Len(t, w3.ends, 1)
}

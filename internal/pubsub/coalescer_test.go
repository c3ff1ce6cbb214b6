package pubsub_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/pubsub"
)

func TestCoalescerBatchesWithoutDuplicates(t *testing.T) {
	base := runtime.NumGoroutine()
	var mu sync.Mutex
	var batches [][]string
	taken, release := make(chan struct{}, 3), make(chan struct{})
	c := pubsub.NewCoalescer(3, func(_ context.Context, keys []string) {
		taken <- struct{}{}
		<-release
		mu.Lock()
		batches = append(batches, keys)
		mu.Unlock()
	})
	c.Start(context.Background())
	c.Add("a")
	<-taken                             // the worker has taken it and waits
	c.Add("b", "c", "b", "d", "e", "c") // Add does not block while the worker is busy
	close(release)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(batches) == 3
	}, 2*time.Second, time.Millisecond)
	require.Equal(t, [][]string{{"a"}, {"b", "c", "d"}, {"e"}}, batches)
	c.Stop()
	c.Stop()
	waitGoroutines(t, base)
}

// TestCoalescerDrain: Drain hands every key added before it to the worker,
// then ends it.
func TestCoalescerDrain(t *testing.T) {
	t.Parallel()
	var got []string
	block := make(chan struct{})
	c := pubsub.NewCoalescer(2, func(_ context.Context, keys []string) {
		<-block
		got = append(got, keys...)
	})
	c.Start(context.Background())
	c.Add("a", "b", "c", "d", "e")
	close(block)
	c.Drain()
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
	c.Drain()
	c.Stop()
}

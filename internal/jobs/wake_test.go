package jobs

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWakeAnnouncesEveryQueue: a wake-up is one insert notification for
// each queue, so that every queue's producer fetches; wake-ups while one
// is pending are one.
func TestWakeAnnouncesEveryQueue(t *testing.T) {
	t.Parallel()
	l := newWakeListener("default", "grouped")
	ctx := context.Background()
	l.wake()
	l.wake()
	for _, want := range []string{`{"queue":"default"}`, `{"queue":"grouped"}`} {
		n, err := l.WaitForNotification(ctx)
		require.NoError(t, err)
		require.Equal(t, "river_insert", n.Topic)
		require.Equal(t, want, n.Payload)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := l.WaitForNotification(cancelled)
	require.ErrorIs(t, err, context.Canceled, "two wake-ups before the first was announced are one")

	l.wake()
	n, err := l.WaitForNotification(ctx)
	require.NoError(t, err)
	require.Equal(t, `{"queue":"default"}`, n.Payload)
}

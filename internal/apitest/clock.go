package apitest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
)

// Clock is a test server's clock: the wall clock shifted by what Advance
// added, so that time moves on as usual while a test jumps over the hours a
// grant lasts. The zero value reads the wall clock. It is safe for
// concurrent use.
type Clock struct{ offset atomic.Int64 }

// Now is the time on the clock.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock d forward.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// RunDue makes the scheduled jobs of kind that are due on the Env's clock
// available to River at once, and returns how many it found. River
// schedules by the wall clock, so a job due on a clock that Advance moved
// would otherwise wait for the wall clock to catch up.
func (e *Env) RunDue(t testing.TB, kind string) int {
	t.Helper()
	ctx, client := context.Background(), e.Server.Jobs.Client()
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(kind).States(rivertype.JobStateScheduled).First(10_000))
	require.NoError(t, err)
	n := 0
	for _, j := range res.Jobs {
		if j.ScheduledAt.After(e.Clock.Now()) {
			continue
		}
		_, err := client.JobRetry(ctx, j.ID)
		require.NoError(t, err)
		n++
	}
	e.Server.Jobs.Wake()
	return n
}

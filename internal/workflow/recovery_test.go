package workflow

import (
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/errcode"
)

// TestRetryRule: who may be sent back to fulfilment, with the clock passed
// in. Each row says why it expects what it does.
func TestRetryRule(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const timeout = time.Minute
	running := func(ago time.Duration) *rivertype.JobRow {
		at := now.Add(-ago)
		return &rivertype.JobRow{State: rivertype.JobStateRunning, AttemptedAt: &at}
	}
	waiting := &rivertype.JobRow{State: rivertype.JobStateRetryable, ScheduledAt: now.Add(time.Minute)}
	for _, tc := range []struct {
		why    string
		status enum.ItemStatus
		manual bool
		job    *rivertype.JobRow
		ok     bool
	}{
		{"a FAILED item may always be retried", enum.ItemStatusFailed, false, nil, true},
		{"a FAILED manual item goes back to the people", enum.ItemStatusFailed, true, nil, true},
		{"no job is left to run a FULFILLING item: it is stuck", enum.ItemStatusFulfilling, false, nil, true},
		{"no job is left to run an APPROVED item: it is stuck", enum.ItemStatusApproved, false, nil, true},
		{"its job has run past its deadline: the worker is gone", enum.ItemStatusFulfilling, false, running(timeout + time.Second), true},
		{"its job is running within its deadline: a worker is on it", enum.ItemStatusFulfilling, false, running(timeout - time.Second), false},
		{"its job waits for its next attempt: the runner will try again", enum.ItemStatusFulfilling, false, waiting, false},
		{"a manual item waits for people, not a job", enum.ItemStatusApproved, true, nil, false},
		{"a FULFILLED item has nothing to retry", enum.ItemStatusFulfilled, false, nil, false},
		{"a PENDING_REVIEW item is not approved", enum.ItemStatusPendingReview, false, nil, false},
		{"a CANCELLED item is closed", enum.ItemStatusCancelled, false, nil, false},
	} {
		err := retryRule(&ent.RequestItem{ID: "itm_1", Status: tc.status}, tc.manual, tc.job, now, timeout)
		if tc.ok {
			require.NoError(t, err, tc.why)
			continue
		}
		require.Error(t, err, tc.why)
		require.Equal(t, errcode.Conflict, errcode.Of(err), tc.why)
	}
}

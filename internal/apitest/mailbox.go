package apitest

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/mail"
	"gatehouse/internal/workflow"
)

// Mailbox is a mail.Sender that records the messages it is given, for
// tests. It is safe for concurrent use.
type Mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
	fail error
}

var _ mail.Sender = (*Mailbox)(nil)

// Send records m, or fails with the error set by FailWith.
func (b *Mailbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.sent = append(b.sent, m)
	return nil
}

// FailWith makes every Send fail with err (nil: succeed again).
func (b *Mailbox) FailWith(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail = err
}

// Sent returns the messages sent so far, in order.
func (b *Mailbox) Sent() []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sent)
}

// To returns the messages sent to the address, in order.
func (b *Mailbox) To(addr string) []mail.Message {
	var out []mail.Message
	for _, m := range b.Sent() {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// AwaitJobs waits until no job of kind is waiting, running or due to be
// retried: every job of kind inserted so far has ended.
func (e *Env) AwaitJobs(t testing.TB, kind string) {
	t.Helper()
	ctx := context.Background()
	var left []*rivertype.JobRow
	if !assert.Eventually(t, func() bool {
		res, err := e.Server.Jobs.Client().JobList(ctx, river.NewJobListParams().Kinds(kind).
			States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable,
				rivertype.JobStateScheduled, rivertype.JobStatePending).First(100))
		if err != nil {
			return false
		}
		left = res.Jobs
		return len(left) == 0
	}, time.Minute, 20*time.Millisecond) {
		t.Fatalf("jobs of %s still open: %d", kind, len(left))
	}
}

// OutboxParts returns, in job order, the key (workflow.OutboxJob.Key) and
// the part for outbox of every outbox job in one of states (any state when
// none) that has one.
func (e *Env) OutboxParts(t testing.TB, outbox string, states ...rivertype.JobState) (keys []string, parts []json.RawMessage) {
	t.Helper()
	params := river.NewJobListParams().Kinds(workflow.OutboxArgs{}.Kind()).First(10_000)
	if len(states) > 0 {
		params = params.States(states...)
	}
	res, err := e.Server.Jobs.Client().JobList(context.Background(), params)
	require.NoError(t, err)
	for _, j := range res.Jobs {
		var args workflow.OutboxArgs
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &args))
		if part, ok := args.Parts[outbox]; ok {
			keys = append(keys, strconv.FormatInt(j.ID, 10))
			parts = append(parts, part)
		}
	}
	return keys, parts
}

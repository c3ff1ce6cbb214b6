package notify_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/audit"
	"gatehouse/internal/notify"
	"gatehouse/internal/workflow"
)

// TestOutboxEnqueuesOneJobPerChange: a change whose events tell someone
// gets one delivery job carrying only those events; a change whose events
// tell nobody gets none; outside a request only the events told to the IT
// admins (a disabled webhook endpoint) get one. The outbox uses
// no database (a nil client), so it adds no statement to the change.
func TestOutboxEnqueuesOneJobPerChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	jobs, err := notify.Outbox{}.Enqueue(ctx, nil, []workflow.Event{
		{Action: audit.TaskApproved, Request: "req_1", Item: "itm_1", Actor: "usr_m"},
		{Action: audit.ItemApproved, Request: "req_1", Item: "itm_1", Actor: "usr_m"},
		{Action: audit.RequestCompleted, Request: "req_1", Actor: "usr_m", Data: map[string]any{"status": "COMPLETED"}},
	})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	args, ok := jobs[0].Args.(notify.DeliverArgs)
	require.True(t, ok)
	require.Equal(t, "notify", args.Kind())
	require.Len(t, args.Events, 2, "the task's approval tells nobody and is left out")
	require.Equal(t, audit.ItemApproved, args.Events[0].Action)
	require.Equal(t, "usr_m", args.Events[0].Actor)

	jobs, err = notify.Outbox{}.Enqueue(ctx, nil, []workflow.Event{{Action: audit.TaskApproved, Request: "req_1"}})
	require.NoError(t, err)
	require.Empty(t, jobs, "nothing to tell")
	jobs, err = notify.Outbox{}.Enqueue(ctx, nil, []workflow.Event{{Action: audit.CatalogChanged, Chain: audit.SystemChain}})
	require.NoError(t, err)
	require.Empty(t, jobs, "a catalog change tells nobody")

	jobs, err = notify.Outbox{}.Enqueue(ctx, nil, []workflow.Event{{
		Action: audit.WebhookEndpointDisabled, Chain: audit.SystemChain, Actor: "system",
		Data: map[string]any{"id": "whe_1", "consecutiveFailures": 5},
	}})
	require.NoError(t, err)
	require.Len(t, jobs, 1, "a disabled endpoint tells the IT admins, outside any request")
	require.Equal(t, audit.WebhookEndpointDisabled, jobs[0].Args.(notify.DeliverArgs).Events[0].Action)
}

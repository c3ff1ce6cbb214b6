package notify_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/notification"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/notify"
	"gatehouse/internal/workflow"
)

// TestOutboxPartOfEachChange: a change whose events tell someone gets a
// part of its outbox job carrying only those events; a change whose events
// tell nobody gets none; outside a request only the events told to the IT
// admins (a disabled webhook endpoint) get one. The outbox uses no database
// (a nil client), so it adds no statement to the change.
func TestOutboxPartOfEachChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	box := notify.New(notify.Config{})
	require.Equal(t, "notify", box.Name())
	part, err := box.Enqueue(ctx, nil, []workflow.Event{
		{Action: audit.TaskApproved, Request: "req_1", Item: "itm_1", Actor: "usr_m"},
		{Action: audit.ItemApproved, Request: "req_1", Item: "itm_1", Actor: "usr_m"},
		{Action: audit.RequestCompleted, Request: "req_1", Actor: "usr_m", Data: map[string]any{"status": "COMPLETED"}},
	})
	require.NoError(t, err)
	events, ok := part.([]notify.Event)
	require.True(t, ok)
	require.Len(t, events, 2, "the task's approval tells nobody and is left out")
	require.Equal(t, audit.ItemApproved, events[0].Action)
	require.Equal(t, "usr_m", events[0].Actor)

	part, err = box.Enqueue(ctx, nil, []workflow.Event{{Action: audit.TaskApproved, Request: "req_1"}})
	require.NoError(t, err)
	require.Nil(t, part, "nothing to tell")
	part, err = box.Enqueue(ctx, nil, []workflow.Event{{Action: audit.CatalogChanged, Chain: audit.SystemChain}})
	require.NoError(t, err)
	require.Nil(t, part, "a catalog change tells nobody")

	part, err = box.Enqueue(ctx, nil, []workflow.Event{{
		Action: audit.WebhookEndpointDisabled, Chain: audit.SystemChain, Actor: "system",
		Data: map[string]any{"id": "whe_1", "consecutiveFailures": 5},
	}})
	require.NoError(t, err)
	require.Equal(t, audit.WebhookEndpointDisabled, part.([]notify.Event)[0].Action,
		"a disabled endpoint tells the IT admins, outside any request")
}

// TestEarlierDeliveryJobsAreWorked: a delivery job of the kind earlier
// versions inserted (notify), still waiting when the server is upgraded,
// is worked as before: its notifications are written.
func TestEarlierDeliveryJobsAreWorked(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		a := env.User(t, "a@example.com", enum.PlatformRoleITAdmin)
		_, err := env.Server.Jobs.Client().Insert(context.Background(), notify.DeliverArgs{Events: []notify.Event{{
			Action: audit.WebhookEndpointDisabled, Actor: "system", At: env.Clock.Now(),
			Data: map[string]any{"id": "whe_1", "consecutiveFailures": 5},
		}}}, nil)
		require.NoError(t, err)
		env.AwaitJobs(t, "notify")
		n, err := env.Client.Notification.Query().Where(notification.RecipientID(a.ID)).Only(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, "WEBHOOK_ENDPOINT_DISABLED", string(n.Kind))
	})
}

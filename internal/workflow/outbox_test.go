package workflow_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow"
)

// recordingOutbox keeps the events it is given, writes a row in the
// change's transaction, and fails when told to.
type recordingOutbox struct {
	mu     sync.Mutex
	events [][]workflow.Event
	fail   bool
}

func (o *recordingOutbox) Enqueue(ctx context.Context, client *ent.Client, events []workflow.Event) ([]river.InsertManyParams, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, events)
	if o.fail {
		return nil, errors.New("outbox refused")
	}
	return nil, nil
}

// TestOutboxSeesEachChangeInItsTransaction: a state change hands its audit
// events, in order and with their request, item, actor and data, to the
// outboxes before it commits, and an outbox that fails rolls the change
// back, so nothing is delivered for a change that did not happen and no
// change commits without its deliveries.
func TestOutboxSeesEachChangeInItsTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		box := &recordingOutbox{}
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true, Outboxes: []workflow.Outbox{box}})
		sys := apitest.Sys()
		m, r, app := underReview(t, env)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("e").SetName("E").Save(sys)
		require.NoError(t, err)
		submit := `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id items { id } } }`
		in := map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e.ID}}}

		var out struct {
			SubmitAccessRequest struct {
				ID    pulid.ID
				Items []struct{ ID pulid.ID }
			}
		}
		env.MustDo(t, env.Token(t, r), submit, in, &out)
		box.mu.Lock()
		require.Len(t, box.events, 1, "one change, one call")
		got := box.events[0]
		box.mu.Unlock()
		var actions []audit.Action
		for _, ev := range got {
			actions = append(actions, ev.Action)
			require.Equal(t, out.SubmitAccessRequest.ID, ev.Request, ev.Action)
			require.Equal(t, string(out.SubmitAccessRequest.ID), ev.Chain, ev.Action)
			require.Equal(t, string(r.ID), ev.Actor, ev.Action)
			require.False(t, ev.At.IsZero(), ev.Action)
			row, err := env.Client.AuditEvent.Get(apitest.Sys(), ev.ID)
			require.NoError(t, err, "the event's ID is its audit row's")
			require.Equal(t, string(ev.Action), row.Action)
		}
		require.Equal(t, []audit.Action{audit.RequestSubmitted, audit.ItemAdded, audit.TaskAssigned}, actions)
		require.Equal(t, out.SubmitAccessRequest.Items[0].ID, got[1].Item)
		require.Equal(t, string(m.ID), got[2].Data["reviewer"], "the task's reviewer is in its data")

		box.mu.Lock()
		box.fail = true
		box.mu.Unlock()
		e2, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("e2").SetName("E2").Save(sys)
		require.NoError(t, err)
		in["in"].(map[string]any)["entitlementIds"] = []pulid.ID{e2.ID}
		res := env.Do(t, env.Token(t, r), submit, in)
		require.NotEmpty(t, res.Errors, "the outbox's failure is the change's")
		n, err := env.Client.AccessRequest.Query().Where(accessrequest.RequesterID(r.ID)).Count(sys)
		require.NoError(t, err)
		require.Equal(t, 1, n, "the refused change left nothing behind")
	})
}

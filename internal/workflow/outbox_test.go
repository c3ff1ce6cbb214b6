package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/schema/enum"
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

func (*recordingOutbox) Name() string { return "recording" }

func (o *recordingOutbox) Enqueue(ctx context.Context, client *ent.Client, events []workflow.Event) (any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, events)
	if o.fail {
		return nil, errors.New("outbox refused")
	}
	return nil, nil
}

func (*recordingOutbox) Work(context.Context, workflow.OutboxJob, json.RawMessage) error { return nil }

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

// partOutbox puts the request ID of a change's first event in its part
// and records each Work call. Work sends on ran, then waits to receive on
// wait, and its first failFirst calls fail.
type partOutbox struct {
	name      string
	wait      <-chan struct{}
	ran       chan<- struct{}
	failFirst int

	mu    sync.Mutex
	calls []workflow.OutboxJob
	parts []string
}

func (o *partOutbox) Name() string { return o.name }

func (o *partOutbox) Enqueue(_ context.Context, _ *ent.Client, events []workflow.Event) (any, error) {
	if events[0].Request == "" {
		return nil, nil
	}
	return events[0].Request, nil
}

func (o *partOutbox) Work(ctx context.Context, job workflow.OutboxJob, part json.RawMessage) error {
	o.ran <- struct{}{}
	select {
	case <-o.wait:
	case <-ctx.Done():
		return ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, job)
	o.parts = append(o.parts, string(part))
	if len(o.calls) <= o.failFirst {
		return errors.New("not now")
	}
	return nil
}

func (o *partOutbox) recorded() ([]workflow.OutboxJob, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls, o.parts
}

// TestOneOutboxJobPerChange: a change inserts one outbox job, in the
// queue of grouped jobs, holding the part of each outbox that has one
// (the notifications', the webhooks' and two of the test's); a change
// that concerns no outbox inserts none. The job's parts run side by side
// (each of the test's waits for the other's run), and when one fails the
// job runs again whole, with the same key, until every part succeeds; only
// the job's last attempt is told it is the last. A part of an unknown
// outbox fails the job.
func TestOneOutboxJobPerChange(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ranFirst, ranSecond := make(chan struct{}, 2), make(chan struct{}, 2)
		first := &partOutbox{name: "first", ran: ranFirst, wait: ranSecond, failFirst: 1}
		second := &partOutbox{name: "second", ran: ranSecond, wait: ranFirst}
		env := apitest.NewWith(t, db, apitest.Options{Outboxes: []workflow.Outbox{first, second}})
		sys := apitest.Sys()
		_, r, app := underReview(t, env)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("e").SetName("E").Save(sys)
		require.NoError(t, err)
		var out struct{ SubmitAccessRequest struct{ ID pulid.ID } }
		env.MustDo(t, env.Token(t, r), `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e.ID}}}, &out)
		env.AwaitJobs(t, "outbox")

		res, err := env.Server.Jobs.Client().JobList(context.Background(), river.NewJobListParams().Kinds("outbox"))
		require.NoError(t, err)
		require.Len(t, res.Jobs, 1, "one job for the change")
		job := res.Jobs[0]
		require.Equal(t, rivertype.JobStateCompleted, job.State)
		require.Equal(t, "grouped", job.Queue)
		require.Equal(t, workflow.OutboxAttempts, job.MaxAttempts)
		require.Equal(t, 2, job.Attempt, "the first part failed once")
		var args workflow.OutboxArgs
		require.NoError(t, json.Unmarshal(job.EncodedArgs, &args))
		require.ElementsMatch(t, []string{"notify", "webhooks", "first", "second"}, slices.Collect(maps.Keys(args.Parts)))

		key := strconv.FormatInt(job.ID, 10)
		for _, box := range []*partOutbox{first, second} {
			calls, parts := box.recorded()
			require.Equal(t, []workflow.OutboxJob{{Key: key}, {Key: key}}, calls, box.name)
			require.Equal(t, []string{`"` + string(out.SubmitAccessRequest.ID) + `"`, `"` + string(out.SubmitAccessRequest.ID) + `"`}, parts, box.name)
		}

		admin := env.User(t, "a@example.com", enum.PlatformRoleITAdmin)
		env.MustDo(t, env.Token(t, admin), `mutation { createApplication(input: {name: "Payroll", fulfillment: MANUAL, connectorKind: MANUAL}) { id } }`, nil, nil)
		res, err = env.Server.Jobs.Client().JobList(context.Background(), river.NewJobListParams().Kinds("outbox"))
		require.NoError(t, err)
		require.Len(t, res.Jobs, 1, "a catalog change concerns no outbox: no job")

		// A job's last attempt says so to every part.
		last, err := env.Server.Jobs.Client().Insert(context.Background(),
			workflow.OutboxArgs{Parts: map[string]json.RawMessage{"first": json.RawMessage(`"x"`), "second": json.RawMessage(`"x"`)}},
			&river.InsertOpts{MaxAttempts: 1, Queue: workflow.GroupedQueue})
		require.NoError(t, err)
		env.AwaitJobs(t, "outbox")
		for _, box := range []*partOutbox{first, second} {
			calls, _ := box.recorded()
			require.Equal(t, workflow.OutboxJob{Key: strconv.FormatInt(last.Job.ID, 10), LastAttempt: true}, calls[len(calls)-1], box.name)
		}

		// A part of an outbox this server does not have fails the job.
		ins, err := env.Server.Jobs.Client().Insert(context.Background(),
			workflow.OutboxArgs{Parts: map[string]json.RawMessage{"elsewhere": json.RawMessage(`1`)}}, nil)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			j, err := env.Server.Jobs.Client().JobGet(context.Background(), ins.Job.ID)
			return err == nil && len(j.Errors) > 0 && strings.Contains(j.Errors[0].Error, `no outbox "elsewhere"`)
		}, time.Minute, 20*time.Millisecond)
	})
}

package notify

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/jobs"
	"gatehouse/internal/workflow"
)

// Event is a workflow event as the delivery job carries it.
type Event struct {
	Action audit.Action `json:"action"`
	// Actor is a user ID, an API token ID or "system".
	Actor   string         `json:"actor"`
	At      time.Time      `json:"at"`
	Request pulid.ID       `json:"request,omitempty"`
	Item    pulid.ID       `json:"item,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
}

// DeliverArgs is the job that turns one change's events into
// notifications (DeliverWorker).
type DeliverArgs struct {
	Events []Event `json:"events"`
}

// Kind names the job.
func (DeliverArgs) Kind() string { return "notify" }

// InsertOpts: the job retries as River does, up to 10 attempts, and is
// worked in the queue of grouped jobs (Service.Deliver).
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10, Queue: jobs.GroupedQueue}
}

// Outbox is the workflow outbox of notifications: for a change whose
// events tell anyone (Notifies), it returns one delivery job carrying
// them, inserted with the change's own jobs in its transaction, so the
// notifications exist if and only if the change commits. It reads and
// writes nothing itself: who is told is decided when the job runs.
type Outbox struct{}

var (
	_ workflow.Outbox = Outbox{}
	_ Transactions    = (*workflow.Service)(nil)
)

// Enqueue returns the change's delivery job, or nothing when no event
// tells anyone.
func (Outbox) Enqueue(_ context.Context, _ *ent.Client, events []workflow.Event) ([]river.InsertManyParams, error) {
	var out []Event
	for _, ev := range events {
		if !Notifies(ev.Action) || ev.Request == "" && !Names(ev.Action, ITAdmins) {
			continue // outside a request only administrators are told
		}
		out = append(out, Event{Action: ev.Action, Actor: ev.Actor, At: ev.At, Request: ev.Request, Item: ev.Item, Data: ev.Data})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return []river.InsertManyParams{{Args: DeliverArgs{Events: out}}}, nil
}

package notify

import (
	"context"
	"encoding/json"
	"fmt"
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

// DeliverArgs is the job, inserted by earlier versions, that turned one
// change's events into notifications (DeliverWorker): a change now hands
// them to its outbox job (Service.Enqueue). Jobs of this kind still
// waiting are worked as before.
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

var (
	_ workflow.Outbox = (*Service)(nil)
	_ Transactions    = (*workflow.Service)(nil)
)

// Name implements workflow.Outbox.
func (*Service) Name() string { return "notify" }

// Enqueue implements workflow.Outbox: a change's part of its outbox job is
// its events that tell anyone (Notifies), none when no event does. It
// reads and writes nothing itself: who is told is decided when the job
// runs (Work), so the notifications exist if and only if the change
// commits.
func (*Service) Enqueue(_ context.Context, _ *ent.Client, events []workflow.Event) (any, error) {
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
	return out, nil
}

// Work implements workflow.Outbox: it delivers the change's notifications
// (Deliver, keyed by the job).
func (s *Service) Work(ctx context.Context, job workflow.OutboxJob, part json.RawMessage) error {
	var events []Event
	if err := json.Unmarshal(part, &events); err != nil {
		return fmt.Errorf("decode notify part: %w", err)
	}
	return s.Deliver(ctx, job.Key, events, job.LastAttempt)
}

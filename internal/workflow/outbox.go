package workflow

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
)

// Event is an audit event that a state change wrote, as its outboxes and
// its log line see it.
type Event struct {
	// ID is the audit event's ID: receivers of deliveries de-duplicate
	// by it.
	ID     pulid.ID
	Action audit.Action
	// Chain is the audit chain: the request's ID, or audit.SystemChain.
	Chain string
	// Actor is a user ID, an API token ID or "system".
	Actor   string
	At      time.Time
	Request pulid.ID // empty outside a request
	Item    pulid.ID // empty when the event is not about one item
	Data    map[string]any
}

// Outbox turns a state change's audit events into deliveries that must
// exist if and only if the change commits: notifications, event webhooks.
// Enqueue is called inside the change's transaction, after its audit events
// are written and before its jobs are inserted, with a client that writes in
// the transaction and bypasses privacy (the change has checked its caller),
// and with the events in the order written. It writes what it needs through
// client and returns the jobs that deliver it; they are inserted with the
// change's own. An error rolls the whole change back, so Enqueue must fail
// only when the database does.
type Outbox interface {
	Enqueue(ctx context.Context, client *ent.Client, events []Event) ([]river.InsertManyParams, error)
}

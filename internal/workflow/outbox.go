package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
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

// RecordWebhookFailure counts one more failed delivery of an event webhook
// endpoint and, when that makes disableAfter in a row on an enabled
// endpoint, disables it, in one state change: the system chain records
// WEBHOOK_ENDPOINT_DISABLED (the schema's audit hook, in the change's
// transaction), and the outboxes turn that event into the IT admins'
// notifications like any change's events. It returns the endpoint's
// failures in a row and whether this call disabled it. It is for the
// webhook delivery job (trusted code; the write runs in a system context);
// an endpoint deleted meanwhile is no error. Errors: only the database's.
func (s *Service) RecordWebhookFailure(ctx context.Context, endpointID pulid.ID, disableAfter int) (failures int, disabled bool, err error) {
	err = s.inTx(authz.SystemContext(ctx), func(ctx context.Context, t *txn) error {
		failures, disabled = 0, false
		ep, err := t.client.WebhookEndpoint.UpdateOneID(endpointID).AddConsecutiveFailures(1).Save(ctx)
		if ent.IsNotFound(err) {
			return nil // deleted meanwhile, with its log
		}
		if err != nil {
			return fmt.Errorf("count the failure: %w", err)
		}
		failures = ep.ConsecutiveFailures
		if !ep.Enabled || failures < disableAfter {
			return nil
		}
		disabled = true
		err = t.client.WebhookEndpoint.UpdateOneID(endpointID).
			SetEnabled(false).SetDisabledAt(s.now()).SetConsecutiveFailures(failures).Exec(ctx)
		if err != nil {
			return fmt.Errorf("disable: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("record webhook endpoint %s failure: %w", endpointID, err)
	}
	return failures, disabled, nil
}

// WriteTx runs fn in a transaction of the one write path (inTx), for the
// writes of a service that are not request state changes but take the
// same turn and the same transaction handling: the notification service's
// (notifications written by their delivery job, read marks, preferences).
// fn gets the SQL transaction (for an in-transaction notice such as
// pg_notify) and a client over it that bypasses privacy: the caller has
// checked its viewer. It writes no audit events. Errors: fn's, and the
// database's.
func (s *Service) WriteTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, client *ent.Client) error) error {
	return s.inTx(ctx, func(ctx context.Context, t *txn) error { return fn(ctx, t.sql, t.client) })
}

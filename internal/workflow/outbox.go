package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
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
// and with the events in the order written. It returns the outbox's part of
// the change's one outbox job (OutboxArgs; any JSON value), or nil when the
// events concern it not; the job is inserted with the change's own. An
// error rolls the whole change back, so Enqueue must fail only when the
// database does.
//
// Work delivers the outbox's part when the job runs, beside the other
// outboxes' parts of the same job (one part's slow delivery does not delay
// another's). When any part fails the job is retried whole, so Work must
// deliver nothing twice when run again with the same job.
type Outbox interface {
	// Name keys the outbox's part in the job; it must not change between
	// versions while jobs wait.
	Name() string
	Enqueue(ctx context.Context, client *ent.Client, events []Event) (any, error)
	Work(ctx context.Context, job OutboxJob, part json.RawMessage) error
}

// OutboxJob is one attempt of an outbox job, as an outbox's Work sees it.
type OutboxJob struct {
	// Key names the job, the same on every attempt (deliveries written
	// once per job are keyed by it).
	Key string
	// LastAttempt is true on the job's last attempt: a delivery that
	// fails now is not tried again.
	LastAttempt bool
}

// OutboxArgs is the job of one state change's deliveries: each outbox's
// part (Outbox.Enqueue), by outbox name. A change inserts one, whatever
// the number of outboxes, so the job runner fetches and completes one row
// per change.
type OutboxArgs struct {
	Parts map[string]json.RawMessage `json:"parts"`
}

// Kind implements river.JobArgs.
func (OutboxArgs) Kind() string { return "outbox" }

// OutboxAttempts is how many times an outbox job runs before it is
// discarded (River's backoff between them: about seven hours in all).
const OutboxAttempts = 10

// GroupedQueue is the River queue of outbox jobs: the job runner
// (internal/jobs) gives it slots of its own, for jobs whose work waits to
// be grouped with the others worked at the same time (jobs.Group).
const GroupedQueue = "grouped"

// InsertOpts implements river.JobArgsWithInsertOpts.
func (OutboxArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: OutboxAttempts, Queue: GroupedQueue}
}

// outboxJob returns the change's outbox job, or nil when no outbox has a
// part of its events.
func (s *Service) outboxJob(ctx context.Context, t *txn) (*river.InsertManyParams, error) {
	var parts map[string]json.RawMessage
	for _, o := range s.outboxes {
		part, err := o.Enqueue(ctx, t.client, t.logged)
		if err != nil {
			return nil, fmt.Errorf("outbox %s: %w", o.Name(), err)
		}
		if part == nil {
			continue
		}
		data, err := json.Marshal(part)
		if err != nil {
			return nil, fmt.Errorf("outbox %s: encode: %w", o.Name(), err)
		}
		if parts == nil {
			parts = map[string]json.RawMessage{}
		}
		parts[o.Name()] = data
	}
	if parts == nil {
		return nil, nil
	}
	return &river.InsertManyParams{Args: OutboxArgs{Parts: parts}}, nil
}

// Outboxes works the outbox jobs (OutboxArgs): an extension of the job
// runner (jobs.Extension). It must hold the outboxes the workflow is
// configured with.
type Outboxes []Outbox

// Register adds the outbox job's worker.
func (o Outboxes) Register(workers *river.Workers) []*river.PeriodicJob {
	byName := make(map[string]Outbox, len(o))
	for _, box := range o {
		byName[box.Name()] = box
	}
	river.AddWorker(workers, &outboxWorker{outboxes: byName})
	return nil
}

type outboxWorker struct {
	river.WorkerDefaults[OutboxArgs]
	outboxes map[string]Outbox
}

// Work runs every part of the job at the same time and fails with the
// parts that failed (a part of an unknown outbox is one).
func (w *outboxWorker) Work(ctx context.Context, job *river.Job[OutboxArgs]) error {
	j := OutboxJob{Key: strconv.FormatInt(job.ID, 10), LastAttempt: job.Attempt >= job.MaxAttempts}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	for name, part := range job.Args.Parts {
		box, ok := w.outboxes[name]
		if !ok {
			fail(fmt.Errorf("no outbox %q", name))
			continue
		}
		wg.Go(func() {
			if err := box.Work(ctx, j, part); err != nil {
				fail(fmt.Errorf("outbox %s: %w", name, err))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
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

package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// liveJobStates are the states of a job that may still run.
var liveJobStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// liveJob returns the newest fulfilment job of the item that may still run,
// or nil when none may. Inside a transaction pass it as tx: the job table is
// then read through it, never on another connection, which on SQLite waits
// for the write lock this transaction holds (until "database is locked").
func (s *Service) liveJob(ctx context.Context, tx *sql.Tx, itemID pulid.ID) (*rivertype.JobRow, error) {
	params := river.NewJobListParams().
		Kinds(FulfillArgs{}.Kind()).
		States(liveJobStates...).
		Where("args ->> 'item_id' = @item_id", river.NamedArgs{"item_id": string(itemID)}).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).
		First(1)
	var res *river.JobListResult
	var err error
	if tx != nil {
		res, err = s.jobs.JobListTx(ctx, tx, params)
	} else {
		res, err = s.jobs.JobList(ctx, params)
	}
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	if len(res.Jobs) == 0 {
		return nil, nil
	}
	return res.Jobs[0], nil
}

// retryRule says whether an IT admin may send an item back to fulfilment,
// given its application's mode, its newest fulfilment job that may still
// run (nil if none), and now. A FAILED item may always be retried. An
// APPROVED or FULFILLING item of a connector application may be retried
// when its fulfilment is stuck: no job is left to run it (the last one was
// lost or discarded), or its job has been running for longer than timeout,
// the job's own deadline, so that no worker is still on it. Anything else is
// a CONFLICT that says why.
func retryRule(item *ent.RequestItem, manual bool, job *rivertype.JobRow, now time.Time, timeout time.Duration) error {
	switch {
	case item.Status == enum.ItemStatusFailed:
		return nil
	case item.Status != enum.ItemStatusApproved && item.Status != enum.ItemStatusFulfilling:
		return errcode.New(errcode.Conflict,
			"item %s is %s: only a FAILED item, or one whose fulfilment job has run past its deadline, can be retried", item.ID, item.Status)
	case manual:
		return errcode.New(errcode.Conflict, "item %s is %s and waits for manual fulfilment", item.ID, item.Status)
	case job == nil:
		return nil
	case job.State == rivertype.JobStateRunning && job.AttemptedAt != nil && now.Sub(*job.AttemptedAt) > timeout:
		return nil
	case job.State == rivertype.JobStateRunning:
		return errcode.New(errcode.Conflict,
			"item %s is being fulfilled: its job may run until %s; retry it once it has FAILED or run past that deadline",
			item.ID, job.AttemptedAt.Add(timeout).UTC().Format(time.RFC3339))
	default:
		return errcode.New(errcode.Conflict,
			"item %s is %s: its fulfilment job runs again at %s", item.ID, item.Status, job.ScheduledAt.UTC().Format(time.RFC3339))
	}
}

// markFailed ends the fulfilment of an APPROVED or FULFILLING item: FAILED,
// msg as its last error (attempts, when positive, as its attempt count) and
// FULFILLMENT_FAILED in its trail. With unlessLive it first checks, under
// the request's lock, that no fulfilment job may still run it. It reports
// whether it changed the item; any other item is left alone.
func (s *Service) markFailed(ctx context.Context, itemID pulid.ID, msg string, attempts int, unlessLive bool) (bool, error) {
	failed := false
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if found, err := s.lockItemRequest(ctx, t, itemID); err != nil || !found {
			return err
		}
		item, err := t.client.RequestItem.Get(ctx, itemID)
		if err != nil {
			return fmt.Errorf("read locked item: %w", err)
		}
		if unlessLive {
			// A retry may have enqueued a job since the caller looked.
			job, err := s.liveJob(ctx, t.sql, itemID)
			if err != nil {
				return fmt.Errorf("find fulfilment job: %w", err)
			}
			if job != nil {
				return nil
			}
		}
		upd := t.client.RequestItem.Update().
			Where(requestitem.ID(itemID), requestitem.StatusIn(enum.ItemStatusApproved, enum.ItemStatusFulfilling)).
			SetStatus(enum.ItemStatusFailed).SetLastError(msg)
		if attempts > 0 {
			upd.SetFulfillmentAttempts(attempts)
		} else {
			attempts = item.FulfillmentAttempts
		}
		n, err := upd.Save(ctx)
		if err != nil {
			return fmt.Errorf("mark item FAILED: %w", err)
		}
		if n == 0 {
			return nil
		}
		events := []audit.Event{{Action: audit.FulfillmentFailed, RequestID: &item.RequestID, ItemID: &item.ID,
			Data: map[string]any{"error": msg, "attempts": attempts}}}
		app, err := t.client.Application.Get(ctx, item.ApplicationID)
		if err != nil {
			return fmt.Errorf("load application: %w", err)
		}
		if authz.AwaitsPeopleNow(enum.ItemStatusFailed, app.Fulfillment) {
			// The owners complete it by hand, or an admin retries.
			events = append(events, manualWaiting(item.RequestID, item.ID, string(enum.ItemStatusFailed)))
		}
		if err := s.record(ctx, t, item.RequestID, systemActor, events...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		failed = true
		return nil
	})
	return failed && err == nil, err
}

// SweepFulfillments fails the items whose fulfilment job ended without
// recording an outcome — discarded by the job runner's stuck-job rescue
// after a crash during its last attempt, or lost — so that no item waits in
// APPROVED or FULFILLING for a job that will never run. It is for the job
// runner's periodic sweep, and returns how many items it failed.
func (s *Service) SweepFulfillments(ctx context.Context) (int, error) {
	items, err := s.client.RequestItem.Query().
		Where(
			requestitem.StatusIn(enum.ItemStatusApproved, enum.ItemStatusFulfilling),
			requestitem.HasApplicationWith(application.FulfillmentNEQ(enum.FulfillmentManual)),
		).
		All(authz.SystemContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("sweep fulfilments: list items: %w", err)
	}
	n := 0
	for _, item := range items {
		job, err := s.liveJob(ctx, nil, item.ID)
		if err != nil {
			return n, fmt.Errorf("sweep fulfilments: find fulfilment job of %s: %w", item.ID, err)
		}
		if job != nil {
			continue
		}
		msg := "the fulfilment job ended without an outcome"
		if item.LastError != "" {
			msg += "; last error: " + item.LastError
		}
		failed, err := s.markFailed(ctx, item.ID, msg, 0, true)
		if err != nil {
			return n, fmt.Errorf("sweep fulfilments: fail %s: %w", item.ID, err)
		}
		if failed {
			n++
		}
	}
	return n, nil
}

// lockItemRequest locks the request of an item, so that the item is read
// and changed under the request's lock; it reports false when there is no
// such item.
func (s *Service) lockItemRequest(ctx context.Context, t *txn, itemID pulid.ID) (bool, error) {
	requestID, err := t.client.RequestItem.Query().Where(requestitem.ID(itemID)).
		Select(requestitem.FieldRequestID).String(ctx)
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read item: %w", err)
	}
	if err := s.lockRequests(ctx, t, pulid.ID(requestID)); err != nil {
		return false, fmt.Errorf("lock request: %w", err)
	}
	return true, nil
}

package workflow

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"gatehouse/ent"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/workflow/rules"
)

// changes are what a transaction wrote that a request's derived status and
// its subscribers' view depend on: the requests whose trail grew, and the
// request items, review stages and review tasks written, by ID.
type changes struct {
	requests, items, stages, tasks map[pulid.ID]bool
}

func newChanges() changes {
	return changes{requests: map[pulid.ID]bool{}, items: map[pulid.ID]bool{}, stages: map[pulid.ID]bool{}, tasks: map[pulid.ID]bool{}}
}

// track is the hook inTx puts on its transaction's client: it notes every
// request item, review stage and review task written, whatever code writes
// it, so that their requests are settled before commit. A bulk update's rows
// are those its predicates match before the write.
func (t *txn) track(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if err := t.note(ctx, m); err != nil {
			return nil, fmt.Errorf("track %s %s: %w", m.Op(), m.Type(), err)
		}
		return next.Mutate(ctx, m)
	})
}

func (t *txn) note(ctx context.Context, m ent.Mutation) error {
	var into map[pulid.ID]bool
	var rows interface {
		IDs(context.Context) ([]pulid.ID, error)
	}
	switch m := m.(type) {
	case *ent.RequestItemMutation:
		if id, ok := m.RequestID(); ok {
			t.touch(id)
		}
		into, rows = t.changed.items, m
	case *ent.ReviewStageMutation:
		if id, ok := m.ItemID(); ok {
			t.changed.items[id] = true
		}
		into, rows = t.changed.stages, m
	case *ent.ReviewTaskMutation:
		if id, ok := m.RequestID(); ok {
			t.touch(id)
		}
		into, rows = t.changed.tasks, m
	case *ent.AuditEventMutation:
		t.noteEvent(m)
		return nil
	default:
		return nil
	}
	if m.Op().Is(ent.OpCreate) {
		return nil
	}
	ids, err := rows.IDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		into[id] = true
	}
	return nil
}

// settleChanged settles every request the transaction changed, in ID order,
// and returns them: those whose trail grew and those of the items, stages and
// tasks written.
func (s *Service) settleChanged(ctx context.Context, t *txn) ([]pulid.ID, error) {
	c := t.changed
	if len(c.stages) > 0 {
		items, err := t.client.ReviewStage.Query().Where(reviewstage.IDIn(slices.Collect(maps.Keys(c.stages))...)).
			Select(reviewstage.FieldItemID).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("settle: items of changed stages: %w", err)
		}
		for _, id := range items {
			c.items[pulid.ID(id)] = true
		}
	}
	var requests []string
	if len(c.items) > 0 {
		ids, err := t.client.RequestItem.Query().Where(requestitem.IDIn(slices.Collect(maps.Keys(c.items))...)).
			Select(requestitem.FieldRequestID).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("settle: requests of changed items: %w", err)
		}
		requests = append(requests, ids...)
	}
	if len(c.tasks) > 0 {
		ids, err := t.client.ReviewTask.Query().Where(reviewtask.IDIn(slices.Collect(maps.Keys(c.tasks))...)).
			Select(reviewtask.FieldRequestID).Strings(ctx)
		if err != nil {
			return nil, fmt.Errorf("settle: requests of changed tasks: %w", err)
		}
		requests = append(requests, ids...)
	}
	for _, id := range requests {
		c.requests[pulid.ID(id)] = true
	}
	out := slices.Sorted(maps.Keys(c.requests))
	for _, id := range out {
		if err := s.settle(ctx, t, id); err != nil {
			return nil, fmt.Errorf("settle %s: %w", id, err)
		}
	}
	return out, nil
}

// settle derives the request's status from its items (DESIGN §4.4) and
// stores it; when the request becomes completed it records completed_at and
// REQUEST_COMPLETED. Only settleChanged calls it.
func (s *Service) settle(ctx context.Context, t *txn, requestID pulid.ID) error {
	req, err := t.client.AccessRequest.Get(ctx, requestID)
	if err != nil {
		return fmt.Errorf("load request: %w", err)
	}
	statuses, err := t.client.RequestItem.Query().Where(requestitem.RequestID(requestID)).
		Select(requestitem.FieldStatus).Strings(ctx)
	if err != nil {
		return fmt.Errorf("load item statuses: %w", err)
	}
	items := make([]enum.ItemStatus, len(statuses))
	for i, st := range statuses {
		items[i] = enum.ItemStatus(st)
	}
	status := rules.DeriveRequestStatus(items)
	if status == req.Status {
		return nil
	}
	upd := t.client.AccessRequest.UpdateOne(req).SetStatus(status)
	completed := rules.IsCompleted(status) && req.CompletedAt == nil
	if completed {
		upd.SetCompletedAt(s.now())
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("update request status: %w", err)
	}
	if !completed {
		return nil
	}
	return s.record(ctx, t, requestID, t.actor, audit.Event{
		Action: audit.RequestCompleted, RequestID: &requestID, Data: map[string]any{"status": string(status)},
	})
}

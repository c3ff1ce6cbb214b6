package workflow

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
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
// request items, review stages and review tasks written, by ID, whose
// requests are still to be found.
type changes struct {
	requests, items, stages, tasks map[pulid.ID]bool
}

func newChanges() changes {
	return changes{requests: map[pulid.ID]bool{}, items: map[pulid.ID]bool{}, stages: map[pulid.ID]bool{}, tasks: map[pulid.ID]bool{}}
}

// knowledge is what the transaction knows of requests it read or created,
// so that settling them reads nothing again: each request's row (its status
// and completion as the transaction left them) and the status of every one
// of its items. The track hook keeps item statuses current; a write it
// cannot follow makes the request unknown again, and settle reads it.
type knowledge struct {
	requests map[pulid.ID]*ent.AccessRequest
	// items holds, per known request, the statuses of all its items.
	items map[pulid.ID]map[pulid.ID]enum.ItemStatus
	// itemRequest maps the items of known requests to their request.
	itemRequest map[pulid.ID]pulid.ID
}

func newKnowledge() knowledge {
	return knowledge{requests: map[pulid.ID]*ent.AccessRequest{}, items: map[pulid.ID]map[pulid.ID]enum.ItemStatus{}, itemRequest: map[pulid.ID]pulid.ID{}}
}

// know records a request as read or created in the transaction with the
// statuses of all its items.
func (k knowledge) know(req *ent.AccessRequest, items map[pulid.ID]enum.ItemStatus) {
	k.requests[req.ID] = req
	k.items[req.ID] = items
	for id := range items {
		k.itemRequest[id] = req.ID
	}
}

// setItem records an item's new status, or forgets its request's items when
// the item is not known.
func (k knowledge) setItem(requestID, itemID pulid.ID, st enum.ItemStatus) {
	if items := k.items[requestID]; items != nil {
		items[itemID] = st
		k.itemRequest[itemID] = requestID
	}
}

type declaredKey struct{}

// declared returns ctx for writes to request items, review stages and review
// tasks of the request id only, whose effect on the known item statuses the
// caller records itself (knowledge.setItem): the track hook then reads
// nothing to find their request.
func declared(ctx context.Context, id pulid.ID) context.Context {
	return context.WithValue(ctx, declaredKey{}, id)
}

// track is the hook inTx puts on its transaction's client: it notes every
// request item, review stage and review task written, whatever code writes
// it, so that their requests are settled before commit. A bulk update's rows
// are those its predicates match before the write, unless the write was
// declared (see declared).
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
	if id, ok := ctx.Value(declaredKey{}).(pulid.ID); ok {
		switch m.(type) {
		case *ent.RequestItemMutation, *ent.ReviewStageMutation, *ent.ReviewTaskMutation:
			t.touch(id)
			return nil
		}
	}
	switch m := m.(type) {
	case *ent.RequestItemMutation:
		if id, ok := m.RequestID(); ok {
			t.touch(id)
		}
		if m.Op().Is(ent.OpCreate) {
			id, _ := m.ID()
			req, _ := m.RequestID()
			if st, ok := m.Status(); ok {
				t.known.setItem(req, id, st)
			} else {
				t.known.items[req] = nil
			}
			return nil
		}
		if id, ok := m.ID(); ok && m.Op().Is(ent.OpUpdateOne) {
			if req, ok := t.known.itemRequest[id]; ok {
				t.touch(req)
				if st, ok := m.Status(); ok {
					t.known.setItem(req, id, st)
				}
				return nil
			}
		}
		into, rows = t.changed.items, m
	case *ent.ReviewStageMutation:
		if id, ok := m.ItemID(); ok {
			if req, ok := t.known.itemRequest[id]; ok {
				t.touch(req)
			} else {
				t.changed.items[id] = true
			}
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
	if _, ok := m.(*ent.RequestItemMutation); ok {
		// Items written by a bulk update: their requests' statuses are read
		// again.
		for _, id := range ids {
			if req, ok := t.known.itemRequest[id]; ok {
				t.known.items[req] = nil
			}
		}
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
// REQUEST_COMPLETED. It reads the request and its items unless the
// transaction knows them. Only settleChanged calls it.
func (s *Service) settle(ctx context.Context, t *txn, requestID pulid.ID) error {
	req, statuses := t.known.requests[requestID], t.known.items[requestID]
	if req == nil || statuses == nil {
		var err error
		if req, err = t.client.AccessRequest.Get(ctx, requestID); err != nil {
			return fmt.Errorf("load request: %w", err)
		}
		var rows []*ent.RequestItem
		if rows, err = t.client.RequestItem.Query().Where(requestitem.RequestID(requestID)).
			Select(requestitem.FieldID, requestitem.FieldStatus).All(ctx); err != nil {
			return fmt.Errorf("load item statuses: %w", err)
		}
		statuses = make(map[pulid.ID]enum.ItemStatus, len(rows))
		for _, it := range rows {
			statuses[it.ID] = it.Status
		}
		t.known.know(req, statuses)
	}
	items := make([]enum.ItemStatus, 0, len(statuses))
	for _, st := range statuses {
		items = append(items, st)
	}
	status := rules.DeriveRequestStatus(items)
	if status == req.Status {
		return nil
	}
	upd := t.client.AccessRequest.Update().Where(accessrequest.ID(requestID)).SetStatus(status)
	completed := rules.IsCompleted(status) && req.CompletedAt == nil
	now := s.now()
	if completed {
		upd.SetCompletedAt(now)
	}
	if err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("update request status: %w", err)
	}
	req.Status = status
	if completed {
		req.CompletedAt = &now
	}
	if !completed {
		return nil
	}
	return s.record(ctx, t, requestID, t.actor, audit.Event{
		Action: audit.RequestCompleted, RequestID: &requestID, Data: map[string]any{"status": string(status)},
	})
}

// record appends events to the request's audit chain when the transaction
// commits (writeEvents); the request counts as changed.
func (s *Service) record(_ context.Context, t *txn, requestID pulid.ID, actor string, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	t.touch(requestID)
	now := s.now()
	batches := t.events[requestID]
	if n := len(batches); n > 0 && batches[n-1].Actor == actor && batches[n-1].At.Equal(now) {
		batches[n-1].Events = append(batches[n-1].Events, events...)
		return nil
	}
	t.events[requestID] = append(batches, audit.Batch{Actor: actor, At: now, Events: slices.Clone(events)})
	return nil
}

// writeEvents appends the recorded events, one statement per chain, in chain
// order. Every append to a request chain happens under the request's row
// lock: the chains of requests the transaction has not locked yet are
// locked first (on PostgreSQL), and the head of a chain not read under the
// lock yet is read.
func (s *Service) writeEvents(ctx context.Context, t *txn) error {
	chains := slices.Sorted(maps.Keys(t.events))
	if err := s.lockRequests(ctx, t, chains...); err != nil {
		return err
	}
	for _, id := range chains {
		head, ok := t.heads[id]
		if !ok {
			var err error
			if head, err = s.audit.Head(ctx, t.client, string(id)); err != nil {
				return err
			}
		}
		next, err := s.audit.AppendAfter(ctx, t.client, string(id), head, t.events[id]...)
		if err != nil {
			return err
		}
		t.heads[id] = next
	}
	clear(t.events)
	return nil
}

package workflow

import (
	"context"
	"fmt"
	"slices"

	"gatehouse/ent"
	"gatehouse/ent/predicate"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// Decision is a reviewer's answer.
type Decision string

// The decisions.
const (
	Approve Decision = "APPROVE"
	Deny    Decision = "DENY"
)

// DecideTasks approves or denies the viewer's pending tasks, all or nothing.
// A task the viewer cannot see is NOT_FOUND; a task of a request whose
// requester, beneficiary or submitter is the viewer or the minter of the
// viewer's API token is FORBIDDEN (so nobody approves their own request
// through a service account's token); one they can see but that is not
// theirs is FORBIDDEN; a WAITING or already decided task is CONFLICT. The
// audit events name the API token used and its minter. Each
// affected request is locked, so a stage advances and an item is approved
// exactly once however many reviewers decide at the same time.
func (s *Service) DecideTasks(ctx context.Context, ids []pulid.ID, d Decision, comment string) ([]*ent.ReviewTask, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	if d != Approve && d != Deny {
		return nil, errcode.Invalid("decision", "must be APPROVE or DENY")
	}
	ids = distinct(ids)
	if len(ids) == 0 {
		return nil, errcode.Invalid("ids", "must name at least one task")
	}
	visible, err := s.client.ReviewTask.Query().Where(reviewtask.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("decide: load tasks: %w", err)
	}
	if missing := missingIDs(ids, visible); len(missing) > 0 {
		return nil, errcode.New(errcode.NotFound, "no review task %s", missing[0])
	}
	requests := make([]pulid.ID, 0, len(visible))
	for _, task := range visible {
		requests = append(requests, task.RequestID)
	}
	requests = distinct(requests)
	slices.Sort(requests)

	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, requests...); err != nil {
			return fmt.Errorf("lock requests: %w", err)
		}
		for _, id := range ids {
			if err := s.decide(ctx, t, v, id, d, comment); err != nil {
				return fmt.Errorf("task %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	tasks, err := s.client.ReviewTask.Query().Where(reviewtask.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("decide: reload tasks: %w", err)
	}
	return tasks, nil
}

// decide records one decision and advances its stage and item.
func (s *Service) decide(ctx context.Context, t *txn, v *authz.Viewer, id pulid.ID, d Decision, comment string) error {
	userID, actor := v.UserID, v.Actor()
	task, err := t.client.ReviewTask.Query().Where(reviewtask.ID(id)).WithRequest().Only(ctx)
	if err != nil {
		return fmt.Errorf("load task: %w", err)
	}
	if err := rules.CheckDecider(acting(v), parties(task.Edges.Request), task.ReviewerID); err != nil {
		return errcode.New(errcode.Forbidden, "review task %s: %v", task.ID, err)
	}
	if task.Status != enum.TaskStatusPending {
		return errcode.New(errcode.Conflict, "review task %s is %s, not PENDING", id, task.Status)
	}
	status, action := enum.TaskStatusApproved, audit.TaskApproved
	if d == Deny {
		status, action = enum.TaskStatusDenied, audit.TaskDenied
	}
	now := s.now()
	err = t.client.ReviewTask.UpdateOne(task).
		SetStatus(status).SetComment(comment).SetDecidedAt(now).SetDecidedByID(userID).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("record decision: %w", err)
	}
	stage, err := t.client.ReviewStage.Query().Where(reviewstage.ID(task.StageID)).WithItem().Only(ctx)
	if err != nil {
		return fmt.Errorf("load stage: %w", err)
	}
	events := []audit.Event{{
		Action: action, RequestID: &task.RequestID, ItemID: &stage.ItemID,
		Data: withCredential(v, map[string]any{"task": string(id), "stage": stage.Level, "comment": comment}),
	}}
	more, err := s.advanceStage(ctx, t, stage, actor)
	if err != nil {
		return fmt.Errorf("advance stage %d: %w", stage.Level, err)
	}
	if err := s.record(ctx, t, task.RequestID, actor, append(events, more...)...); err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	return nil
}

// advanceStage evaluates a stage after a decision: an approved stage skips
// its other pending tasks and activates the next stage, or approves the item
// after the last one; a denied stage skips everything left and denies the
// item. It returns the audit events of what it changed.
func (s *Service) advanceStage(ctx context.Context, t *txn, stage *ent.ReviewStage, actor string) ([]audit.Event, error) {
	tasks, err := t.client.ReviewTask.Query().Where(reviewtask.StageID(stage.ID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load stage tasks: %w", err)
	}
	statuses := make([]enum.TaskStatus, len(tasks))
	for i, task := range tasks {
		statuses[i] = task.Status
	}
	item := stage.Edges.Item
	switch rules.EvaluateStage(stage.Rule, stage.Quorum, statuses) {
	case rules.StageApproved:
		events, err := s.skipTasks(ctx, t, item, reviewtask.StageID(stage.ID))
		if err != nil {
			return nil, fmt.Errorf("skip open tasks: %w", err)
		}
		if err := t.client.ReviewStage.UpdateOne(stage).SetStatus(enum.StageStatusApproved).Exec(ctx); err != nil {
			return nil, fmt.Errorf("mark stage APPROVED: %w", err)
		}
		events = append(events, audit.Event{Action: audit.StageApproved, RequestID: &item.RequestID, ItemID: &item.ID,
			Data: map[string]any{"stage": stage.Level}})
		next, err := t.client.ReviewStage.Query().
			Where(reviewstage.ItemID(item.ID), reviewstage.Level(stage.Level+1)).
			Only(ctx)
		switch {
		case ent.IsNotFound(err):
			more, err := s.approveItem(ctx, t, item, false)
			if err != nil {
				return nil, fmt.Errorf("approve item: %w", err)
			}
			return append(events, more...), nil
		case err != nil:
			return nil, fmt.Errorf("load next stage: %w", err)
		}
		more, err := s.activateStage(ctx, t, item, next)
		if err != nil {
			return nil, fmt.Errorf("activate stage %d: %w", next.Level, err)
		}
		return append(events, more...), nil
	case rules.StageDenied:
		events, err := s.skipTasks(ctx, t, item, reviewtask.HasStageWith(reviewstage.ItemID(item.ID)))
		if err != nil {
			return nil, fmt.Errorf("skip open tasks of item: %w", err)
		}
		if err := t.client.ReviewStage.UpdateOne(stage).SetStatus(enum.StageStatusDenied).Exec(ctx); err != nil {
			return nil, fmt.Errorf("mark stage DENIED: %w", err)
		}
		err = t.client.ReviewStage.Update().
			Where(reviewstage.ItemID(item.ID), reviewstage.StatusEQ(enum.StageStatusWaiting)).
			SetStatus(enum.StageStatusSkipped).Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("skip waiting stages: %w", err)
		}
		err = t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusDenied).SetDecidedAt(s.now()).Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("mark item DENIED: %w", err)
		}
		return append(events,
			audit.Event{Action: audit.StageDenied, RequestID: &item.RequestID, ItemID: &item.ID, Data: map[string]any{"stage": stage.Level}},
			audit.Event{Action: audit.ItemDenied, RequestID: &item.RequestID, ItemID: &item.ID},
		), nil
	}
	return nil, nil
}

// skipTasks marks the PENDING and WAITING tasks matching where SKIPPED and
// returns their TASK_SKIPPED events.
func (s *Service) skipTasks(ctx context.Context, t *txn, item *ent.RequestItem, where predicate.ReviewTask) ([]audit.Event, error) {
	open, err := t.client.ReviewTask.Query().
		Where(where, reviewtask.StatusIn(enum.TaskStatusPending, enum.TaskStatusWaiting)).
		IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("find open tasks: %w", err)
	}
	if len(open) == 0 {
		return nil, nil
	}
	if err := t.client.ReviewTask.Update().Where(reviewtask.IDIn(open...)).SetStatus(enum.TaskStatusSkipped).Exec(ctx); err != nil {
		return nil, fmt.Errorf("mark tasks SKIPPED: %w", err)
	}
	events := make([]audit.Event, len(open))
	for i, id := range open {
		events[i] = audit.Event{Action: audit.TaskSkipped, RequestID: &item.RequestID, ItemID: &item.ID, Data: map[string]any{"task": string(id)}}
	}
	return events, nil
}

// activateStage makes a waiting stage ACTIVE and its tasks PENDING, each
// routed by rules.Route: a reviewer whose delegation is in force at this
// moment hands the task over (the waiting task becomes REASSIGNED and the
// delegate gets a PENDING task on behalf of the reviewer, TASK_DELEGATED);
// otherwise the reviewer keeps it (TASK_ASSIGNED, naming the delegate passed
// over and why when there was one).
func (s *Service) activateStage(ctx context.Context, t *txn, item *ent.RequestItem, stage *ent.ReviewStage) ([]audit.Event, error) {
	if err := t.client.ReviewStage.UpdateOne(stage).SetStatus(enum.StageStatusActive).Exec(ctx); err != nil {
		return nil, fmt.Errorf("mark stage ACTIVE: %w", err)
	}
	waiting, err := t.client.ReviewTask.Query().
		Where(reviewtask.StageID(stage.ID), reviewtask.StatusEQ(enum.TaskStatusWaiting)).
		WithReviewer(func(q *ent.UserQuery) { q.WithDelegate() }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load waiting tasks: %w", err)
	}
	req, err := t.client.AccessRequest.Get(ctx, item.RequestID)
	if err != nil {
		return nil, fmt.Errorf("load request: %w", err)
	}
	assigned, err := s.assignedOn(ctx, t, item.ID)
	if err != nil {
		return nil, fmt.Errorf("assigned reviewers: %w", err)
	}
	people := map[pulid.ID]rules.Person{}
	for _, task := range waiting {
		if r := task.Edges.Reviewer; r != nil {
			people[r.ID] = person(r)
			if d := r.Edges.Delegate; d != nil {
				people[d.ID] = person(d)
			}
		}
	}
	var events []audit.Event
	now := s.now()
	for _, task := range waiting {
		a, passedOver := rules.Route(task.ReviewerID, people, parties(req), assigned, now)
		assigned[a.Reviewer] = true
		if a.OnBehalfOf == nil {
			if err := t.client.ReviewTask.UpdateOne(task).SetStatus(enum.TaskStatusPending).Exec(ctx); err != nil {
				return nil, fmt.Errorf("assign task %s: %w", task.ID, err)
			}
			data := map[string]any{"task": string(task.ID), "reviewer": string(task.ReviewerID), "stage": stage.Level}
			if passedOver != "" {
				data["delegate"] = string(people[task.ReviewerID].Delegate.To)
				data["notDelegated"] = passedOver
			}
			events = append(events, audit.Event{Action: audit.TaskAssigned, RequestID: &item.RequestID, ItemID: &item.ID, Data: data})
			continue
		}
		if err := t.client.ReviewTask.UpdateOne(task).SetStatus(enum.TaskStatusReassigned).Exec(ctx); err != nil {
			return nil, fmt.Errorf("hand task %s over: %w", task.ID, err)
		}
		moved, err := t.client.ReviewTask.Create().
			SetStageID(stage.ID).SetRequestID(item.RequestID).SetReviewerID(a.Reviewer).
			SetOnBehalfOfID(task.ReviewerID).SetStatus(enum.TaskStatusPending).
			Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("create delegate's task for %s: %w", task.ID, err)
		}
		events = append(events, audit.Event{Action: audit.TaskDelegated, RequestID: &item.RequestID, ItemID: &item.ID,
			Data: map[string]any{"task": string(moved.ID), "from": string(task.ReviewerID), "to": string(a.Reviewer), "stage": stage.Level}})
	}
	return events, nil
}

// assignedOn returns the people assigned on an item so far, who may not
// review another of its stages (DESIGN §4.2): the reviewer of every task of
// every stage and whoever a delegate acts for.
func (s *Service) assignedOn(ctx context.Context, t *txn, itemID pulid.ID) (map[pulid.ID]bool, error) {
	tasks, err := t.client.ReviewTask.Query().
		Where(reviewtask.HasStageWith(reviewstage.ItemID(itemID))).
		Select(reviewtask.FieldReviewerID, reviewtask.FieldOnBehalfOfID).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load tasks of item %s: %w", itemID, err)
	}
	out := make(map[pulid.ID]bool, len(tasks))
	for _, task := range tasks {
		out[task.ReviewerID] = true
		if task.OnBehalfOfID != nil {
			out[*task.OnBehalfOfID] = true
		}
	}
	return out, nil
}

// approveItem approves an item and, unless its application is fulfilled by
// people, enqueues its fulfilment in the same transaction.
func (s *Service) approveItem(ctx context.Context, t *txn, item *ent.RequestItem, auto bool) ([]audit.Event, error) {
	err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusApproved).SetDecidedAt(s.now()).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("mark item APPROVED: %w", err)
	}
	action := audit.ItemApproved
	if auto {
		action = audit.ItemAutoApproved
	}
	app, err := t.client.Application.Get(ctx, item.ApplicationID)
	if err != nil {
		return nil, fmt.Errorf("load application: %w", err)
	}
	if app.Fulfillment != enum.FulfillmentManual {
		if err := s.enqueueFulfillment(ctx, t, item.ID); err != nil {
			return nil, fmt.Errorf("enqueue fulfilment: %w", err)
		}
	}
	return []audit.Event{{Action: action, RequestID: &item.RequestID, ItemID: &item.ID}}, nil
}

// record appends events to the request's audit chain; the request counts
// as changed.
func (s *Service) record(ctx context.Context, t *txn, requestID pulid.ID, actor string, events ...audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	t.touch(requestID)
	_, err := s.audit.Append(ctx, t.client, string(requestID), actor, s.now(), events...)
	return err
}

// distinct returns ids without repeats, in first-seen order.
func distinct(ids []pulid.ID) []pulid.ID {
	seen := make(map[pulid.ID]bool, len(ids))
	out := make([]pulid.ID, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// missingIDs returns the ids with no task among found.
func missingIDs(ids []pulid.ID, found []*ent.ReviewTask) []pulid.ID {
	have := make(map[pulid.ID]bool, len(found))
	for _, f := range found {
		have[f.ID] = true
	}
	var out []pulid.ID
	for _, id := range ids {
		if !have[id] {
			out = append(out, id)
		}
	}
	return out
}

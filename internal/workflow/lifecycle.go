package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// Cancel cancels the pending items of a request (their PENDING and WAITING
// tasks become SKIPPED); approved items go on. Only the requester may
// cancel, while an item is PENDING_REVIEW. Errors: NOT_FOUND, FORBIDDEN,
// CONFLICT (nothing pending).
func (s *Service) Cancel(ctx context.Context, id pulid.ID, reason string) (*ent.AccessRequest, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	req, err := s.client.AccessRequest.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("cancel %s: load request: %w", id, err)
	}
	if req.RequesterID != v.UserID {
		return nil, errcode.New(errcode.Forbidden, "only the requester may cancel a request")
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, id); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		events, err := s.cancelPending(ctx, t, id, reason)
		if err != nil {
			return fmt.Errorf("cancel pending items: %w", err)
		}
		if len(events) == 0 {
			return errcode.New(errcode.Conflict, "request %s has no item pending review", id)
		}
		if err := s.record(ctx, t, id, v.Actor(), events...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel %s: %w", id, err)
	}
	if req, err = s.client.AccessRequest.Get(ctx, id); err != nil {
		return nil, fmt.Errorf("cancel %s: reload request: %w", id, err)
	}
	return req, nil
}

// cancelPending cancels the PENDING_REVIEW items of a request and skips
// their open tasks and stages. It returns the audit events, none when
// nothing was pending.
func (s *Service) cancelPending(ctx context.Context, t *txn, id pulid.ID, reason string) ([]audit.Event, error) {
	items, err := t.client.RequestItem.Query().
		Where(requestitem.RequestID(id), requestitem.StatusEQ(enum.ItemStatusPendingReview)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load pending items: %w", err)
	}
	if len(items) == 0 {
		return nil, nil
	}
	events := []audit.Event{{Action: audit.RequestCancelled, RequestID: &id, Data: map[string]any{"reason": reason}}}
	for _, item := range items {
		skipped, err := s.skipTasks(ctx, t, item, reviewtask.HasStageWith(reviewstage.ItemID(item.ID)))
		if err != nil {
			return nil, fmt.Errorf("item %s: skip open tasks: %w", item.ID, err)
		}
		events = append(events, skipped...)
		err = t.client.ReviewStage.Update().
			Where(reviewstage.ItemID(item.ID), reviewstage.StatusIn(enum.StageStatusActive, enum.StageStatusWaiting)).
			SetStatus(enum.StageStatusSkipped).Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("item %s: skip open stages: %w", item.ID, err)
		}
		if err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusCancelled).SetDecidedAt(s.now()).Exec(ctx); err != nil {
			return nil, fmt.Errorf("item %s: mark CANCELLED: %w", item.ID, err)
		}
		events = append(events, audit.Event{Action: audit.ItemCancelled, RequestID: &id, ItemID: &item.ID})
	}
	return events, nil
}

// Reassign moves a PENDING task to another user: the old task becomes
// REASSIGNED and the new one PENDING. The assignee or an IT admin may do it,
// giving a reason (comment), which the TASK_REASSIGNED audit event records
// with the API token used and its minter. The new reviewer passes the
// exclusions of reviewer resolution (rules.CheckReassignment): an active
// person, not a service account, neither the requester, the beneficiary,
// the request's submitter nor anyone already assigned on the item, and not
// the caller or the minter of the caller's token. Errors: INVALID_INPUT
// (comment empty; toUserId excluded), NOT_FOUND, FORBIDDEN, CONFLICT (not
// PENDING).
func (s *Service) Reassign(ctx context.Context, taskID, toUserID pulid.ID, comment string) (*ent.ReviewTask, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(comment) == "" {
		return nil, errcode.Invalid("comment", "a reassignment needs a reason")
	}
	task, err := s.client.ReviewTask.Get(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("reassign %s: load task: %w", taskID, err)
	}
	if task.ReviewerID != v.UserID && !v.IsAdmin() {
		return nil, errcode.New(errcode.Forbidden, "only the assignee or an IT admin may reassign a task")
	}
	var moved *ent.ReviewTask
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, task.RequestID); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		fresh, err := t.client.ReviewTask.Get(ctx, taskID)
		if err != nil {
			return fmt.Errorf("read task: %w", err)
		}
		if fresh.Status != enum.TaskStatusPending {
			return errcode.New(errcode.Conflict, "review task %s is %s, not PENDING", taskID, fresh.Status)
		}
		var events []audit.Event
		moved, events, err = s.reassign(ctx, t, taskID, toUserID, comment, acting(v), move{})
		if err != nil {
			return err
		}
		for i := range events {
			events[i].Data = withCredential(v, events[i].Data)
		}
		if err := s.record(ctx, t, task.RequestID, v.Actor(), events...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reassign %s: %w", taskID, err)
	}
	if moved, err = s.client.ReviewTask.Get(ctx, moved.ID); err != nil {
		return nil, fmt.Errorf("reassign %s: reload new task: %w", taskID, err)
	}
	return moved, nil
}

// move says how reassign moves a task besides its new reviewer: an
// escalation gives the new task its step (else it keeps the old one's), and
// a task handed to a delegate names whom the delegate acts for.
type move struct {
	escalation *int
	onBehalfOf *pulid.ID
}

// reassign does the work of Reassign inside a transaction; a is who acts
// (empty for the system).
func (s *Service) reassign(ctx context.Context, t *txn, taskID, toUserID pulid.ID, comment string, a rules.Acting, m move) (*ent.ReviewTask, []audit.Event, error) {
	task, err := t.client.ReviewTask.Query().Where(reviewtask.ID(taskID)).
		WithStage(func(q *ent.ReviewStageQuery) { q.WithItem() }).
		Only(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load task: %w", err)
	}
	if task.Status != enum.TaskStatusPending && task.Status != enum.TaskStatusWaiting {
		return nil, nil, errcode.New(errcode.Conflict, "review task %s is %s", taskID, task.Status)
	}
	item := task.Edges.Stage.Edges.Item
	assigned, err := s.assignedOn(ctx, t, item.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("assigned reviewers: %w", err)
	}
	to, err := t.client.User.Get(ctx, toUserID)
	if ent.IsNotFound(err) {
		return nil, nil, &errcode.Error{Code: errcode.NotFound, Field: "toUserId", Message: "toUserId: no such user"}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load new reviewer: %w", err)
	}
	req, err := t.client.AccessRequest.Get(ctx, task.RequestID)
	if err != nil {
		return nil, nil, fmt.Errorf("load request: %w", err)
	}
	if err := rules.CheckReassignment(a, parties(req), person(to), assigned, comment); err != nil {
		return nil, nil, err
	}
	if err := t.client.ReviewTask.UpdateOne(task).SetStatus(enum.TaskStatusReassigned).SetComment(comment).Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("mark task REASSIGNED: %w", err)
	}
	step := task.Escalations
	if m.escalation != nil {
		step = *m.escalation
	}
	now := s.now()
	moved, err := t.client.ReviewTask.Create().SetCreatedAt(now).SetUpdatedAt(now).
		SetStageID(task.StageID).SetRequestID(task.RequestID).SetReviewerID(toUserID).
		SetNillableOnBehalfOfID(m.onBehalfOf).SetStatus(task.Status).SetEscalations(step).
		Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("create new task: %w", err)
	}
	data := map[string]any{
		"task": string(task.ID), "newTask": string(moved.ID), "from": string(task.ReviewerID), "to": string(toUserID), "comment": comment,
	}
	if m.onBehalfOf != nil {
		data["onBehalfOf"] = string(*m.onBehalfOf)
	}
	return moved, []audit.Event{{Action: audit.TaskReassigned, RequestID: &task.RequestID, ItemID: &item.ID, Data: data}}, nil
}

// SetDelegate sets the viewer's delegate for reviews between from and until
// (open bounds when nil), or clears it when userID is nil. Tasks that become
// PENDING while the delegation is in force go to the delegate. Errors:
// NOT_FOUND, INVALID_INPUT (oneself, an inactive user, a service account,
// until before from).
func (s *Service) SetDelegate(ctx context.Context, userID *pulid.ID, from, until *time.Time) (*ent.User, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	if userID != nil {
		to, err := s.client.User.Get(ctx, *userID)
		if ent.IsNotFound(err) {
			return nil, &errcode.Error{Code: errcode.NotFound, Field: "userId", Message: "userId: no such user"}
		}
		if err != nil {
			return nil, fmt.Errorf("set delegate: load %s: %w", *userID, err)
		}
		if err := rules.CheckDelegate(v.UserID, person(to), from, until); err != nil {
			return nil, err
		}
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		upd := t.client.User.UpdateOneID(v.UserID)
		if userID == nil {
			upd.ClearDelegate().ClearDelegateFrom().ClearDelegateUntil()
		} else {
			upd.SetDelegateID(*userID).SetNillableDelegateFrom(from).SetNillableDelegateUntil(until)
			if from == nil {
				upd.ClearDelegateFrom()
			}
			if until == nil {
				upd.ClearDelegateUntil()
			}
		}
		if err := upd.Exec(ctx); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set delegate: %w", err)
	}
	u, err := s.client.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, fmt.Errorf("set delegate: reload user: %w", err)
	}
	return u, nil
}

// replacementReviewer resolves a new reviewer for a task whose reviewer left:
// the stage's kind and its fallback chain, with the designated reviewers of
// the policy that applies to the item now (rules.ChoosePolicy).
func (s *Service) replacementReviewer(ctx context.Context, t *txn, task *ent.ReviewTask) (pulid.ID, error) {
	stage, err := t.client.ReviewStage.Query().Where(reviewstage.ID(task.StageID)).
		WithItem(func(q *ent.RequestItemQuery) {
			q.WithEntitlement().WithApplication(func(q *ent.ApplicationQuery) { q.WithOwners() })
		}).
		Only(ctx)
	if err != nil {
		return "", fmt.Errorf("load stage: %w", err)
	}
	item := stage.Edges.Item
	req, err := t.client.AccessRequest.Query().Where(accessrequest.ID(item.RequestID)).WithBeneficiary().Only(ctx)
	if err != nil {
		return "", fmt.Errorf("load request: %w", err)
	}
	templates, err := loadTemplates(ctx, t.client, item.ApplicationID)
	if err != nil {
		return "", fmt.Errorf("load stage templates: %w", err)
	}
	p := &Plan{RequesterID: req.RequesterID, SubmittedByID: parties(req).SubmittedByID, Beneficiary: req.Edges.Beneficiary,
		Items: []PlannedItem{{Entitlement: item.Edges.Entitlement, Application: item.Edges.Application}}}
	dir, err := loadDirectory(ctx, t.client, p, templates)
	if err != nil {
		return "", fmt.Errorf("load directory: %w", err)
	}
	assigned, err := s.assignedOn(ctx, t, item.ID)
	if err != nil {
		return "", fmt.Errorf("assigned reviewers: %w", err)
	}
	policy := rules.ChoosePolicy(item.ApplicationID, policies(templates))
	d := dir.forItem(&p.Items[0], policy.Designated)
	as, _, err := rules.ResolveStage(stage.ReviewerKind, d.Designated[stage.Level], d, assigned, s.now())
	if err != nil {
		return "", fmt.Errorf("resolve stage %d: %w", stage.Level, err)
	}
	return as[0].Reviewer, nil
}

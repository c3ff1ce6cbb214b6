package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/application"
	"gatehouse/ent/grant"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/workflow/rules"
)

// ExpiredPending is the cancellation reason of a request that waited for a
// decision longer than its lifecycle policy allows.
const ExpiredPending = "EXPIRED_PENDING"

// Swept counts what one SweepLifecycle did.
type Swept struct {
	Reminded, Escalated, Expired, Warned int
}

// SweepLifecycle applies the lifecycle policies (rules.Lifecycle) at the
// service's clock, for the job runner's periodic lifecycle sweep: it
// cancels the requests that waited too long for a decision (REQUEST_EXPIRED
// and the cancellation's events, reason EXPIRED_PENDING), escalates the
// review tasks pending too long (TASK_ESCALATED: the task moves like a
// reassignment to the next escalation target, rules.EscalationTarget),
// reminds the assignees of the other pending tasks that are due
// (TASK_REMINDED), and warns once per grant end of temporary access about to
// end (GRANT_EXPIRING). Each change is its own transaction, which re-reads
// what it changes under the request's lock, so that a sweep racing a
// decision or another sweep changes nothing twice. Errors are the
// database's; the changes made before one stay.
func (s *Service) SweepLifecycle(ctx context.Context) (Swept, error) {
	var n Swept
	sys := authz.SystemContext(ctx)
	policies, err := loadLifecycles(sys, s.client)
	if err != nil {
		return n, fmt.Errorf("sweep lifecycle: %w", err)
	}
	var errs []error
	if n.Expired, err = s.expirePending(ctx, policies); err != nil {
		errs = append(errs, err)
	}
	if n.Escalated, n.Reminded, err = s.chaseTasks(ctx, policies); err != nil {
		errs = append(errs, err)
	}
	if n.Warned, err = s.warnExpiring(ctx, policies); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("sweep lifecycle: %w", err)
	}
	return n, nil
}

// enabled reports whether any policy (the global one or an application's)
// turns a behaviour on, as read by value.
func (l lifecycles) enabled(value func(rules.Lifecycle) float64) bool {
	for _, p := range append(l.all(), l.of(nil)) {
		if value(p) > 0 {
			return true
		}
	}
	return false
}

// expirePending cancels the requests still PENDING_REVIEW past the
// ExpirePendingDays of the application of one of their pending items.
func (s *Service) expirePending(ctx context.Context, policies lifecycles) (int, error) {
	// Only requests older than the shortest setting can be due.
	shortest := 0
	for _, l := range append(policies.all(), policies.of(nil)) {
		if d := l.ExpirePendingDays.Value; d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	if shortest == 0 {
		return 0, nil
	}
	now := s.now()
	reqs, err := s.client.AccessRequest.Query().
		Where(accessrequest.StatusEQ(enum.RequestStatusPendingReview),
			accessrequest.SubmittedAtLTE(now.Add(-time.Duration(shortest)*24*time.Hour))).
		WithItems(func(q *ent.RequestItemQuery) {
			q.Where(requestitem.StatusEQ(enum.ItemStatusPendingReview)).Select(requestitem.FieldRequestID, requestitem.FieldApplicationID)
		}).
		All(authz.SystemContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("list pending requests: %w", err)
	}
	n := 0
	for _, req := range reqs {
		due, days := false, 0
		for _, it := range req.Edges.Items {
			l := policies.of(&it.ApplicationID)
			if rules.PendingExpired(l, req.SubmittedAt, now) {
				due, days = true, l.ExpirePendingDays.Value
				break
			}
		}
		if !due {
			continue
		}
		expired := false
		err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
			if err := s.lockRequests(ctx, t, req.ID); err != nil {
				return err
			}
			events, err := s.cancelPending(ctx, t, req.ID, ExpiredPending)
			if err != nil || len(events) == 0 {
				return err
			}
			expired = true
			events = append([]audit.Event{{Action: audit.RequestExpired, RequestID: &req.ID, Data: map[string]any{
				"reason": ExpiredPending, "afterDays": days,
				"requester": string(req.RequesterID), "beneficiary": string(req.BeneficiaryID),
			}}}, events...)
			return s.record(ctx, t, req.ID, systemActor, events...)
		})
		if err != nil {
			return n, fmt.Errorf("expire request %s: %w", req.ID, err)
		}
		if expired {
			n++
		}
	}
	return n, nil
}

// pendingTask is a PENDING review task with what the sweep needs to know.
type pendingTask struct {
	task  *ent.ReviewTask
	appID pulid.ID
	// since is when the task became pending: its creation, or its stage's
	// activation when that came later.
	since time.Time
}

// pendingSince is when a PENDING task became pending: a task of a first
// stage, or one made by a reassignment or an escalation, when it was
// created; a task of a later stage when its stage became ACTIVE (the stage's
// last change).
func pendingSince(task *ent.ReviewTask, stage *ent.ReviewStage) time.Time {
	if stage != nil && stage.UpdatedAt.After(task.CreatedAt) {
		return stage.UpdatedAt
	}
	return task.CreatedAt
}

// chaseTasks escalates the pending tasks due an escalation and reminds the
// assignees of the others due a reminder.
func (s *Service) chaseTasks(ctx context.Context, policies lifecycles) (escalated, reminded int, err error) {
	remind := policies.enabled(func(l rules.Lifecycle) float64 { return l.RemindEveryHours.Value })
	escalate := policies.enabled(func(l rules.Lifecycle) float64 { return l.EscalateAfterHours.Value })
	if !remind && !escalate {
		return 0, 0, nil
	}
	tasks, err := s.client.ReviewTask.Query().
		Where(reviewtask.StatusEQ(enum.TaskStatusPending)).
		WithStage(func(q *ent.ReviewStageQuery) { q.WithItem() }).
		Order(reviewtask.ByID()).
		All(authz.SystemContext(ctx))
	if err != nil {
		return 0, 0, fmt.Errorf("list pending tasks: %w", err)
	}
	for _, task := range tasks {
		pt := pendingTask{task: task, appID: task.Edges.Stage.Edges.Item.ApplicationID, since: pendingSince(task, task.Edges.Stage)}
		l := policies.of(&pt.appID)
		now := s.now()
		switch {
		case rules.EscalationDue(l, pt.since, task.Escalations, now):
			ok, err := s.escalateTask(ctx, l, pt)
			if err != nil {
				return escalated, reminded, fmt.Errorf("escalate %s: %w", task.ID, err)
			}
			if ok {
				escalated++
				continue
			}
			// Nobody to escalate to: the assignee is still reminded when a
			// reminder is due (remindTask checks).
			fallthrough
		case rules.ReminderDue(l, pt.since, task.Reminders, task.RemindedAt, now):
			ok, err := s.remindTask(ctx, l, pt)
			if err != nil {
				return escalated, reminded, fmt.Errorf("remind %s: %w", task.ID, err)
			}
			if ok {
				reminded++
			}
		}
	}
	return escalated, reminded, nil
}

// remindTask counts a reminder on a task still PENDING and due one, and
// records TASK_REMINDED (data: task, assignee, count) for the notifications
// to send it. It reports whether it reminded.
func (s *Service) remindTask(ctx context.Context, l rules.Lifecycle, pt pendingTask) (bool, error) {
	done := false
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, pt.task.RequestID); err != nil {
			return err
		}
		fresh, err := t.client.ReviewTask.Query().Where(reviewtask.ID(pt.task.ID)).WithStage().Only(ctx)
		if err != nil {
			return fmt.Errorf("read task: %w", err)
		}
		now := s.now()
		if fresh.Status != enum.TaskStatusPending || !rules.ReminderDue(l, pendingSince(fresh, fresh.Edges.Stage), fresh.Reminders, fresh.RemindedAt, now) {
			return nil
		}
		count := fresh.Reminders + 1
		if err := fresh.Update().SetReminders(count).SetRemindedAt(now).Exec(ctx); err != nil {
			return fmt.Errorf("count reminder: %w", err)
		}
		done = true
		return s.record(ctx, t, fresh.RequestID, systemActor, audit.Event{Action: audit.TaskReminded, RequestID: &fresh.RequestID,
			ItemID: &fresh.Edges.Stage.ItemID, Data: map[string]any{
				"task": string(fresh.ID), "assignee": string(fresh.ReviewerID), "count": count, "max": l.MaxReminders.Value,
			}})
	})
	return done, err
}

// escalateTask moves a task still PENDING and due an escalation to the next
// escalation target (or to the delegate acting for the target, on their
// behalf), through the reassignment path (the old task
// REASSIGNED, a new PENDING one), and records TASK_ESCALATED (data: task,
// newTask, from, to, onBehalfOf, step, afterHours). It reports whether it moved the
// task; not when no target is eligible.
func (s *Service) escalateTask(ctx context.Context, l rules.Lifecycle, pt pendingTask) (bool, error) {
	done := false
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, pt.task.RequestID); err != nil {
			return err
		}
		fresh, err := t.client.ReviewTask.Query().Where(reviewtask.ID(pt.task.ID)).
			WithStage(func(q *ent.ReviewStageQuery) { q.WithItem() }).
			WithReviewer().
			Only(ctx)
		if err != nil {
			return fmt.Errorf("read task: %w", err)
		}
		if fresh.Status != enum.TaskStatusPending || !rules.EscalationDue(l, pendingSince(fresh, fresh.Edges.Stage), fresh.Escalations, s.now()) {
			return nil
		}
		item := fresh.Edges.Stage.Edges.Item
		req, err := t.client.AccessRequest.Get(ctx, fresh.RequestID)
		if err != nil {
			return fmt.Errorf("load request: %w", err)
		}
		dir, manager, err := s.escalationDirectory(ctx, t, item.ApplicationID, fresh.Edges.Reviewer)
		if err != nil {
			return err
		}
		assigned, err := s.assignedOn(ctx, t, item.ID)
		if err != nil {
			return fmt.Errorf("assigned reviewers: %w", err)
		}
		target, ok := rules.EscalationTarget(fresh.Escalations, manager, dir, parties(req), assigned)
		if !ok {
			return nil
		}
		// The target's delegation in force takes the task, as when a stage
		// becomes active (rules.Route).
		if err := s.loadDelegate(ctx, t, dir.People, target.To); err != nil {
			return err
		}
		routed, _ := rules.Route(target.To, dir.People, parties(req), assigned, s.now())
		comment := fmt.Sprintf("escalated after %g hours pending", l.EscalateAfterHours.Value)
		_, events, err := s.reassign(ctx, t, fresh.ID, routed.Reviewer, comment, rules.Acting{},
			move{escalation: &target.Step, onBehalfOf: routed.OnBehalfOf})
		if err != nil {
			return err
		}
		for i := range events {
			events[i].Action = audit.TaskEscalated
			events[i].Data["step"] = target.Step
			events[i].Data["afterHours"] = l.EscalateAfterHours.Value
		}
		done = true
		return s.record(ctx, t, fresh.RequestID, systemActor, events...)
	})
	return done, err
}

// escalationDirectory loads the escalation targets of a task of an item of
// application appID assigned to assignee: the assignee's manager, the
// application's owners and the IT admins, with the people among them.
func (s *Service) escalationDirectory(ctx context.Context, t *txn, appID pulid.ID, assignee *ent.User) (rules.Directory, pulid.ID, error) {
	var manager pulid.ID
	if assignee.ManagerID != nil {
		manager = *assignee.ManagerID
	}
	app, err := t.client.Application.Query().Where(application.ID(appID)).WithOwners().Only(ctx)
	if err != nil {
		return rules.Directory{}, "", fmt.Errorf("load application: %w", err)
	}
	admins, err := t.client.User.Query().
		Where(user.PlatformRoleEQ(enum.PlatformRoleITAdmin), user.StatusEQ(enum.UserStatusActive)).
		Order(user.ByEmail()).
		All(ctx)
	if err != nil {
		return rules.Directory{}, "", fmt.Errorf("load IT admins: %w", err)
	}
	dir := rules.Directory{People: map[pulid.ID]rules.Person{}}
	for _, o := range app.Edges.Owners {
		dir.ApplicationOwnerIDs = append(dir.ApplicationOwnerIDs, o.ID)
		dir.People[o.ID] = person(o)
	}
	for _, a := range admins {
		dir.ITAdminIDs = append(dir.ITAdminIDs, a.ID)
		dir.People[a.ID] = person(a)
	}
	if manager != "" {
		m, err := t.client.User.Get(ctx, manager)
		if err != nil && !ent.IsNotFound(err) {
			return rules.Directory{}, "", fmt.Errorf("load manager: %w", err)
		}
		if m != nil {
			dir.People[m.ID] = person(m)
		}
	}
	return dir, manager, nil
}

// loadDelegate adds to people the delegate of person id, when id has one
// and people lacks them, so that rules.Route can judge them.
func (s *Service) loadDelegate(ctx context.Context, t *txn, people map[pulid.ID]rules.Person, id pulid.ID) error {
	d := people[id].Delegate
	if d == nil {
		return nil
	}
	if _, ok := people[d.To]; ok {
		return nil
	}
	u, err := t.client.User.Get(ctx, d.To)
	if ent.IsNotFound(err) {
		return nil // Route finds the unknown delegate ineligible
	}
	if err != nil {
		return fmt.Errorf("load delegate: %w", err)
	}
	people[u.ID] = person(u)
	return nil
}

// warnExpiring records GRANT_EXPIRING once per grant end for the temporary
// grants whose end is within WarnBeforeEndDays of their application's
// policy, on the chain of the request of the grant's source item (data:
// grant, entitlement, endsAt, beneficiary, requester), so that both are
// told. A grant without a source item (found by discovery) has no request to
// tell of it and is passed over.
func (s *Service) warnExpiring(ctx context.Context, policies lifecycles) (int, error) {
	maxDays := 0
	for _, l := range append(policies.all(), policies.of(nil)) {
		maxDays = max(maxDays, l.WarnBeforeEndDays.Value)
	}
	if maxDays == 0 {
		return 0, nil
	}
	now := s.now()
	grants, err := s.client.Grant.Query().
		Where(grant.RevokedAtIsNil(), grant.SourceItemIDNotNil(),
			grant.EndsAtGT(now), grant.EndsAtLTE(now.Add(time.Duration(maxDays)*24*time.Hour))).
		WithEntitlement().
		Order(grant.ByID()).
		All(authz.SystemContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("list ending grants: %w", err)
	}
	n := 0
	for _, g := range grants {
		l := policies.of(&g.Edges.Entitlement.ApplicationID)
		if !rules.ExpiryWarningDue(l, g.EndsAt, g.RevokedAt, g.EndWarnedAt, now) {
			continue
		}
		warned := false
		err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
			item, err := t.client.RequestItem.Get(ctx, *g.SourceItemID)
			if err != nil {
				return fmt.Errorf("load source item: %w", err)
			}
			if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
				return err
			}
			fresh, err := t.client.Grant.Get(ctx, g.ID)
			if err != nil {
				return fmt.Errorf("read grant: %w", err)
			}
			if !rules.ExpiryWarningDue(l, fresh.EndsAt, fresh.RevokedAt, fresh.EndWarnedAt, s.now()) {
				return nil
			}
			if err := fresh.Update().SetEndWarnedAt(*fresh.EndsAt).Exec(ctx); err != nil {
				return fmt.Errorf("mark warned: %w", err)
			}
			req, err := t.client.AccessRequest.Get(ctx, item.RequestID)
			if err != nil {
				return fmt.Errorf("load request: %w", err)
			}
			warned = true
			return s.record(ctx, t, req.ID, systemActor, audit.Event{Action: audit.GrantExpiring, RequestID: &req.ID, ItemID: &item.ID,
				Data: map[string]any{
					"grant": string(fresh.ID), "entitlement": string(fresh.EntitlementID),
					"endsAt":      fresh.EndsAt.UTC().Format(time.RFC3339),
					"beneficiary": string(req.BeneficiaryID), "requester": string(req.RequesterID),
					"warnBeforeDays": l.WarnBeforeEndDays.Value,
				}})
		})
		if err != nil {
			return n, fmt.Errorf("warn of grant %s: %w", g.ID, err)
		}
		if warned {
			n++
		}
	}
	return n, nil
}

// all is the effective policy of every application with its own row.
func (l lifecycles) all() []rules.Lifecycle {
	out := make([]rules.Lifecycle, 0, len(l.apps))
	for id := range l.apps {
		out = append(out, l.of(&id))
	}
	return out
}

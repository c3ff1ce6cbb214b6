package workflow

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
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
//
// What the rules need is read under the lock with two queries whatever the
// number of tasks (the tasks of the requests, then their items, stages, the
// people a stage's activation routes to and the head of their audit
// chains); the tasks returned are those the transaction wrote.
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
	viewerCtx := ctx
	var out []*ent.ReviewTask
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		reqs, err := s.lockVisible(viewerCtx, t, ids)
		if err != nil {
			return err
		}
		rv, err := s.loadReview(ctx, t, reqs)
		if err != nil {
			return err
		}
		out = make([]*ent.ReviewTask, len(ids))
		for i, id := range ids {
			if out[i] = rv.tasks[id]; out[i] == nil {
				return errcode.New(errcode.NotFound, "no review task %s", id)
			}
		}
		for _, task := range out {
			if err := s.decide(ctx, t, rv, v, task, d, comment); err != nil {
				return fmt.Errorf("task %s: %w", task.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	return out, nil
}

// review is what deciding needs of the requests it works on, read under
// their lock: the requests, all their tasks, their items with the
// application's fulfilment and their stages in level order, and the people
// (with their delegates) of the tasks still WAITING.
type review struct {
	reqs   map[pulid.ID]*ent.AccessRequest
	tasks  map[pulid.ID]*ent.ReviewTask
	stages map[pulid.ID]*reviewStage
	people map[pulid.ID]rules.Person
}

type reviewItem struct {
	id, requestID pulid.ID
	manual        bool
	// breakGlass: an emergency item, provisioned at submission, whose
	// stages are its after-the-fact review (breakglass.go).
	breakGlass bool
	stages     []*reviewStage // in level order
}

type reviewStage struct {
	id     pulid.ID
	item   *reviewItem
	level  int
	rule   enum.StageRule
	quorum int
	status enum.StageStatus
	tasks  []*ent.ReviewTask // in ID order
}

// loadReview reads what the rules need of the locked requests reqs with two
// statements: their tasks, then one join of their items, applications,
// stages, the reviewers of WAITING tasks and those reviewers' delegates,
// with the head of each request's audit chain (read under the lock, so the
// transaction's events follow it). The requests and their item statuses
// become known to the transaction.
func (s *Service) loadReview(ctx context.Context, t *txn, reqs []*ent.AccessRequest) (*review, error) {
	rv := &review{reqs: map[pulid.ID]*ent.AccessRequest{}, tasks: map[pulid.ID]*ent.ReviewTask{},
		stages: map[pulid.ID]*reviewStage{}, people: map[pulid.ID]rules.Person{}}
	if len(reqs) == 0 {
		return rv, nil
	}
	ids := make([]pulid.ID, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
		rv.reqs[r.ID] = r
	}
	tasks, err := t.client.ReviewTask.Query().Where(reviewtask.RequestIDIn(ids...)).Order(reviewtask.ByID()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load tasks: %w", err)
	}
	args := make([]any, 2*len(ids)) // the heads', then the items'
	for i, id := range ids {
		args[i], args[len(ids)+i] = string(id), string(id)
	}
	query := database.Bind(s.dialect, fmt.Sprintf(reviewQuery, audit.HeadsQuery(s.dialect, len(ids)), database.Placeholders(len(ids))))
	rows, err := t.client.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("load items and stages: %w", err)
	}
	defer rows.Close()
	items := map[pulid.ID]*reviewItem{}
	statuses := map[pulid.ID]map[pulid.ID]enum.ItemStatus{}
	for rows.Next() {
		var (
			itemID, requestID, itemStatus, fulfillment          string
			emergencyReview                                     sql.NullString
			stageID, stageRule, stageStatus                     sql.NullString
			level, quorum, headSeq                              sql.NullInt64
			userID, userEmail, userStatus, userKind, delegateID sql.NullString
			delegateFrom, delegateUntil                         sql.NullTime
			dID, dEmail, dStatus, dKind, headHash               sql.NullString
		)
		if err := rows.Scan(&itemID, &requestID, &itemStatus, &fulfillment, &emergencyReview,
			&stageID, &level, &stageRule, &quorum, &stageStatus,
			&userID, &userEmail, &userStatus, &userKind, &delegateID, &delegateFrom, &delegateUntil,
			&dID, &dEmail, &dStatus, &dKind, &headSeq, &headHash); err != nil {
			return nil, fmt.Errorf("load items and stages: %w", err)
		}
		req := pulid.ID(requestID)
		if _, ok := t.heads[req]; !ok {
			t.heads[req] = audit.Head{Seq: headSeq.Int64, Hash: headHash.String}
		}
		if statuses[req] == nil {
			statuses[req] = map[pulid.ID]enum.ItemStatus{}
		}
		statuses[req][pulid.ID(itemID)] = enum.ItemStatus(itemStatus)
		it := items[pulid.ID(itemID)]
		if it == nil {
			it = &reviewItem{id: pulid.ID(itemID), requestID: req, manual: enum.Fulfillment(fulfillment) == enum.FulfillmentManual,
				breakGlass: emergencyReview.Valid}
			items[it.id] = it
		}
		if stageID.Valid && rv.stages[pulid.ID(stageID.String)] == nil {
			st := &reviewStage{id: pulid.ID(stageID.String), item: it, level: int(level.Int64),
				rule: enum.StageRule(stageRule.String), quorum: int(quorum.Int64), status: enum.StageStatus(stageStatus.String)}
			rv.stages[st.id] = st
			it.stages = append(it.stages, st)
		}
		if userID.Valid {
			p := rules.Person{ID: pulid.ID(userID.String), Email: userEmail.String,
				Active: enum.UserStatus(userStatus.String) == enum.UserStatusActive, Service: enum.UserKind(userKind.String) == enum.UserKindService}
			if delegateID.Valid {
				p.Delegate = &rules.Delegation{To: pulid.ID(delegateID.String), From: timeOrNil(delegateFrom), Until: timeOrNil(delegateUntil)}
			}
			rv.people[p.ID] = p
		}
		if dID.Valid {
			if _, ok := rv.people[pulid.ID(dID.String)]; !ok {
				rv.people[pulid.ID(dID.String)] = rules.Person{ID: pulid.ID(dID.String), Email: dEmail.String,
					Active: enum.UserStatus(dStatus.String) == enum.UserStatusActive, Service: enum.UserKind(dKind.String) == enum.UserKindService}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load items and stages: %w", err)
	}
	for _, it := range items {
		slices.SortFunc(it.stages, func(a, b *reviewStage) int { return a.level - b.level })
	}
	for _, task := range tasks {
		rv.tasks[task.ID] = task
		if st := rv.stages[task.StageID]; st != nil {
			st.tasks = append(st.tasks, task)
		}
	}
	for _, r := range reqs {
		if statuses[r.ID] != nil {
			t.known.know(r, statuses[r.ID])
		}
	}
	return rv, nil
}

// reviewQuery is loadReview's join, to be completed with the requests'
// heads statement (audit.HeadsQuery) and their placeholders: each row is an
// item with one of its stages and, when the stage has WAITING tasks, one of
// their reviewers and that reviewer's delegate, and the head of the item's
// request's audit chain, read once per request.
const reviewQuery = `WITH h AS MATERIALIZED (%s)
SELECT i.id, i.request_id, i.status, a.fulfillment, i.emergency_review,
  s.id, s.level, s.rule, s.quorum, s.status,
  u.id, u.email, u.status, u.kind, u.delegate_id, u.delegate_from, u.delegate_until,
  d.id, d.email, d.status, d.kind, h.seq, h.hash
FROM request_items i
LEFT JOIN h ON h.chain = i.request_id
JOIN applications a ON a.id = i.application_id
LEFT JOIN review_stages s ON s.item_id = i.id
LEFT JOIN review_tasks k ON k.stage_id = s.id AND k.status = 'WAITING'
LEFT JOIN users u ON u.id = k.reviewer_id
LEFT JOIN users d ON d.id = u.delegate_id
WHERE i.request_id IN (%s)`

func timeOrNil(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// decide records one decision and advances its stage and item.
func (s *Service) decide(ctx context.Context, t *txn, rv *review, v *authz.Viewer, task *ent.ReviewTask, d Decision, comment string) error {
	userID, actor := v.UserID, v.Actor()
	if err := rules.CheckDecider(acting(v), parties(rv.reqs[task.RequestID]), task.ReviewerID); err != nil {
		return errcode.New(errcode.Forbidden, "review task %s: %v", task.ID, err)
	}
	if task.Status != enum.TaskStatusPending {
		return errcode.New(errcode.Conflict, "review task %s is %s, not PENDING", task.ID, task.Status)
	}
	status, action := enum.TaskStatusApproved, audit.TaskApproved
	if d == Deny {
		status, action = enum.TaskStatusDenied, audit.TaskDenied
	}
	now := s.now()
	err := t.client.ReviewTask.Update().Where(reviewtask.ID(task.ID)).
		SetStatus(status).SetComment(comment).SetDecidedAt(now).SetDecidedByID(userID).
		Exec(declared(ctx, task.RequestID))
	if err != nil {
		return fmt.Errorf("record decision: %w", err)
	}
	task.Status, task.Comment, task.DecidedAt, task.DecidedByID, task.UpdatedAt = status, comment, &now, &userID, now
	stage := rv.stages[task.StageID]
	if stage == nil {
		return fmt.Errorf("stage %s of the task not found", task.StageID)
	}
	events := []audit.Event{{
		Action: action, RequestID: &task.RequestID, ItemID: &stage.item.id,
		Data: withCredential(v, map[string]any{"task": string(task.ID), "stage": stage.level, "comment": comment}),
	}}
	more, err := s.advanceStage(ctx, t, rv, stage)
	if err != nil {
		return fmt.Errorf("advance stage %d: %w", stage.level, err)
	}
	return s.record(ctx, t, task.RequestID, actor, append(events, more...)...)
}

// advanceStage evaluates a stage after a decision: an approved stage skips
// its other pending tasks and activates the next stage, or approves the item
// after the last one; a denied stage skips everything left and denies the
// item. On an emergency item, provisioned at submission, the last approval
// confirms the access and a denial revokes it instead (breakglass.go). It
// returns the audit events of what it changed.
func (s *Service) advanceStage(ctx context.Context, t *txn, rv *review, stage *reviewStage) ([]audit.Event, error) {
	statuses := make([]enum.TaskStatus, len(stage.tasks))
	for i, task := range stage.tasks {
		statuses[i] = task.Status
	}
	item := stage.item
	wctx := declared(ctx, item.requestID)
	switch rules.EvaluateStage(stage.rule, stage.quorum, statuses) {
	case rules.StageApproved:
		events, err := s.skipOpen(ctx, t, item, stage)
		if err != nil {
			return nil, fmt.Errorf("skip open tasks: %w", err)
		}
		if err := s.setStages(wctx, t, enum.StageStatusApproved, stage); err != nil {
			return nil, fmt.Errorf("mark stage APPROVED: %w", err)
		}
		events = append(events, audit.Event{Action: audit.StageApproved, RequestID: &item.requestID, ItemID: &item.id,
			Data: map[string]any{"stage": stage.level}})
		var next *reviewStage
		for _, st := range item.stages {
			if st.level == stage.level+1 {
				next = st
			}
		}
		if next == nil && item.breakGlass {
			more, err := s.confirmBreakGlass(ctx, t, item)
			if err != nil {
				return nil, err
			}
			return append(events, more...), nil
		}
		if next == nil {
			more, err := s.approveItem(ctx, t, item.requestID, item.id, item.manual, false)
			if err != nil {
				return nil, fmt.Errorf("approve item: %w", err)
			}
			return append(events, more...), nil
		}
		more, err := s.activateStage(ctx, t, rv, next)
		if err != nil {
			return nil, fmt.Errorf("activate stage %d: %w", next.level, err)
		}
		return append(events, more...), nil
	case rules.StageDenied:
		events, err := s.skipOpen(ctx, t, item, item.stages...)
		if err != nil {
			return nil, fmt.Errorf("skip open tasks of item: %w", err)
		}
		if err := s.setStages(wctx, t, enum.StageStatusDenied, stage); err != nil {
			return nil, fmt.Errorf("mark stage DENIED: %w", err)
		}
		var waiting []*reviewStage
		for _, st := range item.stages {
			if st.status == enum.StageStatusWaiting {
				waiting = append(waiting, st)
			}
		}
		if err := s.setStages(wctx, t, enum.StageStatusSkipped, waiting...); err != nil {
			return nil, fmt.Errorf("skip waiting stages: %w", err)
		}
		if item.breakGlass {
			more, err := s.denyBreakGlass(ctx, t, item)
			if err != nil {
				return nil, err
			}
			events = append(events, audit.Event{Action: audit.StageDenied, RequestID: &item.requestID, ItemID: &item.id, Data: map[string]any{"stage": stage.level}})
			return append(events, more...), nil
		}
		err = t.client.RequestItem.Update().Where(requestitem.ID(item.id)).
			SetStatus(enum.ItemStatusDenied).SetDecidedAt(s.now()).Exec(wctx)
		if err != nil {
			return nil, fmt.Errorf("mark item DENIED: %w", err)
		}
		t.known.setItem(item.requestID, item.id, enum.ItemStatusDenied)
		return append(events,
			audit.Event{Action: audit.StageDenied, RequestID: &item.requestID, ItemID: &item.id, Data: map[string]any{"stage": stage.level}},
			audit.Event{Action: audit.ItemDenied, RequestID: &item.requestID, ItemID: &item.id},
		), nil
	}
	return nil, nil
}

// setStages sets the status of stages with one statement.
func (s *Service) setStages(ctx context.Context, t *txn, status enum.StageStatus, stages ...*reviewStage) error {
	if len(stages) == 0 {
		return nil
	}
	ids := make([]pulid.ID, len(stages))
	for i, st := range stages {
		ids[i] = st.id
	}
	if err := t.client.ReviewStage.Update().Where(reviewstage.IDIn(ids...)).SetStatus(status).SetUpdatedAt(s.now()).Exec(ctx); err != nil {
		return err
	}
	for _, st := range stages {
		st.status = status
	}
	return nil
}

// setTasks sets the status of tasks with one statement.
func (s *Service) setTasks(ctx context.Context, t *txn, status enum.TaskStatus, tasks []*ent.ReviewTask) error {
	if len(tasks) == 0 {
		return nil
	}
	ids := make([]pulid.ID, len(tasks))
	for i, task := range tasks {
		ids[i] = task.ID
	}
	now := s.now()
	if err := t.client.ReviewTask.Update().Where(reviewtask.IDIn(ids...)).SetStatus(status).SetUpdatedAt(now).Exec(ctx); err != nil {
		return err
	}
	for _, task := range tasks {
		task.Status, task.UpdatedAt = status, now
	}
	return nil
}

// skipOpen marks the PENDING and WAITING tasks of the stages SKIPPED and
// returns their TASK_SKIPPED events.
func (s *Service) skipOpen(ctx context.Context, t *txn, item *reviewItem, stages ...*reviewStage) ([]audit.Event, error) {
	var open []*ent.ReviewTask
	for _, st := range stages {
		for _, task := range st.tasks {
			if task.Status == enum.TaskStatusPending || task.Status == enum.TaskStatusWaiting {
				open = append(open, task)
			}
		}
	}
	if err := s.setTasks(declared(ctx, item.requestID), t, enum.TaskStatusSkipped, open); err != nil {
		return nil, fmt.Errorf("mark tasks SKIPPED: %w", err)
	}
	events := make([]audit.Event, len(open))
	for i, task := range open {
		events[i] = audit.Event{Action: audit.TaskSkipped, RequestID: &item.requestID, ItemID: &item.id, Data: map[string]any{"task": string(task.ID)}}
	}
	return events, nil
}

// activateStage makes a waiting stage ACTIVE and its tasks PENDING, each
// routed by rules.Route: a reviewer whose delegation is in force at this
// moment hands the task over (the waiting task becomes REASSIGNED and the
// delegate gets a PENDING task on behalf of the reviewer, TASK_DELEGATED);
// otherwise the reviewer keeps it (TASK_ASSIGNED, naming the delegate passed
// over and why when there was one).
func (s *Service) activateStage(ctx context.Context, t *txn, rv *review, stage *reviewStage) ([]audit.Event, error) {
	item := stage.item
	wctx := declared(ctx, item.requestID)
	if err := s.setStages(wctx, t, enum.StageStatusActive, stage); err != nil {
		return nil, fmt.Errorf("mark stage ACTIVE: %w", err)
	}
	// The people assigned on the item so far may not review this stage
	// (DESIGN §4.2): the reviewer of every task of every stage and whoever
	// a delegate acts for.
	assigned := map[pulid.ID]bool{}
	for _, st := range item.stages {
		for _, task := range st.tasks {
			assigned[task.ReviewerID] = true
			if task.OnBehalfOfID != nil {
				assigned[*task.OnBehalfOfID] = true
			}
		}
	}
	req := rv.reqs[item.requestID]
	var (
		events          []audit.Event
		pending, handed []*ent.ReviewTask
		moved           []*ent.ReviewTaskCreate
	)
	now := s.now()
	for _, task := range slices.Clone(stage.tasks) {
		if task.Status != enum.TaskStatusWaiting {
			continue
		}
		a, passedOver := rules.Route(task.ReviewerID, rv.people, parties(req), assigned, now)
		assigned[a.Reviewer] = true
		if a.OnBehalfOf == nil {
			pending = append(pending, task)
			data := map[string]any{"task": string(task.ID), "reviewer": string(task.ReviewerID), "stage": stage.level}
			if passedOver != "" {
				data["delegate"] = string(rv.people[task.ReviewerID].Delegate.To)
				data["notDelegated"] = passedOver
			}
			events = append(events, audit.Event{Action: audit.TaskAssigned, RequestID: &item.requestID, ItemID: &item.id, Data: data})
			continue
		}
		handed = append(handed, task)
		id := reviewtask.DefaultID()
		moved = append(moved, t.client.ReviewTask.Create().SetID(id).SetCreatedAt(now).SetUpdatedAt(now).
			SetStageID(stage.id).SetRequestID(item.requestID).SetReviewerID(a.Reviewer).
			SetOnBehalfOfID(task.ReviewerID).SetStatus(enum.TaskStatusPending))
		events = append(events, audit.Event{Action: audit.TaskDelegated, RequestID: &item.requestID, ItemID: &item.id,
			Data: map[string]any{"task": string(id), "from": string(task.ReviewerID), "to": string(a.Reviewer), "stage": stage.level}})
	}
	if err := s.setTasks(wctx, t, enum.TaskStatusPending, pending); err != nil {
		return nil, fmt.Errorf("assign tasks: %w", err)
	}
	if err := s.setTasks(wctx, t, enum.TaskStatusReassigned, handed); err != nil {
		return nil, fmt.Errorf("hand tasks over: %w", err)
	}
	if len(moved) > 0 {
		created, err := t.client.ReviewTask.CreateBulk(moved...).Save(wctx)
		if err != nil {
			return nil, fmt.Errorf("create delegates' tasks: %w", err)
		}
		for _, task := range created {
			rv.tasks[task.ID] = task
			stage.tasks = append(stage.tasks, task)
		}
	}
	return events, nil
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

// approveItem approves an item of a request and, unless its application is
// fulfilled by people (manual), enqueues its fulfilment in the same
// transaction.
func (s *Service) approveItem(ctx context.Context, t *txn, requestID, itemID pulid.ID, manual, auto bool) ([]audit.Event, error) {
	err := t.client.RequestItem.Update().Where(requestitem.ID(itemID)).
		SetStatus(enum.ItemStatusApproved).SetDecidedAt(s.now()).Exec(declared(ctx, requestID))
	if err != nil {
		return nil, fmt.Errorf("mark item APPROVED: %w", err)
	}
	t.known.setItem(requestID, itemID, enum.ItemStatusApproved)
	action := audit.ItemApproved
	if auto {
		action = audit.ItemAutoApproved
	}
	events := []audit.Event{{Action: action, RequestID: &requestID, ItemID: &itemID}}
	if manual {
		// People carry it out: the owners are told (manualFulfillments).
		events = append(events, manualWaiting(requestID, itemID, string(enum.ItemStatusApproved)))
	} else {
		s.enqueueFulfillment(t, itemID)
	}
	return events, nil
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

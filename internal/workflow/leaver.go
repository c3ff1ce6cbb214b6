package workflow

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// terminatedJustification is the justification of a leaver's revocation
// request and the reason of the cancellations a termination makes.
const terminatedJustification = "user terminated"

// Terminate applies a user's termination (DESIGN §4.2) in one transaction:
// the open requests for them are cancelled (their items pending review, and
// the GRANT items approved but not yet provisioned), their PENDING and
// WAITING review tasks are reassigned by the same resolution as at
// submission, and every grant they still hold is revoked through its
// connector: a system REVOKE request for them (requester and beneficiary
// the leaver, items APPROVED with reason TERMINATED) whose items the
// fulfilment jobs carry out, or, on a MANUAL application, the owners confirm
// in manualFulfillments. A grant already being revoked is left to that
// revocation, so terminating twice revokes once. actor names who set the
// status in the audit trail. It does nothing for a user who is not
// TERMINATED. The caller has set the status (their tokens already fail); it
// is trusted code (the catalog, the sweep), and the work runs in a system
// context.
func (s *Service) Terminate(ctx context.Context, userID pulid.ID, actor string) error {
	if _, err := s.terminate(authz.SystemContext(ctx), userID, actor); err != nil {
		return fmt.Errorf("terminate %s: %w", userID, err)
	}
	return nil
}

// terminate does the work of Terminate and reports whether it changed
// anything.
func (s *Service) terminate(ctx context.Context, userID pulid.ID, actor string) (bool, error) {
	changed := false
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		// Two terminations of one user (the catalog and the sweep) run one
		// after the other, so that the second sees the first's revocation.
		if err := s.lockKey(ctx, t, "terminate/"+string(userID)); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		u, err := t.client.User.Get(ctx, userID)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if u.Status != enum.UserStatusTerminated {
			return nil
		}
		open, err := t.client.ReviewTask.Query().
			Where(reviewtask.ReviewerID(userID), reviewtask.StatusIn(enum.TaskStatusPending, enum.TaskStatusWaiting)).
			All(ctx)
		if err != nil {
			return fmt.Errorf("load open tasks: %w", err)
		}
		mine, err := t.client.AccessRequest.Query().
			Where(accessrequest.BeneficiaryID(userID), accessrequest.HasItemsWith(leaverOpenItem())).
			IDs(ctx)
		if err != nil {
			return fmt.Errorf("load open requests: %w", err)
		}
		requests := mine
		for _, task := range open {
			requests = append(requests, task.RequestID)
		}
		if err := s.lockRequests(ctx, t, distinct(requests)...); err != nil {
			return fmt.Errorf("lock requests: %w", err)
		}
		for _, id := range mine {
			events, err := s.cancelForLeaver(ctx, t, id)
			if err != nil {
				return fmt.Errorf("cancel %s: %w", id, err)
			}
			changed = changed || len(events) > 0
			if err := s.record(ctx, t, id, actor, events...); err != nil {
				return fmt.Errorf("cancel %s: record events: %w", id, err)
			}
		}
		for _, task := range open {
			fresh, err := t.client.ReviewTask.Get(ctx, task.ID)
			if err != nil {
				return fmt.Errorf("reassign %s: read task: %w", task.ID, err)
			}
			if fresh.Status != enum.TaskStatusPending && fresh.Status != enum.TaskStatusWaiting {
				continue // skipped by a cancellation above
			}
			to, err := s.replacementReviewer(ctx, t, fresh)
			if errcode.Of(err) == errcode.NoReviewer {
				// Nobody may take it over: it waits for an IT admin's
				// reassignment, and the leaver's access goes all the same.
				s.log.WarnContext(ctx, "a leaver's review task has no replacement reviewer",
					"task", string(task.ID), "request", string(task.RequestID), "user", string(userID))
				continue
			}
			if err != nil {
				return fmt.Errorf("reassign %s: replacement reviewer: %w", task.ID, err)
			}
			_, events, err := s.reassign(ctx, t, fresh.ID, to, "reviewer terminated", rules.Acting{}, move{})
			if err != nil {
				return fmt.Errorf("reassign %s: %w", task.ID, err)
			}
			changed = true
			if err := s.record(ctx, t, fresh.RequestID, actor, events...); err != nil {
				return fmt.Errorf("reassign %s: record events: %w", task.ID, err)
			}
		}
		revoked, err := s.revokeLeaver(ctx, t, userID, actor)
		if err != nil {
			return fmt.Errorf("revoke access: %w", err)
		}
		changed = changed || revoked
		return nil
	})
	return changed && err == nil, err
}

// leaverOpenItem matches the items a termination cancels: those pending
// review, and GRANT items approved but not yet provisioned (a fulfilment
// job leaves a CANCELLED item alone). An item already FULFILLING is left
// to finish; the grant it records is revoked by the next sweep.
func leaverOpenItem() predicate.RequestItem {
	return requestitem.Or(
		requestitem.StatusEQ(enum.ItemStatusPendingReview),
		requestitem.And(requestitem.ActionEQ(enum.RequestActionGrant), requestitem.StatusEQ(enum.ItemStatusApproved)),
	)
}

// cancelForLeaver cancels the open items of a request for a leaver
// (leaverOpenItem) and returns the audit events.
func (s *Service) cancelForLeaver(ctx context.Context, t *txn, id pulid.ID) ([]audit.Event, error) {
	events, err := s.cancelPending(ctx, t, id, "beneficiary terminated")
	if err != nil {
		return nil, err
	}
	approved, err := t.client.RequestItem.Query().
		Where(requestitem.RequestID(id), requestitem.ActionEQ(enum.RequestActionGrant), requestitem.StatusEQ(enum.ItemStatusApproved)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load approved items: %w", err)
	}
	if len(approved) > 0 && len(events) == 0 {
		events = append(events, audit.Event{Action: audit.RequestCancelled, RequestID: &id, Data: map[string]any{"reason": "beneficiary terminated"}})
	}
	for _, item := range approved {
		if err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusCancelled).Exec(ctx); err != nil {
			return nil, fmt.Errorf("item %s: mark CANCELLED: %w", item.ID, err)
		}
		events = append(events, audit.Event{Action: audit.ItemCancelled, RequestID: &id, ItemID: &item.ID,
			Data: map[string]any{"reason": "beneficiary terminated", "status": string(item.Status)}})
	}
	return events, nil
}

// revokingStatuses are the statuses of a REVOKE item that is taking a grant
// away (by its job, or by people on a MANUAL application): a grant it
// covers gets no second revocation.
var revokingStatuses = []enum.ItemStatus{enum.ItemStatusApproved, enum.ItemStatusFulfilling}

// revocationKey is what one REVOKE item takes away: an entitlement on one
// account (identity) of its application.
type revocationKey struct{ identity, entitlement pulid.ID }

// keyOf is the grant's revocation key.
func keyOf(g *ent.Grant) revocationKey { return revocationKey{g.IdentityID, g.EntitlementID} }

// notUnderRevocation returns the grants of gs, all held by holder, that no
// revocation is taking away yet, one per account and entitlement. A grant
// is under revocation when a REVOKE item of its account and entitlement is
// APPROVED or FULFILLING (its job, or the owners of a MANUAL application,
// carry it out), or is a leaver's revocation that FAILED and waits for the
// owners (manualFulfillments) or an admin's retry. The key is the account
// and the entitlement: a person with two accounts holding one entitlement
// has two grants to revoke. A REVOKE item with no account yet (the holder's
// own request, whose fulfilment finds the account) covers the entitlement
// on each of the holder's accounts until it is carried out; a grant left
// then is revoked by the termination sweep.
func notUnderRevocation(ctx context.Context, t *txn, holder pulid.ID, gs []*ent.Grant) ([]*ent.Grant, error) {
	if len(gs) == 0 {
		return nil, nil
	}
	identities := make([]pulid.ID, len(gs))
	entitlements := make([]pulid.ID, len(gs))
	for i, g := range gs {
		identities[i], entitlements[i] = g.IdentityID, g.EntitlementID
	}
	items, err := t.client.RequestItem.Query().
		Where(
			requestitem.ActionEQ(enum.RequestActionRevoke),
			requestitem.EntitlementIDIn(entitlements...),
			requestitem.Or(
				requestitem.IdentityIDIn(identities...),
				requestitem.And(requestitem.IdentityIDIsNil(), requestitem.HasRequestWith(accessrequest.BeneficiaryID(holder))),
			),
			requestitem.Or(
				requestitem.StatusIn(revokingStatuses...),
				requestitem.And(requestitem.StatusEQ(enum.ItemStatusFailed), requestitem.ReasonEQ(enum.ItemReasonTerminated)),
			),
		).
		Select(requestitem.FieldIdentityID, requestitem.FieldEntitlementID).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load revocations under way: %w", err)
	}
	covered := make(map[revocationKey]bool, len(items))
	for _, it := range items {
		var identity pulid.ID // "": every account of the holder
		if it.IdentityID != nil {
			identity = *it.IdentityID
		}
		covered[revocationKey{identity, it.EntitlementID}] = true
	}
	var todo []*ent.Grant
	for _, g := range gs {
		if !covered[keyOf(g)] && !covered[revocationKey{"", g.EntitlementID}] {
			covered[keyOf(g)] = true // one item per account and entitlement
			todo = append(todo, g)
		}
	}
	return todo, nil
}

// revokeLeaver opens the leaver's revocation request for the grants they
// hold that no revocation covers yet (openRevocation), and reports whether
// it opened one.
//
// On PostgreSQL the grants are read FOR UPDATE: a revocation that is being
// fulfilled ends its grant and marks its item FULFILLED in one transaction,
// and without the lock this one could read the grant before that commit and
// the item after it, and open a second revocation of an ended grant. On
// SQLite the IMMEDIATE write transaction already serialises them.
func (s *Service) revokeLeaver(ctx context.Context, t *txn, userID pulid.ID, actor string) (bool, error) {
	q := t.client.Grant.Query().
		Where(grant.RevokedAtIsNil(), grant.HasIdentityWith(identity.UserID(userID))).
		WithIdentity(func(q *ent.IdentityQuery) { q.WithApplication() }).
		Order(ent.Asc(grant.FieldID))
	if s.dialect == dialect.Postgres {
		q.ForUpdate()
	}
	grants, err := q.All(ctx)
	if err != nil {
		return false, fmt.Errorf("load grants: %w", err)
	}
	id, err := s.openRevocation(ctx, t, userID, grants, enum.ItemReasonTerminated, terminatedJustification, actor)
	return id != "", err
}

// openRevocation writes a system REVOKE request for the user's grants (each
// loaded with its identity and application) that no revocation covers yet
// (notUnderRevocation), with their items (addRevocations), and returns the
// request's ID; none and "" when every grant is covered.
func (s *Service) openRevocation(ctx context.Context, t *txn, userID pulid.ID, grants []*ent.Grant, why enum.ItemReason, justification, actor string) (pulid.ID, error) {
	grants, err := notUnderRevocation(ctx, t, userID, grants)
	if err != nil || len(grants) == 0 {
		return "", err
	}
	req, err := t.client.AccessRequest.Create().
		SetAction(enum.RequestActionRevoke).SetMode(enum.RequestModeEntitlements).
		SetRequesterID(userID).SetBeneficiaryID(userID).
		SetJustification(justification).SetSubmittedAt(s.now()).
		Save(ctx)
	if err != nil {
		return "", fmt.Errorf("create request: %w", err)
	}
	t.locked[req.ID], t.heads[req.ID] = true, audit.Head{}
	t.known.know(req, map[pulid.ID]enum.ItemStatus{})
	submitted := audit.Event{Action: audit.RequestSubmitted, RequestID: &req.ID, Data: map[string]any{
		"action": string(enum.RequestActionRevoke), "mode": string(enum.RequestModeEntitlements),
		"requester": string(userID), "beneficiary": string(userID), "items": len(grants),
		"reason": string(why),
	}}
	if err := s.addRevocations(ctx, t, req.ID, grants, why, actor, submitted); err != nil {
		return "", err
	}
	return req.ID, nil
}

// addRevocations adds to a request (locked by the caller) one REVOKE item
// per grant (each loaded with its identity and application), APPROVED with
// the reason why: on connector applications their fulfilment jobs are
// enqueued, on MANUAL ones the owners confirm them (manualFulfillments). It
// records first, then each item's ITEM_ADDED, ITEM_AUTO_APPROVED and, on a
// MANUAL application, MANUAL_FULFILLMENT_WAITING, by actor.
func (s *Service) addRevocations(ctx context.Context, t *txn, requestID pulid.ID, grants []*ent.Grant, why enum.ItemReason, actor string, first ...audit.Event) error {
	now := s.now()
	events := first
	items := make([]*ent.RequestItemCreate, 0, len(grants))
	for _, g := range grants {
		app := g.Edges.Identity.Edges.Application
		itemID := requestitem.DefaultID()
		items = append(items, t.client.RequestItem.Create().SetID(itemID).
			SetRequestID(requestID).SetAction(enum.RequestActionRevoke).SetReason(why).
			SetStatus(enum.ItemStatusApproved).SetDecidedAt(now).
			SetEntitlementID(g.EntitlementID).SetApplicationID(app.ID).SetIdentityID(g.IdentityID))
		events = append(events,
			audit.Event{Action: audit.ItemAdded, RequestID: &requestID, ItemID: &itemID, Data: map[string]any{
				"action": string(enum.RequestActionRevoke), "entitlement": string(g.EntitlementID), "application": string(app.ID),
				"grant": string(g.ID), "reason": string(why),
			}},
			audit.Event{Action: audit.ItemAutoApproved, RequestID: &requestID, ItemID: &itemID, Data: map[string]any{
				"reason": string(why),
			}})
		if app.Fulfillment == enum.FulfillmentManual {
			events = append(events, manualWaiting(requestID, itemID, string(why)))
		} else {
			s.enqueueFulfillment(t, itemID)
		}
	}
	if err := t.client.RequestItem.CreateBulk(items...).Exec(ctx); err != nil {
		return fmt.Errorf("create items: %w", err)
	}
	if err := s.record(ctx, t, requestID, actor, events...); err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	return nil
}

// manualWaiting is the audit event of an item handed to the application's
// owners to carry out by hand (manualFulfillments): why says why.
func manualWaiting(requestID, itemID pulid.ID, why string) audit.Event {
	return audit.Event{Action: audit.ManualFulfillmentWaiting, RequestID: &requestID, ItemID: &itemID,
		Data: map[string]any{"reason": why}}
}

// SweepTerminations applies the termination of every TERMINATED user who
// still holds access, has open review tasks or open requests for them —
// set TERMINATED by a path that did not apply it, or whose application was
// interrupted — and returns how many it changed. It is for the job
// runner's periodic sweep; Terminate makes a repeat harmless.
func (s *Service) SweepTerminations(ctx context.Context) (int, error) {
	sys := authz.SystemContext(ctx)
	ids, err := s.client.User.Query().
		Where(
			user.StatusEQ(enum.UserStatusTerminated),
			user.Or(
				user.HasIdentitiesWith(identity.HasGrantsWith(grant.RevokedAtIsNil())),
				user.HasReviewTasksWith(reviewtask.StatusIn(enum.TaskStatusPending, enum.TaskStatusWaiting)),
				user.HasBeneficiaryRequestsWith(accessrequest.HasItemsWith(leaverOpenItem())),
			),
		).
		IDs(sys)
	if err != nil {
		return 0, fmt.Errorf("sweep terminations: list users: %w", err)
	}
	n := 0
	for _, id := range ids {
		changed, err := s.terminate(sys, id, systemActor)
		if err != nil {
			return n, fmt.Errorf("sweep terminations: terminate %s: %w", id, err)
		}
		if changed {
			n++
		}
	}
	return n, nil
}

// DefaultTerminationSweepInterval is how often the termination sweep runs
// when the configuration does not say.
const DefaultTerminationSweepInterval = 5 * time.Minute

// SweepTerminationsArgs is the periodic job that runs SweepTerminations.
type SweepTerminationsArgs struct{}

// Kind implements river.JobArgs.
func (SweepTerminationsArgs) Kind() string { return "sweep_terminations" }

// InsertOpts implements river.JobArgsWithInsertOpts, like the lifecycle
// sweep's.
func (SweepTerminationsArgs) InsertOpts() river.InsertOpts { return LifecycleSweepArgs{}.InsertOpts() }

// NewTerminationSweep returns the periodic job that runs SweepTerminations
// every interval (zero: DefaultTerminationSweepInterval) and at start.
func NewTerminationSweep(interval time.Duration) *SweepJob[SweepTerminationsArgs] {
	return &SweepJob[SweepTerminationsArgs]{
		id: "termination_sweep", interval: cmp.Or(interval, DefaultTerminationSweepInterval),
		run: func(ctx context.Context, s *Service) error {
			n, err := s.SweepTerminations(ctx)
			if n > 0 {
				s.log.InfoContext(ctx, "terminations applied by the sweep", "users", n)
			}
			return err
		},
	}
}

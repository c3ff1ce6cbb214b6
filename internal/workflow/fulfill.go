package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// FulfillmentAttempts is how many times a fulfilment job runs before its item
// is FAILED.
const FulfillmentAttempts = 5

// systemActor names the server itself in audit events.
const systemActor = "system"

// FulfillArgs is the job that fulfils one approved item through its
// application's connector.
type FulfillArgs struct {
	ItemID pulid.ID `json:"item_id"`
}

// Kind implements river.JobArgs.
func (FulfillArgs) Kind() string { return "fulfill_item" }

// ExpireArgs is the job that ends a temporary grant when it is due.
type ExpireArgs struct {
	GrantID pulid.ID `json:"grant_id"`
}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "expire_grant" }

// fulfillment is what a connector call needs, read before the call.
type fulfillment struct {
	item *ent.RequestItem
	app  *ent.Application
	op   connectors.Operation
	// held is set for an extension of a grant still held through the
	// item's account: the access exists, and only its end moves, so the
	// connector is not called.
	held bool
}

// Fulfill runs the fulfilment of one item, for the job worker: it marks the
// item FULFILLING, calls the connector outside any transaction (ensuring the
// beneficiary's account first) with a deadline shorter than the job's, then
// records the identity, the grant (with its end and expiry job) or the
// revocation, and the statuses. A transient connector error is returned for
// the job to retry until the last attempt; a permanent one, or the last
// attempt, marks the item FAILED — whatever ended that attempt, so that no
// item outlives its job in FULFILLING. A cancellation of ctx (a shutdown) is
// not an attempt: the job is snoozed and runs again. An item that is not
// APPROVED or FULFILLING is left alone, so a repeated job is harmless. An
// extension of a grant still held calls no connector: the access exists and
// only its end moves.
func (s *Service) Fulfill(ctx context.Context, itemID pulid.ID, attempt, maxAttempts int) error {
	err := s.fulfill(ctx, itemID, attempt, maxAttempts)
	var snooze *rivertype.JobSnoozeError
	switch {
	case err == nil, errors.As(err, &snooze):
		return err
	case errors.Is(ctx.Err(), context.Canceled):
		return river.JobSnooze(interruptedSnooze)
	case attempt < maxAttempts:
		return err
	}
	// The last attempt ended before it could record its outcome; the
	// failure is recorded under a deadline of its own.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.fulfillmentTimeout/4)
	defer cancel()
	if _, ferr := s.markFailed(fctx, itemID, lastError(err), attempt, false); ferr != nil {
		return errors.Join(err, fmt.Errorf("fulfil %s: record last attempt: %w", itemID, ferr))
	}
	return nil
}

// interruptedSnooze is how long a fulfilment interrupted by a shutdown waits
// before it runs again (on this process's successor or another replica).
const interruptedSnooze = time.Second

// DefaultFulfillmentTimeout is how long one attempt of a fulfilment job may
// run when the configuration does not say.
const DefaultFulfillmentTimeout = time.Minute

// fulfill is one attempt of Fulfill.
func (s *Service) fulfill(ctx context.Context, itemID pulid.ID, attempt, maxAttempts int) error {
	f, err := s.startFulfillment(ctx, itemID)
	if err != nil {
		return fmt.Errorf("fulfil %s: start: %w", itemID, err)
	}
	if f == nil {
		return nil
	}
	acct, created := f.op.Account, false
	if !f.held {
		conn, err := s.connectors.Open(string(f.app.ConnectorKind), f.app.ConnectorConfig)
		if err != nil {
			s.observer.FulfillmentAttempted(string(f.app.ConnectorKind), err)
			return s.failFulfillment(ctx, f, connectors.Permanent(err), attempt, maxAttempts)
		}
		acct, created, err = s.deliver(ctx, conn, f)
		s.observer.FulfillmentAttempted(string(f.app.ConnectorKind), err)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("fulfil %s: %w", itemID, err)
			}
			return s.failFulfillment(ctx, f, err, attempt, maxAttempts)
		}
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, f.item.RequestID); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		item, err := t.client.RequestItem.Get(ctx, itemID)
		if err != nil {
			return fmt.Errorf("read item: %w", err)
		}
		if item.Status != enum.ItemStatusFulfilling {
			return nil
		}
		if f.held {
			// The extended grant may have ended since: then the access is
			// granted again through the connector, by the next attempt.
			held, err := extendsHeld(ctx, t.client, f.item)
			if err != nil {
				return err
			}
			if !held {
				return errExtendedGrantEnded
			}
		}
		events, err := s.recordAccess(ctx, t, item, f.app, acct, created)
		if err != nil {
			return fmt.Errorf("record access: %w", err)
		}
		// Emergency access denied after the fact while it was provisioned.
		revoked, err := s.revokeDeniedBreakGlass(ctx, t, item)
		if err != nil {
			return err
		}
		events = append(events, revoked...)
		if err := s.record(ctx, t, item.RequestID, systemActor, events...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fulfil %s: %w", itemID, err)
	}
	return nil
}

// errExtendedGrantEnded fails an attempt that would have extended a grant
// that ended meanwhile; the job's next attempt grants the access anew.
var errExtendedGrantEnded = connectors.Transient(errors.New("the extended grant ended before the extension was recorded"))

// deliver makes the connector calls of a fulfilment under a deadline
// shorter than the job's, so that an attempt that gets no answer is still
// recorded as a transient failure before the job's own deadline.
func (s *Service) deliver(ctx context.Context, conn connectors.Connector, f *fulfillment) (acct connectors.Account, created bool, err error) {
	limit := s.connectorLimit()
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	acct = f.op.Account
	if f.item.Action == enum.RequestActionGrant {
		if f.item.IdentityID == nil {
			acct, created, err = conn.EnsureIdentity(cctx, f.op)
			if err == nil {
				f.op.Account = acct
			}
		}
		if err == nil {
			err = conn.Grant(cctx, f.op)
		}
	} else if f.item.IdentityID != nil {
		err = conn.Revoke(cctx, f.op)
	}
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && !connectors.IsTransient(err) {
		err = connectors.Transient(fmt.Errorf("%s: no answer within %s: %w", conn.Name(), limit, err))
	}
	return acct, created, err
}

// connectorLimit bounds the connector calls of one job, leaving a quarter
// of the job's time to record their outcome.
func (s *Service) connectorLimit() time.Duration { return s.fulfillmentTimeout * 3 / 4 }

// startFulfillment moves an APPROVED item to FULFILLING and reads what the
// connector needs; it returns nil when there is nothing to do.
func (s *Service) startFulfillment(ctx context.Context, itemID pulid.ID) (*fulfillment, error) {
	var f *fulfillment
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if found, err := s.lockItemRequest(ctx, t, itemID); err != nil || !found {
			return err
		}
		item, err := t.client.RequestItem.Query().Where(requestitem.ID(itemID)).
			WithRequest(func(q *ent.AccessRequestQuery) { q.WithBeneficiary() }).
			WithEntitlement().WithApplication().WithIdentity().
			Only(ctx)
		if err != nil {
			return fmt.Errorf("read locked item: %w", err)
		}
		if item.Status == enum.ItemStatusApproved {
			// The conflict may have been made since submission. (Not on a
			// FULFILLING item's next attempt: an earlier one may have
			// provisioned the access already, which failing the item would
			// leave without a grant.)
			if blocked, err := s.sodBeforeFulfillment(ctx, t, item, item.Edges.Request.Edges.Beneficiary); err != nil || blocked {
				return err
			}
		}
		switch item.Status {
		case enum.ItemStatusApproved:
			if err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusFulfilling).Exec(ctx); err != nil {
				return fmt.Errorf("mark item FULFILLING: %w", err)
			}
			item.Status = enum.ItemStatusFulfilling
			ev := audit.Event{Action: audit.FulfillmentStarted, RequestID: &item.RequestID, ItemID: &item.ID}
			if err := s.record(ctx, t, item.RequestID, systemActor, ev); err != nil {
				return fmt.Errorf("record events: %w", err)
			}
		case enum.ItemStatusFulfilling:
		default:
			return nil
		}
		if item.IdentityID == nil {
			// An account made by another request in the meantime.
			idn, err := t.client.Identity.Query().
				Where(identity.UserID(item.Edges.Request.BeneficiaryID), identity.ApplicationID(item.ApplicationID)).
				Only(ctx)
			if err != nil && !ent.IsNotFound(err) {
				return fmt.Errorf("find account: %w", err)
			}
			if idn != nil {
				item.Edges.Identity, item.IdentityID = idn, &idn.ID
			}
		}
		f = &fulfillment{item: item, app: item.Edges.Application, op: operation(item)}
		if f.held, err = extendsHeld(ctx, t.client, item); err != nil {
			return err
		}
		return nil
	})
	return f, err
}

// extendsHeld reports whether a GRANT item extends a grant (its request's
// extends_grant_id) that is still held through the item's account.
func extendsHeld(ctx context.Context, client *ent.Client, item *ent.RequestItem) (bool, error) {
	ext := item.Edges.Request.ExtendsGrantID
	if item.Action != enum.RequestActionGrant || ext == nil || item.IdentityID == nil {
		return false, nil
	}
	held, err := client.Grant.Query().
		Where(grant.ID(*ext), grant.IdentityID(*item.IdentityID), grant.EntitlementID(item.EntitlementID), grant.RevokedAtIsNil()).
		Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("find extended grant: %w", err)
	}
	return held, nil
}

// operation describes an item for its connector.
func operation(item *ent.RequestItem) connectors.Operation {
	b := item.Edges.Request.Edges.Beneficiary
	e := item.Edges.Entitlement
	op := connectors.Operation{
		IdempotencyKey: string(item.ID),
		Application:    item.Edges.Application.Name,
		User:           connectors.User{ID: string(b.ID), Email: b.Email, Name: b.Name},
		Entitlement:    connectors.Entitlement{ID: string(e.ID), ExternalID: e.ExternalID, Name: e.Name},
	}
	if idn := item.Edges.Identity; idn != nil {
		op.Account = connectors.Account{ExternalID: idn.ExternalID, Login: idn.Login}
	}
	return op
}

// failFulfillment records a failed attempt. It returns the error for the
// job to retry while the error is transient and attempts remain; otherwise
// it marks the item FAILED and returns nil (the job is done).
func (s *Service) failFulfillment(ctx context.Context, f *fulfillment, cause error, attempt, maxAttempts int) error {
	msg := lastError(cause)
	final := !connectors.IsTransient(cause) || attempt >= maxAttempts
	s.logConnectorFailure(ctx, f, cause, attempt, maxAttempts, final)
	if final {
		if _, err := s.markFailed(ctx, f.item.ID, msg, attempt, false); err != nil {
			return fmt.Errorf("fulfil %s: record failure: %w", f.item.ID, err)
		}
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, f.item.RequestID); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		err := t.client.RequestItem.UpdateOneID(f.item.ID).
			Where(requestitem.StatusEQ(enum.ItemStatusFulfilling)).
			SetFulfillmentAttempts(attempt).SetLastError(msg).
			Exec(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return fmt.Errorf("update item: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fulfil %s: record attempt %d: %w", f.item.ID, attempt, err)
	}
	var te *connectors.TransientError
	if errors.As(cause, &te) && te.RetryAfter > 0 {
		return river.JobSnooze(te.RetryAfter)
	}
	return fmt.Errorf("fulfil %s: %w", f.item.ID, cause)
}

// lastError is an error as an item's last error.
func lastError(err error) string {
	msg := err.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	return msg
}

// recordAccess writes the outcome of a successful connector call: the
// identity (IDENTITY_CREATED when the connector made the account), the grant
// or its revocation, the item FULFILLED, and for temporary access the expiry
// job. It returns the audit events.
func (s *Service) recordAccess(ctx context.Context, t *txn, item *ent.RequestItem, app *ent.Application, acct connectors.Account, created bool) ([]audit.Event, error) {
	now := s.now()
	req, err := t.client.AccessRequest.Get(ctx, item.RequestID)
	if err != nil {
		return nil, fmt.Errorf("load request: %w", err)
	}
	var events []audit.Event
	// Items of several requests may record the same account at once.
	if err := s.lockKey(ctx, t, "identity/"+string(req.BeneficiaryID)+"/"+string(app.ID)); err != nil {
		return nil, fmt.Errorf("lock account: %w", err)
	}
	idn, err := t.client.Identity.Query().
		Where(identity.UserID(req.BeneficiaryID), identity.ApplicationID(app.ID)).
		Only(ctx)
	switch {
	case ent.IsNotFound(err) && item.Action == enum.RequestActionRevoke:
		// Nothing was ever provisioned: the revocation holds trivially.
	case ent.IsNotFound(err):
		create := t.client.Identity.Create().
			SetUserID(req.BeneficiaryID).SetApplicationID(app.ID).
			SetExternalID(acct.ExternalID).SetLogin(acct.Login)
		if created {
			create.SetCreatedByRequestID(req.ID)
		}
		if idn, err = create.Save(ctx); err != nil {
			return nil, fmt.Errorf("record identity: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("find account: %w", err)
	case created && idn.CreatedByRequestID == nil:
		// Another item recorded the account first, but the connector made it
		// for this one: this request created it.
		if idn, err = idn.Update().SetCreatedByRequestID(req.ID).Save(ctx); err != nil {
			return nil, fmt.Errorf("record identity creator: %w", err)
		}
	default:
		created = false // already recorded, with its creator
	}
	if created {
		events = append(events, audit.Event{Action: audit.IdentityCreated, RequestID: &req.ID, ItemID: &item.ID,
			Data: map[string]any{"identity": string(idn.ID), "externalId": idn.ExternalID, "login": idn.Login}})
	}
	upd := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusFulfilled).SetFulfilledAt(now)
	if idn != nil {
		upd.SetIdentityID(idn.ID)
	}
	// A duration counts from now: the item keeps the end it gives, so that
	// the item and the reports show when the access ends.
	var endsAt *time.Time
	if item.Action == enum.RequestActionGrant {
		if endsAt, err = rules.AccessEnd(item.EndsAt, item.Duration, now); err != nil {
			return nil, fmt.Errorf("end of access: %w", err)
		}
		upd.SetNillableEndsAt(endsAt)
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, fmt.Errorf("mark item FULFILLED: %w", err)
	}
	if item.Action == enum.RequestActionRevoke {
		if idn != nil {
			n, err := t.client.Grant.Update().
				Where(grant.IdentityID(idn.ID), grant.EntitlementID(item.EntitlementID), grant.RevokedAtIsNil()).
				SetRevokedAt(now).SetRevokeReason(revokeReason(item, req.ID)).
				Save(ctx)
			if err != nil {
				return nil, fmt.Errorf("end grants: %w", err)
			}
			events = append(events, audit.Event{Action: audit.AccessRevoked, RequestID: &req.ID, ItemID: &item.ID,
				Data: map[string]any{"entitlement": string(item.EntitlementID), "grantsEnded": n, "reason": string(item.Reason)}})
			if item.Reason == enum.ItemReasonExpired {
				more, err := s.confirmExpiry(ctx, t, req.ID, item)
				if err != nil {
					return nil, fmt.Errorf("confirm expiry: %w", err)
				}
				events = append(events, more...)
			}
		}
		return events, nil
	}
	g, ended, extended, err := s.upsertGrant(ctx, t, idn.ID, item, endsAt, now)
	if err != nil {
		return nil, fmt.Errorf("record grant: %w", err)
	}
	if extended != nil {
		extended.RequestID, extended.ItemID = &req.ID, &item.ID
		extended.Data["extension"] = req.ExtendsGrantID != nil
		events = append(events, *extended)
	}
	// The trail records the grant's end as it now is: a permanent holding
	// stays permanent and a later end stays later (a request may ask for
	// what is held, DESIGN §4.1), and then no new expiry job is needed.
	data := map[string]any{"grant": string(g.ID), "entitlement": string(item.EntitlementID)}
	if g.EndsAt != nil {
		data["endsAt"] = g.EndsAt.UTC().Format(time.RFC3339)
	}
	if ended {
		if _, err := s.jobs.InsertTx(ctx, t.sql, ExpireArgs{GrantID: g.ID}, &river.InsertOpts{ScheduledAt: *endsAt}); err != nil {
			return nil, fmt.Errorf("schedule expiry: %w", err)
		}
	}
	return append(events, audit.Event{Action: audit.AccessGranted, RequestID: &req.ID, ItemID: &item.ID, Data: data}), nil
}

// confirmExpiry records a MANUAL application's expiry as done once its
// owners confirmed the de-provisioning item: the request's items that gave
// the access and are still FULFILLED become EXPIRED, with ACCESS_EXPIRED.
func (s *Service) confirmExpiry(ctx context.Context, t *txn, requestID pulid.ID, deprov *ent.RequestItem) ([]audit.Event, error) {
	sources, err := t.client.RequestItem.Query().Where(
		requestitem.RequestID(requestID), requestitem.ActionEQ(enum.RequestActionGrant),
		requestitem.EntitlementID(deprov.EntitlementID), requestitem.StatusEQ(enum.ItemStatusFulfilled),
	).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load source items: %w", err)
	}
	var events []audit.Event
	for _, src := range sources {
		if err := t.client.RequestItem.UpdateOne(src).SetStatus(enum.ItemStatusExpired).Exec(ctx); err != nil {
			return nil, fmt.Errorf("mark item EXPIRED: %w", err)
		}
		events = append(events, audit.Event{Action: audit.AccessExpired, RequestID: &requestID, ItemID: &src.ID,
			Data: map[string]any{"entitlement": string(deprov.EntitlementID), "confirmedBy": string(deprov.ID)}})
	}
	return events, nil
}

// revokeReason is the revoke_reason of the grants a REVOKE item ends.
func revokeReason(item *ent.RequestItem, requestID pulid.ID) string {
	switch item.Reason {
	case enum.ItemReasonTerminated:
		return "user terminated: revoked by request " + string(requestID)
	case enum.ItemReasonExpired:
		return "expired"
	}
	return "revoked by request " + string(requestID)
}

// upsertGrant records access held: a temporary holding of the same
// entitlement is extended (or made permanent) instead of doubled; a
// permanent one, or one ending later, keeps its end. ended reports whether
// the grant now ends at endsAt because of this item (a new grant or an
// extension), so that the caller schedules its expiry; extended is the
// ACCESS_EXTENDED event (without request and item) when a held grant's end
// moved, so that an extension is visible in the trail. The expiry job of
// the old end finds the grant not yet due and leaves it (Expire).
func (s *Service) upsertGrant(ctx context.Context, t *txn, identityID pulid.ID, item *ent.RequestItem, endsAt *time.Time, now time.Time) (g *ent.Grant, ended bool, extended *audit.Event, err error) {
	held, err := t.client.Grant.Query().
		Where(grant.IdentityID(identityID), grant.EntitlementID(item.EntitlementID), grant.RevokedAtIsNil()).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		g, err = t.client.Grant.Create().
			SetIdentityID(identityID).SetEntitlementID(item.EntitlementID).
			SetGrantedAt(now).SetNillableEndsAt(endsAt).SetSourceItemID(item.ID).
			Save(ctx)
		if err != nil {
			return nil, false, nil, fmt.Errorf("create: %w", err)
		}
		return g, endsAt != nil, nil, nil
	case err != nil:
		return nil, false, nil, fmt.Errorf("find held grant: %w", err)
	}
	upd := held.Update().SetSourceItemID(item.ID)
	moved := false
	if endsAt == nil {
		upd.ClearEndsAt()
		moved = held.EndsAt != nil
	} else if held.EndsAt != nil && endsAt.After(*held.EndsAt) {
		upd.SetEndsAt(*endsAt)
		ended, moved = true, true
	}
	if g, err = upd.Save(ctx); err != nil {
		return nil, false, nil, fmt.Errorf("extend: %w", err)
	}
	if moved {
		var newEnd any
		if g.EndsAt != nil {
			newEnd = g.EndsAt.UTC().Format(time.RFC3339)
		}
		extended = &audit.Event{Action: audit.AccessExtended, Data: map[string]any{
			"grant": string(g.ID), "entitlement": string(g.EntitlementID),
			"oldEndsAt": held.EndsAt.UTC().Format(time.RFC3339), "newEndsAt": newEnd,
		}}
	}
	return g, ended, extended, nil
}

// Expire ends a temporary grant when it is due, for the job worker. It
// re-reads the grant and acts only when it is due and not revoked (an
// extension moved its end and scheduled its own job). It revokes through the
// connector outside any transaction — on a MANUAL application people do it —
// then ends the grant and marks its item EXPIRED.
func (s *Service) Expire(ctx context.Context, grantID pulid.ID) error {
	sys := authz.SystemContext(ctx)
	g, err := s.client.Grant.Query().Where(grant.ID(grantID)).
		WithIdentity(func(q *ent.IdentityQuery) { q.WithUser().WithApplication() }).
		WithEntitlement().
		Only(sys)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("expire %s: load grant: %w", grantID, err)
	}
	now := s.now()
	if !rules.GrantDue(g.EndsAt, g.RevokedAt, now) {
		return nil
	}
	app, u := g.Edges.Identity.Edges.Application, g.Edges.Identity.Edges.User
	if app.Fulfillment != enum.FulfillmentManual {
		conn, err := s.connectors.Open(string(app.ConnectorKind), app.ConnectorConfig)
		if err != nil {
			return fmt.Errorf("expire %s: open connector: %w", grantID, err)
		}
		op := connectors.Operation{
			IdempotencyKey: "expire-" + string(g.ID),
			Application:    app.Name,
			User:           connectors.User{ID: string(u.ID), Email: u.Email, Name: u.Name},
			Account:        connectors.Account{ExternalID: g.Edges.Identity.ExternalID, Login: g.Edges.Identity.Login},
			Entitlement:    connectors.Entitlement{ID: string(g.EntitlementID), ExternalID: g.Edges.Entitlement.ExternalID, Name: g.Edges.Entitlement.Name},
		}
		cctx, cancel := context.WithTimeout(ctx, s.connectorLimit())
		err = conn.Revoke(cctx, op)
		cancel()
		if err != nil {
			s.observer.ExpiryFailed(string(app.ConnectorKind), err)
			s.log.WarnContext(ctx, "connector call failed", "grant", string(g.ID), "application", string(app.ID),
				"kind", string(app.ConnectorKind), "class", connectors.Class(err), "reason", connectors.Reason(err),
				"transient", connectors.IsTransient(err), "operation", "revoke on expiry", "error", err.Error())
			var te *connectors.TransientError
			if errors.As(err, &te) && te.RetryAfter > 0 {
				return river.JobSnooze(te.RetryAfter)
			}
			return fmt.Errorf("expire %s: %w", grantID, err)
		}
	}
	if app.Fulfillment == enum.FulfillmentManual {
		if err := s.inTx(ctx, func(ctx context.Context, t *txn) error { return s.openDeprovisioning(ctx, t, g) }); err != nil {
			return fmt.Errorf("expire %s: %w", grantID, err)
		}
		return nil
	}
	ended := false
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var requestID *pulid.ID
		var item *ent.RequestItem
		if g.SourceItemID != nil {
			if item, err = t.client.RequestItem.Get(ctx, *g.SourceItemID); err != nil {
				return fmt.Errorf("load source item: %w", err)
			}
			requestID = &item.RequestID
			if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
				return fmt.Errorf("lock request: %w", err)
			}
		}
		fresh, err := t.client.Grant.Get(ctx, grantID)
		if err != nil {
			return fmt.Errorf("read grant: %w", err)
		}
		if !rules.GrantDue(fresh.EndsAt, fresh.RevokedAt, s.now()) {
			return nil
		}
		if err := fresh.Update().SetRevokedAt(now).SetRevokeReason("expired").Exec(ctx); err != nil {
			return fmt.Errorf("end grant: %w", err)
		}
		ended = true
		if item == nil {
			return nil
		}
		if item.Status == enum.ItemStatusFulfilled {
			if err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusExpired).Exec(ctx); err != nil {
				return fmt.Errorf("mark item EXPIRED: %w", err)
			}
		}
		events := []audit.Event{{Action: audit.AccessExpired, RequestID: requestID, ItemID: &item.ID,
			Data: map[string]any{"grant": string(g.ID), "entitlement": string(g.EntitlementID)}}}
		if err := s.record(ctx, t, *requestID, systemActor, events...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("expire %s: %w", grantID, err)
	}
	if ended {
		s.observer.GrantExpired(string(app.ConnectorKind))
	}
	return nil
}

// openDeprovisioning hands a due grant of a MANUAL application to its owners:
// a REVOKE item with reason EXPIRED, APPROVED, waits for them in
// manualFulfillments — on the request that gave the grant, or on a system
// request for the holder when no request did — and the grant stays held
// until they confirm (CompleteManualFulfillment), which ends it as expired.
// The item is written as a leaver's are (addRevocations: ITEM_ADDED,
// ITEM_AUTO_APPROVED, MANUAL_FULFILLMENT_WAITING). A grant a revocation
// already covers (notUnderRevocation) gets no second item. g is loaded
// with its identity and the identity's application.
func (s *Service) openDeprovisioning(ctx context.Context, t *txn, g *ent.Grant) error {
	if g.SourceItemID != nil {
		if found, err := s.lockItemRequest(ctx, t, *g.SourceItemID); err != nil {
			return err
		} else if !found {
			g.SourceItemID = nil
		}
	}
	fresh, err := t.client.Grant.Get(ctx, g.ID)
	if err != nil {
		return fmt.Errorf("read grant: %w", err)
	}
	if !rules.GrantDue(fresh.EndsAt, fresh.RevokedAt, s.now()) {
		return nil
	}
	holder := g.Edges.Identity.UserID
	if g.SourceItemID == nil {
		_, err := s.openRevocation(ctx, t, holder, []*ent.Grant{g}, enum.ItemReasonExpired, "temporary access ended", systemActor)
		return err
	}
	if todo, err := notUnderRevocation(ctx, t, holder, []*ent.Grant{g}); err != nil || len(todo) == 0 {
		return err
	}
	source, err := t.client.RequestItem.Get(ctx, *g.SourceItemID)
	if err != nil {
		return fmt.Errorf("load source item: %w", err)
	}
	return s.addRevocations(ctx, t, source.RequestID, []*ent.Grant{g}, enum.ItemReasonExpired, systemActor)
}

// RetryFulfillment sends an item back to fulfilment: a FAILED item, or one
// whose fulfilment is stuck — APPROVED or FULFILLING on a connector
// application with no fulfilment job left to run, or with one that has run
// past its deadline (see retryRule; that job is cancelled). IT admins only.
// Errors: FORBIDDEN, NOT_FOUND, CONFLICT (the item is neither FAILED nor
// stuck).
func (s *Service) RetryFulfillment(ctx context.Context, itemID pulid.ID) (*ent.RequestItem, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	item, err := s.client.RequestItem.Get(ctx, itemID)
	if err != nil {
		return nil, fmt.Errorf("retry %s: load item: %w", itemID, err)
	}
	if !v.IsAdmin() {
		return nil, errcode.New(errcode.Forbidden, "only IT admins retry fulfilment")
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		fresh, err := t.client.RequestItem.Get(ctx, itemID)
		if err != nil {
			return fmt.Errorf("read item: %w", err)
		}
		app, err := t.client.Application.Get(ctx, item.ApplicationID)
		if err != nil {
			return fmt.Errorf("load application: %w", err)
		}
		manual := app.Fulfillment == enum.FulfillmentManual
		var job *rivertype.JobRow
		if fresh.Status != enum.ItemStatusFailed && !manual {
			if job, err = s.liveJob(ctx, t.sql, itemID); err != nil {
				return fmt.Errorf("find fulfilment job: %w", err)
			}
		}
		if err := retryRule(fresh, manual, job, s.now(), s.fulfillmentTimeout); err != nil {
			return err
		}
		if job != nil {
			if _, err := s.jobs.JobCancelTx(ctx, t.sql, job.ID); err != nil {
				return fmt.Errorf("cancel job %d: %w", job.ID, err)
			}
		}
		if err := t.client.RequestItem.UpdateOneID(itemID).
			SetStatus(enum.ItemStatusApproved).SetFulfillmentAttempts(0).
			Exec(ctx); err != nil {
			return fmt.Errorf("mark item APPROVED: %w", err)
		}
		if !manual {
			s.enqueueFulfillment(t, itemID)
		}
		ev := audit.Event{Action: audit.FulfillmentRetried, RequestID: &item.RequestID, ItemID: &item.ID,
			Data: map[string]any{"status": string(fresh.Status)}}
		if err := s.record(ctx, t, item.RequestID, v.Actor(), ev); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("retry %s: %w", itemID, err)
	}
	fresh, err := s.client.RequestItem.Get(ctx, itemID)
	if err != nil {
		return nil, fmt.Errorf("retry %s: reload item: %w", itemID, err)
	}
	return fresh, nil
}

// lockKey serialises work on one key within the transaction (PostgreSQL
// advisory lock; SQLite transactions are already serial).
func (s *Service) lockKey(ctx context.Context, t *txn, key string) error {
	if s.dialect != dialect.Postgres {
		return nil
	}
	_, err := t.sql.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", key)
	return err
}

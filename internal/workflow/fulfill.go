package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"

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
}

// Fulfill runs the fulfilment of one item, for the job worker: it marks the
// item FULFILLING, calls the connector outside any transaction (ensuring the
// beneficiary's account first), then records the identity, the grant (with
// its end and expiry job) or the revocation, and the statuses. A transient
// connector error is returned for the job to retry until the last attempt;
// a permanent one, or the last attempt, marks the item FAILED. An item that
// is not APPROVED or FULFILLING is left alone, so a repeated job is harmless.
func (s *Service) Fulfill(ctx context.Context, itemID pulid.ID, attempt, maxAttempts int) error {
	f, err := s.startFulfillment(ctx, itemID)
	if err != nil || f == nil {
		return err
	}
	conn, err := s.connectors.Open(string(f.app.ConnectorKind), f.app.ConnectorConfig)
	if err != nil {
		return s.failFulfillment(ctx, f, connectors.Permanent(err), attempt, maxAttempts)
	}
	acct, created := f.op.Account, false
	if f.item.Action == enum.RequestActionGrant {
		if f.item.IdentityID == nil {
			acct, created, err = conn.EnsureIdentity(ctx, f.op)
			if err == nil {
				f.op.Account = acct
			}
		}
		if err == nil {
			err = conn.Grant(ctx, f.op)
		}
	} else if f.item.IdentityID != nil {
		err = conn.Revoke(ctx, f.op)
	}
	if err != nil {
		return s.failFulfillment(ctx, f, err, attempt, maxAttempts)
	}
	return s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, f.item.RequestID); err != nil {
			return err
		}
		item, err := t.client.RequestItem.Get(ctx, itemID)
		if err != nil || item.Status != enum.ItemStatusFulfilling {
			return err
		}
		events, err := s.recordAccess(ctx, t, item, f.app, acct, created)
		if err != nil {
			return err
		}
		if err := s.record(ctx, t, item.RequestID, systemActor, events...); err != nil {
			return err
		}
		return s.settle(ctx, t, item.RequestID, systemActor)
	})
}

// startFulfillment moves an APPROVED item to FULFILLING and reads what the
// connector needs; it returns nil when there is nothing to do.
func (s *Service) startFulfillment(ctx context.Context, itemID pulid.ID) (*fulfillment, error) {
	var f *fulfillment
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		item, err := t.client.RequestItem.Query().Where(requestitem.ID(itemID)).
			WithRequest(func(q *ent.AccessRequestQuery) { q.WithBeneficiary() }).
			WithEntitlement().WithApplication().WithIdentity().
			Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
			return err
		}
		if item, err = t.client.RequestItem.Query().Where(requestitem.ID(itemID)).
			WithRequest(func(q *ent.AccessRequestQuery) { q.WithBeneficiary() }).
			WithEntitlement().WithApplication().WithIdentity().
			Only(ctx); err != nil {
			return err
		}
		switch item.Status {
		case enum.ItemStatusApproved:
			if err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusFulfilling).Exec(ctx); err != nil {
				return err
			}
			item.Status = enum.ItemStatusFulfilling
			ev := audit.Event{Action: audit.FulfillmentStarted, RequestID: &item.RequestID, ItemID: &item.ID}
			if err := s.record(ctx, t, item.RequestID, systemActor, ev); err != nil {
				return err
			}
			if err := s.settle(ctx, t, item.RequestID, systemActor); err != nil {
				return err
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
				return err
			}
			if idn != nil {
				item.Edges.Identity, item.IdentityID = idn, &idn.ID
			}
		}
		f = &fulfillment{item: item, app: item.Edges.Application, op: operation(item)}
		return nil
	})
	return f, err
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
	final := !connectors.IsTransient(cause) || attempt >= maxAttempts
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, f.item.RequestID); err != nil {
			return err
		}
		upd := t.client.RequestItem.UpdateOneID(f.item.ID).
			Where(requestitem.StatusEQ(enum.ItemStatusFulfilling)).
			SetFulfillmentAttempts(attempt).SetLastError(msg)
		if final {
			upd.SetStatus(enum.ItemStatusFailed)
		}
		if err := upd.Exec(ctx); err != nil {
			if ent.IsNotFound(err) {
				return nil
			}
			return err
		}
		if !final {
			return nil
		}
		ev := audit.Event{Action: audit.FulfillmentFailed, RequestID: &f.item.RequestID, ItemID: &f.item.ID,
			Data: map[string]any{"error": msg, "attempts": attempt}}
		if err := s.record(ctx, t, f.item.RequestID, systemActor, ev); err != nil {
			return err
		}
		return s.settle(ctx, t, f.item.RequestID, systemActor)
	})
	if err != nil {
		return err
	}
	if final {
		return nil
	}
	var te *connectors.TransientError
	if errors.As(cause, &te) && te.RetryAfter > 0 {
		return river.JobSnooze(te.RetryAfter)
	}
	return cause
}

// recordAccess writes the outcome of a successful connector call: the
// identity (IDENTITY_CREATED when the connector made the account), the grant
// or its revocation, the item FULFILLED, and for temporary access the expiry
// job. It returns the audit events.
func (s *Service) recordAccess(ctx context.Context, t *txn, item *ent.RequestItem, app *ent.Application, acct connectors.Account, created bool) ([]audit.Event, error) {
	now := s.now()
	req, err := t.client.AccessRequest.Get(ctx, item.RequestID)
	if err != nil {
		return nil, err
	}
	var events []audit.Event
	idn, err := t.client.Identity.Query().
		Where(identity.UserID(req.BeneficiaryID), identity.ApplicationID(app.ID)).
		Only(ctx)
	switch {
	case ent.IsNotFound(err) && item.Action == enum.RequestActionRevoke:
		// Nothing was ever provisioned: the revocation holds trivially.
	case ent.IsNotFound(err):
		idn, err = t.client.Identity.Create().
			SetUserID(req.BeneficiaryID).SetApplicationID(app.ID).
			SetExternalID(acct.ExternalID).SetLogin(acct.Login).
			SetCreatedByRequestID(req.ID).
			Save(ctx)
		if err != nil {
			return nil, fmt.Errorf("record identity: %w", err)
		}
		if created {
			events = append(events, audit.Event{Action: audit.IdentityCreated, RequestID: &req.ID, ItemID: &item.ID,
				Data: map[string]any{"identity": string(idn.ID), "externalId": acct.ExternalID, "login": acct.Login}})
		}
	case err != nil:
		return nil, err
	}
	upd := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusFulfilled).SetFulfilledAt(now)
	if idn != nil {
		upd.SetIdentityID(idn.ID)
	}
	if err := upd.Exec(ctx); err != nil {
		return nil, err
	}
	if item.Action == enum.RequestActionRevoke {
		if idn != nil {
			n, err := t.client.Grant.Update().
				Where(grant.IdentityID(idn.ID), grant.EntitlementID(item.EntitlementID), grant.RevokedAtIsNil()).
				SetRevokedAt(now).SetRevokeReason("revoked by request " + string(req.ID)).
				Save(ctx)
			if err != nil {
				return nil, err
			}
			events = append(events, audit.Event{Action: audit.AccessRevoked, RequestID: &req.ID, ItemID: &item.ID,
				Data: map[string]any{"entitlement": string(item.EntitlementID), "grantsEnded": n}})
		}
		return events, nil
	}
	endsAt, err := itemEnd(item, now)
	if err != nil {
		return nil, err
	}
	g, ended, err := s.upsertGrant(ctx, t, idn.ID, item, endsAt, now)
	if err != nil {
		return nil, err
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

// itemEnd is when a granted item's access ends: its endsAt, or its duration
// counted from now (provisioning); nil for permanent access.
func itemEnd(item *ent.RequestItem, now time.Time) (*time.Time, error) {
	if item.EndsAt != nil {
		return item.EndsAt, nil
	}
	if item.Duration == nil {
		return nil, nil
	}
	d, err := rules.ParseDuration(*item.Duration)
	if err != nil {
		return nil, err
	}
	end := now.Add(d)
	return &end, nil
}

// upsertGrant records access held: a temporary holding of the same
// entitlement is extended (or made permanent) instead of doubled; a
// permanent one, or one ending later, keeps its end. ended reports whether
// the grant now ends at endsAt because of this item (a new grant or an
// extension), so that the caller schedules its expiry.
func (s *Service) upsertGrant(ctx context.Context, t *txn, identityID pulid.ID, item *ent.RequestItem, endsAt *time.Time, now time.Time) (g *ent.Grant, ended bool, err error) {
	held, err := t.client.Grant.Query().
		Where(grant.IdentityID(identityID), grant.EntitlementID(item.EntitlementID), grant.RevokedAtIsNil()).
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		g, err = t.client.Grant.Create().
			SetIdentityID(identityID).SetEntitlementID(item.EntitlementID).
			SetGrantedAt(now).SetNillableEndsAt(endsAt).SetSourceItemID(item.ID).
			Save(ctx)
		return g, endsAt != nil, err
	case err != nil:
		return nil, false, err
	}
	upd := held.Update().SetSourceItemID(item.ID)
	if endsAt == nil {
		upd.ClearEndsAt()
	} else if held.EndsAt != nil && endsAt.After(*held.EndsAt) {
		upd.SetEndsAt(*endsAt)
		ended = true
	}
	g, err = upd.Save(ctx)
	return g, ended, err
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
		return err
	}
	now := s.now()
	if !due(g, now) {
		return nil
	}
	app, u := g.Edges.Identity.Edges.Application, g.Edges.Identity.Edges.User
	if app.Fulfillment != enum.FulfillmentManual {
		conn, err := s.connectors.Open(string(app.ConnectorKind), app.ConnectorConfig)
		if err != nil {
			return err
		}
		op := connectors.Operation{
			IdempotencyKey: "expire-" + string(g.ID),
			Application:    app.Name,
			User:           connectors.User{ID: string(u.ID), Email: u.Email, Name: u.Name},
			Account:        connectors.Account{ExternalID: g.Edges.Identity.ExternalID, Login: g.Edges.Identity.Login},
			Entitlement:    connectors.Entitlement{ID: string(g.EntitlementID), ExternalID: g.Edges.Entitlement.ExternalID, Name: g.Edges.Entitlement.Name},
		}
		if err := conn.Revoke(ctx, op); err != nil {
			var te *connectors.TransientError
			if errors.As(err, &te) && te.RetryAfter > 0 {
				return river.JobSnooze(te.RetryAfter)
			}
			return err
		}
	}
	return s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var requestID *pulid.ID
		var item *ent.RequestItem
		if g.SourceItemID != nil {
			if item, err = t.client.RequestItem.Get(ctx, *g.SourceItemID); err != nil {
				return err
			}
			requestID = &item.RequestID
			if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
				return err
			}
		}
		fresh, err := t.client.Grant.Get(ctx, grantID)
		if err != nil || !due(fresh, s.now()) {
			return err
		}
		if err := fresh.Update().SetRevokedAt(now).SetRevokeReason("expired").Exec(ctx); err != nil {
			return err
		}
		if item == nil {
			return nil
		}
		if item.Status == enum.ItemStatusFulfilled {
			if err := t.client.RequestItem.UpdateOne(item).SetStatus(enum.ItemStatusExpired).Exec(ctx); err != nil {
				return err
			}
		}
		events := []audit.Event{{Action: audit.AccessExpired, RequestID: requestID, ItemID: &item.ID,
			Data: map[string]any{"grant": string(g.ID), "entitlement": string(g.EntitlementID)}}}
		if app.Fulfillment == enum.FulfillmentManual {
			// People remove the access: a de-provisioning item waits for them
			// in manualFulfillments.
			deprov, err := t.client.RequestItem.Create().
				SetRequestID(item.RequestID).SetAction(enum.RequestActionRevoke).SetStatus(enum.ItemStatusApproved).
				SetEntitlementID(g.EntitlementID).SetApplicationID(app.ID).SetIdentityID(g.IdentityID).
				SetDecidedAt(now).
				Save(ctx)
			if err != nil {
				return err
			}
			events = append(events, audit.Event{Action: audit.ItemAdded, RequestID: requestID, ItemID: &deprov.ID,
				Data: map[string]any{"action": string(enum.RequestActionRevoke), "entitlement": string(g.EntitlementID), "reason": "expiry on a MANUAL application"}})
		}
		if err := s.record(ctx, t, *requestID, systemActor, events...); err != nil {
			return err
		}
		return s.settle(ctx, t, *requestID, systemActor)
	})
}

// due reports whether a grant should end now.
func due(g *ent.Grant, now time.Time) bool {
	return g.RevokedAt == nil && g.EndsAt != nil && !now.Before(*g.EndsAt)
}

// RetryFulfillment sends a FAILED item back to fulfilment. IT admins only.
// Errors: FORBIDDEN, NOT_FOUND, CONFLICT (the item is not FAILED).
func (s *Service) RetryFulfillment(ctx context.Context, itemID pulid.ID) (*ent.RequestItem, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	item, err := s.client.RequestItem.Get(ctx, itemID)
	if err != nil {
		return nil, err
	}
	if !v.IsAdmin() {
		return nil, errcode.New(errcode.Forbidden, "only IT admins retry fulfilment")
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
			return err
		}
		n, err := t.client.RequestItem.Update().
			Where(requestitem.ID(itemID), requestitem.StatusEQ(enum.ItemStatusFailed)).
			SetStatus(enum.ItemStatusApproved).SetFulfillmentAttempts(0).
			Save(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return errcode.New(errcode.Conflict, "item %s is not FAILED", itemID)
		}
		app, err := t.client.Application.Get(ctx, item.ApplicationID)
		if err != nil {
			return err
		}
		if app.Fulfillment != enum.FulfillmentManual {
			if err := s.enqueueFulfillment(ctx, t, itemID); err != nil {
				return err
			}
		}
		ev := audit.Event{Action: audit.FulfillmentRetried, RequestID: &item.RequestID, ItemID: &item.ID}
		if err := s.record(ctx, t, item.RequestID, v.Actor(), ev); err != nil {
			return err
		}
		return s.settle(ctx, t, item.RequestID, v.Actor())
	})
	if err != nil {
		return nil, err
	}
	return s.client.RequestItem.Get(ctx, itemID)
}

// lockKey serialises work on one key within the transaction (PostgreSQL
// advisory lock; SQLite transactions are already serial).
func (s *Service) lockKey(ctx context.Context, t *txn, key string) error {
	if s.dialect != dialect.Postgres {
		return nil
	}
	if _, err := t.sql.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", key); err != nil {
		return fmt.Errorf("lock %q: %w", key, err)
	}
	return nil
}

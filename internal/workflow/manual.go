package workflow

import (
	"context"
	"fmt"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/identity"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// ManualQueue returns the query of the items waiting for people
// (authz.AwaitsPeople) that the viewer may close — as an owner of the
// application (authz.AwaitsOwner, which also lets them see the request) or
// an IT admin, and never on a request they made, submitted or benefit from,
// nor one of which the minter of their API token is a party. Errors:
// UNAUTHENTICATED.
func (s *Service) ManualQueue(ctx context.Context) (*ent.RequestItemQuery, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	waiting := authz.AwaitsPeople()
	if !v.IsAdmin() {
		waiting = authz.AwaitsOwner(v.UserID)
	}
	return s.client.RequestItem.Query().Where(
		waiting,
		requestitem.HasRequestWith(notParty(v.UserID, v.MintedBy)...),
	), nil
}

// notParty returns predicates matching the requests of which none of ids
// is the requester, the beneficiary or the submitter; empty ids are left out.
func notParty(ids ...pulid.ID) []predicate.AccessRequest {
	var out []predicate.AccessRequest
	for _, id := range ids {
		if id == "" {
			continue
		}
		out = append(out, accessrequest.RequesterIDNEQ(id), accessrequest.BeneficiaryIDNEQ(id),
			accessrequest.Or(accessrequest.SubmittedByIDIsNil(), accessrequest.SubmittedByIDNEQ(id)))
	}
	return out
}

// CompleteManualFulfillment closes an item that waits for people
// (authz.AwaitsPeople): an approved item of a MANUAL application — a grant,
// or a de-provisioning whose grant ends only now — or a FAILED item of a
// connector application that the owners carried out by hand. Success
// records the account (with externalID when given) and the access or its
// end; failure marks a MANUAL item FAILED with the note (a FAILED
// connector item stays so: CONFLICT). Owners of the application and IT
// admins may do it, never the requester or the beneficiary. It is not a
// review action. A success that would make a blocking separation-of-duties
// conflict (sodBeforeFulfillment) marks the item FAILED with a
// SOD_CONFLICT last error instead, and returns it. Errors: NOT_FOUND,
// FORBIDDEN, CONFLICT (not waiting for people).
func (s *Service) CompleteManualFulfillment(ctx context.Context, itemID pulid.ID, success bool, note, externalID string) (*ent.RequestItem, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	item, err := s.client.RequestItem.Query().Where(requestitem.ID(itemID)).
		WithRequest().WithApplication(func(q *ent.ApplicationQuery) { q.WithOwners() }).
		Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("complete manual fulfilment of %s: load item: %w", itemID, err)
	}
	app, req := item.Edges.Application, item.Edges.Request
	owner := false
	for _, o := range app.Edges.Owners {
		owner = owner || o.ID == v.UserID
	}
	switch {
	case parties(req).Includes(v.UserID) || parties(req).Includes(v.MintedBy):
		return nil, errcode.New(errcode.Forbidden, "the requester and the beneficiary cannot fulfil their own request, with their own credentials or with a token they minted")
	case !owner && !v.IsAdmin():
		return nil, errcode.New(errcode.Forbidden, "only the application's owners and IT admins fulfil it")
	case app.Fulfillment != enum.FulfillmentManual && !success:
		return nil, errcode.New(errcode.Conflict, "%s is fulfilled by its connector: a failed item stays FAILED until it is completed by hand or retried", app.Name)
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockRequests(ctx, t, item.RequestID); err != nil {
			return fmt.Errorf("lock request: %w", err)
		}
		fresh, err := t.client.RequestItem.Get(ctx, itemID)
		if err != nil {
			return fmt.Errorf("read item: %w", err)
		}
		if !authz.AwaitsPeopleNow(fresh.Status, app.Fulfillment) {
			return errcode.New(errcode.Conflict, "item %s is %s, not waiting for people", itemID, fresh.Status)
		}
		if success && fresh.Action == enum.RequestActionGrant {
			// The conflict may have been made since submission: a block
			// marks the item FAILED instead (sodBeforeFulfillment).
			beneficiary, err := t.client.User.Get(ctx, req.BeneficiaryID)
			if err != nil {
				return fmt.Errorf("load beneficiary: %w", err)
			}
			if blocked, err := s.sodBeforeFulfillment(ctx, t, fresh, beneficiary); err != nil || blocked {
				return err
			}
		}
		if err := t.client.RequestItem.UpdateOne(fresh).SetFulfillmentNote(note).Exec(ctx); err != nil {
			return fmt.Errorf("record note: %w", err)
		}
		events := []audit.Event{{Action: audit.ManualFulfillmentCompleted, RequestID: &item.RequestID, ItemID: &item.ID,
			Data: map[string]any{"success": success, "note": note, "externalId": externalID}}}
		if success {
			hasAccount, err := t.client.Identity.Query().
				Where(identity.UserID(req.BeneficiaryID), identity.ApplicationID(app.ID)).Exist(ctx)
			if err != nil {
				return fmt.Errorf("find account: %w", err)
			}
			more, err := s.recordAccess(ctx, t, fresh, app, connectors.Account{ExternalID: externalID}, !hasAccount)
			if err != nil {
				return fmt.Errorf("record access: %w", err)
			}
			events = append(events, more...)
		} else {
			err := t.client.RequestItem.UpdateOne(fresh).SetStatus(enum.ItemStatusFailed).SetLastError(note).Exec(ctx)
			if err != nil {
				return fmt.Errorf("mark item FAILED: %w", err)
			}
			events = append(events, audit.Event{Action: audit.FulfillmentFailed, RequestID: &item.RequestID, ItemID: &item.ID,
				Data: map[string]any{"error": note}})
		}
		if err := s.record(ctx, t, item.RequestID, v.Actor(), events...); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("complete manual fulfilment of %s: %w", itemID, err)
	}
	// The committed item, with the account just recorded: the owner may no
	// longer see a request whose item they closed, nor the beneficiary's
	// account, which they recorded themselves.
	if item, err = s.client.RequestItem.Query().Where(requestitem.ID(itemID)).WithIdentity().Only(authz.SystemContext(ctx)); err != nil {
		return nil, fmt.Errorf("complete manual fulfilment of %s: reload item: %w", itemID, err)
	}
	return item, nil
}

// AuditTrail returns a request's audit events in order, for whoever may see
// the request. Errors: NOT_FOUND.
func (s *Service) AuditTrail(ctx context.Context, requestID pulid.ID) ([]*ent.AuditEvent, error) {
	if _, err := s.client.AccessRequest.Get(ctx, requestID); err != nil {
		return nil, fmt.Errorf("audit trail of %s: load request: %w", requestID, err)
	}
	events, err := s.audit.Trail(ctx, s.client, requestID)
	if err != nil {
		return nil, fmt.Errorf("audit trail of %s: %w", requestID, err)
	}
	return events, nil
}

// VerifyAuditTrail recomputes the hash chain of a request's audit trail and
// compares it with the chain's global checkpoints (audit.CheckChain), so
// that a cut tail is found too. Errors: NOT_FOUND.
func (s *Service) VerifyAuditTrail(ctx context.Context, requestID pulid.ID) (audit.Verification, error) {
	events, err := s.AuditTrail(ctx, requestID)
	if err != nil {
		return audit.Verification{}, fmt.Errorf("verify: %w", err)
	}
	// The viewer may see the request: its checkpoints are read for them.
	cps, err := s.client.AuditCheckpoint.Query().
		Where(auditcheckpoint.Chain(string(requestID))).
		All(authz.SystemContext(ctx))
	if err != nil {
		return audit.Verification{}, fmt.Errorf("verify audit trail of %s: load checkpoints: %w", requestID, err)
	}
	return audit.CheckChain(string(requestID), events, cps), nil
}

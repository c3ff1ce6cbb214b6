package workflow

// Break-glass (issue 15, item 5): an emergency request is provisioned at
// once, for a time capped by its request policy, and reviewed after the
// fact. The review is the item's own review policy followed by a
// RISK_MANAGER stage (rules.BreakGlassReview); it does not gate
// provisioning. Its approval keeps the access until its end
// (BREAK_GLASS_CONFIRMED); its denial revokes the access at once through
// the usual revocation path — a system REVOKE request whose item the
// connector's fulfilment job carries out (BREAK_GLASS_REVOKED).

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/grant"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// breakGlassJustification is the justification of the request that
// revokes emergency access its after-the-fact review denied.
const breakGlassJustification = "emergency access denied after the fact"

// checkEmergencyShape checks the shape of an emergency request before
// anything is read: GRANT with mode ENTITLEMENTS, no REVOKE items, for the
// requester themself, not an extension; and no emergencyReason on a
// request that is not one. Errors: INVALID_INPUT naming the field.
func checkEmergencyShape(in SubmitInput, mode enum.RequestMode, requesterID pulid.ID) error {
	if !in.Emergency {
		if in.EmergencyReason != nil {
			return errcode.Invalid("emergencyReason", "only an emergency request (emergency: true) takes a reason")
		}
		return nil
	}
	switch {
	case in.Action != enum.RequestActionGrant:
		return errcode.Invalid("emergency", "an emergency request grants access: action must be GRANT")
	case mode != enum.RequestModeEntitlements:
		return errcode.Invalid("emergency", "an emergency request names its entitlements: mode must be ENTITLEMENTS")
	case len(in.RevokeEntitlementIDs) > 0:
		return errcode.Invalid("emergency", "an emergency request only grants: leave out revokeEntitlementIds")
	case in.BeneficiaryID != nil && *in.BeneficiaryID != requesterID:
		return errcode.Invalid("emergency", "break-glass is for the requester's own access: the beneficiary must be the requester")
	case in.ExtendsGrantID != nil:
		return errcode.Invalid("emergency", "an extension is not an emergency request")
	}
	return nil
}

// checkBreakGlassHeld refuses an emergency request for an entitlement the
// beneficiary already holds, even for a time: the after-the-fact denial
// revokes what the request gave, which must not be access held before.
// Error: ALREADY_HELD.
func checkBreakGlassHeld(p *Plan, held map[pulid.ID]*ent.Grant) error {
	for _, it := range p.Items {
		if held[it.Entitlement.ID] != nil {
			return errcode.New(errcode.AlreadyHeld, "%s already holds %q of %s: break-glass gives access not held", p.Beneficiary.Email, it.Entitlement.Name, it.Application.Name)
		}
	}
	return nil
}

// planBreakGlass applies the break-glass rules to an item of an emergency
// request under its effective request policy pol (rules.CheckBreakGlass)
// and records the time it is provisioned for on the item; f, the facts the
// request policy then checks, gets that time, and the reason as the
// justification when the request gives none. The application's maximum
// applies too (rules.CheckTime).
func planBreakGlass(it *PlannedItem, pol rules.RequestPolicy, f *rules.RequestFacts, in SubmitInput, now time.Time) error {
	bt, err := rules.CheckBreakGlass(pol, rules.BreakGlassFacts{
		Item: f.Item, Action: it.Action, Reason: in.EmergencyReason, EndsAt: in.EndsAt, Duration: in.Duration,
	}, now)
	if err != nil {
		return err
	}
	if err := rules.CheckTime(it.Action, bt.EndsAt, bt.Duration, it.Application.MaxAccessDuration, now); err != nil {
		return err
	}
	it.BreakGlass = &bt
	f.EndsAt, f.Duration = bt.EndsAt, bt.Duration
	if f.Justification == nil || strings.TrimSpace(*f.Justification) == "" {
		f.Justification = in.EmergencyReason
	}
	return nil
}

// breakGlassInvoked is the BREAK_GLASS_INVOKED event of an emergency item
// (which tells every risk manager).
func breakGlassInvoked(requestID, itemID pulid.ID, pi PlannedItem, in SubmitInput) audit.Event {
	data := map[string]any{
		"reason": strings.TrimSpace(*in.EmergencyReason), "entitlement": string(pi.Entitlement.ID),
		"application": string(pi.Application.ID), "capped": pi.BreakGlass.Capped,
	}
	if pi.BreakGlass.EndsAt != nil {
		data["endsAt"] = pi.BreakGlass.EndsAt.UTC().Format(time.RFC3339)
	}
	if pi.BreakGlass.Duration != nil {
		data["duration"] = *pi.BreakGlass.Duration
	}
	switch {
	case in.Duration != nil:
		data["requested"] = *in.Duration
	case in.EndsAt != nil:
		data["requested"] = in.EndsAt.UTC().Format(time.RFC3339)
	default:
		data["requested"] = nil
	}
	return audit.Event{Action: audit.BreakGlassInvoked, RequestID: &requestID, ItemID: &itemID, Data: data}
}

// confirmBreakGlass records the approval of an emergency item's
// after-the-fact review: the access stays until its end.
func (s *Service) confirmBreakGlass(ctx context.Context, t *txn, item *reviewItem) ([]audit.Event, error) {
	err := t.client.RequestItem.Update().Where(requestitem.ID(item.id)).
		SetEmergencyReview(enum.EmergencyReviewConfirmed).Exec(declared(ctx, item.requestID))
	if err != nil {
		return nil, fmt.Errorf("confirm emergency item: %w", err)
	}
	return []audit.Event{{Action: audit.BreakGlassConfirmed, RequestID: &item.requestID, ItemID: &item.id,
		Data: map[string]any{"status": string(t.known.items[item.requestID][item.id])}}}, nil
}

// denyBreakGlass carries out the denial of an emergency item's
// after-the-fact review, by the item's status: access not provisioned yet
// (APPROVED, FAILED) is never provisioned — the item becomes DENIED and its
// fulfilment job leaves it; provisioned access (FULFILLED) is revoked
// through a system REVOKE request (reason BREAK_GLASS_DENIED) that the
// connector's fulfilment job carries out, or on a MANUAL application the
// owners confirm; an item still FULFILLING is revoked when its fulfilment
// records the grant (revokeDeniedBreakGlass); access already ended
// (EXPIRED) needs nothing. It returns the audit events of the item's
// request.
func (s *Service) denyBreakGlass(ctx context.Context, t *txn, item *reviewItem) ([]audit.Event, error) {
	wctx := declared(ctx, item.requestID)
	status := t.known.items[item.requestID][item.id]
	upd := t.client.RequestItem.Update().Where(requestitem.ID(item.id)).SetEmergencyReview(enum.EmergencyReviewRevoked)
	denied := status == enum.ItemStatusApproved || status == enum.ItemStatusFailed
	if denied {
		upd.SetStatus(enum.ItemStatusDenied).SetDecidedAt(s.now())
	}
	if err := upd.Exec(wctx); err != nil {
		return nil, fmt.Errorf("mark emergency item REVOKED: %w", err)
	}
	data := map[string]any{"status": string(status)}
	events := []audit.Event{{Action: audit.BreakGlassRevoked, RequestID: &item.requestID, ItemID: &item.id, Data: data}}
	if denied {
		t.known.setItem(item.requestID, item.id, enum.ItemStatusDenied)
		return append(events, audit.Event{Action: audit.ItemDenied, RequestID: &item.requestID, ItemID: &item.id}), nil
	}
	if status != enum.ItemStatusFulfilled {
		return events, nil
	}
	revocation, err := s.revokeBreakGlassGrant(ctx, t, item.id)
	if err != nil {
		return nil, err
	}
	if revocation != "" {
		data["revocationRequest"] = string(revocation)
	}
	return events, nil
}

// revokeBreakGlassGrant opens the revocation of the unrevoked grant the
// emergency item itemID gave (openRevocation, reason BREAK_GLASS_DENIED)
// and returns the revocation request's ID, empty when no grant is left
// or a revocation already takes it away (a leaver's, say).
func (s *Service) revokeBreakGlassGrant(ctx context.Context, t *txn, itemID pulid.ID) (pulid.ID, error) {
	grants, err := t.client.Grant.Query().
		Where(grant.SourceItemID(itemID), grant.RevokedAtIsNil()).
		WithIdentity(func(q *ent.IdentityQuery) { q.WithApplication() }).
		All(ctx)
	if err != nil {
		return "", fmt.Errorf("load the emergency grant: %w", err)
	}
	if len(grants) == 0 {
		return "", nil
	}
	id, err := s.openRevocation(ctx, t, grants[0].Edges.Identity.UserID, grants, enum.ItemReasonBreakGlassDenied, breakGlassJustification, t.actor)
	if err != nil {
		return "", fmt.Errorf("revoke emergency access: %w", err)
	}
	return id, nil
}

// revokeDeniedBreakGlass revokes, once the fulfilment of an emergency item
// recorded its grant, access whose after-the-fact review was denied while
// the item was FULFILLING. It returns the events of the item's request.
func (s *Service) revokeDeniedBreakGlass(ctx context.Context, t *txn, item *ent.RequestItem) ([]audit.Event, error) {
	if item.Action != enum.RequestActionGrant || item.EmergencyReview == nil || *item.EmergencyReview != enum.EmergencyReviewRevoked {
		return nil, nil
	}
	revocation, err := s.revokeBreakGlassGrant(ctx, t, item.ID)
	if err != nil || revocation == "" {
		return nil, err
	}
	return []audit.Event{{Action: audit.BreakGlassRevoked, RequestID: &item.RequestID, ItemID: &item.ID,
		Data: map[string]any{"status": string(enum.ItemStatusFulfilled), "revocationRequest": string(revocation)}}}, nil
}

// emergencyReason is the reason an emergency request records, trimmed;
// nil for other requests.
func emergencyReason(in SubmitInput) *string {
	if !in.Emergency || in.EmergencyReason == nil {
		return nil
	}
	r := strings.TrimSpace(*in.EmergencyReason)
	return &r
}

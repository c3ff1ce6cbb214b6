package workflow

import (
	"context"
	"fmt"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestpolicy"
	"gatehouse/ent/reviewpolicy"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// RequestPolicy returns the request policy in force for the entitlement
// entID, else the application appID, else (both nil) the global default,
// each value with where it comes from (rules.EffectiveRequestPolicy). Any
// authenticated viewer may call it: it says what a request must give.
// Errors: UNAUTHENTICATED, NOT_FOUND (applicationId, entitlementId),
// INVALID_INPUT (entitlementId of another application than applicationId).
func (s *Service) RequestPolicy(ctx context.Context, appID, entID *pulid.ID) (*rules.RequestPolicy, error) {
	if _, err := authz.Require(ctx, authz.Need{}); err != nil {
		return nil, err
	}
	sys := authz.SystemContext(ctx)
	scope, err := s.requestPolicyScope(sys, s.client, appID, entID)
	if err != nil {
		return nil, err
	}
	policies, err := loadRequestPolicies(sys, s.client, scope.appIDs(), scope.entIDs())
	if err != nil {
		return nil, fmt.Errorf("request policy: %w", err)
	}
	p := policies.of(scope.app, scope.ent)
	return &p, nil
}

// SetRequestPolicy replaces the request policy of the entitlement entID,
// else of the application appID, else (both nil) the global one with in; a
// nil value inherits. IT admins only, with a WRITE token. The change is
// audited on the system chain (CATALOG_CHANGED, entity RequestPolicy). It
// returns the effective policy. Errors: UNAUTHENTICATED, FORBIDDEN,
// NOT_FOUND (applicationId, entitlementId, reviewPolicyId), INVALID_INPUT naming the field
// (rules.CheckRequestSettings; entitlementId of another application).
func (s *Service) SetRequestPolicy(ctx context.Context, appID, entID *pulid.ID, in rules.RequestSettings) (*rules.RequestPolicy, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "set request policies"}); err != nil {
		return nil, err
	}
	if err := rules.CheckRequestSettings(in); err != nil {
		return nil, err
	}
	return s.changeRequestPolicy(ctx, appID, entID, func(ctx context.Context, client *ent.Client, sc policyScope, row *ent.RequestPolicy) error {
		if in.ReviewPolicyID != nil {
			if err := checkIDs("reviewPolicyId", "review policy", []pulid.ID{*in.ReviewPolicyID}, func(ids []pulid.ID) (int, error) {
				return client.ReviewPolicy.Query().Where(reviewpolicy.IDIn(ids...)).Count(ctx)
			}); err != nil {
				return err
			}
		}
		if row == nil {
			return client.RequestPolicy.Create().SetNillableApplicationID(sc.rowApp()).SetNillableEntitlementID(sc.ent).
				SetNillableJustificationRequired(in.JustificationRequired).SetNillableJustificationMinLength(in.JustificationMinLength).
				SetNillableRequestForOthers(in.RequestForOthers).SetNillableMaxDuration(in.MaxDuration).
				SetNillableDefaultDuration(in.DefaultDuration).SetNillablePermanentAllowed(in.PermanentAllowed).
				SetNillableBreakGlassAllowed(in.BreakGlassAllowed).SetNillableBreakGlassMaxDuration(in.BreakGlassMaxDuration).
				SetNillableReviewPolicyID(in.ReviewPolicyID).
				Exec(ctx)
		}
		upd := row.Update().
			SetNillableJustificationRequired(in.JustificationRequired).SetNillableJustificationMinLength(in.JustificationMinLength).
			SetNillableRequestForOthers(in.RequestForOthers).SetNillableMaxDuration(in.MaxDuration).
			SetNillableDefaultDuration(in.DefaultDuration).SetNillablePermanentAllowed(in.PermanentAllowed).
			SetNillableBreakGlassAllowed(in.BreakGlassAllowed).SetNillableBreakGlassMaxDuration(in.BreakGlassMaxDuration).
			SetNillableReviewPolicyID(in.ReviewPolicyID)
		for _, c := range []struct {
			unset bool
			clear func() *ent.RequestPolicyUpdateOne
		}{
			{in.JustificationRequired == nil, upd.ClearJustificationRequired},
			{in.JustificationMinLength == nil, upd.ClearJustificationMinLength},
			{in.RequestForOthers == nil, upd.ClearRequestForOthers},
			{in.MaxDuration == nil, upd.ClearMaxDuration},
			{in.DefaultDuration == nil, upd.ClearDefaultDuration},
			{in.PermanentAllowed == nil, upd.ClearPermanentAllowed},
			{in.BreakGlassAllowed == nil, upd.ClearBreakGlassAllowed},
			{in.BreakGlassMaxDuration == nil, upd.ClearBreakGlassMaxDuration},
			{in.ReviewPolicyID == nil, upd.ClearReviewPolicyID},
		} {
			if c.unset {
				c.clear()
			}
		}
		return upd.Exec(ctx)
	})
}

// ClearRequestPolicy removes the request policy of the entitlement entID,
// else of the application appID, else (both nil) the global one, so that
// every value inherits; clearing a policy that does not exist changes
// nothing. IT admins only, with a WRITE token; audited like
// SetRequestPolicy. It returns the effective policy. Errors:
// UNAUTHENTICATED, FORBIDDEN, NOT_FOUND (applicationId, entitlementId),
// INVALID_INPUT (entitlementId of another application).
func (s *Service) ClearRequestPolicy(ctx context.Context, appID, entID *pulid.ID) (*rules.RequestPolicy, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "clear request policies"}); err != nil {
		return nil, err
	}
	return s.changeRequestPolicy(ctx, appID, entID, func(ctx context.Context, client *ent.Client, _ policyScope, row *ent.RequestPolicy) error {
		if row == nil {
			return nil
		}
		return client.RequestPolicy.DeleteOne(row).Exec(ctx)
	})
}

// changeRequestPolicy runs change on the row of the policy that appID and
// entID name (nil when it has none) in a transaction that holds the
// policy's lock, and returns the effective policy after it.
func (s *Service) changeRequestPolicy(ctx context.Context, appID, entID *pulid.ID, change func(context.Context, *ent.Client, policyScope, *ent.RequestPolicy) error) (*rules.RequestPolicy, error) {
	var out rules.RequestPolicy
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		sc, err := s.requestPolicyScope(ctx, t.client, appID, entID)
		if err != nil {
			return err
		}
		key, where := "request-policy/global", []predicate.RequestPolicy{requestpolicy.ApplicationIDIsNil(), requestpolicy.EntitlementIDIsNil()}
		switch {
		case sc.ent != nil:
			key, where = "request-policy/"+string(*sc.ent), []predicate.RequestPolicy{requestpolicy.EntitlementID(*sc.ent)}
		case sc.app != nil:
			key, where = "request-policy/"+string(*sc.app), []predicate.RequestPolicy{requestpolicy.ApplicationID(*sc.app)}
		}
		if err := s.lockKey(ctx, t, key); err != nil {
			return fmt.Errorf("lock policy: %w", err)
		}
		row, err := t.client.RequestPolicy.Query().Where(where...).First(ctx)
		if ent.IsNotFound(err) {
			row, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("read policy: %w", err)
		}
		if err := change(ctx, t.client, sc, row); err != nil {
			return fmt.Errorf("write policy: %w", err)
		}
		policies, err := loadRequestPolicies(ctx, t.client, sc.appIDs(), sc.entIDs())
		if err != nil {
			return err
		}
		out = policies.of(sc.app, sc.ent)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("change request policy: %w", err)
	}
	return &out, nil
}

// policyScope is what a request policy applies to: an entitlement and its
// application, an application alone, or neither (the global policy).
type policyScope struct {
	app, ent *pulid.ID
}

// rowApp is the application ID of the scope's row: an entitlement's row
// names none (its entitlement has one), so that the row of an application
// stays single.
func (sc policyScope) rowApp() *pulid.ID {
	if sc.ent != nil {
		return nil
	}
	return sc.app
}

func (sc policyScope) appIDs() []pulid.ID {
	if sc.app == nil {
		return nil
	}
	return []pulid.ID{*sc.app}
}

func (sc policyScope) entIDs() []pulid.ID {
	if sc.ent == nil {
		return nil
	}
	return []pulid.ID{*sc.ent}
}

// requestPolicyScope checks the application and entitlement a request
// policy call names: NOT_FOUND naming the field for one that does not
// exist, INVALID_INPUT (entitlementId) for an entitlement of another
// application than appID.
func (s *Service) requestPolicyScope(ctx context.Context, client *ent.Client, appID, entID *pulid.ID) (policyScope, error) {
	if entID == nil {
		return policyScope{app: appID}, s.checkApplication(ctx, client, appID)
	}
	e, err := client.Entitlement.Get(ctx, *entID)
	if ent.IsNotFound(err) {
		return policyScope{}, &errcode.Error{Code: errcode.NotFound, Field: "entitlementId", Message: "entitlementId: no such entitlement"}
	}
	if err != nil {
		return policyScope{}, fmt.Errorf("load entitlement: %w", err)
	}
	if appID != nil && *appID != e.ApplicationID {
		return policyScope{}, errcode.Invalid("entitlementId", "entitlement %q is not of application %s", e.Name, *appID)
	}
	return policyScope{app: &e.ApplicationID, ent: entID}, nil
}

// requestPolicies are stored request policy rows: the global one and those
// of some applications and entitlements.
type requestPolicies struct {
	global     *rules.RequestSettings
	apps, ents map[pulid.ID]*rules.RequestSettings
}

// of is the effective policy of entitlement entID of application appID
// (either nil: see rules.EffectiveRequestPolicy).
func (r requestPolicies) of(appID, entID *pulid.ID) rules.RequestPolicy {
	var app, e *rules.RequestSettings
	if appID != nil {
		app = r.apps[*appID]
	}
	if entID != nil {
		e = r.ents[*entID]
	}
	return rules.EffectiveRequestPolicy(appID, entID, r.global, app, e)
}

// loadRequestPolicies reads, with one query, the global request policy row
// and those of the applications appIDs and the entitlements entIDs, with
// client, which must read them (a system context).
func loadRequestPolicies(ctx context.Context, client *ent.Client, appIDs, entIDs []pulid.ID) (requestPolicies, error) {
	or := []predicate.RequestPolicy{requestpolicy.And(requestpolicy.ApplicationIDIsNil(), requestpolicy.EntitlementIDIsNil())}
	if len(appIDs) > 0 {
		or = append(or, requestpolicy.ApplicationIDIn(appIDs...))
	}
	if len(entIDs) > 0 {
		or = append(or, requestpolicy.EntitlementIDIn(entIDs...))
	}
	rows, err := client.RequestPolicy.Query().Where(requestpolicy.Or(or...)).All(ctx)
	if err != nil {
		return requestPolicies{}, fmt.Errorf("load request policies: %w", err)
	}
	r := requestPolicies{apps: map[pulid.ID]*rules.RequestSettings{}, ents: map[pulid.ID]*rules.RequestSettings{}}
	for _, row := range rows {
		s := &rules.RequestSettings{
			JustificationRequired: row.JustificationRequired, JustificationMinLength: row.JustificationMinLength,
			RequestForOthers: row.RequestForOthers, MaxDuration: row.MaxDuration,
			DefaultDuration: row.DefaultDuration, PermanentAllowed: row.PermanentAllowed,
			BreakGlassAllowed: row.BreakGlassAllowed, BreakGlassMaxDuration: row.BreakGlassMaxDuration,
			ReviewPolicyID: row.ReviewPolicyID,
		}
		switch {
		case row.EntitlementID != nil:
			r.ents[*row.EntitlementID] = s
		case row.ApplicationID != nil:
			r.apps[*row.ApplicationID] = s
		default:
			r.global = s
		}
	}
	return r, nil
}

// checkRequestPolicies applies the request policy of each item of p to the
// submission in (rules.CheckRequest), loading the policies with one query,
// and records on each GRANT item given no end the default duration its
// policy applies; that item's time is then checked against the
// application's maximum (rules.CheckTime), which refuses a permanent GRANT
// of an application with one.
func checkRequestPolicies(ctx context.Context, client *ent.Client, v *authz.Viewer, p *Plan, in SubmitInput, now time.Time) error {
	var appIDs, entIDs []pulid.ID
	for _, it := range p.Items {
		appIDs, entIDs = append(appIDs, it.Application.ID), append(entIDs, it.Entitlement.ID)
	}
	policies, err := loadRequestPolicies(ctx, client, distinct(appIDs), entIDs)
	if err != nil {
		return err
	}
	b := p.Beneficiary
	for i := range p.Items {
		it := &p.Items[i]
		f := rules.RequestFacts{
			Item:   fmt.Sprintf("%q of %s", it.Entitlement.Name, it.Application.Name),
			Action: it.Action, Privileged: it.Entitlement.Privileged,
			ForOthers: b.ID != p.RequesterID, RequesterIsAdmin: v.IsAdmin(),
			RequesterIsManager: b.ManagerID != nil && *b.ManagerID == p.RequesterID,
			Justification:      in.Justification, EndsAt: in.EndsAt, Duration: in.Duration,
		}
		policy := policies.of(&it.Application.ID, &it.Entitlement.ID)
		if in.Emergency {
			if err := planBreakGlass(it, policy, &f, in, now); err != nil {
				return err
			}
		}
		if it.DefaultDuration, err = rules.CheckRequest(policy, f, now); err != nil {
			return err
		}
		it.RequestReviewID = policy.ReviewPolicy.Value
		// A GRANT that names no end: permanent, or the default duration,
		// within the application's maximum.
		if it.Action == enum.RequestActionGrant && f.EndsAt == nil && f.Duration == nil {
			if err := rules.CheckTime(it.Action, nil, it.DefaultDuration, it.Application.MaxAccessDuration, now); err != nil {
				return err
			}
		}
	}
	return nil
}

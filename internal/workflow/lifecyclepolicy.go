package workflow

import (
	"context"
	"fmt"

	"gatehouse/ent"
	"gatehouse/ent/lifecyclepolicy"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// LifecyclePolicy returns the lifecycle policy in force for the application
// appID, or the global default when appID is nil, each value with where it
// comes from (rules.EffectiveLifecycle). IT admins and risk managers may
// call it. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND (applicationId).
func (s *Service) LifecyclePolicy(ctx context.Context, appID *pulid.ID) (*rules.Lifecycle, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Auditor, To: "read lifecycle policies"}); err != nil {
		return nil, err
	}
	sys := authz.SystemContext(ctx)
	if err := s.checkApplication(sys, s.client, appID); err != nil {
		return nil, err
	}
	policies, err := loadLifecycles(sys, s.client)
	if err != nil {
		return nil, fmt.Errorf("lifecycle policy: %w", err)
	}
	l := policies.of(appID)
	return &l, nil
}

// SetLifecyclePolicy replaces the global lifecycle policy (appID nil) or an
// application's with in; a nil value inherits. IT admins only, with a WRITE
// token. The change is audited on the system chain (CATALOG_CHANGED, entity
// LifecyclePolicy). It returns the effective policy. Errors:
// UNAUTHENTICATED, FORBIDDEN, NOT_FOUND (applicationId), INVALID_INPUT
// naming the field (rules.CheckLifecycle).
func (s *Service) SetLifecyclePolicy(ctx context.Context, appID *pulid.ID, in rules.LifecycleSettings) (*rules.Lifecycle, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "set lifecycle policies"}); err != nil {
		return nil, err
	}
	if err := rules.CheckLifecycle(in); err != nil {
		return nil, err
	}
	var out rules.Lifecycle
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.checkApplication(ctx, t.client, appID); err != nil {
			return err
		}
		key := "lifecycle/global"
		where := lifecyclepolicy.ApplicationIDIsNil()
		if appID != nil {
			key, where = "lifecycle/"+string(*appID), lifecyclepolicy.ApplicationID(*appID)
		}
		if err := s.lockKey(ctx, t, key); err != nil {
			return fmt.Errorf("lock policy: %w", err)
		}
		row, err := t.client.LifecyclePolicy.Query().Where(where).First(ctx)
		switch {
		case ent.IsNotFound(err):
			err = t.client.LifecyclePolicy.Create().SetNillableApplicationID(appID).
				SetNillableRemindEveryHours(in.RemindEveryHours).SetNillableMaxReminders(in.MaxReminders).
				SetNillableEscalateAfterHours(in.EscalateAfterHours).SetNillableExpirePendingDays(in.ExpirePendingDays).
				SetNillableWarnBeforeEndDays(in.WarnBeforeEndDays).SetNillableExtensionReview(in.ExtensionReview).
				Exec(ctx)
		case err != nil:
			return fmt.Errorf("read policy: %w", err)
		default:
			upd := row.Update().
				SetNillableRemindEveryHours(in.RemindEveryHours).SetNillableMaxReminders(in.MaxReminders).
				SetNillableEscalateAfterHours(in.EscalateAfterHours).SetNillableExpirePendingDays(in.ExpirePendingDays).
				SetNillableWarnBeforeEndDays(in.WarnBeforeEndDays).SetNillableExtensionReview(in.ExtensionReview)
			if in.RemindEveryHours == nil {
				upd.ClearRemindEveryHours()
			}
			if in.MaxReminders == nil {
				upd.ClearMaxReminders()
			}
			if in.EscalateAfterHours == nil {
				upd.ClearEscalateAfterHours()
			}
			if in.ExpirePendingDays == nil {
				upd.ClearExpirePendingDays()
			}
			if in.WarnBeforeEndDays == nil {
				upd.ClearWarnBeforeEndDays()
			}
			if in.ExtensionReview == nil {
				upd.ClearExtensionReview()
			}
			err = upd.Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("write policy: %w", err)
		}
		policies, err := loadLifecycles(ctx, t.client)
		if err != nil {
			return err
		}
		out = policies.of(appID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set lifecycle policy: %w", err)
	}
	return &out, nil
}

// checkApplication returns NOT_FOUND naming applicationId when appID names
// no application; nil appID is the global policy.
func (s *Service) checkApplication(ctx context.Context, client *ent.Client, appID *pulid.ID) error {
	if appID == nil {
		return nil
	}
	if _, err := client.Application.Get(ctx, *appID); ent.IsNotFound(err) {
		return &errcode.Error{Code: errcode.NotFound, Field: "applicationId", Message: "applicationId: no such application"}
	} else if err != nil {
		return fmt.Errorf("load application: %w", err)
	}
	return nil
}

// lifecycles are the stored lifecycle policies: the global row and the
// applications' rows.
type lifecycles struct {
	global *rules.LifecycleSettings
	apps   map[pulid.ID]*rules.LifecycleSettings
}

// of is the effective policy of an application (nil: the global default).
func (l lifecycles) of(appID *pulid.ID) rules.Lifecycle {
	if appID == nil {
		return rules.EffectiveLifecycle(nil, l.global, nil)
	}
	return rules.EffectiveLifecycle(appID, l.global, l.apps[*appID])
}

// loadLifecycles reads every lifecycle policy row (one per application that
// has its own, and the global one) with client, which must read them (a
// system context).
func loadLifecycles(ctx context.Context, client *ent.Client) (lifecycles, error) {
	rows, err := client.LifecyclePolicy.Query().All(ctx)
	if err != nil {
		return lifecycles{}, fmt.Errorf("load lifecycle policies: %w", err)
	}
	l := lifecycles{apps: map[pulid.ID]*rules.LifecycleSettings{}}
	for _, r := range rows {
		s := &rules.LifecycleSettings{
			RemindEveryHours: r.RemindEveryHours, MaxReminders: r.MaxReminders,
			EscalateAfterHours: r.EscalateAfterHours, ExpirePendingDays: r.ExpirePendingDays,
			WarnBeforeEndDays: r.WarnBeforeEndDays, ExtensionReview: r.ExtensionReview,
		}
		if r.ApplicationID == nil {
			l.global = s
		} else {
			l.apps[*r.ApplicationID] = s
		}
	}
	return l, nil
}

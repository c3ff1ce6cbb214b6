package authz

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/privacy"
	"gatehouse/ent/sodacceptance"
)

// SodConflictSetPolicy lets every authenticated viewer read the
// separation-of-duties conflict sets (a requester learns why a request is
// refused); only the workflow writes them (IT admins and risk managers
// through createSodConflictSet and its siblings).
func SodConflictSetPolicy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireViewer(), privacy.AlwaysAllowRule()},
		Mutation: systemOnlyWrites(),
	}
}

// SodAcceptancePolicy lets risk managers and IT admins read every accepted
// conflict and any other viewer only their own; only the workflow writes
// them (risk managers through acceptSodConflict).
func SodAcceptancePolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.SodAcceptanceQueryRuleFunc(func(_ context.Context, q *ent.SodAcceptanceQuery) error {
				q.Where(sodacceptance.UserID(v.UserID))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

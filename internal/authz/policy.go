package authz

import (
	"context"

	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/entql"

	"gatehouse/ent"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/predicate"
	"gatehouse/ent/privacy"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
)

// ErrNoViewer is the privacy decision for a query or mutation without an
// authenticated viewer.
var ErrNoViewer = privacy.Denyf("authentication required")

// requireViewer denies queries and mutations without a viewer.
func requireViewer() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if FromContext(ctx) == nil {
			return ErrNoViewer
		}
		return privacy.Skip
	})
}

// allowAdminWrite allows mutations by IT admins, unless they hold a
// READ-scope token.
func allowAdminWrite() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
		if (Need{Role: Admin, Write: true}).check(FromContext(ctx)) == nil {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// denyMutation is the last mutation rule: anything not allowed before is
// FORBIDDEN.
func denyMutation() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(context.Context, ent.Mutation) error {
		return privacy.Denyf("not allowed to change this")
	})
}

// CatalogPolicy is the policy of the catalog and the user directory: every
// authenticated viewer reads it, IT admins change it.
func CatalogPolicy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireViewer(), privacy.AlwaysAllowRule()},
		Mutation: privacy.MutationPolicy{allowAdminWrite(), denyMutation()},
	}
}

// systemOnlyWrites is the mutation policy of records that only domain
// services write (in a SystemContext once they have checked the caller).
func systemOnlyWrites() privacy.MutationPolicy {
	return privacy.MutationPolicy{denyMutation()}
}

// filtered builds a query policy that lets risk managers and IT admins read
// every row and narrows every other viewer's query with filter.
func filtered(filter func(v *Viewer) privacy.QueryRule) privacy.QueryPolicy {
	return privacy.QueryPolicy{
		requireViewer(),
		privacy.ContextQueryMutationRule(func(ctx context.Context) error {
			if FromContext(ctx).ReadsAll() {
				return privacy.Allow
			}
			return privacy.Skip
		}),
		privacy.QueryRuleFunc(func(ctx context.Context, q ent.Query) error {
			return filter(FromContext(ctx)).EvalQuery(ctx, q)
		}),
	}
}

// AccessRequestPolicy lets a USER see only the requests of VisibleRequest.
func AccessRequestPolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.AccessRequestQueryRuleFunc(func(_ context.Context, q *ent.AccessRequestQuery) error {
				q.Where(VisibleRequest(v))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// RequestItemPolicy lets a viewer see the items of VisibleItems: every item
// for risk managers and IT admins, those of the requests they see for a
// USER.
func RequestItemPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			requireViewer(),
			privacy.RequestItemQueryRuleFunc(func(ctx context.Context, q *ent.RequestItemQuery) error {
				q.Where(VisibleItems(FromContext(ctx)))
				return privacy.Allow
			}),
		},
		Mutation: systemOnlyWrites(),
	}
}

// ReviewStagePolicy lets a USER see the stages of the requests they see.
func ReviewStagePolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.ReviewStageQueryRuleFunc(func(_ context.Context, q *ent.ReviewStageQuery) error {
				q.Where(reviewstage.HasItemWith(requestitem.HasRequestWith(VisibleRequest(v))))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// ReviewTaskPolicy lets a USER see the tasks of the requests they see.
func ReviewTaskPolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.ReviewTaskQueryRuleFunc(func(_ context.Context, q *ent.ReviewTaskQuery) error {
				q.Where(reviewtask.HasRequestWith(VisibleRequest(v)))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// AuditEventPolicy lets a USER see the trail of the requests they see; the
// system chain is for risk managers and IT admins.
func AuditEventPolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.AuditEventQueryRuleFunc(func(_ context.Context, q *ent.AuditEventQuery) error {
				q.Where(auditevent.HasRequestWith(VisibleRequest(v)))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// AuditCheckpointPolicy lets only risk managers and IT admins read
// checkpoints.
func AuditCheckpointPolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(*Viewer) privacy.QueryRule {
			return privacy.AuditCheckpointQueryRuleFunc(func(_ context.Context, q *ent.AuditCheckpointQuery) error {
				q.Where(func(s *sql.Selector) { s.Where(sql.False()) })
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// readableHoldings is Viewer.ReadsGrantsOf as a row filter, for a viewer
// who does not read everything (filtered lets those through): the accounts
// of the users whose holdings the viewer reads, their own.
func readableHoldings(v *Viewer) predicate.Identity { return identity.UserID(v.UserID) }

// IdentityPolicy lets a USER see their own accounts: the rows of the users
// whose holdings the viewer reads (Viewer.ReadsGrantsOf).
func IdentityPolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.IdentityQueryRuleFunc(func(_ context.Context, q *ent.IdentityQuery) error {
				q.Where(readableHoldings(v))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// GrantPolicy lets a USER see the access they hold: the grants of the users
// whose holdings the viewer reads (Viewer.ReadsGrantsOf).
func GrantPolicy() ent.Policy {
	return privacy.Policy{
		Query: filtered(func(v *Viewer) privacy.QueryRule {
			return privacy.GrantQueryRuleFunc(func(_ context.Context, q *ent.GrantQuery) error {
				q.Where(grant.HasIdentityWith(readableHoldings(v)))
				return privacy.Skip
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

// ApiTokenPolicy lets a viewer see their own tokens and IT admins see all.
// Risk managers read everything else but not other people's tokens.
func ApiTokenPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			requireViewer(),
			privacy.ApiTokenQueryRuleFunc(func(ctx context.Context, q *ent.ApiTokenQuery) error {
				v := FromContext(ctx)
				if v.IsAdmin() {
					return privacy.Allow
				}
				q.Where(apitoken.OwnerID(v.UserID))
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: systemOnlyWrites(),
	}
}

// AdminOnlyPolicy is the policy of the event webhooks' endpoints and
// delivery log: IT admins read and change them; every other viewer reads
// nothing (an ID reads as not found).
func AdminOnlyPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			requireViewer(),
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				if FromContext(ctx).IsAdmin() {
					return privacy.Allow
				}
				f.Where(entql.FieldNil("id")) // no row has a null ID
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: privacy.MutationPolicy{allowAdminWrite(), denyMutation()},
	}
}

// LifecyclePolicyPolicy lets risk managers and IT admins read the lifecycle
// policies; other viewers read none. Only the workflow writes them (IT
// admins through setLifecyclePolicy).
func LifecyclePolicyPolicy() ent.Policy { return auditorsRead("lifecycle policies") }

// RequestPolicyPolicy lets risk managers and IT admins read the rows of the
// request policies; other viewers read none (the workflow shows anyone the
// effective policy). Only the workflow writes them (IT admins through
// setRequestPolicy and clearRequestPolicy).
func RequestPolicyPolicy() ent.Policy { return auditorsRead("request policies") }

// PolicyRulePolicy lets risk managers and IT admins read the policy rules;
// other viewers read none. Only the workflow writes them (IT admins through
// the policy rule mutations).
func PolicyRulePolicy() ent.Policy { return auditorsRead("policy rules") }

// ReviewPolicyPolicy lets every authenticated viewer read the review
// policies, their names and stages: the effective request policy, which
// anyone reads, names one, and so does the preview of anyone's request.
// Only the workflow writes them (IT admins through the review policy
// mutations). This is the one rule of who reads a review policy; the
// reviewPolicies query and the fields that show one read through it.
func ReviewPolicyPolicy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{requireViewer(), privacy.AlwaysAllowRule()},
		Mutation: systemOnlyWrites(),
	}
}

// auditorsRead is the policy of rows that risk managers and IT admins read
// and only the workflow writes.
func auditorsRead(what string) ent.Policy {
	return privacy.Policy{
		Query: filtered(func(*Viewer) privacy.QueryRule {
			return privacy.QueryRuleFunc(func(context.Context, ent.Query) error {
				return privacy.Denyf("%s are read by IT admins and risk managers", what)
			})
		}),
		Mutation: systemOnlyWrites(),
	}
}

package resolvers

import (
	"context"
	"errors"

	"gatehouse/ent"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/reviewpolicy"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/graph"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow"
)

// preview maps a submission plan, or the error submission would give, to
// the GraphQL preview.
func (r *Resolver) preview(ctx context.Context, in workflow.SubmitInput, plan *workflow.Plan, planErr error) (*graph.AccessRequestPreview, error) {
	out := &graph.AccessRequestPreview{Action: in.Action, Mode: in.ModeOrDefault(), Items: []*graph.PreviewItem{},
		Excluded: []*graph.ExcludedEntitlement{}, AccountsToCreate: []*ent.Application{}, Notes: []string{}, Errors: []*graph.PreviewError{}}
	if planErr != nil {
		var ce *errcode.Error
		if !errors.As(planErr, &ce) {
			return nil, planErr
		}
		out.Errors = append(out.Errors, previewError(ce))
		id := authz.FromContext(ctx).UserID
		if in.BeneficiaryID != nil {
			id = *in.BeneficiaryID
		}
		b, err := r.client.User.Get(ctx, id)
		if ent.IsNotFound(err) {
			b, err = r.client.User.Get(ctx, authz.FromContext(ctx).UserID)
		}
		out.Beneficiary = b
		return out, err
	}
	out.Beneficiary = plan.Beneficiary
	out.AutoApproved = plan.AutoApproved()
	out.Notes = append(out.Notes, plan.Notes...)
	var userIDs []pulid.ID
	for _, it := range plan.Items {
		for _, st := range it.Stages {
			for _, a := range st.Assignments {
				userIDs = append(userIDs, a.Reviewer)
			}
			for _, f := range st.Fallbacks {
				userIDs = append(userIDs, f.Reviewer)
			}
		}
	}
	users, err := r.client.User.Query().Where(user.IDIn(userIDs...)).All(ctx)
	if err != nil {
		return nil, err
	}
	policies, err := r.previewReviewPolicies(ctx, plan)
	if err != nil {
		return nil, err
	}
	byID := make(map[pulid.ID]*ent.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	for _, it := range plan.Items {
		pi := &graph.PreviewItem{Action: it.Action, Entitlement: it.Entitlement, Application: it.Application,
			Privileged: it.Entitlement.Privileged, AutoApproved: it.AutoApproved, Stages: []*graph.PreviewStage{},
			DefaultDuration: it.DefaultDuration, PolicyRule: it.Rule.Matched(),
			SodConflicts: sodConflicts(it.SodConflicts)}
		for _, st := range it.Stages {
			ps := &graph.PreviewStage{Level: st.Level, ReviewerKind: st.Kind, Rule: st.Rule, Quorum: st.Quorum,
				FallbackReviewers: []*graph.FallbackReviewer{}}
			if st.Resolution != "" {
				ps.Resolution = &st.Resolution
			}
			for _, f := range st.Fallbacks {
				if u := byID[f.Reviewer]; u != nil {
					ps.FallbackReviewers = append(ps.FallbackReviewers, &graph.FallbackReviewer{User: u, Kind: f.Kind})
				}
			}
			for _, a := range st.Assignments {
				if u := byID[a.Reviewer]; u != nil {
					ps.Reviewers = append(ps.Reviewers, u)
				}
			}
			pi.Stages = append(pi.Stages, ps)
		}
		if it.ReviewPolicy != nil {
			pi.ReviewPolicy = policies[it.ReviewPolicy.ID]
		}
		out.Items = append(out.Items, pi)
	}
	if len(plan.Excluded) > 0 {
		ids := make([]pulid.ID, len(plan.Excluded))
		for i, e := range plan.Excluded {
			ids[i] = e.ID
		}
		ents, err := r.client.Entitlement.Query().Where(entitlement.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, err
		}
		entByID := make(map[pulid.ID]*ent.Entitlement, len(ents))
		for _, e := range ents {
			entByID[e.ID] = e
		}
		for _, e := range plan.Excluded {
			if en := entByID[e.ID]; en != nil {
				out.Excluded = append(out.Excluded, &graph.ExcludedEntitlement{Entitlement: en, Reason: e.Reason})
			}
		}
	}
	for _, id := range plan.AccountsToCreate {
		for _, it := range plan.Items {
			if it.Application.ID == id {
				out.AccountsToCreate = append(out.AccountsToCreate, it.Application)
				break
			}
		}
	}
	if ce := (*errcode.Error)(nil); errors.As(plan.SodError(), &ce) {
		out.Errors = append(out.Errors, previewError(ce))
	}
	return out, nil
}

// previewError is a coded error as the preview lists it.
func previewError(ce *errcode.Error) *graph.PreviewError {
	pe := &graph.PreviewError{Code: string(ce.Code), Message: ce.Message}
	if ce.Field != "" {
		pe.Field = &ce.Field
	}
	return pe
}

// verification maps an audit verification.
func verification(v audit.Verification) *graph.AuditVerification {
	out := &graph.AuditVerification{Valid: v.Valid, Checked: v.Checked}
	if v.FirstBrokenSeq != nil {
		n := int(*v.FirstBrokenSeq)
		out.FirstBrokenSeq = &n
	}
	if v.Reason != "" {
		out.Reason = &v.Reason
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// previewReviewPolicies reads the review policies that review the plan's
// items, when the preview selects them: one statement however many items
// name them, with the privacy of ctx (authz.ReviewPolicyPolicy).
func (r *Resolver) previewReviewPolicies(ctx context.Context, plan *workflow.Plan) (map[pulid.ID]*ent.ReviewPolicy, error) {
	var ids []pulid.ID
	for _, it := range plan.Items {
		if it.ReviewPolicy != nil {
			ids = append(ids, it.ReviewPolicy.ID)
		}
	}
	if len(ids) == 0 || !selects(ctx, []string{"items"}, func(name string) bool { return name == "reviewPolicy" }) {
		return nil, nil
	}
	rows, err := r.client.ReviewPolicy.Query().Where(reviewpolicy.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[pulid.ID]*ent.ReviewPolicy, len(rows))
	for _, rp := range rows {
		out[rp.ID] = rp
	}
	return out, nil
}

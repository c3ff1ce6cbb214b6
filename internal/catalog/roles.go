package catalog

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/reviewstagetemplate"
	"gatehouse/ent/role"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// CreateRole adds a role with its entitlements and owners. IT_ADMIN only.
// Errors: FORBIDDEN, INVALID_INPUT (empty name, a service account as
// owner), CONFLICT (taken name), NOT_FOUND.
func (s *Service) CreateRole(ctx context.Context, in ent.CreateRoleInput) (*ent.Role, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.Role, error) {
		if err := checkRole(ctx, tx, "", &in.Name, "", in.EntitlementIDs, in.OwnerIDs); err != nil {
			return nil, err
		}
		return tx.Role.Create().SetInput(in).Save(ctx)
	})
}

// UpdateRole changes a role. IT_ADMIN only. Errors as CreateRole, plus
// NOT_FOUND for an unknown role.
func (s *Service) UpdateRole(ctx context.Context, id pulid.ID, in ent.UpdateRoleInput) (*ent.Role, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.Role, error) {
		if _, err := tx.Role.Get(ctx, id); err != nil {
			return nil, err
		}
		if err := checkRole(ctx, tx, id, in.Name, "add", in.AddEntitlementIDs, in.AddOwnerIDs); err != nil {
			return nil, err
		}
		return tx.Role.UpdateOneID(id).SetInput(in).Save(ctx)
	})
}

// checkRole checks a role's name and the IDs it adds; prefix is "add" for
// updates, so errors name the input field.
func checkRole(ctx context.Context, tx *ent.Tx, self pulid.ID, name *string, prefix string, ents, owners []pulid.ID) error {
	if name != nil {
		taken, err := tx.Role.Query().Where(role.Name(*name), role.IDNEQ(self)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return errcode.Duplicate("name", "a role named %q already exists", *name)
		}
	}
	if err := existing(ctx, inputField(prefix, "entitlementIDs"), "entitlement", ents, entitlements(tx)); err != nil {
		return err
	}
	return people(ctx, tx, inputField(prefix, "ownerIDs"), "a role owner", owners)
}

// CreateReviewStageTemplate adds a stage to an application's review policy,
// or to the global default policy when applicationID is null. DESIGNATED
// stages name their reviewers, other kinds do not; QUORUM stages give the
// number of approvals (of a DESIGNATED stage, no more than its reviewers),
// other rules do not: the check of every review stage, rules.CheckStage.
// Service accounts are never
// designated reviewers. IT_ADMIN only. Errors: FORBIDDEN, INVALID_INPUT,
// CONFLICT (a level the policy has), NOT_FOUND.
func (s *Service) CreateReviewStageTemplate(ctx context.Context, in ent.CreateReviewStageTemplateInput) (*ent.ReviewStageTemplate, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.ReviewStageTemplate, error) {
		if err := existing(ctx, "applicationID", "application", optional(in.ApplicationID), applications(tx)); err != nil {
			return nil, err
		}
		if err := people(ctx, tx, "designatedReviewerIDs", "a designated reviewer", in.DesignatedReviewerIDs); err != nil {
			return nil, err
		}
		if err := checkStageTemplate(&in); err != nil {
			return nil, err
		}
		q := tx.ReviewStageTemplate.Query().Where(reviewstagetemplate.Level(in.Level))
		if in.ApplicationID != nil {
			q.Where(reviewstagetemplate.ApplicationID(*in.ApplicationID))
		} else {
			q.Where(reviewstagetemplate.ApplicationIDIsNil())
		}
		taken, err := q.Exist(ctx)
		if err != nil {
			return nil, err
		}
		if taken {
			return nil, errcode.Duplicate("level", "the policy already has a stage at level %d", in.Level)
		}
		return tx.ReviewStageTemplate.Create().SetInput(in).Save(ctx)
	})
}

// checkStageTemplate checks a stage template's level and, as every review
// stage, its kind, rule, quorum and designated reviewers
// (rules.CheckStage), and sets in's rule, quorum and reviewers as that
// check returns them. Errors: INVALID_INPUT naming the field.
func checkStageTemplate(in *ent.CreateReviewStageTemplateInput) error {
	if in.Level < 1 {
		return errcode.Invalid("level", "must be 1 or more")
	}
	spec := rules.ReviewStageSpec{Level: in.Level, ReviewerKind: in.ReviewerKind, DesignatedReviewerIDs: in.DesignatedReviewerIDs}
	if in.Rule != nil {
		spec.Rule = *in.Rule
	}
	if in.Quorum != nil {
		spec.Quorum = *in.Quorum
	}
	spec, err := rules.CheckStage(spec)
	if err != nil {
		return err
	}
	in.Rule, in.Quorum, in.DesignatedReviewerIDs = &spec.Rule, &spec.Quorum, spec.DesignatedReviewerIDs
	return nil
}

// DeleteReviewStageTemplate removes a stage template. Requests already
// submitted keep the stages they were given. IT_ADMIN only. Errors:
// FORBIDDEN, NOT_FOUND.
func (s *Service) DeleteReviewStageTemplate(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	return write(ctx, s, func(tx *ent.Tx) (pulid.ID, error) {
		if err := tx.ReviewStageTemplate.DeleteOneID(id).Exec(ctx); err != nil {
			return "", err
		}
		return id, nil
	})
}

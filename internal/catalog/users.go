package catalog

import (
	"context"
	"fmt"
	"strings"

	"gatehouse/ent"
	"gatehouse/ent/jobtitle"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// CreateUser adds a person to the directory, or a service account (kind
// SERVICE) for an integration to own API tokens. IT_ADMIN only. Errors:
// FORBIDDEN, INVALID_INPUT (bad email, empty name, a service account as
// manager), CONFLICT (taken email), NOT_FOUND (unknown manager or job
// title).
func (s *Service) CreateUser(ctx context.Context, in ent.CreateUserInput) (*ent.User, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.User, error) {
		in.Email = strings.TrimSpace(in.Email)
		if err := checkUserRefs(ctx, tx, "", in.Email, in.ManagerID, in.JobTitleID); err != nil {
			return nil, err
		}
		return tx.User.Create().SetInput(in).Save(ctx)
	})
}

// UpdateUser changes a person. Setting status TERMINATED makes their tokens
// fail at once, then (Terminator) reassigns their open review tasks,
// cancels the open requests for them and revokes every grant they hold
// through the connectors; a periodic sweep does it if this call could not.
// The kind of a user never changes. IT_ADMIN only.
// Errors: FORBIDDEN, NOT_FOUND, INVALID_INPUT (a manager loop, a service
// account as manager), CONFLICT (taken email).
func (s *Service) UpdateUser(ctx context.Context, id pulid.ID, in ent.UpdateUserInput) (*ent.User, error) {
	terminated := false
	u, err := write(ctx, s, func(tx *ent.Tx) (*ent.User, error) {
		email := ""
		if in.Email != nil {
			email = strings.TrimSpace(*in.Email)
			in.Email = &email
		}
		prev, err := tx.User.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := checkUserRefs(ctx, tx, id, email, in.ManagerID, in.JobTitleID); err != nil {
			return nil, err
		}
		terminated = prev.Status == enum.UserStatusActive && in.Status != nil && *in.Status == enum.UserStatusTerminated
		return tx.User.UpdateOneID(id).SetInput(in).Save(ctx)
	})
	if err != nil || !terminated || s.terminator == nil {
		return u, err
	}
	if err := s.terminator.Terminate(ctx, id, authz.FromContext(ctx).Actor()); err != nil {
		return nil, fmt.Errorf("apply termination: %w", err)
	}
	return u, nil
}

// checkUserRefs checks the email is free and the manager and job title exist;
// for an existing user (self set) also that the manager chain has no loop.
func checkUserRefs(ctx context.Context, tx *ent.Tx, self pulid.ID, email string, manager, title *pulid.ID) error {
	if email != "" {
		taken, err := tx.User.Query().Where(user.EmailEqualFold(email), user.IDNEQ(self)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return errcode.Duplicate("email", "a user with email %s already exists", email)
		}
	}
	if err := people(ctx, tx, "managerID", "a manager", optional(manager)); err != nil {
		return err
	}
	if err := existing(ctx, "jobTitleID", "job title", optional(title), jobTitles(tx)); err != nil {
		return err
	}
	if manager != nil && self != "" {
		if err := checkManagerLoop(ctx, tx, self, *manager); err != nil {
			return err
		}
	}
	return nil
}

// maxManagerDepth bounds the walk up a manager chain.
const maxManagerDepth = 64

// checkManagerLoop refuses a manager who is the user or reports to them.
func checkManagerLoop(ctx context.Context, tx *ent.Tx, self, manager pulid.ID) error {
	for cur, depth := manager, 0; depth < maxManagerDepth; depth++ {
		if cur == self {
			return errcode.Invalid("managerID", "a user cannot report to themselves, directly or through others")
		}
		u, err := tx.User.Query().Where(user.ID(cur)).Select(user.FieldManagerID).Only(ctx)
		if err != nil {
			return err
		}
		if u.ManagerID == nil {
			return nil
		}
		cur = *u.ManagerID
	}
	return errcode.Invalid("managerID", "the manager chain is deeper than %d", maxManagerDepth)
}

// CreateJobTitle adds a job title with an optional baseline bundle. IT_ADMIN
// only. Errors: FORBIDDEN, INVALID_INPUT (empty name), CONFLICT (taken
// name), NOT_FOUND.
func (s *Service) CreateJobTitle(ctx context.Context, in ent.CreateJobTitleInput) (*ent.JobTitle, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.JobTitle, error) {
		if err := checkJobTitle(ctx, tx, "", &in.Name, "", in.BaselineEntitlementIDs); err != nil {
			return nil, err
		}
		return tx.JobTitle.Create().SetInput(in).Save(ctx)
	})
}

// UpdateJobTitle renames a job title or changes its baseline bundle.
// IT_ADMIN only. Errors: FORBIDDEN, NOT_FOUND, INVALID_INPUT, CONFLICT
// (taken name).
func (s *Service) UpdateJobTitle(ctx context.Context, id pulid.ID, in ent.UpdateJobTitleInput) (*ent.JobTitle, error) {
	return write(ctx, s, func(tx *ent.Tx) (*ent.JobTitle, error) {
		if _, err := tx.JobTitle.Get(ctx, id); err != nil {
			return nil, err
		}
		if err := checkJobTitle(ctx, tx, id, in.Name, "add", in.AddBaselineEntitlementIDs); err != nil {
			return nil, err
		}
		return tx.JobTitle.UpdateOneID(id).SetInput(in).Save(ctx)
	})
}

func checkJobTitle(ctx context.Context, tx *ent.Tx, self pulid.ID, name *string, prefix string, ents []pulid.ID) error {
	if name != nil {
		taken, err := tx.JobTitle.Query().Where(jobtitle.Name(*name), jobtitle.IDNEQ(self)).Exist(ctx)
		if err != nil {
			return err
		}
		if taken {
			return errcode.Duplicate("name", "a job title named %q already exists", *name)
		}
	}
	return existing(ctx, inputField(prefix, "baselineEntitlementIDs"), "entitlement", ents, entitlements(tx))
}

package catalog

import (
	"context"
	"fmt"

	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/jobtitle"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/errcode"
)

func users(tx *ent.Tx) func(context.Context, []pulid.ID) (int, error) {
	return func(ctx context.Context, ids []pulid.ID) (int, error) {
		return tx.User.Query().Where(user.IDIn(ids...)).Count(ctx)
	}
}

func entitlements(tx *ent.Tx) func(context.Context, []pulid.ID) (int, error) {
	return func(ctx context.Context, ids []pulid.ID) (int, error) {
		return tx.Entitlement.Query().Where(entitlement.IDIn(ids...)).Count(ctx)
	}
}

func applications(tx *ent.Tx) func(context.Context, []pulid.ID) (int, error) {
	return func(ctx context.Context, ids []pulid.ID) (int, error) {
		return tx.Application.Query().Where(application.IDIn(ids...)).Count(ctx)
	}
}

func jobTitles(tx *ent.Tx) func(context.Context, []pulid.ID) (int, error) {
	return func(ctx context.Context, ids []pulid.ID) (int, error) {
		return tx.JobTitle.Query().Where(jobtitle.IDIn(ids...)).Count(ctx)
	}
}

// people checks that the users of ids exist (NOT_FOUND naming field) and
// are people: a service account is never a manager, an owner or a reviewer,
// so naming one is INVALID_INPUT naming field. as says what the users would
// become, for the message.
func people(ctx context.Context, tx *ent.Tx, field, as string, ids []pulid.ID) error {
	if err := existing(ctx, field, "user", ids, users(tx)); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	service, err := tx.User.Query().
		Where(user.IDIn(ids...), user.KindEQ(enum.UserKindService)).
		Order(user.ByEmail()).
		Select(user.FieldEmail).
		Strings(ctx)
	if err != nil {
		return fmt.Errorf("check %s: %w", field, err)
	}
	if len(service) > 0 {
		return errcode.Invalid(field, "%s is a service account and cannot be %s", service[0], as)
	}
	return nil
}

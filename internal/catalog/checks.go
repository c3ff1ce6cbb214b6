package catalog

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/jobtitle"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
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

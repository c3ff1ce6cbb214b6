package ent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/lifecyclepolicy"
	_ "gatehouse/ent/runtime"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/ent/webhookendpoint"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// TestQueryRowsKeepTheirOwnValues reads several rows in one query of each
// kind of scanned column (IDs, nullable IDs, strings, enums, nullable enums,
// times, nullable times, bools, ints, nullable ints and floats, JSON) and
// requires each node to be the node read alone: a query scans all its rows
// into the same values (scanOnce), so a node that kept a pointer into them
// would show the last row's values. Consecutive rows differ in every
// column, a NULL following a value and a value a NULL. Owners are also read
// through the many-to-many eager loading, which scans an extra column.
func TestQueryRowsKeepTheirOwnValues(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := authz.SystemContext(context.Background())
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		day := func(d int) time.Time { return time.Date(2024, 1, d, 9, 30, 15, 0, time.UTC) }

		jt1 := client.JobTitle.Create().SetName("Engineer").SaveX(ctx)
		jt2 := client.JobTitle.Create().SetName("Accountant").SaveX(ctx)
		u0 := client.User.Create().SetEmail("a@example.com").SetName("A").SaveX(ctx)
		u1 := client.User.Create().SetEmail("b@example.com").SetName("B").SetDepartment("Sales").
			SetStatus(enum.UserStatusTerminated).SetPlatformRole(enum.PlatformRoleITAdmin).SetKind(enum.UserKindService).
			SetManager(u0).SetJobTitle(jt1).SetStartDate(day(1)).
			SetDelegate(u0).SetDelegateFrom(day(2)).SetDelegateUntil(day(3)).SaveX(ctx)
		u2 := client.User.Create().SetEmail("c@example.com").SetName("C").
			SetPlatformRole(enum.PlatformRoleRiskManager).
			SetStartDate(day(4)).SetDelegateUntil(day(5)).SaveX(ctx)
		client.User.Create().SetEmail("d@example.com").SetName("D").SetDepartment("Finance").
			SetStatus(enum.UserStatusTerminated).SetKind(enum.UserKindService).
			SetManager(u2).SetJobTitle(jt2).SetDelegate(u2).SetDelegateFrom(day(6)).SaveX(ctx)
		users := client.User.Query().Order(ent.Asc(user.FieldEmail)).AllX(ctx)
		require.Len(t, users, 4)
		for _, n := range users {
			requireSameJSON(t, client.User.GetX(ctx, n.ID), n)
		}

		a0 := client.Application.Create().SetName("App 0").SetDescription("first").
			SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).
			AddOwners(u0, u1).SaveX(ctx)
		a1 := client.Application.Create().SetName("App 1").
			SetFulfillment(enum.FulfillmentDirect).SetConnectorKind(enum.ConnectorKindWebhook).
			SetConnectorConfig(map[string]any{"url": "https://example.com/hook"}).SetMaxAccessDuration("P30D").
			AddOwners(u1, u2).SaveX(ctx)
		client.Application.Create().SetName("App 2").SetDescription("third").
			SetFulfillment(enum.FulfillmentDirectAutoApproved).SetConnectorKind(enum.ConnectorKindScim).
			SetConnectorConfig(map[string]any{"base": "https://example.org/scim", "n": 2}).SaveX(ctx)
		apps := client.Application.Query().Order(ent.Asc(application.FieldName)).
			WithOwners(func(q *ent.UserQuery) { q.Order(ent.Asc(user.FieldEmail)) }).AllX(ctx)
		require.Len(t, apps, 3)
		for i, owners := range [][]*ent.User{{u0, u1}, {u1, u2}, nil} {
			got := apps[i].Edges.Owners
			require.Len(t, got, len(owners), apps[i].Name)
			for k, o := range owners {
				requireSameJSON(t, client.User.GetX(ctx, o.ID), got[k])
			}
			apps[i].Edges = ent.ApplicationEdges{}
			requireSameJSON(t, client.Application.GetX(ctx, apps[i].ID), apps[i])
		}

		client.Entitlement.Create().SetApplication(a0).SetExternalID("e0").SetName("E0").SaveX(ctx)
		client.Entitlement.Create().SetApplication(a1).SetExternalID("e1").SetName("E1").
			SetDescription("one").SetKind(enum.EntitlementKindRole).SetPrivileged(true).SetRequestable(false).
			SetLabels([]string{"pci", "prod"}).SetOwner(u0).SaveX(ctx)
		client.Entitlement.Create().SetApplication(a0).SetExternalID("e2").SetName("E2").
			SetKind(enum.EntitlementKindPermission).SaveX(ctx)
		client.Entitlement.Create().SetApplication(a1).SetExternalID("e3").SetName("E3").
			SetDescription("three").SetPrivileged(true).SetRequestable(false).SetLabels([]string{"hr"}).SetOwner(u1).SaveX(ctx)
		ents := client.Entitlement.Query().Order(ent.Asc(entitlement.FieldName)).AllX(ctx)
		require.Len(t, ents, 4)
		for _, n := range ents {
			requireSameJSON(t, client.Entitlement.GetX(ctx, n.ID), n)
		}

		client.LifecyclePolicy.Create().SaveX(ctx)
		client.LifecyclePolicy.Create().SetApplicationID(a0.ID).SetRemindEveryHours(1.5).SetMaxReminders(3).
			SetEscalateAfterHours(24.25).SetExpirePendingDays(7).SetWarnBeforeEndDays(2).
			SetExtensionReview(enum.ExtensionReviewFull).SaveX(ctx)
		client.LifecyclePolicy.Create().SetApplicationID(a1.ID).SetRemindEveryHours(0.5).SetMaxReminders(0).
			SetEscalateAfterHours(48).SetExpirePendingDays(30).SetWarnBeforeEndDays(5).
			SetExtensionReview(enum.ExtensionReviewApplicationOwner).SaveX(ctx)
		// In whatever order the IDs put them, the policies differ in every column.
		policies := client.LifecyclePolicy.Query().Order(ent.Asc(lifecyclepolicy.FieldID)).AllX(ctx)
		require.Len(t, policies, 3)
		for _, n := range policies {
			requireSameJSON(t, client.LifecyclePolicy.GetX(ctx, n.ID), n)
		}

		for i, events := range [][]string{{"*"}, {"REQUEST_SUBMITTED", "ITEM_ADDED"}, {"CATALOG_CHANGED"}} {
			c := client.WebhookEndpoint.Create().SetURL(fmt.Sprintf("https://example.com/%d", i)).
				SetEventTypes(events).SetSecret(fmt.Sprintf("secret %d", i)).SetConsecutiveFailures(i * 2)
			if i == 1 {
				c.SetDescription("second").SetKind(enum.WebhookKindSlack).SetEnabled(false).SetDisabledAt(day(7))
			}
			c.SaveX(ctx)
		}
		hooks := client.WebhookEndpoint.Query().Order(ent.Asc(webhookendpoint.FieldURL)).AllX(ctx)
		require.Len(t, hooks, 3)
		for i, n := range hooks {
			require.Equal(t, fmt.Sprintf("secret %d", i), n.Secret) // not marshalled
			requireSameJSON(t, client.WebhookEndpoint.GetX(ctx, n.ID), n)
		}
	})
}

// TestQueryRowsKeepTheirOwnSelectedValues reads a column no field declares
// (kept in each node's selected values) for several rows: each node must
// answer its own row's value.
func TestQueryRowsKeepTheirOwnSelectedValues(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := authz.SystemContext(context.Background())
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		for _, name := range []string{"A", "B", "C"} {
			client.User.Create().SetEmail(name + "@example.com").SetName(name).SaveX(ctx)
		}
		users := client.User.Query().Order(ent.Asc(user.FieldEmail)).
			Where(func(s *entsql.Selector) { s.AppendSelect(entsql.As(s.C(user.FieldEmail), "email_copy")) }).
			AllX(ctx)
		require.Len(t, users, 3)
		for _, n := range users {
			v, err := n.Value("email_copy")
			require.NoError(t, err)
			require.Equal(t, n.Email, fmt.Sprintf("%s", v))
		}
	})
}

// requireSameJSON requires got to marshal as want does.
func requireSameJSON(t *testing.T, want, got any) {
	t.Helper()
	w, err := json.Marshal(want)
	require.NoError(t, err)
	g, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, string(w), string(g))
}

package demo_test

import (
	"context"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/reviewstagetemplate"
	_ "gatehouse/ent/runtime" // registers the schema hooks, defaults and policies
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
)

func newClient(t *testing.T, db *dbtest.DB) *ent.Client {
	t.Helper()
	// The harness closes db.SQL when the test ends.
	return ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
}

func TestSeedCreatesDemoOrganisation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		client := newClient(t, db)
		ctx := authz.SystemContext(context.Background())

		empty, err := demo.IsEmpty(context.Background(), client)
		require.NoError(t, err)
		require.True(t, empty)

		org, err := demo.Seed(context.Background(), client)
		require.NoError(t, err)
		require.NotNil(t, org)

		empty, err = demo.IsEmpty(context.Background(), client)
		require.NoError(t, err)
		require.False(t, empty)

		// Users: at least 12, the IT admin first, all in Org.Users.
		users, err := client.User.Query().Order(ent.Asc(user.FieldEmail)).All(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(users), 12)
		require.Len(t, org.Users, len(users))
		require.Equal(t, "admin@example.com", org.Users[0].Email)
		require.Equal(t, enum.PlatformRoleITAdmin, org.Users[0].PlatformRole)
		for _, u := range org.Users {
			require.NotEmpty(t, u.ID)
			require.NotEmpty(t, u.Name)
			require.Regexp(t, `^[a-z.]+@example\.com$`, u.Email)
		}
		require.Same(t, org.Users[0], org.User("admin@example.com"))

		roles := map[enum.PlatformRole]int{}
		departments := map[string]int{}
		var ceos []*ent.User
		for _, u := range users {
			roles[u.PlatformRole]++
			if u.Department != "" {
				departments[u.Department]++
			}
			require.NotNil(t, u.JobTitleID, "%s has a job title", u.Email)
			if u.ManagerID == nil {
				ceos = append(ceos, u)
			}
		}
		for _, r := range enum.AllPlatformRoles {
			require.Positive(t, roles[r], "some user has platform role %s", r)
		}
		require.Len(t, departments, 3)
		for _, d := range []string{demo.Engineering, demo.Finance, demo.Sales} {
			require.GreaterOrEqual(t, departments[d], 3, "department %s", d)
		}
		require.Len(t, ceos, 1, "every user but the CEO has a manager")
		ceo := ceos[0]

		// Each department has one head, who reports to the CEO.
		heads, err := ceo.QueryReports().All(ctx)
		require.NoError(t, err)
		headDepartments := map[string]bool{}
		for _, h := range heads {
			headDepartments[h.Department] = true
		}
		require.Equal(t, map[string]bool{demo.Engineering: true, demo.Finance: true, demo.Sales: true}, headDepartments)

		// Entities of Org are usable after the seeding transaction.
		manager, err := org.Users[0].QueryManager().Only(ctx)
		require.NoError(t, err)
		require.Equal(t, demo.Engineering, manager.Department)
		title, err := org.Users[0].QueryJobTitle().Only(ctx)
		require.NoError(t, err)
		require.Equal(t, "IT Administrator", title.Name)

		// Applications: 4, each with owners and entitlements, together
		// exercising every fulfilment mode; the direct ones reach the sink
		// through WEBHOOK connectors whose configs the WEBHOOK kind accepts.
		wantModes := map[string]struct {
			fulfillment enum.Fulfillment
			connector   enum.ConnectorKind
		}{
			"GitHub":              {enum.FulfillmentDirect, enum.ConnectorKindWebhook},
			"Salesforce":          {enum.FulfillmentDirectAutoApproved, enum.ConnectorKindWebhook},
			"NetSuite":            {enum.FulfillmentManual, enum.ConnectorKindManual},
			"Production Database": {enum.FulfillmentDirect, enum.ConnectorKindWebhook},
		}
		kind := webhook.Kind{Secrets: connectors.NewSecretStore(func(k string) (string, bool) {
			if k == demo.SinkSecretEnv {
				return "demo-secret", true
			}
			return "", false
		}, "")}
		modes := map[enum.Fulfillment]bool{}
		apps, err := client.Application.Query().
			WithOwners().WithEntitlements().WithReviewStages().
			Order(ent.Asc(application.FieldName)).All(ctx)
		require.NoError(t, err)
		require.Len(t, apps, 4)
		require.Len(t, org.Applications, 4)
		multiStage := 0
		for _, a := range apps {
			require.NotEmpty(t, a.Description, a.Name)
			want, ok := wantModes[a.Name]
			require.True(t, ok, a.Name)
			require.Equal(t, want.fulfillment, a.Fulfillment, a.Name)
			require.Equal(t, want.connector, a.ConnectorKind, a.Name)
			modes[a.Fulfillment] = true
			if a.ConnectorKind == enum.ConnectorKindWebhook {
				require.NoError(t, kind.ValidateConfig(a.ConnectorConfig), a.Name)
				require.Equal(t, map[string]any{
					webhook.KeyURL:       "http://localhost:8080" + demo.SinkPath,
					webhook.KeySecretEnv: demo.SinkSecretEnv,
				}, a.ConnectorConfig, a.Name)
			} else {
				require.Empty(t, a.ConnectorConfig, a.Name)
			}
			if a.Fulfillment == enum.FulfillmentDirectAutoApproved {
				// Granted without review: nothing privileged is requestable.
				require.Empty(t, a.Edges.ReviewStages, a.Name)
				for _, e := range a.Edges.Entitlements {
					require.False(t, e.Requestable && e.Privileged, "%s/%s", a.Name, e.ExternalID)
				}
			}
			require.NotEmpty(t, a.Edges.Owners, a.Name)
			require.NotEmpty(t, a.Edges.Entitlements, a.Name)
			if len(a.Edges.ReviewStages) == 0 {
				continue
			}
			multiStage++
			require.Len(t, a.Edges.ReviewStages, 3, a.Name)
			kinds := map[int]enum.ReviewerKind{}
			for _, st := range a.Edges.ReviewStages {
				require.Equal(t, enum.StageRuleAny, st.Rule)
				kinds[st.Level] = st.ReviewerKind
			}
			require.Equal(t, map[int]enum.ReviewerKind{
				1: enum.ReviewerKindManager,
				2: enum.ReviewerKindApplicationOwner,
				3: enum.ReviewerKindRiskManager,
			}, kinds, a.Name)
		}
		require.Equal(t, 1, multiStage, "one application has a multi-stage policy")
		for _, f := range enum.AllFulfillments {
			require.True(t, modes[f], "some application is fulfilled %s", f)
		}

		prod, err := client.Application.Query().Where(application.Name("Production Database")).Only(ctx)
		require.NoError(t, err)
		require.NotNil(t, prod.MaxAccessDuration)
		require.Equal(t, "P90D", *prod.MaxAccessDuration)
		prodStages, err := prod.QueryReviewStages().Count(ctx)
		require.NoError(t, err)
		require.Equal(t, 3, prodStages, "Production Database keeps its 3-stage policy")

		// The global default policy: level 1, MANAGER, ANY.
		def, err := client.ReviewStageTemplate.Query().Where(reviewstagetemplate.ApplicationIDIsNil()).All(ctx)
		require.NoError(t, err)
		require.Len(t, def, 1)
		require.Equal(t, 1, def[0].Level)
		require.Equal(t, enum.ReviewerKindManager, def[0].ReviewerKind)
		require.Equal(t, enum.StageRuleAny, def[0].Rule)

		// The global lifecycle policy: a reminder within minutes.
		lp, err := client.LifecyclePolicy.Query().Only(ctx)
		require.NoError(t, err)
		require.Nil(t, lp.ApplicationID, "the global policy")
		require.NotNil(t, lp.RemindEveryHours)
		require.Greater(t, *lp.RemindEveryHours, 0.0)
		require.LessOrEqual(t, *lp.RemindEveryHours, 0.1, "a reminder within six minutes")

		// Entitlements: some privileged, at least one not requestable.
		privileged, err := client.Entitlement.Query().Where(entitlement.Privileged(true)).Count(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, privileged, 2)
		closed, err := client.Entitlement.Query().Where(entitlement.Requestable(false)).Count(ctx)
		require.NoError(t, err)
		require.GreaterOrEqual(t, closed, 1)

		// Roles: 2, each with owners and entitlements across applications.
		rs, err := client.Role.Query().WithOwners().WithEntitlements().All(ctx)
		require.NoError(t, err)
		require.Len(t, rs, 2)
		require.Len(t, org.Roles, 2)
		for _, r := range rs {
			require.NotEmpty(t, r.Edges.Owners, r.Name)
			require.NotEmpty(t, r.Edges.Entitlements, r.Name)
			appsOfRole := map[string]bool{}
			for _, e := range r.Edges.Entitlements {
				appsOfRole[string(e.ApplicationID)] = true
			}
			require.Greater(t, len(appsOfRole), 1, "role %s spans applications", r.Name)
		}

		// Job titles: at least one has a baseline bundle.
		titles, err := client.JobTitle.Query().WithBaselineEntitlements().All(ctx)
		require.NoError(t, err)
		require.Len(t, org.JobTitles, len(titles))
		withBaseline := 0
		for _, jt := range titles {
			if len(jt.Edges.BaselineEntitlements) > 0 {
				withBaseline++
			}
		}
		require.Positive(t, withBaseline)
	})
}

func TestSeedLeavesNonEmptyDatabaseAlone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		client := newClient(t, db)
		ctx := context.Background()

		_, err := demo.Seed(ctx, client)
		require.NoError(t, err)
		before := counts(t, client)

		org, err := demo.Seed(ctx, client)
		require.NoError(t, err)
		require.Nil(t, org)
		require.Equal(t, before, counts(t, client))
	})
}

func TestSeedSkipsDatabaseWithAnyUser(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		client := newClient(t, db)
		ctx := authz.SystemContext(context.Background())
		client.User.Create().SetEmail("someone@corp.test").SetName("Someone").SaveX(ctx)

		empty, err := demo.IsEmpty(context.Background(), client)
		require.NoError(t, err)
		require.False(t, empty)

		org, err := demo.Seed(context.Background(), client)
		require.NoError(t, err)
		require.Nil(t, org)
		require.Equal(t, map[string]int{"users": 1}, counts(t, client))
	})
}

// counts returns the number of rows of each seeded table that has any.
func counts(t *testing.T, client *ent.Client) map[string]int {
	t.Helper()
	ctx := authz.SystemContext(context.Background())
	out := map[string]int{}
	for name, count := range map[string]func() (int, error){
		"users":        func() (int, error) { return client.User.Query().Count(ctx) },
		"job_titles":   func() (int, error) { return client.JobTitle.Query().Count(ctx) },
		"applications": func() (int, error) { return client.Application.Query().Count(ctx) },
		"entitlements": func() (int, error) { return client.Entitlement.Query().Count(ctx) },
		"templates":    func() (int, error) { return client.ReviewStageTemplate.Query().Count(ctx) },
		"roles":        func() (int, error) { return client.Role.Query().Count(ctx) },
		"lifecycle":    func() (int, error) { return client.LifecyclePolicy.Query().Count(ctx) },
	} {
		n, err := count()
		require.NoError(t, err, name)
		if n > 0 {
			out[name] = n
		}
	}
	return out
}

package resolvers_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// TestListStatementsDoNotGrowWithRows checks that a list with two levels of
// nested edges costs the same number of SQL statements for 5 and for 50 rows:
// edges are loaded per level, never per row.
func TestListStatementsDoNotGrowWithRows(t *testing.T) {
	t.Parallel()
	const query = `query($n: Int!) {
	  applications(first: $n, orderBy: {field: NAME}) {
	    totalCount
	    edges { node {
	      name
	      owners { name manager { name jobTitle { name } } }
	      entitlements { name owner { email } roles { name owners { email } } }
	      reviewStages { level designatedReviewers { email } }
	    } }
	  }
	}`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@example.com", enum.PlatformRoleITAdmin)
		token := env.Token(t, admin)
		seedApplications(t, env, 50)

		count := func(n int) (int64, int) {
			env.Statements.Reset()
			var out struct {
				Applications struct {
					Edges []struct {
						Node struct {
							Entitlements []struct{ Roles []struct{ Name string } }
						}
					}
				}
			}
			env.MustDo(t, token, query, map[string]any{"n": n}, &out)
			roles := 0
			for _, e := range out.Applications.Edges {
				for _, ent := range e.Node.Entitlements {
					roles += len(ent.Roles)
				}
			}
			require.Len(t, out.Applications.Edges, n)
			return env.Statements.Count(), roles
		}
		five, rolesOf5 := count(5)
		fifty, rolesOf50 := count(50)
		require.Equal(t, 5*3, rolesOf5, "every entitlement is in one role")
		require.Equal(t, 50*3, rolesOf50)
		t.Logf("SQL statements: %d for 5 rows, %d for 50 rows", five, fifty)
		require.Equal(t, five, fifty, "statements for 5 rows: %d, for 50 rows: %d", five, fifty)
		require.Less(t, fifty, int64(20))
	})
}

// seedApplications creates n applications, each with an owner who has a
// manager with a job title, 3 entitlements with an owner and a role, and a
// designated review stage.
func seedApplications(t *testing.T, env *apitest.Env, n int) {
	t.Helper()
	ctx := apitest.Sys()
	title, err := env.Client.JobTitle.Create().SetName("Manager").Save(ctx)
	require.NoError(t, err)
	boss, err := env.Client.User.Create().SetEmail("boss@example.com").SetName("Boss").SetJobTitle(title).Save(ctx)
	require.NoError(t, err)
	for i := range n {
		owner, err := env.Client.User.Create().
			SetEmail(fmt.Sprintf("owner%02d@example.com", i)).SetName(fmt.Sprintf("Owner %02d", i)).
			SetManager(boss).Save(ctx)
		require.NoError(t, err)
		app, err := env.Client.Application.Create().
			SetName(fmt.Sprintf("App %02d", i)).
			SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).
			AddOwners(owner).Save(ctx)
		require.NoError(t, err)
		for j := range 3 {
			e, err := env.Client.Entitlement.Create().
				SetApplication(app).SetExternalID(fmt.Sprintf("e%d", j)).SetName(fmt.Sprintf("Entitlement %d", j)).
				SetOwner(owner).Save(ctx)
			require.NoError(t, err)
			_, err = env.Client.Role.Create().SetName(fmt.Sprintf("Role %02d-%d", i, j)).AddEntitlements(e).AddOwners(owner).Save(ctx)
			require.NoError(t, err)
		}
		_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).
			SetReviewerKind(enum.ReviewerKindDesignated).AddDesignatedReviewers(boss).Save(ctx)
		require.NoError(t, err)
	}
}

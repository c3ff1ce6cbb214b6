package ent_test

import (
	"context"
	"fmt"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// TestOneOf selects rows by values that a PostgreSQL array literal must
// escape (quotes, backslashes, braces, commas, spaces, the word NULL) and by
// none, on both databases.
func TestOneOf(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := authz.SystemContext(context.Background())
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		names := []string{`plain`, `quo"te`, `back\slash`, `{brace,comma}`, `with space`, `NULL`, `"\`}
		for i, n := range append(names, "left out") {
			client.User.Create().SetEmail(fmt.Sprintf("u%d@example.com", i)).SetName(n).SaveX(ctx)
		}
		named := func(values []string) []string {
			return client.User.Query().Where(func(s *entsql.Selector) {
				s.Where(ent.OneOf(s, s.C(user.FieldName), values))
			}).Order(ent.Asc(user.FieldEmail)).Select(user.FieldName).StringsX(ctx)
		}
		require.Equal(t, names, named(names))
		require.Equal(t, []string{`back\slash`, `NULL`}, named([]string{`NULL`, `back\slash`, `absent`}))
		require.Empty(t, named(nil))
	})
}

// TestEagerLoadingStatementsDoNotGrowWithParents loads the three kinds of
// edge (a foreign key of the parent, of the children, and a join table) for
// 2 and for 20 parents and requires the same children either way; on
// PostgreSQL each loading statement's text is also the same for both, its
// parents' IDs being one array argument (ent.OneOf).
func TestEagerLoadingStatementsDoNotGrowWithParents(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		log := &dbtest.StatementLog{}
		counted := dbtest.Counted(t, db, log)
		client := ent.NewClient(ent.Driver(entsql.OpenDB(counted.Dialect, counted.SQL)))
		ctx := authz.SystemContext(context.Background())
		for i := range 20 {
			m := client.User.Create().SetEmail(fmt.Sprintf("m%02d@example.com", i)).SetName("M").SaveX(ctx)
			client.User.Create().SetEmail(fmt.Sprintf("r%02d@example.com", i)).SetName("R").SetManager(m).SaveX(ctx)
			client.Application.Create().SetName(fmt.Sprintf("App %02d", i)).SetFulfillment(enum.FulfillmentManual).
				SetConnectorKind(enum.ConnectorKindManual).AddOwners(m).SaveX(ctx)
		}
		load := func(n int) []string {
			log.Reset()
			managers := client.User.Query().Where(user.EmailHasPrefix("m")).Order(ent.Asc(user.FieldEmail)).Limit(n).
				WithReports(func(q *ent.UserQuery) { q.WithManager() }).WithOwnedApplications().
				AllX(dbtest.Counting(ctx))
			require.Len(t, managers, n)
			for i, m := range managers {
				require.Len(t, m.Edges.Reports, 1)
				require.Equal(t, fmt.Sprintf("r%02d@example.com", i), m.Edges.Reports[0].Email)
				require.Equal(t, m.ID, m.Edges.Reports[0].Edges.Manager.ID)
				require.Len(t, m.Edges.OwnedApplications, 1)
				require.Equal(t, fmt.Sprintf("App %02d", i), m.Edges.OwnedApplications[0].Name)
			}
			return log.Statements()
		}
		few, many := load(2), load(20)
		require.Len(t, many, 4, "the managers, their reports, the reports' managers, the applications")
		if db.Name != "postgres" {
			return
		}
		require.Equal(t, few[1:], many[1:], "the statements after the page's (whose LIMIT differs)")
		for _, q := range many[1:] {
			require.Contains(t, q, "= ANY($", q)
		}
	})
}

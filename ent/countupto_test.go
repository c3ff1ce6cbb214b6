package ent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// TestCountUpTo counts users up to bounds below, at and above their number,
// with a predicate, an order and the query's own limit, and requires one
// statement that counts in the database (a subquery bounded by LIMIT).
func TestCountUpTo(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		log := &dbtest.StatementLog{}
		counted := dbtest.Counted(t, db, log)
		client := ent.NewClient(ent.Driver(entsql.OpenDB(counted.Dialect, counted.SQL)))
		ctx := authz.SystemContext(context.Background())
		for i := range 7 {
			client.User.Create().SetEmail(fmt.Sprintf("u%d@example.com", i)).SetName(fmt.Sprint(i % 2)).SaveX(ctx)
		}
		count := func(q *ent.UserQuery, n int) int {
			log.Reset()
			got, err := q.CountUpTo(dbtest.Counting(ctx), n)
			require.NoError(t, err)
			stmts := log.Statements()
			require.Len(t, stmts, 1)
			require.True(t, strings.HasPrefix(stmts[0], "SELECT COUNT(*) FROM (SELECT"), stmts[0])
			return got
		}
		require.Equal(t, 3, count(client.User.Query(), 3))
		require.Equal(t, 7, count(client.User.Query(), 7))
		require.Equal(t, 7, count(client.User.Query(), 100))
		require.Equal(t, 4, count(client.User.Query().Where(user.Name("0")), 100))
		require.Equal(t, 2, count(client.User.Query().Where(user.Name("1")).Order(ent.Desc(user.FieldEmail)), 2))
		require.Equal(t, 5, count(client.User.Query().Limit(5), 100), "the query's limit bounds the count")
		require.Equal(t, 0, count(client.User.Query().Where(user.Name("none")), 100))
	})
}

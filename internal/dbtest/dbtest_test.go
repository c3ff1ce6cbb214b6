package dbtest_test

import (
	"gatehouse/internal/database"

	"context"
	"database/sql"
	"os"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/dbtest"
)

func TestEachGivesMigratedDatabase(t *testing.T) {
	t.Parallel()
	ran := map[string]bool{}
	var mu sync.Mutex
	t.Run("group", func(t *testing.T) {
		dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
			mu.Lock()
			ran[db.Name] = true
			mu.Unlock()
			require.Equal(t, db.Name, map[string]string{dialect.SQLite: "sqlite", dialect.Postgres: "postgres"}[db.Dialect])

			var n int
			require.NoError(t, db.SQL.QueryRow("SELECT count(*) FROM users").Scan(&n))
			require.Zero(t, n)

			// The DSN opens the same database again.
			other, err := sql.Open(db.Name, db.DSN)
			require.NoError(t, err)
			defer other.Close()
			_, err = db.SQL.Exec("CREATE TABLE dsn_probe (id integer)")
			require.NoError(t, err)
			require.NoError(t, other.QueryRow("SELECT count(*) FROM dsn_probe").Scan(&n))
		})
	})
	require.True(t, ran["sqlite"], "sqlite always runs")
	require.Equal(t, os.Getenv(dbtest.EnvPostgresURL) != "", ran["postgres"], "postgres runs when %s is set", dbtest.EnvPostgresURL)
}

func TestSQLiteUsesProductionSettings(t *testing.T) {
	t.Parallel()
	db := dbtest.NewSQLite(t)
	require.Contains(t, db.DSN, "_txlock=immediate")
	var mode string
	var fk, timeout int
	require.NoError(t, db.SQL.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, db.SQL.QueryRow("PRAGMA foreign_keys").Scan(&fk))
	require.NoError(t, db.SQL.QueryRow("PRAGMA busy_timeout").Scan(&timeout))
	require.Equal(t, "wal", mode)
	require.Equal(t, 1, fk)
	require.Equal(t, 5000, timeout)
	require.Equal(t, 8, db.SQL.Stats().MaxOpenConnections)
}

func TestPostgresTestsGetOwnDatabases(t *testing.T) {
	t.Parallel()
	if os.Getenv(dbtest.EnvPostgresURL) == "" {
		t.Skipf("%s is not set", dbtest.EnvPostgresURL)
	}
	var mu sync.Mutex
	var names []string
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				db := dbtest.NewPostgres(t)
				var current string
				require.NoError(t, db.SQL.QueryRow("SELECT current_database()").Scan(&current))
				_, err := db.SQL.Exec("CREATE TABLE only_in_" + name + " (id integer)")
				require.NoError(t, err)
				var n int
				require.NoError(t, db.SQL.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'only_in_%'").Scan(&n))
				require.Equal(t, 1, n, "the other test's table is not visible")
				mu.Lock()
				names = append(names, current)
				mu.Unlock()
			})
		}
	})
	require.Len(t, names, 2)
	require.NotEqual(t, names[0], names[1])

	// Both clones are dropped when their tests end.
	admin, err := sql.Open("postgres", os.Getenv(dbtest.EnvPostgresURL))
	require.NoError(t, err)
	defer admin.Close()
	var left int
	require.NoError(t, admin.QueryRow("SELECT count(*) FROM pg_database WHERE datname = ANY($1)", "{"+names[0]+","+names[1]+"}").Scan(&left))
	require.Zero(t, left)
}

func TestCounterCountsStatements(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		var c dbtest.Counter
		drv := c.Wrap(entsql.OpenDB(db.Dialect, db.SQL))
		require.Equal(t, db.Dialect, drv.Dialect())

		var rows entsql.Rows
		require.NoError(t, drv.Query(ctx, "SELECT count(*) FROM users", []any{}, &rows))
		require.NoError(t, rows.Close())
		require.NoError(t, drv.Exec(ctx, "CREATE TABLE counted (id integer)", []any{}, nil))
		require.EqualValues(t, 2, c.Count())

		// Statements inside transactions count; begin and commit do not.
		tx, err := drv.Tx(ctx)
		require.NoError(t, err)
		require.NoError(t, tx.Exec(ctx, "INSERT INTO counted (id) VALUES (1)", []any{}, nil))
		require.NoError(t, tx.Commit())
		require.EqualValues(t, 3, c.Count())

		// What ent's generated client asks of a driver: BeginTx, ExecContext, QueryContext.
		btx, err := drv.(interface {
			BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
		}).BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, btx.Query(ctx, "SELECT id FROM counted", []any{}, &rows))
		require.NoError(t, rows.Close())
		_, err = btx.(interface {
			ExecContext(context.Context, string, ...any) (sql.Result, error)
		}).ExecContext(ctx, "INSERT INTO counted (id) VALUES (2)")
		require.NoError(t, err)
		require.NoError(t, btx.Rollback())
		r, err := drv.(interface {
			QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		}).QueryContext(ctx, "SELECT count(*) FROM counted")
		require.NoError(t, err)
		require.NoError(t, r.Close())
		require.EqualValues(t, 6, c.Count())

		c.Reset()
		require.Zero(t, c.Count())
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		require.NoError(t, database.Migrate(context.Background(), db.SQL, db.Dialect))
	})
}

func BenchmarkNewSQLite(b *testing.B) {
	for b.Loop() {
		dbtest.NewSQLite(b)
	}
}

func BenchmarkNewPostgres(b *testing.B) {
	dbtest.NewPostgres(b) // the template, once per process
	b.ResetTimer()
	for b.Loop() {
		dbtest.NewPostgres(b)
	}
}

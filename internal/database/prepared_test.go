package database_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/database"
	"gatehouse/internal/dbtest"
)

// onePostgresConn returns a pool of one connection to a fresh PostgreSQL
// database, opened as the server opens its own.
func onePostgresConn(t *testing.T) *dbtest.DB {
	t.Helper()
	if os.Getenv(dbtest.EnvPostgresURL) == "" {
		t.Skipf("%s is not set", dbtest.EnvPostgresURL)
	}
	db := dbtest.NewPostgres(t)
	pool, err := database.PostgresDB(db.DSN)
	require.NoError(t, err)
	t.Cleanup(func() { pool.Close() })
	pool.SetMaxOpenConns(1)
	db.SQL = pool
	return db
}

// executions returns how often the connection's prepared statement query
// ran (0 when it is not prepared).
func executions(t *testing.T, db *dbtest.DB, query string) int {
	t.Helper()
	var n int
	require.NoError(t, db.SQL.QueryRow(
		`SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements WHERE statement = '`+query+`'`).Scan(&n))
	return n
}

// TestStatementsPreparedOnce: a statement with parameters is prepared on a
// connection the first time and then only executed, whatever its
// parameters; one without parameters is not prepared.
func TestStatementsPreparedOnce(t *testing.T) {
	t.Parallel()
	db := onePostgresConn(t)
	const q = `SELECT count(*) FROM users WHERE email <> $1`
	for i := range 5 {
		var n int
		require.NoError(t, db.SQL.QueryRow(q, fmt.Sprintf("u%d@example.com", i)).Scan(&n))
		_, err := db.SQL.Exec(`UPDATE users SET name = name WHERE email = $1`, "nobody")
		require.NoError(t, err)
	}
	require.Equal(t, 5, executions(t, db, q))
	require.Equal(t, 5, executions(t, db, `UPDATE users SET name = name WHERE email = $1`))
	var n int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM pg_prepared_statements`).Scan(&n))
	require.Equal(t, 2, n, "statements without parameters are not prepared")
}

// TestPreparedStatementsBounded: a connection keeps at most
// PreparedPerConn statements, closing the least recently used.
func TestPreparedStatementsBounded(t *testing.T) {
	t.Parallel()
	db := onePostgresConn(t)
	first := `SELECT $1::int + 0`
	for i := range database.PreparedPerConn + 10 {
		var n int
		require.NoError(t, db.SQL.QueryRow(fmt.Sprintf(`SELECT $1::int + %d`, i), 1).Scan(&n))
		require.Equal(t, 1+i, n)
	}
	var n int
	require.NoError(t, db.SQL.QueryRow(`SELECT count(*) FROM pg_prepared_statements`).Scan(&n))
	require.Equal(t, database.PreparedPerConn, n)
	require.Zero(t, executions(t, db, first), "the least recently used is closed")
}

// TestPreparedWhileRowsOpen: in a transaction, a statement sent while the
// rows of another are open is refused with a clear error (lib/pq alone
// answers "unexpected Parse response"), and the connection goes on working
// once they are closed.
func TestPreparedWhileRowsOpen(t *testing.T) {
	t.Parallel()
	db := onePostgresConn(t)
	ctx := context.Background()
	tx, err := db.SQL.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT generate_series(1, $1::int)`, 3)
	require.NoError(t, err)
	require.True(t, rows.Next())
	var n int
	err = tx.QueryRowContext(ctx, `SELECT $1::int`, 7).Scan(&n)
	require.ErrorContains(t, err, "already a query being executed")
	_, err = tx.ExecContext(ctx, `SELECT 1`)
	require.ErrorContains(t, err, "already a query being executed", "nor one without parameters")
	require.NoError(t, rows.Close())
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT $1::int`, 7).Scan(&n))
	require.Equal(t, 7, n)
	require.NoError(t, tx.Commit())
}

// TestPreparedAfterTheTableChanged: a statement whose result type a
// migration changed fails once and is prepared again.
func TestPreparedAfterTheTableChanged(t *testing.T) {
	t.Parallel()
	db := onePostgresConn(t)
	_, err := db.SQL.Exec(`CREATE TABLE t (a int)`)
	require.NoError(t, err)
	_, err = db.SQL.Exec(`INSERT INTO t VALUES (1)`)
	require.NoError(t, err)
	const q = `SELECT * FROM t WHERE a = $1`
	var a, b int
	require.NoError(t, db.SQL.QueryRow(q, 1).Scan(&a))
	_, err = db.SQL.Exec(`ALTER TABLE t ADD COLUMN b int NOT NULL DEFAULT 2`)
	require.NoError(t, err)
	require.ErrorContains(t, db.SQL.QueryRow(q, 1).Scan(&a, &b), "cached plan must not change result type")
	require.NoError(t, db.SQL.QueryRow(q, 1).Scan(&a, &b))
	require.Equal(t, []int{1, 2}, []int{a, b})
}

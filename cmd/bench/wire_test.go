package main

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/dbtest"
)

func TestLiteralWritesParametersIn(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	tests := []struct {
		name string
		stmt wireStatement
		want string
	}{
		{"numbered", wireStatement{SQL: "SELECT $1, $2", Params: []*string{s("a"), s("b")}}, "SELECT 'a', 'b'"},
		// $10 is the tenth parameter, not the first followed by a zero.
		{"two digits", wireStatement{SQL: "SELECT $10, $1", Params: []*string{s("one"), nil, nil, nil, nil, nil, nil, nil, nil, s("ten")}}, "SELECT 'ten', 'one'"},
		{"quote doubled", wireStatement{SQL: "SELECT $1", Params: []*string{s("O'Brien")}}, "SELECT 'O''Brien'"},
		{"null", wireStatement{SQL: "SELECT $1", Params: []*string{nil}}, "SELECT NULL"},
		{"no parameters", wireStatement{SQL: "SELECT 1"}, "SELECT 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.stmt.Literal())
		})
	}
}

// TestWireRecorderCountsStatements runs lib/pq through the recorder: each
// statement counts once, with its parameters, whether sent with the simple
// or the extended protocol; BEGIN and COMMIT count as one transaction.
func TestWireRecorderCountsStatements(t *testing.T) {
	t.Parallel()
	raw := os.Getenv(dbtest.EnvPostgresURL)
	if raw == "" {
		t.Skip(dbtest.EnvPostgresURL + " is not set")
	}
	u, err := url.Parse(raw)
	require.NoError(t, err)
	rec, err := newWireRecorder(u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { rec.Close() })
	u.Host = rec.Addr()
	db, err := sql.Open("postgres", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	require.NoError(t, db.PingContext(ctx))

	rec.Start()
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT $1::int + 1", 41).Scan(&n))
	require.Equal(t, 42, n)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "SELECT 1")
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "SELECT $1::text", "it's")
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	stmts, txs := rec.Stop()

	require.Equal(t, 1, txs)
	require.Len(t, stmts, 3)
	require.Equal(t, "SELECT '41'::int + 1", stmts[0].Literal())
	require.Equal(t, "SELECT 1", stmts[1].Literal())
	require.Equal(t, "SELECT 'it''s'::text", stmts[2].Literal())

	// Nothing is recorded once stopped.
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&n))
	stmts, txs = rec.Stop()
	require.Empty(t, stmts)
	require.Zero(t, txs)
}

package database_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	_ "gatehouse/ent/runtime"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/dbtest"
)

// exec runs a statement written with ? placeholders.
func exec(db *dbtest.DB, query string, args ...any) error {
	if db.Dialect == dialect.Postgres {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	_, err := db.SQL.Exec(query, args...)
	return err
}

func count(t *testing.T, db *dbtest.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.SQL.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// TestAuditTablesAreAppendOnly checks that the database itself refuses to
// change or remove audit rows, whoever asks and however (the ent hooks are
// tested in internal/audit).
func TestAuditTablesAreAppendOnly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		sys := authz.SystemContext(ctx)
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		u := client.User.Create().SetEmail("u@example.com").SetName("U").SaveX(sys)
		req := client.AccessRequest.Create().SetAction(enum.RequestActionGrant).SetRequester(u).SetBeneficiary(u).SaveX(sys)
		tx, err := client.Tx(ctx)
		require.NoError(t, err)
		_, err = audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), string(req.ID), string(u.ID), time.Now(),
			audit.Event{Action: audit.RequestSubmitted}, audit.Event{Action: audit.ItemAdded})
		require.NoError(t, err)
		require.NoError(t, tx.Commit())
		// Inserting stays allowed, checkpoints included.
		require.NoError(t, exec(db, `INSERT INTO audit_checkpoints (id, seq, at, chain, head_seq, head_hash, prev_hash, hash)
			VALUES ('ack_1', 1, ?, ?, 2, 'h', ?, 'x')`, time.Now().UTC(), string(req.ID), audit.GenesisHash))

		refused := []string{
			`UPDATE audit_events SET action = 'FORGED' WHERE seq = 2`,
			`UPDATE audit_events SET data = '{"x":1}'`,
			`DELETE FROM audit_events WHERE seq = 2`,
			`DELETE FROM audit_events`,
			`UPDATE audit_checkpoints SET head_seq = 1`,
			`DELETE FROM audit_checkpoints WHERE seq = 1`,
			`DELETE FROM audit_checkpoints`,
			// The foreign key's ON DELETE SET NULL updates the request's events.
			`DELETE FROM access_requests`,
		}
		if db.Dialect == dialect.Postgres {
			refused = append(refused,
				`TRUNCATE audit_events`,
				`TRUNCATE audit_checkpoints`,
				`TRUNCATE access_requests CASCADE`,
				`TRUNCATE audit_events, audit_checkpoints`,
			)
		}
		for _, q := range refused {
			err := exec(db, q)
			require.Error(t, err, q)
			require.Contains(t, err.Error(), "append-only", q)
		}
		require.Equal(t, 3, count(t, db, "audit_events"), "the request's two events and the user's creation (system chain)")
		require.Equal(t, 1, count(t, db, "audit_checkpoints"))
		require.Equal(t, 1, count(t, db, "access_requests"))
		var action string
		require.NoError(t, db.SQL.QueryRow(`SELECT action FROM audit_events WHERE seq = 2`).Scan(&action))
		require.Equal(t, string(audit.ItemAdded), action)

		// Migrating again keeps the triggers (and does not fail).
		require.NoError(t, database.Migrate(ctx, db.SQL, db.Dialect))
		err = exec(db, `DELETE FROM audit_events`)
		require.ErrorContains(t, err, "append-only")
		require.Equal(t, 3, count(t, db, "audit_events"), "the request's two events and the user's creation (system chain)")
	})
}

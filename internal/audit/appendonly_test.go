package audit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/auditevent"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// TestEntHooksRefuseChanges checks the hooks declared in the schemas'
// Hooks(): updates and deletes of audit rows are refused in the system
// context, on the root client, on a transaction's client and on a client
// built over a *sql.Tx (as internal/workflow builds them), before any SQL
// runs — the triggers are dropped first so that only the hooks can refuse.
func TestEntHooksRefuseChanges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		sys := authz.SystemContext(ctx)
		client := newClient(t, db)
		_, err := appendTx(ctx, client, audit.NewRecorder(db.Dialect), audit.SystemChain, "system", time.Now(),
			audit.Event{Action: audit.CatalogChanged}, audit.Event{Action: audit.CatalogChanged})
		require.NoError(t, err)
		n, err := audit.NewLog(client, db.Dialect).Checkpoint(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		db.DisableAuditTriggers(t)

		ev := readChain(t, client, audit.SystemChain)[0]
		cp := client.AuditCheckpoint.Query().FirstX(sys)
		refuse := func(name string, c *ent.Client) {
			for op, run := range map[string]func() error{
				"event update":          func() error { return c.AuditEvent.Update().Where(auditevent.Seq(1)).Exec(sys) },
				"event update one":      func() error { return c.AuditEvent.UpdateOne(ev).Exec(sys) },
				"event delete":          func() error { _, err := c.AuditEvent.Delete().Exec(sys); return err },
				"event delete one":      func() error { return c.AuditEvent.DeleteOneID(ev.ID).Exec(sys) },
				"checkpoint update":     func() error { return c.AuditCheckpoint.Update().Where(auditcheckpoint.Seq(1)).Exec(sys) },
				"checkpoint update one": func() error { return c.AuditCheckpoint.UpdateOneID(cp.ID).Exec(sys) },
				"checkpoint delete":     func() error { _, err := c.AuditCheckpoint.Delete().Exec(sys); return err },
				"checkpoint delete one": func() error { return c.AuditCheckpoint.DeleteOne(cp).Exec(sys) },
			} {
				err := run()
				require.Error(t, err, "%s: %s", name, op)
				require.True(t, errors.Is(err, audit.ErrAppendOnly), "%s: %s: %v", name, op, err)
			}
		}
		refuse("root client", client)
		// One write transaction at a time: SQLite allows no more.
		entTx, err := client.Tx(ctx)
		require.NoError(t, err)
		refuse("ent tx", entTx.Client())
		require.NoError(t, entTx.Rollback())
		sqlTx, err := db.SQL.BeginTx(ctx, nil)
		require.NoError(t, err)
		refuse("client over *sql.Tx", ent.NewClient(ent.Driver(entsql.NewDriver(db.Dialect, entsql.Conn{ExecQuerier: sqlTx}))))
		require.NoError(t, sqlTx.Rollback())

		require.Len(t, readChain(t, client, audit.SystemChain), 2)
		require.Equal(t, 1, client.AuditCheckpoint.Query().CountX(sys))
		// Creating still works through the same hooks.
		_, err = appendTx(ctx, client, audit.NewRecorder(db.Dialect), audit.SystemChain, "system", time.Now(), audit.Event{Action: audit.CatalogChanged})
		require.NoError(t, err)
	})
}

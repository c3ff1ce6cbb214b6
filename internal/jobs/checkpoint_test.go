package jobs_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditcheckpoint"
	_ "gatehouse/ent/runtime"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/jobs"
)

// TestCheckpointJobFollowsChanges runs the River runner with a short
// checkpoint period and checks that each new change is checkpointed within
// a few periods, again and again (a periodic job, not a one-off at start).
func TestCheckpointJobFollowsChanges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
		var riverDB *sql.DB
		if db.Dialect == dialect.SQLite {
			var err error
			riverDB, err = sql.Open("sqlite", db.DSN)
			require.NoError(t, err)
			riverDB.SetMaxOpenConns(1)
			t.Cleanup(func() { riverDB.Close() })
		}
		log := audit.NewLog(client, db.Dialect)
		runner, err := jobs.New(db.SQL, riverDB, db.Dialect, jobs.Options{
			Checkpoints: log, CheckpointInterval: 300 * time.Millisecond,
		})
		require.NoError(t, err)
		require.NoError(t, runner.Start(ctx, nil))
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, runner.Stop(sctx))
		})

		rec := audit.NewRecorder(db.Dialect)
		sys := authz.SystemContext(ctx)
		for round := 1; round <= 3; round++ {
			tx, err := client.Tx(ctx)
			require.NoError(t, err)
			_, err = rec.Append(ctx, tx.Client(), audit.SystemChain, "system", time.Now(), audit.Event{Action: audit.CatalogChanged})
			require.NoError(t, err)
			require.NoError(t, tx.Commit())
			start := time.Now()
			require.Eventually(t, func() bool {
				n, err := client.AuditCheckpoint.Query().
					Where(auditcheckpoint.Chain(audit.SystemChain), auditcheckpoint.HeadSeq(int64(round))).Count(sys)
				return err == nil && n == 1
			}, time.Minute, 20*time.Millisecond, "round %d", round)
			t.Logf("round %d: checkpointed after %v", round, time.Since(start).Round(time.Millisecond))
		}
		cps := client.AuditCheckpoint.Query().Order(auditcheckpoint.BySeq()).AllX(sys)
		require.Len(t, cps, 3, "one checkpoint per change, none when nothing changed")
		v, err := log.Verify(authz.NewContext(ctx, &authz.Viewer{UserID: "usr_x", Role: "IT_ADMIN"}), nil, nil)
		require.NoError(t, err)
		require.True(t, v.Valid, "%+v", v.Problems)
		require.Equal(t, 3, v.Checkpoints)
	})
}

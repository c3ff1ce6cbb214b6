package progress

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"entgo.io/ent/dialect"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/pubsub"
)

// TestNotifyTxSendsNothingInTheTransaction: the workflow's in-transaction
// hook runs no statement at all, on either database (a pg_notify there
// would make every committing change wait for PostgreSQL's notify lock);
// the changes leave after commit. The transaction is already rolled back,
// so any statement would fail.
func TestNotifyTxSendsNothingInTheTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		f := New(Config{Dialect: db.Dialect, DSN: db.DSN, DB: db.SQL})
		require.Equal(t, db.Dialect == dialect.Postgres, f.outbox != nil, "a notifier on PostgreSQL only")
		tx, err := db.SQL.BeginTx(context.Background(), nil)
		require.NoError(t, err)
		require.NoError(t, tx.Rollback())
		require.NoError(t, f.NotifyTx(context.Background(), tx, []pulid.ID{"req_1"}))
	})
}

// TestNotificationPayloads: the notifier heads every notification with its
// origin and keeps each under PostgreSQL's payload limit; a process skips
// its own notifications and reads another's, catch-up requests included.
func TestNotificationPayloads(t *testing.T) {
	t.Parallel()
	var sent [][]string
	rec := execFunc(func(args ...any) { sent = append(sent, splitPayload(args[1].(string))) })
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = string(pulid.MustNew("req"))
	}
	require.NoError(t, notifyFrom(context.Background(), rec, "@prc_a", keys))
	require.Greater(t, len(sent), 1, "1,000 IDs do not fit one notification")
	var got []string
	for _, p := range sent {
		require.Equal(t, "@prc_a", p[0])
		got = append(got, p[1:]...)
	}
	require.Equal(t, keys, got)

	f := New(Config{Dialect: dialect.Postgres})
	queued := make(chan []string, 10)
	f.queue = pubsub.NewCoalescer(0, func(_ context.Context, keys []string) { queued <- keys })
	f.queue.Start(context.Background())
	defer f.queue.Stop()
	f.received([]string{originPfx + f.origin, "req_mine"})
	f.received([]string{"@prc_other", "req_theirs", catchUpMarker + "123"})
	require.Equal(t, []string{"req_theirs", catchUpPfx + "123"}, <-queued, "its own notification is skipped")
}

// execFunc records the arguments of each statement.
type execFunc func(args ...any)

func (f execFunc) ExecContext(_ context.Context, _ string, args ...any) (sql.Result, error) {
	f(args...)
	return nil, nil
}

func splitPayload(p string) []string {
	if len(p) > pubsub.MaxPayload {
		panic("payload too long")
	}
	return strings.Split(p, ",")
}

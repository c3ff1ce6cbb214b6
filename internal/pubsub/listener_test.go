package pubsub_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/pubsub"
)

// postgres returns TEST_DATABASE_URL, skipping the test without it.
func postgres(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("TEST_DATABASE_URL")
	if dsn == "" {
		t.Skip("TEST_DATABASE_URL is not set")
	}
	return dsn
}

type received struct {
	mu         sync.Mutex
	ids        []string
	reconnects []time.Time
}

func (r *received) snapshot() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...), len(r.reconnects)
}

// TestListenerDeliversOnCommitAndResyncsAfterTermination runs the bridge on
// a real PostgreSQL: notifications sent in a transaction arrive only when it
// commits (all IDs, over several payloads), never after a rollback, and
// after the listening connection is killed (pg_terminate_backend) the
// listener reconnects, reports the loss, and receives again.
func TestListenerDeliversOnCommitAndResyncsAfterTermination(t *testing.T) {
	dsn := postgres(t)
	base := runtime.NumGoroutine()
	name := fmt.Sprintf("pubsub_test_%d", time.Now().UnixNano())
	rec := &received{}
	l := pubsub.NewListener(pubsub.ListenerConfig{
		DSN: dsn, Channel: name, ApplicationName: name,
		OnNotify: func(ids []string) {
			rec.mu.Lock()
			rec.ids = append(rec.ids, ids...)
			rec.mu.Unlock()
		},
		OnReconnect: func(lostAt time.Time) {
			rec.mu.Lock()
			rec.reconnects = append(rec.reconnects, lostAt)
			rec.mu.Unlock()
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, l.Start(ctx))

	db, err := sql.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()

	ids := make([]string, 600) // about 18 KB of IDs: three payloads
	for i := range ids {
		ids[i] = fmt.Sprintf("req_01J%023d", i)
	}
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, pubsub.Notify(ctx, tx, name, ids))
	// A marker committed after the open transaction's notifications arrives
	// alone: those wait for their commit.
	require.NoError(t, pubsub.Notify(ctx, db, name, []string{"marker"}))
	require.Eventually(t, func() bool { got, _ := rec.snapshot(); return len(got) > 0 }, time.Minute, 5*time.Millisecond)
	got, _ := rec.snapshot()
	require.Equal(t, []string{"marker"}, got, "nothing before commit")
	require.NoError(t, tx.Commit())
	require.Eventually(t, func() bool { got, _ := rec.snapshot(); return len(got) == 1+len(ids) }, time.Minute, 5*time.Millisecond)
	got, _ = rec.snapshot()
	require.Equal(t, ids, got[1:])

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, pubsub.Notify(ctx, tx, name, []string{"rolled-back"}))
	require.NoError(t, tx.Rollback())

	// Kill the listening connection; the listener reconnects by itself.
	before := time.Now()
	var killed int
	require.NoError(t, db.QueryRowContext(ctx,
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, name).Scan(&killed))
	require.Equal(t, 1, killed, "one listening connection per listener")
	require.Eventually(t, func() bool { _, n := rec.snapshot(); return n == 1 }, time.Minute, 10*time.Millisecond)
	rec.mu.Lock()
	lostAt := rec.reconnects[0]
	rec.mu.Unlock()
	require.False(t, lostAt.Before(before.Add(-time.Second)), "the loss time is when the connection died")

	_, err = db.ExecContext(ctx, `SELECT pg_notify($1, 'after')`, name)
	require.NoError(t, err)
	require.Eventually(t, func() bool { got, _ := rec.snapshot(); return got[len(got)-1] == "after" }, time.Minute, 5*time.Millisecond)
	got, _ = rec.snapshot()
	require.NotContains(t, got, "rolled-back")

	l.Stop()
	l.Stop()
	db.Close()
	waitGoroutines(t, base)
}

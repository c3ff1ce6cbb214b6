package pubsub_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/pubsub"
)

// TestRelayInProcess: without PostgreSQL, SendTx sends nothing (it is not
// even given a transaction) and Committed delivers to every receiver; a
// shared relay leaves delivery to the listener.
func TestRelayInProcess(t *testing.T) {
	t.Parallel()
	r := pubsub.NewRelay("ch", false)
	var got [][]string
	r.Receive(func(n []string) { got = append(got, n) }, nil)
	r.Receive(func(n []string) { got = append(got, n) }, nil)
	require.NoError(t, r.SendTx(context.Background(), nil, "a"))
	require.Empty(t, got)
	r.Committed("a", "b")
	require.Equal(t, [][]string{{"a", "b"}, {"a", "b"}}, got)

	shared := pubsub.NewRelay("ch", true)
	shared.Receive(func(n []string) { t.Fatalf("delivered in process: %v", n) }, nil)
	shared.Committed("a")
}

// TestListenerCarriesMoreChannelsOnOneConnection: a relay's channel rides
// the process's one LISTEN connection: its notices, sent on commit, reach
// the relay's receivers and not the main channel's, and a lost connection
// is reported to the relay too.
func TestListenerCarriesMoreChannelsOnOneConnection(t *testing.T) {
	dsn := postgres(t)
	name := fmt.Sprintf("pubsub_more_%d", time.Now().UnixNano())
	var mu sync.Mutex
	var main, relayed []string
	losses := 0
	relay := pubsub.NewRelay(name+"_relay", true)
	relay.Receive(func(n []string) { mu.Lock(); relayed = append(relayed, n...); mu.Unlock() },
		func(time.Time) { mu.Lock(); losses++; mu.Unlock() })
	l := pubsub.NewListener(pubsub.ListenerConfig{
		DSN: dsn, Channel: name, ApplicationName: name,
		OnNotify: func(ids []string) { mu.Lock(); main = append(main, ids...); mu.Unlock() },
		More:     []pubsub.Channel{relay.Channel()},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, l.Start(ctx))
	defer l.Stop()

	db, err := sql.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, relay.SendTx(ctx, tx, "token_revoked:tok_1", "user_terminated:usr_1"))
	require.NoError(t, pubsub.Notify(ctx, tx, name, []string{"req_1"}))
	require.NoError(t, tx.Commit())
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(relayed) == 2 && len(main) == 1 }, time.Minute, 5*time.Millisecond)
	mu.Lock()
	require.Equal(t, []string{"token_revoked:tok_1", "user_terminated:usr_1"}, relayed)
	require.Equal(t, []string{"req_1"}, main)
	mu.Unlock()

	var killed int
	require.NoError(t, db.QueryRowContext(ctx,
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, name).Scan(&killed))
	require.Equal(t, 1, killed, "one connection for both channels")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return losses == 1 }, time.Minute, 10*time.Millisecond)
}

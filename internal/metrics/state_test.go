package metrics_test

import (
	"database/sql"
	"sync"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/metrics"
)

// TestStateReadOncePerTTL: however many scrapes come at once, the figures
// are read from the database once per TTL; a failed reading is counted and
// the last good one is served meanwhile.
func TestStateReadOncePerTTL(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		pool, err := sql.Open(db.Name, db.DSN)
		require.NoError(t, err)
		t.Cleanup(func() { _ = pool.Close() })
		counter := &dbtest.Counter{}
		client := ent.NewClient(ent.Driver(counter.Wrap(entsql.OpenDB(db.Dialect, pool))))
		clock := &apitest.Clock{}
		m := metrics.New()
		m.RegisterState(metrics.StateConfig{DB: pool, Dialect: db.Dialect, Client: client, Now: clock.Now, TTL: time.Minute})

		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { scrape(t, m) })
		}
		wg.Wait()
		perReading := counter.Count()
		require.Positive(t, perReading)
		body := scrape(t, m)
		require.Equal(t, perReading, counter.Count(), "21 scrapes within the TTL read once")
		require.Contains(t, body, `gatehouse_requests{status="COMPLETED"} 0`)
		require.Contains(t, body, "gatehouse_state_read_errors_total 0")

		clock.Advance(time.Minute)
		scrape(t, m)
		require.Equal(t, 2*perReading, counter.Count(), "read again once the TTL passed")

		require.NoError(t, pool.Close())
		clock.Advance(time.Minute)
		body = scrape(t, m)
		require.Contains(t, body, "gatehouse_state_read_errors_total 1")
		require.Contains(t, body, `gatehouse_requests{status="COMPLETED"} 0`, "the last good reading is served")
	})
}

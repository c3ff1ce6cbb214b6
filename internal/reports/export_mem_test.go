//go:build !race

package reports_test

import (
	"bytes"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/dbtest"
)

// heapWatch is the sink of a download: it counts bytes and rows and, every
// few megabytes, collects garbage and records the live heap, so that the
// peak of what the export holds at once is known.
type heapWatch struct {
	bytes, rows, next int
	base, peak        uint64
	last              byte
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func (h *heapWatch) Write(p []byte) (int, error) {
	h.bytes += len(p)
	h.rows += bytes.Count(p, []byte("\n"))
	if len(p) > 0 {
		h.last = p[len(p)-1]
	}
	if h.bytes >= h.next {
		h.next += 2 << 20
		h.peak = max(h.peak, liveHeap())
	}
	return len(p), nil
}

// TestBulkExportMemoryIsFlat exports 25,000 items (10 per request, each
// with a stage and a reviewer's task whose comment is a kilobyte long, so
// that the export is large with few rows to read) and bounds the growth of
// the live heap while streaming: holding the export, or its items with
// their edges, would take well over the bound. Timing and memory bounds are
// asserted only without -race (DESIGN §8), hence the build tag.
func TestBulkExportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 25,000 items")
	}
	// Not parallel (nor are its subtests): the heap is the process's, and
	// other tests running meanwhile would show in it.
	run := func(t *testing.T, db *dbtest.DB) {
		const n = 25_000
		start := time.Now()
		seed := seedItems(t, db, n, 10, strings.Repeat("a kilobyte", 100))
		seeded := time.Since(start)

		w := &heapWatch{}
		w.base = liveHeap()
		w.peak = w.base
		start = time.Now()
		res := exportTo(t, seed, db, w)
		took := time.Since(start)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, n+1, w.rows, "a header and one row per item")
		require.Equal(t, byte('\n'), w.last)
		growth := int64(w.peak) - int64(w.base)
		t.Logf("%s: seeded %d items in %v; exported %.1f MB in %v; live heap %.1f MB at start, peak growth %.1f MB",
			db.Name, n, seeded.Round(time.Millisecond), float64(w.bytes)/(1<<20), took.Round(time.Millisecond),
			float64(w.base)/(1<<20), float64(growth)/(1<<20))
		require.Greater(t, w.bytes, 15<<20, "the export is large next to the bound")
		require.Less(t, growth, int64(12<<20), "streaming keeps the live heap flat")
	}
	t.Run("sqlite", func(t *testing.T) { run(t, dbtest.NewSQLite(t)) })
	if os.Getenv(dbtest.EnvPostgresURL) != "" {
		t.Run("postgres", func(t *testing.T) { run(t, dbtest.NewPostgres(t)) })
	}
}

package server

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
)

// GCFloor is the heap the garbage collector may grow to before it collects,
// by default: a server whose live heap is a few megabytes (a quiet server, or
// one serving reads) otherwise collects after every few requests.
const GCFloor = 64 << 20

// maxGCPercent bounds the GC percent the tuner sets.
const maxGCPercent = 1000

// TuneGC sets the garbage collector's target for a server process, unless
// the environment sets it (GOGC, or GOMEMLIMIT with GOGC=off): after each
// collection, the next is due when the heap reaches twice the live heap
// (Go's default) or floor bytes, whichever is more. So a small heap is
// collected rarely, and a large one (thousands of subscriptions) grows no
// more than with the default. When the process runs in a cgroup with a
// memory limit and GOMEMLIMIT is unset, the soft memory limit is set to 90%
// of it. It is meant for main, once; tests leave the collector alone.
func TuneGC(getenv func(string) string, floor int64) {
	if getenv("GOMEMLIMIT") == "" {
		if limit := cgroupMemoryLimit(); limit > 0 {
			debug.SetMemoryLimit(limit / 10 * 9)
		}
	}
	if getenv("GOGC") != "" || floor <= 0 {
		return
	}
	t := &gcTuner{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	runtime.SetFinalizer(&gcSentinel{t: t}, (*gcSentinel).collected)
}

// gcTuner sets the GC percent from the live heap after each collection.
type gcTuner struct {
	floor   int64
	sample  []metrics.Sample
	percent atomic.Int64 // the last percent set, for tests
}

// gcSentinel is garbage from birth: its finalizer runs after every
// collection, and makes a new one for the next.
type gcSentinel struct{ t *gcTuner }

func (s *gcSentinel) collected() {
	s.t.tune()
	runtime.SetFinalizer(&gcSentinel{t: s.t}, (*gcSentinel).collected)
}

func (t *gcTuner) tune() {
	metrics.Read(t.sample)
	live := int64(0)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(t.sample[0].Value.Uint64())
	}
	p := gcPercent(live, t.floor)
	if t.percent.Swap(int64(p)) != int64(p) {
		debug.SetGCPercent(p)
	}
}

// gcPercent is the GC percent that puts the next collection at floor
// bytes of heap, or at twice live (percent 100) when that is more; at most
// maxGCPercent.
func gcPercent(live, floor int64) int {
	if live <= 0 {
		return maxGCPercent
	}
	p := (floor - live) * 100 / live
	return int(min(max(p, 100), maxGCPercent))
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup (v2),
// or 0 when there is none or it cannot be read.
func cgroupMemoryLimit() int64 {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil { // "max"
		return 0
	}
	return n
}

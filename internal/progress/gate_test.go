package progress

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSnapshotGate checks the order a requestProgress subscriber sees: the
// snapshot first, then only newer events that change something.
func TestSnapshotGate(t *testing.T) {
	t.Parallel()
	ev := func(seq uint64, print string, forced bool) *Event {
		return &Event{seq: seq, print: print, forced: forced}
	}
	for _, tc := range []struct {
		why     string
		before  []*Event // published before the snapshot is queued
		snap    *Event
		after   []*Event
		wantSeq []uint64
	}{
		{"an event computed before the snapshot is older: dropped",
			[]*Event{ev(4, "a", false)}, ev(5, "b", false), nil, []uint64{5}},
		{"a newer event held while the snapshot was read follows it",
			[]*Event{ev(6, "c", false), ev(7, "d", false)}, ev(5, "b", false), nil, []uint64{5, 7}},
		{"a newer event showing the same as the snapshot is dropped",
			[]*Event{ev(6, "b", false)}, ev(5, "b", false), []*Event{ev(7, "b", false)}, []uint64{5}},
		{"a re-sent (forced) event goes out even unchanged",
			nil, ev(5, "b", false), []*Event{ev(6, "b", true)}, []uint64{5, 6}},
		{"later events pass in order; stale ones do not",
			nil, ev(5, "b", false), []*Event{ev(6, "c", false), ev(3, "x", false), ev(8, "d", false)}, []uint64{5, 6, 8}},
	} {
		g := &snapshotGate{}
		var got []uint64
		for _, e := range tc.before {
			require.False(t, g.pass(e), tc.why)
		}
		g.open(tc.snap, func(e *Event) { got = append(got, e.seq) })
		for _, e := range tc.after {
			if g.pass(e) {
				got = append(got, e.seq)
			}
		}
		require.Equal(t, tc.wantSeq, got, tc.why)
	}
}

package server

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGCPercent(t *testing.T) {
	t.Parallel()
	const floor = 64 << 20
	for _, tc := range []struct {
		name       string
		live       int64
		wantPerc   int
		wantTarget int64 // the heap at which the next collection is due
	}{
		{"a small heap is collected at the floor", 8 << 20, 700, floor},
		{"half the floor: collected at the floor", 32 << 20, 100, floor},
		{"past half the floor: Go's default, twice the live heap", 48 << 20, 100, 96 << 20},
		{"a large heap grows no more than with the default", 1 << 30, 100, 2 << 30},
		{"a tiny heap is bounded by the maximum percent", 1 << 20, maxGCPercent, 11 << 20},
		{"nothing read yet", 0, maxGCPercent, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := gcPercent(tc.live, floor)
			require.Equal(t, tc.wantPerc, p)
			require.Equal(t, tc.wantTarget, tc.live+tc.live*int64(p)/100)
		})
	}
}

package resolvers

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeRows is a query of n rows that records the bound it is counted up to.
type fakeRows struct {
	n, limit int
	filtered bool
}

func (q *fakeRows) CountUpTo(_ context.Context, n int) (int, error) {
	q.limit = n
	return min(q.n, n), nil
}

// TestCappedCount: totalCount counts the filtered query up to totalCountCap
// rows; a filter's error is returned.
func TestCappedCount(t *testing.T) {
	t.Parallel()
	filter := func(q *fakeRows) (*fakeRows, error) { q.filtered = true; return q, nil }
	for _, tc := range []struct{ rows, want int }{{0, 0}, {999, 999}, {totalCountCap, totalCountCap}, {totalCountCap + 1, totalCountCap}, {50_000, totalCountCap}} {
		q := &fakeRows{n: tc.rows}
		got, err := cappedCount(context.Background(), q, filter)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, "%d rows", tc.rows)
		require.Equal(t, totalCountCap, q.limit)
		require.True(t, q.filtered)
	}
	q := &fakeRows{n: 3}
	got, err := cappedCount(context.Background(), q, nil)
	require.NoError(t, err)
	require.Equal(t, 3, got)
	require.False(t, q.filtered)

	bad := errors.New("bad where input")
	_, err = cappedCount(context.Background(), &fakeRows{n: 3}, func(*fakeRows) (*fakeRows, error) { return nil, bad })
	require.ErrorIs(t, err, bad)
}

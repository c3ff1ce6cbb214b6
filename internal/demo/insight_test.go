package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
)

// TestSeedStartDates: every demo person has a start date in the past, and
// the new joiner started 12 days before seeding.
func TestSeedStartDates(t *testing.T) {
	t.Parallel()
	db := dbtest.NewSQLite(t)
	client := newClient(t, db)
	org, err := demo.Seed(context.Background(), client)
	require.NoError(t, err)
	now := time.Now()
	for _, u := range org.Users {
		require.NotNil(t, u.StartDate, "%s has a start date", u.Email)
		require.True(t, u.StartDate.Before(now), u.Email)
	}
	grace := org.User("grace.liu@example.com")
	require.InDelta(t, 12, now.Sub(*grace.StartDate).Hours()/24, 1)
}

package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
)

func TestDeriveRequestStatus(t *testing.T) {
	t.Parallel()
	const (
		pendingReview = enum.ItemStatusPendingReview
		approved      = enum.ItemStatusApproved
		fulfilling    = enum.ItemStatusFulfilling
		fulfilled     = enum.ItemStatusFulfilled
		expired       = enum.ItemStatusExpired
		denied        = enum.ItemStatusDenied
		cancelled     = enum.ItemStatusCancelled
		failed        = enum.ItemStatusFailed
	)
	tests := []struct {
		name  string
		items []enum.ItemStatus
		want  enum.RequestStatus
		why   string
	}{
		{"one pending review", []enum.ItemStatus{pendingReview}, enum.RequestStatusPendingReview,
			"rule 1: an item still in review"},
		{"pending review beats everything", []enum.ItemStatus{fulfilled, failed, denied, pendingReview, approved}, enum.RequestStatusPendingReview,
			"rule 1 is first: any PENDING_REVIEW wins over every other status"},
		{"approved", []enum.ItemStatus{approved, fulfilled}, enum.RequestStatusFulfilling,
			"rule 2: an APPROVED item is about to be fulfilled"},
		{"fulfilling", []enum.ItemStatus{fulfilling, denied}, enum.RequestStatusFulfilling,
			"rule 2: a FULFILLING item wins over a denial"},
		{"fulfilling beats failed", []enum.ItemStatus{failed, fulfilling}, enum.RequestStatusFulfilling,
			"rule 2 comes before rule 3: work still under way wins over a failure"},
		{"failed", []enum.ItemStatus{fulfilled, failed}, enum.RequestStatusFailed,
			"rule 3: a FAILED item needs an IT admin"},
		{"failed beats cancelled", []enum.ItemStatus{cancelled, failed}, enum.RequestStatusFailed,
			"rule 3 comes before rules 4–6"},
		{"all cancelled", []enum.ItemStatus{cancelled, cancelled}, enum.RequestStatusCancelled,
			"rule 4: every item was cancelled"},
		{"all denied", []enum.ItemStatus{denied, denied}, enum.RequestStatusDenied,
			"rule 5: every item was denied"},
		{"denied and cancelled", []enum.ItemStatus{denied, cancelled}, enum.RequestStatusDenied,
			"rule 5: nothing was granted; some denied, the rest cancelled"},
		{"denied and fulfilled", []enum.ItemStatus{denied, fulfilled}, enum.RequestStatusPartiallyCompleted,
			"rule 6: one item granted, one denied"},
		{"cancelled and fulfilled", []enum.ItemStatus{fulfilled, cancelled}, enum.RequestStatusPartiallyCompleted,
			"rule 6: one item granted, one cancelled"},
		{"cancelled and expired", []enum.ItemStatus{cancelled, expired}, enum.RequestStatusPartiallyCompleted,
			"rule 6: an EXPIRED item was granted, so the request is partial, not cancelled"},
		{"all fulfilled", []enum.ItemStatus{fulfilled, fulfilled}, enum.RequestStatusCompleted,
			"rule 7: everything was granted"},
		{"fulfilled and expired", []enum.ItemStatus{fulfilled, expired}, enum.RequestStatusCompleted,
			"rule 7: an EXPIRED item counts as completed"},
		{"no items", nil, enum.RequestStatusCancelled,
			"taken literally, all of no items are cancelled (a request always has items)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := DeriveRequestStatus(tt.items)
			require.Equal(t, tt.want, got, tt.why)
		})
	}
}

func TestIsOpen(t *testing.T) {
	t.Parallel()
	open := map[enum.RequestStatus]bool{
		enum.RequestStatusPendingReview: true,
		enum.RequestStatusFulfilling:    true,
		enum.RequestStatusFailed:        true,
	}
	for _, s := range enum.AllRequestStatuses {
		require.Equal(t, open[s], IsOpen(s), "§4.4: open = PENDING_REVIEW, FULFILLING, FAILED; %s", s)
		require.Equal(t, !open[s], IsCompleted(s), "§4.4: every status is either open or completed; %s", s)
	}
}

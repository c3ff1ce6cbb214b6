package rules

import (
	"slices"

	"gatehouse/ent/schema/enum"
)

// DeriveRequestStatus returns the status of a request from the statuses of
// its items (DESIGN §4.4). The first matching rule wins:
//
//  1. any PENDING_REVIEW → PENDING_REVIEW
//  2. any APPROVED or FULFILLING → FULFILLING
//  3. any FAILED → FAILED
//  4. all CANCELLED → CANCELLED
//  5. all DENIED or CANCELLED → DENIED
//  6. any DENIED or CANCELLED → PARTIALLY_COMPLETED
//  7. else COMPLETED (FULFILLED and EXPIRED items are completed)
//
// A request always has items; taken literally, the rules give CANCELLED for
// none (all of no items are cancelled).
func DeriveRequestStatus(items []enum.ItemStatus) enum.RequestStatus {
	has := func(ss ...enum.ItemStatus) bool {
		return slices.ContainsFunc(items, func(s enum.ItemStatus) bool { return slices.Contains(ss, s) })
	}
	all := func(ss ...enum.ItemStatus) bool {
		return !slices.ContainsFunc(items, func(s enum.ItemStatus) bool { return !slices.Contains(ss, s) })
	}
	switch {
	case has(enum.ItemStatusPendingReview):
		return enum.RequestStatusPendingReview
	case has(enum.ItemStatusApproved, enum.ItemStatusFulfilling):
		return enum.RequestStatusFulfilling
	case has(enum.ItemStatusFailed):
		return enum.RequestStatusFailed
	case all(enum.ItemStatusCancelled):
		return enum.RequestStatusCancelled
	case all(enum.ItemStatusDenied, enum.ItemStatusCancelled):
		return enum.RequestStatusDenied
	case has(enum.ItemStatusDenied, enum.ItemStatusCancelled):
		return enum.RequestStatusPartiallyCompleted
	default:
		return enum.RequestStatusCompleted
	}
}

// IsOpen reports whether a request in status s still needs something to
// happen: PENDING_REVIEW, FULFILLING or FAILED. Open requests block a
// duplicate request for the same beneficiary and entitlement.
func IsOpen(s enum.RequestStatus) bool {
	return slices.Contains(enum.OpenRequestStatuses, s)
}

// IsCompleted reports whether s is final: COMPLETED, PARTIALLY_COMPLETED,
// DENIED or CANCELLED. The request's completed_at is set when it becomes so.
func IsCompleted(s enum.RequestStatus) bool {
	return slices.Contains(enum.CompletedRequestStatuses, s)
}

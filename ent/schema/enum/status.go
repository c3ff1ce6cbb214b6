package enum

// OpenRequestStatuses are the statuses of requests that still need something
// to happen (DESIGN §4.4).
var OpenRequestStatuses = []RequestStatus{RequestStatusPendingReview, RequestStatusFulfilling, RequestStatusFailed}

// CompletedRequestStatuses are the final statuses of requests.
var CompletedRequestStatuses = []RequestStatus{
	RequestStatusCompleted, RequestStatusPartiallyCompleted, RequestStatusDenied, RequestStatusCancelled,
}

package enum

// EmergencyReview is where the after-the-fact review of an emergency
// (break-glass) item stands: the access was provisioned at submission, and
// the review decides whether it stays.
type EmergencyReview string

// Values of EmergencyReview.
const (
	// EmergencyReviewPending: reviewers have not decided yet; the access
	// is in place until its (capped) end.
	EmergencyReviewPending EmergencyReview = "PENDING"
	// EmergencyReviewConfirmed: the review approved; the access stays
	// until its end.
	EmergencyReviewConfirmed EmergencyReview = "CONFIRMED"
	// EmergencyReviewRevoked: the review denied; the access was revoked
	// (or never provisioned, when the denial came first).
	EmergencyReviewRevoked EmergencyReview = "REVOKED"
)

package enum

// PolicyRuleOutcome is what a policy rule decides for an item it matches.
type PolicyRuleOutcome string

// Values of PolicyRuleOutcome.
const (
	// PolicyRuleOutcomeAutoApprove approves the item at submission, with
	// no review.
	PolicyRuleOutcomeAutoApprove PolicyRuleOutcome = "AUTO_APPROVE"
	// PolicyRuleOutcomeAutoDeny refuses the submission with the rule's
	// message.
	PolicyRuleOutcomeAutoDeny PolicyRuleOutcome = "AUTO_DENY"
	// PolicyRuleOutcomeRequireReview reviews the item with the stages of
	// the rule's review policy.
	PolicyRuleOutcomeRequireReview PolicyRuleOutcome = "REQUIRE_REVIEW"
)

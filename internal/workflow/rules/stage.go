package rules

import "gatehouse/ent/schema/enum"

// StageOutcome is what the decisions of one review stage add up to.
type StageOutcome int

// The outcomes of a stage. The zero value is StagePending.
const (
	// StagePending means the stage still waits for decisions.
	StagePending StageOutcome = iota
	// StageApproved means the stage's rule is satisfied.
	StageApproved
	// StageDenied means the stage's rule can no longer be satisfied, or was
	// refused outright.
	StageDenied
)

// String returns PENDING, APPROVED or DENIED.
func (o StageOutcome) String() string {
	switch o {
	case StageApproved:
		return "APPROVED"
	case StageDenied:
		return "DENIED"
	default:
		return "PENDING"
	}
}

// Decided reports whether the outcome is final (approved or denied).
func (o StageOutcome) Decided() bool { return o != StagePending }

// EvaluateStage combines the statuses of a stage's tasks under its rule
// (DESIGN §4.2):
//
//   - ANY: the first decision decides, approve or deny. The workflow makes a
//     decided stage final and skips its other tasks, so approvals and denials
//     never coexist; if they do anyway, the stage is denied (fail closed).
//   - ALL: every task must approve; the first deny denies.
//   - QUORUM n: n approvals approve; the stage is denied as soon as n can no
//     longer be reached, that is when approvals + undecided < n.
//
// REASSIGNED tasks are not reviewers (their replacement is), and SKIPPED
// tasks are not either: a task is skipped only once the stage or the item is
// already decided or cancelled. WAITING and PENDING tasks are undecided.
// quorum is used by QUORUM only; a value below 1 counts as 1, and a value
// above the number of counted reviewers is clamped to it (see ClampQuorum),
// so that a stage can always be decided. A stage with no counted reviewer is
// pending whatever its rule: it never approves itself (submission refuses
// such a stage with NO_REVIEWER). An unknown rule is pending too.
func EvaluateStage(rule enum.StageRule, quorum int, tasks []enum.TaskStatus) StageOutcome {
	var approved, denied, undecided int
	for _, s := range tasks {
		switch s {
		case enum.TaskStatusApproved:
			approved++
		case enum.TaskStatusDenied:
			denied++
		case enum.TaskStatusWaiting, enum.TaskStatusPending:
			undecided++
		}
	}
	reviewers := approved + denied + undecided
	if reviewers == 0 {
		return StagePending
	}
	switch rule {
	case enum.StageRuleAny:
		switch {
		case denied > 0:
			return StageDenied
		case approved > 0:
			return StageApproved
		}
	case enum.StageRuleAll:
		switch {
		case denied > 0:
			return StageDenied
		case approved == reviewers:
			return StageApproved
		}
	case enum.StageRuleQuorum:
		n := ClampQuorum(quorum, reviewers)
		switch {
		case approved >= n:
			return StageApproved
		case approved+undecided < n:
			return StageDenied
		}
	}
	return StagePending
}

// ClampQuorum returns the number of approvals a QUORUM stage with the given
// number of reviewers needs: q, at least 1 and at most reviewers. With no
// reviewers it returns 1, the schema's default, so a stored quorum is always
// valid.
func ClampQuorum(q, reviewers int) int {
	if q > reviewers {
		q = reviewers
	}
	if q < 1 {
		q = 1
	}
	return q
}

package rules

import "gatehouse/ent/schema/enum"

// Completion is how far the review of a request has come (DESIGN §4.3): Done
// of Total review tasks, and Percent = 100·Done/Total.
type Completion struct {
	Done    int
	Total   int
	Percent float64
}

// NewCompletion returns the completion of done tasks out of total. With no
// tasks (an auto-approved request, or a viewer without a task on it) it is
// 0 of 0 at 100%, whatever done says. Counts are the caller's: done is not
// checked against total.
func NewCompletion(done, total int) Completion {
	if total == 0 {
		return Completion{Percent: 100}
	}
	return Completion{Done: done, Total: total, Percent: 100 * float64(done) / float64(total)}
}

// CompletionOf counts a list of task statuses: the tasks that Count, of which
// those that are Done. For a per-reviewer completion pass that reviewer's
// tasks only (a task assigned to a delegate is the delegate's). The workflow
// computes the same numbers with aggregate SQL; this is the reference.
func CompletionOf(tasks []enum.TaskStatus) Completion {
	var done, total int
	for _, s := range tasks {
		if !Counts(s) {
			continue
		}
		total++
		if IsDone(s) {
			done++
		}
	}
	return NewCompletion(done, total)
}

// IsDone reports whether a task in status s is a finished action: APPROVED,
// DENIED or SKIPPED.
func IsDone(s enum.TaskStatus) bool {
	switch s {
	case enum.TaskStatusApproved, enum.TaskStatusDenied, enum.TaskStatusSkipped:
		return true
	}
	return false
}

// Counts reports whether a task in status s counts towards a completion's
// total: every status but REASSIGNED (the replacement task counts instead).
func Counts(s enum.TaskStatus) bool {
	return s != enum.TaskStatusReassigned
}

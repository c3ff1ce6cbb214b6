package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
)

func TestNewCompletion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		done, total int
		want        Completion
		why         string
	}{
		{0, 0, Completion{0, 0, 100}, "no tasks at all is complete"},
		{3, 0, Completion{0, 0, 100}, "with no tasks, done is meaningless and reported as 0"},
		{0, 5, Completion{0, 5, 0}, "nothing done yet"},
		{1, 5, Completion{1, 5, 20}, "§4.3: 1/5 = 20%"},
		{4, 5, Completion{4, 5, 80}, "§4.3: 4/5 = 80%"},
		{1, 2, Completion{1, 2, 50}, "§4.3: M 1/2 = 50%"},
		{1, 3, Completion{1, 3, 100.0 / 3}, "percent is a float, not rounded"},
		{5, 5, Completion{5, 5, 100}, "all done"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, NewCompletion(tt.done, tt.total), tt.why)
	}
}

func TestTaskCounting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s            enum.TaskStatus
		done, counts bool
		why          string
	}{
		{waiting, false, true, "a later stage's task is an action still to come"},
		{pending, false, true, "an action waiting for its reviewer"},
		{approved, true, true, "a decision is a done action"},
		{denied, true, true, "a decision is a done action"},
		{skipped, true, true, "a skipped action needs nothing more, so it is done"},
		{reassigned, false, false, "a reassigned task counts nowhere; its replacement counts"},
	}
	require.Len(t, tests, len(enum.AllTaskStatuses), "every task status has a row")
	for _, tt := range tests {
		require.Equal(t, tt.done, IsDone(tt.s), "IsDone(%s): %s", tt.s, tt.why)
		require.Equal(t, tt.counts, Counts(tt.s), "Counts(%s): %s", tt.s, tt.why)
	}
	require.Equal(t, Completion{2, 3, 100 * 2.0 / 3}, CompletionOf([]enum.TaskStatus{approved, reassigned, skipped, pending}),
		"the reassigned task is left out of the total; approved and skipped are done")
	require.Equal(t, Completion{0, 0, 100}, CompletionOf([]enum.TaskStatus{reassigned}),
		"only a reassigned task is no task at all")
}

// TestWorkedExample replays the worked example of DESIGN §4.3, driving the
// stages with EvaluateStage and measuring with CompletionOf.
func TestWorkedExample(t *testing.T) {
	t.Parallel()
	type task struct {
		item     string
		level    int
		reviewer pulid.ID
		status   enum.TaskStatus
	}
	const (
		m, o1, o2, o3, r pulid.ID = "usr_M", "usr_O1", "usr_O2", "usr_O3", "usr_R"
	)
	// X: stage 1 MANAGER (M), stage 2 APPLICATION_OWNER (O1).
	// Y: stage 1 MANAGER (M), stage 2 APPLICATION_OWNER ANY (O2, O3).
	tasks := []*task{
		{"X", 1, m, pending}, {"X", 2, o1, waiting},
		{"Y", 1, m, pending}, {"Y", 2, o2, waiting}, {"Y", 2, o3, waiting},
	}
	lastLevel := map[string]int{"X": 2, "Y": 2}
	itemStatus := map[string]enum.ItemStatus{"X": enum.ItemStatusPendingReview, "Y": enum.ItemStatusPendingReview}

	stage := func(item string, level int) (ts []*task, ss []enum.TaskStatus) {
		for _, tk := range tasks {
			if tk.item == item && tk.level == level {
				ts, ss = append(ts, tk), append(ss, tk.status)
			}
		}
		return ts, ss
	}
	// decide applies one decision and the consequences of §4.2.
	decide := func(reviewer pulid.ID, item string, s enum.TaskStatus) {
		var level int
		for _, tk := range tasks {
			if tk.item == item && tk.reviewer == reviewer && tk.status == pending {
				tk.status, level = s, tk.level
			}
		}
		require.NotZero(t, level, "%s has a pending task on %s", reviewer, item)
		ts, ss := stage(item, level)
		switch EvaluateStage(enum.StageRuleAny, 1, ss) {
		case StageApproved:
			for _, tk := range ts {
				if tk.status == pending {
					tk.status = skipped
				}
			}
			if level == lastLevel[item] {
				itemStatus[item] = enum.ItemStatusApproved
				return
			}
			next, _ := stage(item, level+1)
			for _, tk := range next {
				tk.status = pending
			}
		case StageDenied:
			for _, tk := range tasks {
				if tk.item == item && (tk.status == pending || tk.status == waiting) {
					tk.status = skipped
				}
			}
			itemStatus[item] = enum.ItemStatusDenied
		}
	}
	completion := func(who pulid.ID) Completion {
		var ss []enum.TaskStatus
		for _, tk := range tasks {
			if who == "" || tk.reviewer == who {
				ss = append(ss, tk.status)
			}
		}
		return CompletionOf(ss)
	}

	steps := []struct {
		name     string
		act      func()
		overall  Completion
		reviewer map[pulid.ID]Completion
		items    map[string]enum.ItemStatus
		why      string
	}{
		{"start", func() {}, NewCompletion(0, 5),
			map[pulid.ID]Completion{m: {0, 2, 0}, o1: {0, 1, 0}, r: {0, 0, 100}},
			map[string]enum.ItemStatus{"X": enum.ItemStatusPendingReview, "Y": enum.ItemStatusPendingReview},
			"all five tasks exist from submission; M has one on each item; R has none"},
		{"M approves X", func() { decide(m, "X", approved) }, Completion{1, 5, 20},
			map[pulid.ID]Completion{m: {1, 2, 50}, o1: {0, 1, 0}},
			map[string]enum.ItemStatus{"X": enum.ItemStatusPendingReview},
			"one action of five; X moves to stage 2 but the total does not move"},
		{"M approves Y", func() { decide(m, "Y", approved) }, Completion{2, 5, 40},
			map[pulid.ID]Completion{m: {2, 2, 100}, o2: {0, 1, 0}, o3: {0, 1, 0}},
			map[string]enum.ItemStatus{"Y": enum.ItemStatusPendingReview},
			"M is done with the request"},
		{"O2 approves Y", func() { decide(o2, "Y", approved) }, Completion{4, 5, 80},
			map[pulid.ID]Completion{o2: {1, 1, 100}, o3: {1, 1, 100}},
			map[string]enum.ItemStatus{"Y": enum.ItemStatusApproved},
			"ANY: O2's approval decides; O3's task is SKIPPED, which counts as done for O3 too"},
		{"O1 denies X", func() { decide(o1, "X", denied) }, Completion{5, 5, 100},
			map[pulid.ID]Completion{o1: {1, 1, 100}, m: {2, 2, 100}, r: {0, 0, 100}},
			map[string]enum.ItemStatus{"X": enum.ItemStatusDenied, "Y": enum.ItemStatusApproved},
			"a denial is a done action too: every task is done; X denied, Y approved"},
	}
	for _, st := range steps {
		st.act()
		require.Equal(t, st.overall, completion(""), "%s overall: %s", st.name, st.why)
		for who, want := range st.reviewer {
			require.Equal(t, want, completion(who), "%s, %s: %s", st.name, who, st.why)
		}
		for item, want := range st.items {
			require.Equal(t, want, itemStatus[item], "%s, item %s: %s", st.name, item, st.why)
		}
	}

	require.Equal(t, enum.RequestStatusFulfilling, DeriveRequestStatus([]enum.ItemStatus{itemStatus["X"], itemStatus["Y"]}),
		"Y approved and about to be fulfilled keeps the request FULFILLING")
	require.Equal(t, enum.RequestStatusPartiallyCompleted, DeriveRequestStatus([]enum.ItemStatus{itemStatus["X"], enum.ItemStatusFulfilled}),
		"once Y is fulfilled, X denied makes the request PARTIALLY_COMPLETED")
}

package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
)

const (
	waiting    = enum.TaskStatusWaiting
	pending    = enum.TaskStatusPending
	approved   = enum.TaskStatusApproved
	denied     = enum.TaskStatusDenied
	skipped    = enum.TaskStatusSkipped
	reassigned = enum.TaskStatusReassigned
)

func TestEvaluateStage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		rule   enum.StageRule
		quorum int
		tasks  []enum.TaskStatus
		want   StageOutcome
		why    string
	}{
		{"ANY untouched", enum.StageRuleAny, 1, []enum.TaskStatus{pending, pending}, StagePending,
			"nobody has decided yet"},
		{"ANY first approves", enum.StageRuleAny, 1, []enum.TaskStatus{approved, pending, pending}, StageApproved,
			"under ANY the first decision decides, and it approved"},
		{"ANY first denies", enum.StageRuleAny, 1, []enum.TaskStatus{pending, denied, pending}, StageDenied,
			"under ANY the first decision decides, and it denied"},
		{"ANY after approval, others skipped", enum.StageRuleAny, 1, []enum.TaskStatus{approved, skipped, skipped}, StageApproved,
			"the tasks skipped when the stage approved do not undo it"},
		{"ANY approve and deny together", enum.StageRuleAny, 1, []enum.TaskStatus{approved, denied}, StageDenied,
			"the workflow never lets both happen; if it did, the stage fails closed"},
		{"ANY waiting stage", enum.StageRuleAny, 1, []enum.TaskStatus{waiting, waiting}, StagePending,
			"a later stage's WAITING tasks are undecided"},
		{"ALL two of three approved", enum.StageRuleAll, 1, []enum.TaskStatus{approved, approved, pending}, StagePending,
			"ALL needs the third approval too"},
		{"ALL three approve", enum.StageRuleAll, 1, []enum.TaskStatus{approved, approved, approved}, StageApproved,
			"every reviewer approved"},
		{"ALL approve, approve, deny", enum.StageRuleAll, 1, []enum.TaskStatus{approved, approved, denied}, StageDenied,
			"under ALL one deny denies, even after two approvals"},
		{"ALL first deny", enum.StageRuleAll, 1, []enum.TaskStatus{denied, pending, pending}, StageDenied,
			"the first deny denies at once, without waiting for the others"},
		{"ALL quorum ignored", enum.StageRuleAll, 2, []enum.TaskStatus{approved, approved, pending}, StagePending,
			"quorum means nothing to ALL"},
		{"QUORUM 2 of 3, one approval", enum.StageRuleQuorum, 2, []enum.TaskStatus{approved, pending, pending}, StagePending,
			"one approval of the two needed"},
		{"QUORUM 2 of 3 approve", enum.StageRuleQuorum, 2, []enum.TaskStatus{approved, pending, approved}, StageApproved,
			"two approvals reach the quorum; the third reviewer need not decide"},
		{"QUORUM 2 of 3, approve and deny", enum.StageRuleQuorum, 2, []enum.TaskStatus{approved, denied, pending}, StagePending,
			"1 approval + 1 undecided can still reach 2"},
		{"QUORUM 2 of 3, two denies", enum.StageRuleQuorum, 2, []enum.TaskStatus{denied, denied, pending}, StageDenied,
			"0 approvals + 1 undecided < 2: the quorum can no longer be reached"},
		{"QUORUM 2 of 3, one deny", enum.StageRuleQuorum, 2, []enum.TaskStatus{denied, pending, pending}, StagePending,
			"two undecided reviewers can still make the quorum"},
		{"QUORUM 3 of 3, one deny", enum.StageRuleQuorum, 3, []enum.TaskStatus{pending, denied, pending}, StageDenied,
			"with everyone needed, one deny makes 3 unreachable"},
		{"QUORUM 5 clamped to 2 reviewers", enum.StageRuleQuorum, 5, []enum.TaskStatus{approved, approved}, StageApproved,
			"a quorum above the number of reviewers is clamped to it, so both approvals suffice"},
		{"QUORUM 0 counts as 1", enum.StageRuleQuorum, 0, []enum.TaskStatus{approved, pending}, StageApproved,
			"a quorum below 1 still needs one approval, and has it"},
		{"QUORUM 0 with no approval", enum.StageRuleQuorum, 0, []enum.TaskStatus{pending, pending}, StagePending,
			"a quorum below 1 never approves without an approval"},
		{"QUORUM after approval, rest skipped", enum.StageRuleQuorum, 2, []enum.TaskStatus{approved, approved, skipped}, StageApproved,
			"the task skipped once the quorum was reached does not count"},
		{"QUORUM after denial, rest skipped", enum.StageRuleQuorum, 2, []enum.TaskStatus{denied, denied, skipped}, StageDenied,
			"a denied stage stays denied once its pending task is skipped"},
		{"ANY reassigned ignored", enum.StageRuleAny, 1, []enum.TaskStatus{reassigned, pending}, StagePending,
			"the REASSIGNED task is not a reviewer; its PENDING replacement has not decided"},
		{"ALL reassigned ignored", enum.StageRuleAll, 1, []enum.TaskStatus{approved, reassigned, approved}, StageApproved,
			"the two tasks that count both approved; the reassigned one is not waited for"},
		{"QUORUM reassigned does not shrink", enum.StageRuleQuorum, 2, []enum.TaskStatus{approved, reassigned, pending}, StagePending,
			"the reassigned task is replaced by the pending one, which may still make the quorum"},
		{"QUORUM reassigned ignored for denial", enum.StageRuleQuorum, 2, []enum.TaskStatus{denied, reassigned, denied, reassigned}, StageDenied,
			"only the two counted tasks matter, and both denied"},
		{"only reassigned and skipped", enum.StageRuleAll, 1, []enum.TaskStatus{reassigned, skipped}, StagePending,
			"a stage without counted reviewers never approves itself"},
		{"no tasks under QUORUM", enum.StageRuleQuorum, 1, nil, StagePending,
			"no reviewers is no decision, not a denial or a vacuous approval"},
		{"unknown rule", enum.StageRule("MAJORITY"), 1, []enum.TaskStatus{approved}, StagePending,
			"an unknown rule never decides"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := EvaluateStage(tt.rule, tt.quorum, tt.tasks)
			require.Equal(t, tt.want, got, "%s: got %s", tt.why, got)
			require.Equal(t, tt.want != StagePending, got.Decided(), tt.why)
		})
	}
}

func TestClampQuorum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q, reviewers, want int
		why                string
	}{
		{2, 3, 2, "a quorum the reviewers can reach stays"},
		{3, 3, 3, "a quorum equal to the reviewers stays"},
		{5, 2, 2, "a quorum larger than the stage's reviewers is clamped to their number"},
		{0, 3, 1, "a quorum needs at least one approval"},
		{-1, 3, 1, "a negative quorum is raised to one"},
		{2, 0, 1, "with no reviewers the result is still a storable quorum of 1"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ClampQuorum(tt.q, tt.reviewers), tt.why)
	}
}

func TestStageOutcomeString(t *testing.T) {
	t.Parallel()
	require.Equal(t, "PENDING", StagePending.String())
	require.Equal(t, "APPROVED", StageApproved.String())
	require.Equal(t, "DENIED", StageDenied.String())
}

package progress_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/progress"
	"gatehouse/internal/workflow/rules"
)

// TestTaskCounts: REASSIGNED tasks count nowhere, a reviewer with only
// such tasks is not listed, and each reviewer's completion is their own.
func TestTaskCounts(t *testing.T) {
	t.Parallel()
	c := progress.TaskCounts{
		{Reviewer: "usr_a", Status: enum.TaskStatusApproved, N: 2},
		{Reviewer: "usr_a", Status: enum.TaskStatusPending, N: 1},
		{Reviewer: "usr_b", Status: enum.TaskStatusReassigned, N: 3},
		{Reviewer: "usr_c", Status: enum.TaskStatusDenied, N: 1},
		{Reviewer: "usr_c", Status: enum.TaskStatusWaiting, N: 1},
	}
	require.Equal(t, rules.NewCompletion(3, 5), c.Overall())
	require.Equal(t, rules.NewCompletion(2, 3), c.Of("usr_a"))
	require.Equal(t, rules.NewCompletion(0, 0), c.Of("usr_b"))
	require.Equal(t, rules.NewCompletion(1, 2), c.Of("usr_c"))
	require.Equal(t, rules.NewCompletion(0, 0), c.Of("usr_nobody"))
	require.Equal(t, []string{"usr_a", "usr_c"}, func() (out []string) {
		for _, id := range c.Reviewers() {
			out = append(out, string(id))
		}
		return out
	}())
	require.Empty(t, progress.TaskCounts(nil).Reviewers())
	require.Equal(t, rules.NewCompletion(0, 0), progress.TaskCounts(nil).Overall())
}

package reports

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
)

func TestTaskRole(t *testing.T) {
	t.Parallel()
	olga := &Person{ID: "usr_o", Name: "Olga Owner", Email: "olga@example.com"}
	for _, tc := range []struct {
		why        string
		kind       enum.ReviewerKind
		origin     audit.Action
		onBehalfOf *Person
		fallback   bool
		want       string
	}{
		{"the stage's reviewer kind names the role", enum.ReviewerKindManager, "", nil, false, "manager"},
		{"application owners", enum.ReviewerKindApplicationOwner, "", nil, false, "application owner"},
		{"designated reviewers", enum.ReviewerKindDesignated, "", nil, false, "designated reviewer"},
		{"risk managers", enum.ReviewerKindRiskManager, "", nil, false, "risk manager"},
		{"a stage resolved to IT admins got them by fallback", enum.ReviewerKindITAdmin, "", nil, false, "fallback (IT admin)"},
		{"an IT admin a stage took to keep its quorum is named a fallback once", enum.ReviewerKindITAdmin, "", nil, true, "fallback (IT admin)"},
		{"a task an escalation created", enum.ReviewerKindManager, audit.TaskEscalated, nil, false, "escalated (manager stage)"},
		{"a task a reassignment created", enum.ReviewerKindApplicationOwner, audit.TaskReassigned, nil, false, "reassigned (application owner stage)"},
		{"a task held on someone's behalf names them", enum.ReviewerKindApplicationOwner, "", olga, false, "delegate of Olga Owner (application owner)"},
		{"an escalation to someone whose delegate took it", enum.ReviewerKindManager, audit.TaskEscalated, olga, false, "delegate of Olga Owner (escalated, manager stage)"},
		{"a reviewer the stage took to keep its quorum", enum.ReviewerKindDesignated, "", nil, true, "fallback (designated reviewer stage)"},
		{"a delegate holding a fallback reviewer's task", enum.ReviewerKindDesignated, "", olga, true, "delegate of Olga Owner (fallback, designated reviewer stage)"},
		{"a fallback's task moved by escalation reads as the move", enum.ReviewerKindManager, audit.TaskEscalated, nil, true, "escalated (manager stage)"},
		{"a fallback's task moved by reassignment reads as the move", enum.ReviewerKindDesignated, audit.TaskReassigned, olga, true, "delegate of Olga Owner (reassigned, designated reviewer stage)"},
		{"an unknown kind reads as words", enum.ReviewerKind("NEW_KIND"), "", nil, false, "new kind"},
	} {
		require.Equal(t, tc.want, taskRole(tc.kind, tc.origin, tc.onBehalfOf, tc.fallback), tc.why)
	}
}

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
		want       string
	}{
		{"the stage's reviewer kind names the role", enum.ReviewerKindManager, "", nil, "manager"},
		{"application owners", enum.ReviewerKindApplicationOwner, "", nil, "application owner"},
		{"designated reviewers", enum.ReviewerKindDesignated, "", nil, "designated reviewer"},
		{"risk managers", enum.ReviewerKindRiskManager, "", nil, "risk manager"},
		{"a stage resolved to IT admins got them by fallback", enum.ReviewerKindITAdmin, "", nil, "fallback (IT admin)"},
		{"a task an escalation created", enum.ReviewerKindManager, audit.TaskEscalated, nil, "escalated (manager stage)"},
		{"a task a reassignment created", enum.ReviewerKindApplicationOwner, audit.TaskReassigned, nil, "reassigned (application owner stage)"},
		{"a task held on someone's behalf names them", enum.ReviewerKindApplicationOwner, "", olga, "delegate of Olga Owner (application owner)"},
		{"an escalation to someone whose delegate took it", enum.ReviewerKindManager, audit.TaskEscalated, olga, "delegate of Olga Owner (escalated, manager stage)"},
		{"an unknown kind reads as words", enum.ReviewerKind("NEW_KIND"), "", nil, "new kind"},
	} {
		require.Equal(t, tc.want, taskRole(tc.kind, tc.origin, tc.onBehalfOf), tc.why)
	}
}

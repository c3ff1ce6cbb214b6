package reports

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
)

func TestReviewRole(t *testing.T) {
	t.Parallel()
	olga := &Person{Name: "Olga Owner"}
	tests := []struct {
		why        string
		kind       enum.ReviewerKind
		origin     audit.Action
		onBehalfOf *Person
		fallback   bool
		want       string
	}{
		{"a stage's own reviewer", enum.ReviewerKindDesignated, "", nil, false, "designated reviewer"},
		{"a reviewer the stage took to keep its quorum", enum.ReviewerKindDesignated, "", nil, true, "fallback (designated reviewer stage)"},
		{"a delegate holding a fallback reviewer's task", enum.ReviewerKindDesignated, "", olga, true, "delegate of Olga Owner (fallback, designated reviewer stage)"},
		{"a fallback's task moved by escalation reads as the move", enum.ReviewerKindManager, audit.TaskEscalated, nil, true, "escalated (manager stage)"},
		{"an IT admin stage is already named a fallback", enum.ReviewerKindITAdmin, "", nil, false, "fallback (IT admin)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, reviewRole(tt.kind, tt.origin, tt.onBehalfOf, tt.fallback), tt.why)
	}
}

package enum_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/errcode"
)

func TestEnumMethods(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"USER", "RISK_MANAGER", "IT_ADMIN"}, enum.PlatformRole("").Values(),
		"ent reads the values in the order of the All list")
	require.Len(t, enum.ItemStatus("").Values(), len(enum.AllItemStatuses))
	require.True(t, enum.TokenScopeRead.IsValid())
	require.False(t, enum.TokenScope("ADMIN").IsValid())

	var b bytes.Buffer
	enum.RequestStatusPartiallyCompleted.MarshalGQL(&b)
	require.Equal(t, `"PARTIALLY_COMPLETED"`, b.String())

	var s enum.StageRule
	require.NoError(t, s.UnmarshalGQL("QUORUM"))
	require.Equal(t, enum.StageRuleQuorum, s)

	for _, tc := range []struct {
		in  any
		msg string
		why string
	}{
		{"MOST", `"MOST" is not a valid StageRule`, "a value not in the list names the type"},
		{"quorum", `"quorum" is not a valid StageRule`, "values are case sensitive"},
		{3, "StageRule must be a string, not int", "only strings unmarshal"},
	} {
		s := enum.StageRuleAll
		err := s.UnmarshalGQL(tc.in)
		require.EqualError(t, err, tc.msg, tc.why)
		require.Equal(t, errcode.InvalidInput, errcode.Of(err), tc.why)
		require.Equal(t, enum.StageRuleAll, s, "a refused value leaves the destination alone")
	}
}

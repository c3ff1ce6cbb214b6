package auth

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
)

func TestRoleForGroups(t *testing.T) {
	t.Parallel()
	mapping := map[string]enum.PlatformRole{
		"admins": enum.PlatformRoleITAdmin, "risk": enum.PlatformRoleRiskManager, "staff": enum.PlatformRoleUser,
	}
	for _, tc := range []struct {
		why    string
		groups []string
		want   enum.PlatformRole
	}{
		{"no groups: USER", nil, enum.PlatformRoleUser},
		{"no mapped group: USER", []string{"engineering"}, enum.PlatformRoleUser},
		{"one mapped group gives its role", []string{"engineering", "risk"}, enum.PlatformRoleRiskManager},
		{"the highest mapped role wins, whatever the order", []string{"admins", "risk", "staff"}, enum.PlatformRoleITAdmin},
		{"a group mapped to USER does not lower another", []string{"risk", "staff"}, enum.PlatformRoleRiskManager},
		{"group names are exact (case matters)", []string{"Admins"}, enum.PlatformRoleUser},
	} {
		require.Equal(t, tc.want, RoleForGroups(mapping, tc.groups), tc.why)
	}
}

func TestGroupsClaim(t *testing.T) {
	t.Parallel()
	c := oidcClaims{"list": []any{"a", 3, "b"}, "one": "solo", "num": 7.0}
	require.Equal(t, []string{"a", "b"}, c.groups("list"), "strings of a list; other values ignored")
	require.Equal(t, []string{"solo"}, c.groups("one"), "a single string is one group")
	require.Nil(t, c.groups("num"), "anything else is no group")
	require.Nil(t, c.groups("missing"))
}

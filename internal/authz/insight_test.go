package authz_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
)

func TestSeesPastHoldings(t *testing.T) {
	t.Parallel()
	const ben = "usr_ben"
	for _, tc := range []struct {
		viewer   *authz.Viewer
		reviewer bool
		want     bool
		why      string
	}{
		{&authz.Viewer{UserID: ben, Role: enum.PlatformRoleUser}, false, true, "the beneficiary reads their own grants"},
		{&authz.Viewer{UserID: "usr_rev", Role: enum.PlatformRoleUser}, true, true, "a reviewer of the request decides on it"},
		{&authz.Viewer{UserID: "usr_req", Role: enum.PlatformRoleUser}, false, false, "the requester of a request for someone else may not read their grants"},
		{&authz.Viewer{UserID: "usr_rm", Role: enum.PlatformRoleRiskManager}, false, true, "risk managers read every grant"},
		{&authz.Viewer{UserID: "usr_it", Role: enum.PlatformRoleITAdmin}, false, true, "IT admins read every grant"},
	} {
		require.Equal(t, tc.want, authz.SeesPastHoldings(tc.viewer, ben, tc.reviewer), tc.why)
	}
}

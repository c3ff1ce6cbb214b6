package authz_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

func TestRequire(t *testing.T) {
	t.Parallel()
	user := &authz.Viewer{UserID: "u1", Role: enum.PlatformRoleUser}
	userRead := &authz.Viewer{UserID: "u1", Role: enum.PlatformRoleUser, ReadOnly: true}
	risk := &authz.Viewer{UserID: "r1", Role: enum.PlatformRoleRiskManager}
	admin := &authz.Viewer{UserID: "a1", Role: enum.PlatformRoleITAdmin}
	adminRead := &authz.Viewer{UserID: "a1", Role: enum.PlatformRoleITAdmin, ReadOnly: true}
	catalog := authz.Need{Role: authz.Admin, Write: true, To: "change the catalog"}
	auditLog := authz.Need{Role: authz.Auditor, To: "read the whole audit log"}

	for _, tc := range []struct {
		name   string
		viewer *authz.Viewer
		need   authz.Need
		code   errcode.Code // empty: allowed
		msg    string
		why    string
	}{
		{"no viewer reads", nil, authz.Need{}, errcode.Unauthenticated, "authentication required",
			"every operation needs an authenticated caller"},
		{"no viewer, admin write", nil, catalog, errcode.Unauthenticated, "authentication required",
			"the missing viewer is reported before any role"},
		{"user reads", user, authz.Need{}, "", "", "any role reads"},
		{"READ token reads", userRead, authz.Need{}, "", "", "a READ token may read"},
		{"user writes", user, authz.Need{Write: true}, "", "", "any role writes with a writing credential"},
		{"READ token writes", userRead, authz.Need{Write: true}, errcode.Forbidden,
			"a READ token cannot change anything", "without To the message says anything"},
		{"READ token names what", userRead, authz.Need{Write: true, To: "create tokens"}, errcode.Forbidden,
			"a READ token cannot create tokens", "To completes the message"},
		{"user on the catalog", user, catalog, errcode.Forbidden,
			"only IT admins may change the catalog", "Admin admits IT admins only"},
		{"risk manager on the catalog", risk, catalog, errcode.Forbidden,
			"only IT admins may change the catalog", "a risk manager reads all but is no IT admin"},
		{"admin on the catalog", admin, catalog, "", "", "an IT admin with a writing credential"},
		{"admin READ token on the catalog", adminRead, catalog, errcode.Forbidden,
			"a READ token cannot change the catalog", "the token's scope limits even an IT admin"},
		{"user READ token on the catalog", userRead, catalog, errcode.Forbidden,
			"only IT admins may change the catalog", "the role is checked before the scope"},
		{"user on the audit log", user, auditLog, errcode.Forbidden,
			"only risk managers and IT admins may read the whole audit log", "Auditor refuses users"},
		{"risk manager on the audit log", risk, auditLog, "", "", "Auditor admits risk managers"},
		{"admin on the audit log", admin, auditLog, "", "", "Auditor admits IT admins"},
		{"admin READ token on the audit log", adminRead, auditLog, "", "", "reading needs no writing scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.viewer != nil {
				ctx = authz.NewContext(ctx, tc.viewer)
			}
			v, err := authz.Require(ctx, tc.need)
			if tc.code == "" {
				require.NoError(t, err, tc.why)
				require.Same(t, tc.viewer, v, tc.why)
				return
			}
			require.Error(t, err, tc.why)
			require.Nil(t, v, tc.why)
			require.Equal(t, tc.code, errcode.Of(err), tc.why)
			require.EqualError(t, err, tc.msg, tc.why)
		})
	}
}

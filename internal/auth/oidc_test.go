package auth

import (
	"encoding/base64"
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

// TestUnverifiedJWTParts: the issuer and the algorithm that pick a token's
// verifier are read from its header and claims without verifying it; a
// token that is not three base64url parts of JSON names neither.
func TestUnverifiedJWTParts(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		why, token, iss, alg string
	}{
		{"a JWT", enc(`{"alg":"RS256"}`) + "." + enc(`{"iss":"https://idp.example"}`) + ".sig", "https://idp.example", "RS256"},
		{"two parts", enc(`{"alg":"RS256"}`) + "." + enc(`{"iss":"https://idp.example"}`), "", ""},
		{"not base64url", "*." + enc(`{"iss":"https://idp.example"}`) + ".sig", "https://idp.example", ""},
		{"not JSON", enc(`{"alg":"RS256"}`) + "." + enc(`iss`) + ".sig", "", "RS256"},
		{"a claim of another type", enc(`{"alg":7}`) + "." + enc(`{"iss":["a"]}`) + ".sig", "", ""},
	} {
		require.Equal(t, tc.iss, unverifiedIssuer(tc.token), tc.why)
		require.Equal(t, tc.alg, jwtAlg(tc.token), tc.why)
	}
	require.True(t, numericTimeClaims(enc(`{}`)+"."+enc(`{"exp":1,"iat":2}`)+".s"))
	require.False(t, numericTimeClaims(enc(`{}`)+"."+enc(`{"exp":"1"}`)+".s"), "a time as a string")
	require.False(t, numericTimeClaims(enc(`{}`)+"."+enc(`{"exp":1}`)), "two parts")
}

package rules

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

const (
	appA pulid.ID = "app_A"
	appB pulid.ID = "app_B"

	e1 pulid.ID = "ent_1"
	e2 pulid.ID = "ent_2"
	e3 pulid.ID = "ent_3"
	e4 pulid.ID = "ent_4"
	e5 pulid.ID = "ent_5" // not requestable
	e6 pulid.ID = "ent_6" // privileged, app B
	e7 pulid.ID = "ent_7" // app B
	e8 pulid.ID = "ent_8" // not in the catalog
)

func catalog() map[pulid.ID]CatalogEntry {
	c := map[pulid.ID]CatalogEntry{}
	for _, id := range []pulid.ID{e1, e2, e3, e4} {
		c[id] = CatalogEntry{ID: id, ApplicationID: appA, Requestable: true}
	}
	c[e5] = CatalogEntry{ID: e5, ApplicationID: appA}
	c[e6] = CatalogEntry{ID: e6, ApplicationID: appB, Requestable: true, Privileged: true}
	c[e7] = CatalogEntry{ID: e7, ApplicationID: appB, Requestable: true}
	return c
}

func ids(entries []CatalogEntry) []pulid.ID {
	var out []pulid.ID
	for _, e := range entries {
		out = append(out, e.ID)
	}
	return out
}

func TestResolveLike(t *testing.T) {
	t.Parallel()
	// Four peers: e1 held by 4, e2 by 3, e3 by 2, e4 by 1.
	peers := []Holding{{e1, e2, e3, e4}, {e1, e2, e3}, {e1, e2}, {e1}}
	tests := []struct {
		name         string
		mode         enum.RequestMode
		in           LikeInput
		wantItems    []pulid.ID
		wantExcluded []Exclusion
		why          string
	}{
		{name: "LIKE_USER gives what is missing", mode: enum.RequestModeLikeUser,
			in:           LikeInput{Candidates: []pulid.ID{e3, e1, e2}, Beneficiary: Holding{e2}},
			wantItems:    []pulid.ID{e1, e3},
			wantExcluded: []Exclusion{{e2, ReasonAlreadyHeld}},
			why:          "the reference user's entitlements the beneficiary lacks, sorted by ID; e2 is held already"},
		{name: "LIKE_USER, nothing missing", mode: enum.RequestModeLikeUser,
			in:           LikeInput{Candidates: []pulid.ID{e1}, Beneficiary: Holding{e1, e2}},
			wantExcluded: []Exclusion{{e1, ReasonAlreadyHeld}},
			why:          "an empty resolution is the caller's NOTHING_TO_REQUEST"},
		{name: "LIKE_USER duplicates", mode: enum.RequestModeLikeUser,
			in:        LikeInput{Candidates: []pulid.ID{e1, e1, e3}},
			wantItems: []pulid.ID{e1, e3},
			why:       "an entitlement proposed twice is one item"},
		{name: "LIKE_ROLE", mode: enum.RequestModeLikeRole,
			in:           LikeInput{Candidates: []pulid.ID{e1, e5, e6}, Beneficiary: Holding{e6}},
			wantItems:    []pulid.ID{e1},
			wantExcluded: []Exclusion{{e5, ReasonNotRequestable}, {e6, ReasonAlreadyHeld}},
			why:          "the role's entitlements minus the non-requestable and the held"},
		{name: "non-requestable excluded", mode: enum.RequestModeLikeUser,
			in:           LikeInput{Candidates: []pulid.ID{e5, e1}},
			wantItems:    []pulid.ID{e1},
			wantExcluded: []Exclusion{{e5, ReasonNotRequestable}},
			why:          "LIKE_* modes leave out non-requestable entitlements and say why"},
		{name: "unknown entitlement", mode: enum.RequestModeLikeUser,
			in:           LikeInput{Candidates: []pulid.ID{e8, e1}},
			wantItems:    []pulid.ID{e1},
			wantExcluded: []Exclusion{{e8, ReasonNotRequestable}},
			why:          "an entitlement missing from the catalog cannot be requested"},
		{name: "not requestable beats held", mode: enum.RequestModeLikeUser,
			in:           LikeInput{Candidates: []pulid.ID{e5}, Beneficiary: Holding{e5}, ExcludeIDs: []pulid.ID{e5}},
			wantExcluded: []Exclusion{{e5, ReasonNotRequestable}},
			why:          "one reason per entitlement, the first that applies"},
		{name: "applicationIds", mode: enum.RequestModeLikeUser,
			in:           LikeInput{Candidates: []pulid.ID{e1, e6, e7}, ApplicationIDs: []pulid.ID{appB}, Beneficiary: Holding{e1}},
			wantItems:    []pulid.ID{e6, e7},
			wantExcluded: []Exclusion{{e1, ReasonOutsideSelected}},
			why:          "applicationIds narrows the mode to app B; e1 of app A is outside, whether held or not"},
		{name: "excludeEntitlementIds", mode: enum.RequestModeLikeRole,
			in:           LikeInput{Candidates: []pulid.ID{e1, e2, e3}, ExcludeIDs: []pulid.ID{e2}},
			wantItems:    []pulid.ID{e1, e3},
			wantExcluded: []Exclusion{{e2, ReasonExcluded}},
			why:          "the requester deselected e2"},
		{name: "exclude what is held", mode: enum.RequestModeLikeRole,
			in:           LikeInput{Candidates: []pulid.ID{e1, e2}, ExcludeIDs: []pulid.ID{e2}, Beneficiary: Holding{e2}},
			wantItems:    []pulid.ID{e1},
			wantExcluded: []Exclusion{{e2, ReasonAlreadyHeld}},
			why:          "already held comes before excluded by request"},
		{name: "LIKE_JOB_TITLE default 0.5", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: peers},
			wantItems: []pulid.ID{e1, e2, e3},
			why:       "held by at least 2 of 4 peers: e1 (4), e2 (3), e3 (2); e4 (1) is not"},
		{name: "LIKE_JOB_TITLE 0.75", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: peers, Threshold: ptr(0.75)},
			wantItems: []pulid.ID{e1, e2},
			why:       "held by at least 3 of 4 peers: e1 and e2; 3/4 is exactly 0.75 and qualifies"},
		{name: "LIKE_JOB_TITLE 1", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: peers, Threshold: ptr(1.0)},
			wantItems: []pulid.ID{e1},
			why:       "only what every peer holds"},
		{name: "LIKE_JOB_TITLE baseline", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: peers, Threshold: ptr(0.75), Baseline: []pulid.ID{e7, e1}},
			wantItems: []pulid.ID{e1, e2, e7},
			why:       "the baseline bundle is added whatever the peers hold; e1 is in both and listed once"},
		{name: "LIKE_JOB_TITLE no peers", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Baseline: []pulid.ID{e7}, Candidates: []pulid.ID{e1}},
			wantItems: []pulid.ID{e7},
			why:       "with no peers only the baseline counts; Candidates mean nothing to LIKE_JOB_TITLE"},
		{name: "LIKE_JOB_TITLE held and non-requestable", mode: enum.RequestModeLikeJobTitle,
			in:           LikeInput{Peers: []Holding{{e1, e5}, {e1, e5}}, Beneficiary: Holding{e1}, Baseline: []pulid.ID{e6}},
			wantItems:    []pulid.ID{e6},
			wantExcluded: []Exclusion{{e1, ReasonAlreadyHeld}, {e5, ReasonNotRequestable}},
			why:          "minus what the beneficiary holds, and non-requestable ones listed as excluded"},
		{name: "peer duplicates", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1, e2, e2}, {e1}, {e1}, {e1}}},
			wantItems: []pulid.ID{e1},
			why:       "a peer holding e2 twice is one holder of four: 0.25 < 0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.in
			in.Catalog = catalog()
			got, err := ResolveLike(tt.mode, in)
			require.NoError(t, err, tt.why)
			require.Equal(t, tt.wantItems, ids(got.Items), tt.why)
			require.Equal(t, tt.wantExcluded, got.Excluded, tt.why)
		})
	}

	t.Run("privileged flagged", func(t *testing.T) {
		t.Parallel()
		got, err := ResolveLike(enum.RequestModeLikeUser, LikeInput{Candidates: []pulid.ID{e7, e6, e1}, Catalog: catalog()})
		require.NoError(t, err)
		require.Equal(t, []CatalogEntry{
			{ID: e1, ApplicationID: appA, Requestable: true},
			{ID: e6, ApplicationID: appB, Requestable: true, Privileged: true},
			{ID: e7, ApplicationID: appB, Requestable: true},
		}, got.Items, "items carry their application and privileged flag")
		require.Equal(t, []pulid.ID{e6}, got.PrivilegedIDs(), "privileged items are flagged, not left out")
	})

	bad := []struct {
		name     string
		mode     enum.RequestMode
		in       LikeInput
		wantCode errcode.Code
		why      string
	}{
		{"threshold 0", enum.RequestModeLikeJobTitle, LikeInput{Threshold: ptr(0.0)}, errcode.InvalidInput,
			"0 would propose everything any peer holds"},
		{"threshold negative", enum.RequestModeLikeJobTitle, LikeInput{Threshold: ptr(-0.5)}, errcode.InvalidInput,
			"a share cannot be negative"},
		{"threshold above 1", enum.RequestModeLikeJobTitle, LikeInput{Threshold: ptr(1.5)}, errcode.InvalidInput,
			"a share cannot exceed all peers"},
		{"threshold NaN", enum.RequestModeLikeJobTitle, LikeInput{Threshold: ptr(math.NaN())}, errcode.InvalidInput,
			"NaN is no share"},
		{"ENTITLEMENTS", enum.RequestModeEntitlements, LikeInput{Candidates: []pulid.ID{e1}}, errcode.Internal,
			"ENTITLEMENTS is validated entitlement by entitlement by the caller, not resolved here"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ResolveLike(tt.mode, tt.in)
			require.Error(t, err, tt.why)
			require.Equal(t, tt.wantCode, errcode.Of(err), "%s: %v", tt.why, err)
		})
	}
}

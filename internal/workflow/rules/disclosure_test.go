package rules

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

func TestDisclosureFor(t *testing.T) {
	t.Parallel()
	var (
		// A USER asking for someone else, whose grants they may not read.
		stranger = Reader{}
		// A USER asking for themself.
		self = Reader{ReadsBeneficiary: true}
		// A risk manager or IT admin.
		all  = Reader{ReadsAll: true, ReadsBeneficiary: true}
		note = []string{NotePrivilegedByName}
	)
	tests := []struct {
		name string
		r    Reader
		mode enum.RequestMode
		want Disclosure
		why  string
	}{
		{"USER for another, ENTITLEMENTS", stranger, enum.RequestModeEntitlements,
			Disclosure{},
			"the beneficiary's holdings, accounts and unseen open requests must not change the answer; the catalog is public, so no note"},
		{"USER for another, LIKE_ROLE", stranger, enum.RequestModeLikeRole,
			Disclosure{},
			"a role's entitlements are catalog data: nothing to hide beyond the beneficiary's holdings"},
		{"USER for another, LIKE_USER", stranger, enum.RequestModeLikeUser,
			Disclosure{HidePrivileged: true, Notes: note},
			"another person's privileged access is never shown to a USER; the note is fixed so it tells nothing"},
		{"USER for another, LIKE_JOB_TITLE", stranger, enum.RequestModeLikeJobTitle,
			Disclosure{HidePrivileged: true, MinCohort: MinCohort, MinHolders: MinCohortHolders, Notes: note},
			"a cohort must be large enough, and each entitlement held widely enough, not to describe one person"},
		{"USER for themself, ENTITLEMENTS", self, enum.RequestModeEntitlements,
			Disclosure{Precise: true},
			"the beneficiary reads their own grants and accounts: ALREADY_HELD, NOT_HELD and accountsToCreate are the truth; their own open requests are all visible to them"},
		{"USER for themself, LIKE_USER", self, enum.RequestModeLikeUser,
			Disclosure{Precise: true, HidePrivileged: true, Notes: note},
			"reading one's own grants does not open the reference's privileged ones"},
		{"USER for themself, LIKE_JOB_TITLE", self, enum.RequestModeLikeJobTitle,
			Disclosure{Precise: true, HidePrivileged: true, MinCohort: MinCohort, MinHolders: MinCohortHolders, Notes: note},
			"the cohort's grants are no more readable for a request for oneself"},
		{"risk manager or IT admin, LIKE_USER", all, enum.RequestModeLikeUser,
			Disclosure{Precise: true, AllOpenRequests: true},
			"they read every grant and request through queries: nothing to hide"},
		{"risk manager or IT admin, LIKE_JOB_TITLE", all, enum.RequestModeLikeJobTitle,
			Disclosure{Precise: true, AllOpenRequests: true},
			"no cohort limits: the first holder of a new title can be onboarded from the baseline"},
		{"inconsistent reader", Reader{ReadsAll: true}, enum.RequestModeEntitlements,
			Disclosure{Precise: true, AllOpenRequests: true},
			"reading everything includes the beneficiary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, DisclosureFor(tt.r, tt.mode), tt.why)
		})
	}
}

func TestCheckReference(t *testing.T) {
	t.Parallel()
	m1, m2 := pulid.ID("usr_M1"), pulid.ID("usr_M2")
	b := Colleague{ID: "usr_B", ManagerID: &m1, Department: "Sales"}
	tests := []struct {
		name     string
		reads    bool
		ref      Colleague
		wantFail bool
		why      string
	}{
		{"readable reference", true, Colleague{ID: "usr_X", ManagerID: &m2, Department: "Legal"}, false,
			"the caller is the reference or reads everyone's grants: nothing new is learnt"},
		{"same manager", false, Colleague{ID: "usr_P", ManagerID: &m1, Department: "Legal"}, false,
			"a teammate of the beneficiary is what LIKE_USER is for"},
		{"same department", false, Colleague{ID: "usr_P", ManagerID: &m2, Department: "Sales"}, false,
			"a colleague in the beneficiary's department is a peer too"},
		{"stranger", false, Colleague{ID: "usr_X", ManagerID: &m2, Department: "Legal"}, true,
			"neither readable nor a peer: copying would list what a stranger holds"},
		{"both without manager", false, Colleague{ID: "usr_X", Department: "Legal"}, true,
			"no manager on either side is not a shared manager"},
		{"both without department", false, Colleague{ID: "usr_X", ManagerID: &m2}, true,
			"an empty department is not a shared department"},
		{"the beneficiary themself", false, b, true,
			"copying the beneficiary onto themself would list what they hold to someone who may not read it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckReference(tt.reads, b, tt.ref)
			if !tt.wantFail {
				require.NoError(t, err, tt.why)
				return
			}
			require.Equal(t, errcode.InvalidInput, errcode.Of(err), tt.why)
			var ce *errcode.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, "referenceUserId", ce.Field)
			require.Equal(t, CheckReference(false, Colleague{ID: "usr_1"}, Colleague{ID: "usr_2"}).Error(), err.Error(),
				"one message for every refused reference, whoever they are")
		})
	}

	t.Run("no department and no manager on one side", func(t *testing.T) {
		t.Parallel()
		lone := Colleague{ID: "usr_L"}
		require.False(t, Peers(lone, Colleague{ID: "usr_K"}), "two people with nothing set share nothing")
		require.True(t, Peers(b, Colleague{ID: "usr_P", ManagerID: &m1}), "peers is symmetric in what it compares")
		require.True(t, Peers(Colleague{ID: "usr_P", ManagerID: &m1}, b))
	})
}

func TestCheckCohort(t *testing.T) {
	t.Parallel()
	limited := DisclosureFor(Reader{}, enum.RequestModeLikeJobTitle)
	open := DisclosureFor(Reader{ReadsAll: true, ReadsBeneficiary: true}, enum.RequestModeLikeJobTitle)
	tests := []struct {
		name     string
		d        Disclosure
		cohort   int
		wantFail bool
		why      string
	}{
		{"USER, nobody", limited, 0, true, "no cohort to hide in"},
		{"USER, one holder", limited, 1, true, "a cohort of one is that person's grants"},
		{"USER, two holders", limited, 2, true, "two people can still be told apart by anyone who knows one of them"},
		{"USER, three holders", limited, 3, false, "the minimum"},
		{"IT admin, one holder", open, 1, false, "they read that person's grants anyway"},
		{"IT admin, nobody", open, 0, false, "the baseline bundle alone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckCohort(tt.d, tt.cohort)
			if !tt.wantFail {
				require.NoError(t, err, tt.why)
				return
			}
			require.Equal(t, errcode.InvalidInput, errcode.Of(err), tt.why)
			require.Equal(t, CheckCohort(limited, 0).Error(), err.Error(), "one fixed message, whatever the size")
		})
	}
}

// TestResolveLikeDisclosure resolves LIKE_* modes under the limits of
// DisclosureFor for a USER caller: the answer must not depend on who holds
// a privileged entitlement, or on what one person alone holds.
func TestResolveLikeDisclosure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		mode         enum.RequestMode
		in           LikeInput
		wantItems    []pulid.ID
		wantExcluded []Exclusion
		why          string
	}{
		{name: "LIKE_USER hides privileged", mode: enum.RequestModeLikeUser,
			in:        LikeInput{Candidates: []pulid.ID{e1, e6, e7}, HidePrivileged: true},
			wantItems: []pulid.ID{e1, e7},
			why:       "e6 is privileged: left out, and not listed as excluded either"},
		{name: "LIKE_USER hides privileged held by the beneficiary", mode: enum.RequestModeLikeUser,
			in:        LikeInput{Candidates: []pulid.ID{e1, e6}, Beneficiary: Holding{e6}, HidePrivileged: true},
			wantItems: []pulid.ID{e1},
			why:       "no 'already held' exclusion for a privileged entitlement: it is dropped first"},
		{name: "LIKE_USER with only privileged", mode: enum.RequestModeLikeUser,
			in:  LikeInput{Candidates: []pulid.ID{e6}, HidePrivileged: true},
			why: "the same empty answer (NOTHING_TO_REQUEST) as a reference who holds nothing"},
		{name: "LIKE_ROLE keeps privileged", mode: enum.RequestModeLikeRole,
			in:        LikeInput{Candidates: []pulid.ID{e1, e6}, HidePrivileged: true},
			wantItems: []pulid.ID{e1, e6},
			why:       "a role's entitlements are catalog data: HidePrivileged is about people's holdings"},
		{name: "LIKE_JOB_TITLE hides privileged held by all", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1, e6}, {e1, e6}, {e1, e6}}, HidePrivileged: true, MinHolders: 2},
			wantItems: []pulid.ID{e1},
			why:       "a cohort's privileged access is not copied to a USER however common"},
		{name: "LIKE_JOB_TITLE baseline keeps privileged", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1}, {e1}, {e1}}, Baseline: []pulid.ID{e6}, HidePrivileged: true, MinHolders: 2},
			wantItems: []pulid.ID{e1, e6},
			why:       "the title's baseline bundle is catalog data and is proposed as before"},
		{name: "LIKE_JOB_TITLE one holder at a tiny threshold", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1, e4}, {e1}, {e1}}, Threshold: ptr(0.01), MinHolders: 2},
			wantItems: []pulid.ID{e1},
			why:       "e4 is held by one peer: 1/3 ≥ 0.01 but below MinHolders, so one person's access is not singled out"},
		{name: "LIKE_JOB_TITLE two holders", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1, e4}, {e1, e4}, {e1}}, Threshold: ptr(0.01), MinHolders: 2},
			wantItems: []pulid.ID{e1, e4},
			why:       "held by two peers: proposed"},
		{name: "LIKE_JOB_TITLE threshold still applies", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1, e4}, {e1, e4}, {e1}, {e1}, {e1}}, Threshold: ptr(0.5), MinHolders: 2},
			wantItems: []pulid.ID{e1},
			why:       "MinHolders adds to the threshold: 2 of 5 < 0.5"},
		{name: "no limits for who reads all", mode: enum.RequestModeLikeJobTitle,
			in:        LikeInput{Peers: []Holding{{e1, e4, e6}}, Threshold: ptr(0.01)},
			wantItems: []pulid.ID{e1, e4, e6},
			why:       "without HidePrivileged and MinHolders (risk managers, IT admins) the old resolution holds"},
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
}

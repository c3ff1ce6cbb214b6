package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// The cast of the reviewer tests.
const (
	uR   pulid.ID = "usr_R"   // requester
	uB   pulid.ID = "usr_B"   // beneficiary
	uM   pulid.ID = "usr_M"   // B's manager
	uO1  pulid.ID = "usr_O1"  // application owner
	uO2  pulid.ID = "usr_O2"  // application owner
	uE   pulid.ID = "usr_E"   // entitlement owner
	uD1  pulid.ID = "usr_D1"  // designated
	uD2  pulid.ID = "usr_D2"  // designated
	uK   pulid.ID = "usr_K"   // risk manager
	uA   pulid.ID = "usr_A"   // IT admin
	uT   pulid.ID = "usr_T"   // terminated
	uX   pulid.ID = "usr_X"   // a delegate
	uGho pulid.ID = "usr_GHO" // nobody the directory knows
)

var now = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

func ptr[T any](v T) *T { return &v }

// directory returns a fresh Directory: B requested by R, every kind
// resolvable.
func directory() Directory {
	people := map[pulid.ID]Person{}
	for _, id := range []pulid.ID{uR, uB, uM, uO1, uO2, uE, uD1, uD2, uK, uA, uX} {
		people[id] = Person{ID: id, Active: true}
	}
	people[uT] = Person{ID: uT, Active: false}
	return Directory{
		RequesterID:         uR,
		BeneficiaryID:       uB,
		ManagerID:           uM,
		ApplicationOwnerIDs: []pulid.ID{uO1, uO2},
		EntitlementOwnerID:  uE,
		RiskManagerIDs:      []pulid.ID{uK},
		ITAdminIDs:          []pulid.ID{uA},
		People:              people,
	}
}

func delegate(d *Directory, from, to pulid.ID, start, until *time.Time) {
	p := d.People[from]
	p.Delegate = &Delegation{To: to, From: start, Until: until}
	d.People[from] = p
}

func terminate(d *Directory, id pulid.ID) {
	p := d.People[id]
	p.Active = false
	d.People[id] = p
}

func direct(ids ...pulid.ID) []Assignment {
	out := make([]Assignment, len(ids))
	for i, id := range ids {
		out[i] = Assignment{Reviewer: id}
	}
	return out
}

func TestResolveStage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		kind       enum.ReviewerKind
		designated []pulid.ID
		edit       func(d *Directory)
		excluded   map[pulid.ID]bool
		wantKind   enum.ReviewerKind
		want       []Assignment
		wantCode   errcode.Code
		why        string
	}{
		// Each kind.
		{name: "MANAGER", kind: enum.ReviewerKindManager,
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "MANAGER is the beneficiary's manager"},
		{name: "APPLICATION_OWNER", kind: enum.ReviewerKindApplicationOwner,
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "APPLICATION_OWNER is every owner of the application, in order"},
		{name: "ENTITLEMENT_OWNER", kind: enum.ReviewerKindEntitlementOwner,
			wantKind: enum.ReviewerKindEntitlementOwner, want: direct(uE),
			why: "ENTITLEMENT_OWNER is the entitlement's owner"},
		{name: "DESIGNATED", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uD1, uD2},
			wantKind: enum.ReviewerKindDesignated, want: direct(uD1, uD2),
			why: "DESIGNATED is the template's users"},
		{name: "RISK_MANAGER", kind: enum.ReviewerKindRiskManager,
			wantKind: enum.ReviewerKindRiskManager, want: direct(uK),
			why: "RISK_MANAGER is every user with that platform role"},
		{name: "IT_ADMIN", kind: ReviewerKindITAdmin,
			wantKind: ReviewerKindITAdmin, want: direct(uA),
			why: "the last fallback may be asked for directly"},

		// Each exclusion.
		{name: "requester excluded", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uR, uD1},
			wantKind: enum.ReviewerKindDesignated, want: direct(uD1),
			why: "the requester never reviews their own request"},
		{name: "beneficiary excluded", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uB, uD1},
			wantKind: enum.ReviewerKindDesignated, want: direct(uD1),
			why: "the beneficiary never reviews access for themselves"},
		{name: "terminated excluded", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uT, uD1},
			wantKind: enum.ReviewerKindDesignated, want: direct(uD1),
			why: "a TERMINATED user reviews nothing"},
		{name: "unknown person excluded", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uGho, uD1},
			wantKind: enum.ReviewerKindDesignated, want: direct(uD1),
			why: "a user missing from People is treated as inactive"},
		{name: "earlier stage excluded", kind: enum.ReviewerKindApplicationOwner, excluded: map[pulid.ID]bool{uO1: true},
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO2),
			why: "O1 reviewed an earlier stage of the item; each stage has distinct people"},
		{name: "requester is the manager", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { d.ManagerID = uR },
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "a manager requesting for their report cannot approve it; MANAGER falls back to APPLICATION_OWNER"},
		{name: "self-request", kind: enum.ReviewerKindApplicationOwner,
			edit:     func(d *Directory) { d.BeneficiaryID = uR; d.ApplicationOwnerIDs = []pulid.ID{uR, uO2} },
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO2),
			why: "an owner requesting for themselves (requester = beneficiary) is excluded once"},

		// Each fallback step.
		{name: "DESIGNATED → APPLICATION_OWNER", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uT},
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "no eligible designated user: DESIGNATED falls back to APPLICATION_OWNER"},
		{name: "DESIGNATED none → APPLICATION_OWNER", kind: enum.ReviewerKindDesignated,
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "a DESIGNATED stage without users falls back the same way"},
		{name: "ENTITLEMENT_OWNER → APPLICATION_OWNER", kind: enum.ReviewerKindEntitlementOwner,
			edit:     func(d *Directory) { d.EntitlementOwnerID = "" },
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "an entitlement without an owner falls back to the application owners"},
		{name: "MANAGER → APPLICATION_OWNER", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { d.ManagerID = "" },
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "a beneficiary without a manager: MANAGER falls back to APPLICATION_OWNER"},
		{name: "APPLICATION_OWNER → RISK_MANAGER", kind: enum.ReviewerKindApplicationOwner,
			edit:     func(d *Directory) { terminate(d, uO1); terminate(d, uO2) },
			wantKind: enum.ReviewerKindRiskManager, want: direct(uK),
			why: "both owners are terminated: next along the chain are the risk managers"},
		{name: "MANAGER → RISK_MANAGER", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { d.ManagerID = ""; d.ApplicationOwnerIDs = nil },
			wantKind: enum.ReviewerKindRiskManager, want: direct(uK),
			why: "no manager and no owners: MANAGER → APPLICATION_OWNER → RISK_MANAGER"},
		{name: "ENTITLEMENT_OWNER → RISK_MANAGER", kind: enum.ReviewerKindEntitlementOwner,
			excluded: map[pulid.ID]bool{uE: true, uO1: true, uO2: true},
			wantKind: enum.ReviewerKindRiskManager, want: direct(uK),
			why: "after APPLICATION_OWNER, ENTITLEMENT_OWNER continues along the chain"},
		{name: "RISK_MANAGER → IT_ADMIN", kind: enum.ReviewerKindRiskManager,
			edit:     func(d *Directory) { d.RiskManagerIDs = nil },
			wantKind: ReviewerKindITAdmin, want: direct(uA),
			why: "no risk manager: the IT admins are the last resort"},
		{name: "MANAGER → IT_ADMIN", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { d.ManagerID = ""; d.ApplicationOwnerIDs = nil; d.RiskManagerIDs = []pulid.ID{uB} },
			wantKind: ReviewerKindITAdmin, want: direct(uA),
			why: "the only risk manager is the beneficiary; the whole chain ends at IT_ADMIN"},

		// Nobody.
		{name: "NO_REVIEWER", kind: enum.ReviewerKindManager,
			edit: func(d *Directory) {
				d.ManagerID, d.ApplicationOwnerIDs, d.RiskManagerIDs, d.ITAdminIDs = "", nil, nil, nil
			},
			wantCode: errcode.NoReviewer,
			why:      "every step of the chain is empty"},
		{name: "NO_REVIEWER, the only admin requests", kind: ReviewerKindITAdmin,
			edit:     func(d *Directory) { d.ITAdminIDs = []pulid.ID{uR} },
			wantCode: errcode.NoReviewer,
			why:      "the only IT admin is the requester, who may not review"},
		{name: "unknown kind", kind: enum.ReviewerKind("AUDITOR"),
			wantCode: errcode.InvalidInput,
			why:      "a kind the rules do not know is refused, not guessed"},

		// Delegation.
		{name: "delegation active", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, at(-time.Hour), at(time.Hour)) },
			wantKind: enum.ReviewerKindManager, want: []Assignment{{Reviewer: uX, OnBehalfOf: ptr(uM)}},
			why: "now is within the delegation: the task goes to X on behalf of M"},
		{name: "delegation unbounded", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: []Assignment{{Reviewer: uX, OnBehalfOf: ptr(uM)}},
			why: "nil bounds are open"},
		{name: "delegation starts now", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, at(0), nil) },
			wantKind: enum.ReviewerKindManager, want: []Assignment{{Reviewer: uX, OnBehalfOf: ptr(uM)}},
			why: "the start is inclusive"},
		{name: "delegation expired", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, at(-48*time.Hour), at(-time.Hour)) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "the delegation ended an hour ago: M reviews"},
		{name: "delegation ends now", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, nil, at(0)) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "the end is exclusive: a delegation until now is over"},
		{name: "delegation not yet", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, at(time.Hour), nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "the delegation starts in an hour: M reviews"},
		{name: "delegate terminated", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uT, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "a terminated delegate cannot act: the task stays with M"},
		{name: "delegate is the requester", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uR, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "delegation must not let the requester approve their own request"},
		{name: "delegate is the beneficiary", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uB, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "delegation must not let the beneficiary approve their own access"},
		{name: "delegate reviewed an earlier stage", kind: enum.ReviewerKindManager, excluded: map[pulid.ID]bool{uX: true},
			edit:     func(d *Directory) { delegate(d, uM, uX, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "X already reviewed this item: the task stays with M"},
		{name: "delegate unknown", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uGho, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "a delegate missing from People is treated as inactive"},
		{name: "self-delegation", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uM, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: direct(uM),
			why: "delegating to oneself changes nothing and sets no on_behalf_of"},
		{name: "delegator terminated", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, nil, nil); terminate(d, uM) },
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO1, uO2),
			why: "a terminated manager is no reviewer, so their delegation does not apply; MANAGER falls back"},

		// Deduplication.
		{name: "duplicate designated", kind: enum.ReviewerKindDesignated, designated: []pulid.ID{uD1, uD2, uD1},
			wantKind: enum.ReviewerKindDesignated, want: direct(uD1, uD2),
			why: "a user named twice gets one task"},
		{name: "delegate is a co-reviewer", kind: enum.ReviewerKindApplicationOwner,
			edit:     func(d *Directory) { delegate(d, uO1, uO2, nil, nil) },
			wantKind: enum.ReviewerKindApplicationOwner, want: direct(uO2),
			why: "O1 delegates to O2, who reviews anyway: one task, in O2's own right"},
		{name: "two reviewers, one delegate", kind: enum.ReviewerKindApplicationOwner,
			edit:     func(d *Directory) { delegate(d, uO1, uX, nil, nil); delegate(d, uO2, uX, nil, nil) },
			wantKind: enum.ReviewerKindApplicationOwner, want: []Assignment{{Reviewer: uX, OnBehalfOf: ptr(uO1)}},
			why: "both owners delegate to X: X gets one task, on behalf of the first"},
		{name: "delegations not chained", kind: enum.ReviewerKindManager,
			edit:     func(d *Directory) { delegate(d, uM, uX, nil, nil); delegate(d, uX, uD1, nil, nil) },
			wantKind: enum.ReviewerKindManager, want: []Assignment{{Reviewer: uX, OnBehalfOf: ptr(uM)}},
			why: "delegation is followed one step: X's own delegation does not move M's task again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := directory()
			if tt.edit != nil {
				tt.edit(&dir)
			}
			excludedBefore := len(tt.excluded)
			got, kind, err := ResolveStage(tt.kind, tt.designated, dir, tt.excluded, now)
			require.Len(t, tt.excluded, excludedBefore, "ResolveStage must not modify excluded")
			if tt.wantCode != "" {
				require.Error(t, err, tt.why)
				require.Equal(t, tt.wantCode, errcode.Of(err), "%s: %v", tt.why, err)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err, tt.why)
			require.Equal(t, tt.wantKind, kind, tt.why)
			require.Equal(t, tt.want, got, tt.why)
		})
	}
}

func TestPlanStages(t *testing.T) {
	t.Parallel()
	reviewers := func(ps PlannedStage) []pulid.ID {
		var ids []pulid.ID
		for _, a := range ps.Assignments {
			ids = append(ids, a.Reviewer)
		}
		return ids
	}

	t.Run("three stages, distinct people", func(t *testing.T) {
		t.Parallel()
		dir := directory()
		// M is also an application owner and a risk manager, O1 also a risk
		// manager: only earlier-stage exclusion keeps them from reviewing twice.
		dir.ApplicationOwnerIDs = []pulid.ID{uM, uO1, uO2}
		dir.RiskManagerIDs = []pulid.ID{uM, uO1, uK}
		templates := []StageTemplate{
			{Level: 3, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 2, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleQuorum, Quorum: 2},
		}
		got, err := PlanStages(templates, dir, now)
		require.NoError(t, err)
		require.Equal(t, []PlannedStage{
			{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1, Assignments: direct(uM)},
			{Level: 2, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleQuorum, Quorum: 2, Assignments: direct(uO1, uO2)},
			{Level: 3, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1, Assignments: direct(uK)},
		}, got, "stages come in level order whatever the input order; M reviews stage 1 only, "+
			"O1 stage 2 only")
		seen := map[pulid.ID]int{}
		for _, ps := range got {
			for _, id := range reviewers(ps) {
				require.Zero(t, seen[id], "%s reviews stage %d and %d", id, seen[id], ps.Level)
				seen[id] = ps.Level
			}
		}
		require.Equal(t, []pulid.ID{uM, uO1, uO2}, dir.ApplicationOwnerIDs, "the directory is not modified")
	})

	t.Run("delegation excludes both people later", func(t *testing.T) {
		t.Parallel()
		dir := directory()
		delegate(&dir, uM, uX, nil, nil)
		dir.Designated = map[int][]pulid.ID{2: {uM, uX, uD2}}
		got, err := PlanStages([]StageTemplate{
			{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleAny, Quorum: 1},
		}, dir, now)
		require.NoError(t, err)
		require.Equal(t, []Assignment{{Reviewer: uX, OnBehalfOf: ptr(uM)}}, got[0].Assignments,
			"stage 1 goes to M's delegate")
		require.Equal(t, direct(uD2), got[1].Assignments,
			"X decided stage 1 on M's behalf, so neither X nor M reviews stage 2")
	})

	t.Run("fallback kind reported", func(t *testing.T) {
		t.Parallel()
		dir := directory()
		dir.ManagerID = ""
		got, err := PlanStages([]StageTemplate{
			{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 2, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleAny, Quorum: 1},
		}, dir, now)
		require.NoError(t, err)
		require.Equal(t, enum.ReviewerKindApplicationOwner, got[0].Kind, "no manager: stage 1 falls back to the owners")
		require.Equal(t, direct(uO1, uO2), got[0].Assignments)
		require.Equal(t, enum.ReviewerKindRiskManager, got[1].Kind,
			"the owners reviewed stage 1, so stage 2 falls back to the risk manager")
		require.Equal(t, direct(uK), got[1].Assignments)
	})

	t.Run("default policy", func(t *testing.T) {
		t.Parallel()
		got, err := PlanStages(DefaultStageTemplates(), directory(), now)
		require.NoError(t, err)
		require.Equal(t, []PlannedStage{{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1, Assignments: direct(uM)}}, got,
			"the built-in default is one MANAGER stage under ANY")
	})

	errs := []struct {
		name      string
		templates []StageTemplate
		edit      func(d *Directory)
		wantCode  errcode.Code
		why       string
	}{
		{"no templates", nil, nil, errcode.Internal,
			"choosing the default policy is the caller's job; an empty plan would approve the item unreviewed"},
		{"NO_REVIEWER in stage 2", []StageTemplate{
			{Level: 1, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleAll, Quorum: 1},
			{Level: 2, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleAny, Quorum: 1},
		}, func(d *Directory) { d.RiskManagerIDs, d.ITAdminIDs = nil, []pulid.ID{uO1} }, errcode.NoReviewer,
			"every candidate of stage 2 already reviewed stage 1"},
		{"duplicate level", []StageTemplate{
			{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 1, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleAny, Quorum: 1},
		}, nil, errcode.InvalidInput, "two stages cannot share a level"},
		{"level 0", []StageTemplate{{Level: 0, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1}},
			nil, errcode.InvalidInput, "levels start at 1"},
		{"unknown rule", []StageTemplate{{Level: 1, Kind: enum.ReviewerKindManager, Rule: "MAJORITY", Quorum: 1}},
			nil, errcode.InvalidInput, "a stage must have a rule EvaluateStage knows"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := directory()
			if tt.edit != nil {
				tt.edit(&dir)
			}
			got, err := PlanStages(tt.templates, dir, now)
			require.Error(t, err, tt.why)
			require.Nil(t, got)
			require.Equal(t, tt.wantCode, errcode.Of(err), "%s: %v", tt.why, err)
		})
	}

	t.Run("NO_REVIEWER names the stage", func(t *testing.T) {
		t.Parallel()
		dir := directory()
		dir.ApplicationOwnerIDs, dir.RiskManagerIDs, dir.ITAdminIDs = nil, nil, nil
		_, err := PlanStages([]StageTemplate{
			{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 2, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
		}, dir, now)
		require.Equal(t, errcode.NoReviewer, errcode.Of(err))
		require.Contains(t, err.Error(), "stage 2 (MANAGER)", "the client learns which stage has nobody")
	})
}

func TestDelegationActiveAt(t *testing.T) {
	t.Parallel()
	var none *Delegation
	require.False(t, none.ActiveAt(now), "no delegation is never active")
	require.False(t, (&Delegation{}).ActiveAt(now), "a delegation to nobody is never active")
}

// TestRoute plays who gets M's task when it becomes PENDING on R's request
// for B, O1 already a reviewer of the item.
func TestRoute(t *testing.T) {
	t.Parallel()
	parties := Parties{RequesterID: uR, BeneficiaryID: uB}
	assigned := map[pulid.ID]bool{uM: true, uO1: true}
	tests := []struct {
		name       string
		edit       func(d *Directory)
		want       Assignment
		passedOver string
		why        string
	}{
		{"no delegation", nil, Assignment{Reviewer: uM}, "",
			"without a delegation the task stays with its reviewer, nothing passed over"},
		{"active delegation", func(d *Directory) { delegate(d, uM, uX, at(-time.Hour), at(time.Hour)) },
			Assignment{Reviewer: uX, OnBehalfOf: ptr(uM)}, "",
			"the delegate gets the task on M's behalf"},
		{"open delegation", func(d *Directory) { delegate(d, uM, uX, nil, nil) },
			Assignment{Reviewer: uX, OnBehalfOf: ptr(uM)}, "",
			"nil bounds are open"},
		{"expired delegation", func(d *Directory) { delegate(d, uM, uX, at(-2*time.Hour), at(-time.Hour)) },
			Assignment{Reviewer: uM}, "",
			"a delegation that ended is not in force: nothing to pass over"},
		{"future delegation", func(d *Directory) { delegate(d, uM, uX, at(time.Hour), nil) },
			Assignment{Reviewer: uM}, "",
			"a delegation not yet in force: nothing to pass over"},
		{"terminated delegate", func(d *Directory) { delegate(d, uM, uT, nil, nil) },
			Assignment{Reviewer: uM}, "not an active user",
			"a TERMINATED delegate gets nothing; the task stays with M and says why"},
		{"unknown delegate", func(d *Directory) { delegate(d, uM, uGho, nil, nil) },
			Assignment{Reviewer: uM}, "not an active user",
			"a delegate missing from People is treated as inactive"},
		{"service account delegate", func(d *Directory) {
			delegate(d, uM, uX, nil, nil)
			d.People[uX] = Person{ID: uX, Active: true, Service: true}
		}, Assignment{Reviewer: uM}, "a service account never reviews",
			"a service account never reviews, as a delegate either"},
		{"delegate is the requester", func(d *Directory) { delegate(d, uM, uR, nil, nil) },
			Assignment{Reviewer: uM}, "the requester",
			"a delegation does not let the requester review their own request"},
		{"delegate is the beneficiary", func(d *Directory) { delegate(d, uM, uB, nil, nil) },
			Assignment{Reviewer: uM}, "the beneficiary",
			"nor the beneficiary"},
		{"delegate already a reviewer", func(d *Directory) { delegate(d, uM, uO1, nil, nil) },
			Assignment{Reviewer: uM}, "already a reviewer of this item",
			"each stage keeps distinct people"},
		{"delegation to oneself", func(d *Directory) { delegate(d, uM, uM, nil, nil) },
			Assignment{Reviewer: uM}, "",
			"a delegation to oneself changes nothing"},
		{"chain", func(d *Directory) {
			delegate(d, uM, uX, nil, nil)
			delegate(d, uX, uD1, nil, nil)
		}, Assignment{Reviewer: uX, OnBehalfOf: ptr(uM)}, "",
			"delegations are followed one step, not along chains"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := directory()
			if tt.edit != nil {
				tt.edit(&d)
			}
			got, passedOver := Route(uM, d.People, parties, assigned, now)
			require.Equal(t, tt.want, got, tt.why)
			require.Equal(t, tt.passedOver, passedOver, tt.why)
		})
	}
}

func TestChoosePolicy(t *testing.T) {
	t.Parallel()
	const appA, appB pulid.ID = "app_A", "app_B"
	tpl := func(app pulid.ID, level int, kind enum.ReviewerKind, designated ...pulid.ID) Template {
		return Template{StageTemplate: StageTemplate{Level: level, Kind: kind, Rule: enum.StageRuleAny, Quorum: 1},
			ApplicationID: app, Designated: designated}
	}
	stages := func(ts ...Template) []StageTemplate {
		out := make([]StageTemplate, len(ts))
		for i, t := range ts {
			out[i] = t.StageTemplate
		}
		return out
	}
	ownMgr, ownDes := tpl(appA, 1, enum.ReviewerKindManager), tpl(appA, 2, enum.ReviewerKindDesignated, uD1, uD2)
	otherApp := tpl(appB, 1, enum.ReviewerKindDesignated, uK)
	globalDes, globalOwner := tpl("", 1, enum.ReviewerKindDesignated, uD2), tpl("", 2, enum.ReviewerKindApplicationOwner)
	tests := []struct {
		name      string
		templates []Template
		want      Policy
		why       string
	}{
		{"own", []Template{globalDes, ownMgr, otherApp, ownDes},
			Policy{Stages: stages(ownMgr, ownDes), Designated: map[int][]pulid.ID{2: {uD1, uD2}}},
			"the application's own templates win over the global policy, with their designated reviewers by level"},
		{"global", []Template{otherApp, globalDes, globalOwner},
			Policy{Stages: stages(globalDes, globalOwner), Designated: map[int][]pulid.ID{1: {uD2}}},
			"an application without templates gets the global default policy, designated reviewers included"},
		{"built-in", []Template{otherApp},
			Policy{Stages: DefaultStageTemplates(), Designated: map[int][]pulid.ID{}},
			"no own and no global templates: one MANAGER stage; another application's templates never apply"},
		{"nothing stored", nil,
			Policy{Stages: DefaultStageTemplates(), Designated: map[int][]pulid.ID{}},
			"an empty catalogue still reviews by the manager"},
		{"own without designated", []Template{ownMgr, globalDes},
			Policy{Stages: stages(ownMgr), Designated: map[int][]pulid.ID{}},
			"the global policy's designated reviewers do not leak into an application's own policy"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ChoosePolicy(appA, tt.templates), "%s: %s", tt.name, tt.why)
	}
}

// TestPlanStagesHonestQuorum plays a stage whose own kind has fewer eligible
// people than its rule needs: stage 1 is always one MANAGER stage (M), so M
// is excluded from stage 2 as an earlier-stage reviewer.
func TestPlanStagesHonestQuorum(t *testing.T) {
	t.Parallel()
	stage1 := StageTemplate{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1}
	tests := []struct {
		name         string
		stage2       StageTemplate
		designated   []pulid.ID
		edit         func(d *Directory)
		want         []Assignment
		wantQuorum   int
		wantFallback []Fallback
		wantWhy      []string // substrings of Resolution; nil for ""
		wantErr      string   // substring of a NO_REVIEWER message
		why          string
	}{
		{
			name:       "QUORUM 2 with one excluded takes an owner",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2},
			designated: []pulid.ID{uM, uD1},
			want:       direct(uD1, uO1), wantQuorum: 2,
			wantFallback: []Fallback{{Reviewer: uO1, Kind: enum.ReviewerKindApplicationOwner}},
			wantWhy:      []string{"needs 2 reviewers", "DESIGNATED left 1 eligible", "usr_M (already a reviewer of this item)", "usr_O1 (APPLICATION_OWNER)"},
			why:          "M reviewed stage 1; the stage takes the first owner and still needs 2 approvals instead of silently needing 1",
		},
		{
			name:       "QUORUM 2 with enough people takes no fallback",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2},
			designated: []pulid.ID{uD1, uD2},
			want:       direct(uD1, uD2), wantQuorum: 2,
			why: "nothing excluded, nothing added",
		},
		{
			name:       "QUORUM 2 skips an excluded owner down the chain",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2},
			designated: []pulid.ID{uM, uD1},
			edit:       func(d *Directory) { d.ApplicationOwnerIDs = []pulid.ID{uB, uT} },
			want:       direct(uD1, uK), wantQuorum: 2,
			wantFallback: []Fallback{{Reviewer: uK, Kind: enum.ReviewerKindRiskManager}},
			wantWhy:      []string{"usr_K (RISK_MANAGER)"},
			why:          "the owners are the beneficiary and a terminated user, so the next eligible person is the risk manager",
		},
		{
			name:       "QUORUM 3 takes one by one along the chain",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 3},
			designated: []pulid.ID{uR, uD1},
			edit:       func(d *Directory) { d.ApplicationOwnerIDs = []pulid.ID{uO1} },
			want:       direct(uD1, uO1, uK), wantQuorum: 3,
			wantFallback: []Fallback{{Reviewer: uO1, Kind: enum.ReviewerKindApplicationOwner}, {Reviewer: uK, Kind: enum.ReviewerKindRiskManager}},
			wantWhy:      []string{"usr_R (the requester)"},
			why:          "the requester never reviews; one owner and then the risk manager make up the number, the IT admin is not needed",
		},
		{
			name:       "ALL with one excluded takes an owner",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleAll, Quorum: 1},
			designated: []pulid.ID{uM, uD1},
			want:       direct(uD1, uO1), wantQuorum: 1,
			wantFallback: []Fallback{{Reviewer: uO1, Kind: enum.ReviewerKindApplicationOwner}},
			wantWhy:      []string{"needs 2 reviewers"},
			why:          "ALL of two named people needs two approvals; M's place goes to an owner",
		},
		{
			name:       "ANY with one excluded takes nobody more",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleAny, Quorum: 1},
			designated: []pulid.ID{uM, uD1},
			want:       direct(uD1), wantQuorum: 1,
			why: "ANY needs one reviewer, which D1 is",
		},
		{
			name:       "only the IT admin is left to fall back to",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2},
			designated: []pulid.ID{uM, uD1},
			edit:       func(d *Directory) { d.ApplicationOwnerIDs, d.RiskManagerIDs = nil, nil },
			want:       direct(uD1, uA), wantQuorum: 2,
			wantFallback: []Fallback{{Reviewer: uA, Kind: ReviewerKindITAdmin}},
			why:          "no owner, no risk manager: the IT-admin fallback",
		},
		{
			name:       "a fallback's delegate gets the task",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2},
			designated: []pulid.ID{uM, uD1},
			edit:       func(d *Directory) { delegate(d, uO1, uX, nil, nil) },
			want:       []Assignment{{Reviewer: uD1}, {Reviewer: uX, OnBehalfOf: ptr(uO1)}}, wantQuorum: 2,
			wantFallback: []Fallback{{Reviewer: uO1, Kind: enum.ReviewerKindApplicationOwner}},
			why:          "a fallback reviewer is routed like any other",
		},
		{
			name:       "nobody to fall back to",
			stage2:     StageTemplate{Level: 2, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2},
			designated: []pulid.ID{uM, uD1},
			edit:       func(d *Directory) { d.ApplicationOwnerIDs, d.RiskManagerIDs, d.ITAdminIDs = nil, nil, nil },
			wantErr:    "stage 2 (DESIGNATED): needs 2 reviewers but DESIGNATED, then APPLICATION_OWNER, then RISK_MANAGER, then IT_ADMIN found only 1 eligible; the number is never lowered",
			why:        "refused with NO_REVIEWER naming the stage rather than approved by one person",
		},
		{
			name:    "ALL of the role with everyone excluded but one, chain too short",
			stage2:  StageTemplate{Level: 2, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAll, Quorum: 1},
			edit:    func(d *Directory) { d.RiskManagerIDs, d.ITAdminIDs = []pulid.ID{uM, uK, uT}, nil },
			wantErr: "needs 3 reviewers",
			why:     "ALL of three risk managers, M excluded and T terminated, cannot be made up without an IT admin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := directory()
			dir.Designated = map[int][]pulid.ID{2: tt.designated}
			if tt.edit != nil {
				tt.edit(&dir)
			}
			got, err := PlanStages([]StageTemplate{stage1, tt.stage2}, dir, now)
			if tt.wantErr != "" {
				require.Equal(t, errcode.NoReviewer, errcode.Of(err), tt.why)
				require.Contains(t, err.Error(), tt.wantErr, tt.why)
				return
			}
			require.NoError(t, err, tt.why)
			require.Equal(t, direct(uM), got[0].Assignments)
			s := got[1]
			require.Equal(t, tt.want, s.Assignments, tt.why)
			require.Equal(t, tt.wantQuorum, s.Quorum, tt.why)
			require.Equal(t, tt.wantFallback, s.Fallbacks, tt.why)
			if tt.wantWhy == nil && tt.wantFallback == nil {
				require.Empty(t, s.Resolution, tt.why)
			}
			for _, w := range tt.wantWhy {
				require.Contains(t, s.Resolution, w, tt.why)
			}
		})
	}
}

func TestPlanStagesResolutionWhenTheKindFindsNobody(t *testing.T) {
	t.Parallel()
	dir := directory()
	dir.Designated = map[int][]pulid.ID{1: {uR, uT}}
	got, err := PlanStages([]StageTemplate{{Level: 1, Kind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2}}, dir, now)
	require.NoError(t, err)
	require.Equal(t, enum.ReviewerKindApplicationOwner, got[0].Kind)
	require.Equal(t, direct(uO1, uO2), got[0].Assignments, "both owners come with the kind that took over")
	require.Empty(t, got[0].Fallbacks, "nobody was added beyond the owners")
	require.Equal(t, "needs 2 reviewers; DESIGNATED found nobody eligible (excluded: usr_R (the requester), usr_T (not an active user)); the stage went to APPLICATION_OWNER",
		got[0].Resolution, "the stage says why it is not the template's kind")
}

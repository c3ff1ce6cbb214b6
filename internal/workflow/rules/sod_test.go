package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// The entitlements of the separation-of-duties tests: a finance
// application's "create vendor" (eV) and "approve payment" (eP), a
// third entitlement of the same set (eX), and one in no set (eN).
const (
	eV pulid.ID = "ent_V"
	eP pulid.ID = "ent_P"
	eX pulid.ID = "ent_X"
	eN pulid.ID = "ent_N"
)

func TestSodConflicts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	block := SodSet{ID: "sod_B", Name: "Vendor and payment", Mode: enum.SodModeBlock, Entitlements: []pulid.ID{eV, eP}}
	warn := SodSet{ID: "sod_W", Name: "Three duties", Mode: enum.SodModeWarn, Entitlements: []pulid.ID{eV, eP, eX}}
	accepted := func(s SodSet, until *time.Time) SodSet {
		s.Acceptance = &enum.SodAcceptanceRef{ID: "soa_1", AcceptedByID: "usr_RM", Reason: "small team", Until: until}
		return s
	}
	type hit struct {
		set     pulid.ID
		members []SodMember
		blocks  bool
	}
	rows := []struct {
		name string
		sets []SodSet
		f    SodFacts
		want map[pulid.ID][]hit
		why  string
	}{
		{"nothing held", []SodSet{block}, SodFacts{Requested: []pulid.ID{eV}}, map[pulid.ID][]hit{},
			"one entitlement of a set alone is no conflict"},
		{"held other", []SodSet{block}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, true}}},
			"an active grant of the other entitlement makes the pair"},
		{"pending other", []SodSet{block}, SodFacts{Pending: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaPending}}, true}}},
			"an open item of another request counts: both could be approved"},
		{"same request", []SodSet{block}, SodFacts{Requested: []pulid.ID{eV, eP}},
			map[pulid.ID][]hit{
				eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaRequested}}, true}},
				eP: {{"sod_B", []SodMember{{eP, enum.SodViaRequested}, {eV, enum.SodViaRequested}}, true}},
			},
			"two items of one request conflict with each other, and each item says so"},
		{"held wins over pending", []SodSet{block}, SodFacts{Held: []pulid.ID{eP}, Pending: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, true}}},
			"an entitlement both held and pending is shown as held, the stronger fact"},
		{"outside any set", []SodSet{block}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eN}}, map[pulid.ID][]hit{},
			"an entitlement in no set never conflicts"},
		{"warn does not block", []SodSet{warn}, SodFacts{Held: []pulid.ID{eX}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_W", []SodMember{{eV, enum.SodViaRequested}, {eX, enum.SodViaHeld}}, false}}},
			"a WARN set reports the conflict and lets it through; any two of a larger set conflict"},
		{"all members listed", []SodSet{warn}, SodFacts{Held: []pulid.ID{eX}, Pending: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_W", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaPending}, {eX, enum.SodViaHeld}}, false}}},
			"the conflict names every entitlement of the set the person would hold, in the set's order"},
		{"two sets", []SodSet{block, warn}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {
				{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, true},
				{"sod_W", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, false},
			}},
			"an item may conflict with several sets; each is reported with its own mode"},
		{"accepted for good", []SodSet{accepted(block, nil)}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, false}}},
			"a risk manager's acceptance with no end lifts the block; the conflict is still reported"},
		{"accepted until later", []SodSet{accepted(block, &later)}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, false}}},
			"an acceptance that has not ended lifts the block"},
		{"acceptance ended", []SodSet{accepted(block, &earlier)}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, true}}},
			"an acceptance whose end has passed no longer lifts the block"},
		{"acceptance ends now", []SodSet{accepted(block, &now)}, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}},
			map[pulid.ID][]hit{eV: {{"sod_B", []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}, true}}},
			"until is the first instant the acceptance no longer runs"},
		{"no sets", nil, SodFacts{Held: []pulid.ID{eP}, Requested: []pulid.ID{eV}}, map[pulid.ID][]hit{},
			"without conflict sets nothing conflicts"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			got := map[pulid.ID][]hit{}
			for id, hs := range SodConflicts(r.sets, r.f, now) {
				for _, h := range hs {
					got[id] = append(got[id], hit{h.Set.ID, h.Entitlements, h.Blocks()})
				}
			}
			require.Equal(t, r.want, got, r.why)
		})
	}
}

func TestSodBlockedNamesSetAndEntitlements(t *testing.T) {
	t.Parallel()
	h := SodHit{Set: &SodSet{Name: "Vendor and payment", Mode: enum.SodModeBlock},
		Entitlements: []SodMember{{eV, enum.SodViaRequested}, {eP, enum.SodViaHeld}}}
	err := SodBlocked(h, "ann@example.com", func(id pulid.ID) string { return string(id) })
	var ce *errcode.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, errcode.SodConflict, ce.Code)
	require.Contains(t, ce.Message, `"Vendor and payment"`)
	require.Contains(t, ce.Message, "ent_V and ent_P")
	require.Contains(t, ce.Message, "ann@example.com")
}

func TestCheckSodSet(t *testing.T) {
	t.Parallel()
	rows := []struct {
		name  string
		setN  string
		mode  enum.SodMode
		ents  []pulid.ID
		field string // "" = valid
		why   string
	}{
		{"valid", "Vendor and payment", enum.SodModeBlock, []pulid.ID{eV, eP}, "", "a name, a mode and two entitlements"},
		{"empty name", " ", enum.SodModeWarn, []pulid.ID{eV, eP}, "name", "a set is named in messages to requesters"},
		{"bad mode", "x", enum.SodMode("MAYBE"), []pulid.ID{eV, eP}, "mode", "only WARN and BLOCK exist"},
		{"one entitlement", "x", enum.SodModeWarn, []pulid.ID{eV}, "entitlementIds", "one entitlement cannot conflict with itself"},
		{"duplicate", "x", enum.SodModeWarn, []pulid.ID{eV, eV}, "entitlementIds", "a repeated entitlement is a mistake, not a second member"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			err := CheckSodSet(r.setN, r.mode, r.ents)
			if r.field == "" {
				require.NoError(t, err, r.why)
				return
			}
			var ce *errcode.Error
			require.ErrorAs(t, err, &ce, r.why)
			require.Equal(t, errcode.InvalidInput, ce.Code, r.why)
			require.Equal(t, r.field, ce.Field, r.why)
		})
	}
}

func TestCheckSodAcceptance(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(24*time.Hour)
	rows := []struct {
		name   string
		reason string
		until  *time.Time
		field  string
		why    string
	}{
		{"for good", "two-person team", nil, "", "an acceptance may have no end"},
		{"until later", "audit season", &future, "", "an acceptance may end"},
		{"no reason", "  ", nil, "reason", "an acceptance is justified to auditors"},
		{"ended", "x", &past, "until", "an acceptance that ended already accepts nothing"},
		{"ends now", "x", &now, "until", "until is exclusive"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			err := CheckSodAcceptance(r.reason, r.until, now)
			if r.field == "" {
				require.NoError(t, err, r.why)
				return
			}
			var ce *errcode.Error
			require.ErrorAs(t, err, &ce, r.why)
			require.Equal(t, r.field, ce.Field, r.why)
		})
	}
}

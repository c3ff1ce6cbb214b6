package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

func TestCheckBreakGlass(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	allowed := func(cap, max *string) RequestPolicy {
		p := BuiltInRequestPolicy()
		p.BreakGlassAllowed = PolicyBool{true, enum.PolicySourceEntitlement}
		if cap != nil {
			p.BreakGlassMaxDuration = PolicyDuration{cap, enum.PolicySourceEntitlement}
		}
		p.MaxDuration = PolicyDuration{max, enum.PolicySourceApplication}
		return p
	}
	reason := ptr("incident 4711")
	in1h, in3h := now.Add(time.Hour), now.Add(3*time.Hour)
	cases := []struct {
		name  string
		p     RequestPolicy
		f     BreakGlassFacts
		want  BreakGlassTime
		code  errcode.Code
		field string
		why   string
	}{
		{"no end: the cap", allowed(ptr("PT2H"), nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason},
			BreakGlassTime{Duration: ptr("PT2H"), Capped: true}, "", "", "emergency access is never permanent: no end asked gets the cap"},
		{"built-in cap", allowed(nil, nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason},
			BreakGlassTime{Duration: ptr("PT4H"), Capped: true}, "", "", "a policy that allows break-glass without a cap gets PT4H"},
		{"duration within the cap", allowed(ptr("PT2H"), nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason, Duration: ptr("PT30M")},
			BreakGlassTime{Duration: ptr("PT30M")}, "", "", "what is asked within the cap is given"},
		{"duration over the cap", allowed(ptr("PT2H"), nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason, Duration: ptr("P3D")},
			BreakGlassTime{Duration: ptr("PT2H"), Capped: true}, "", "", "more than the cap is capped, not refused: an emergency should not fail on its length"},
		{"endsAt within the cap", allowed(ptr("PT2H"), nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason, EndsAt: &in1h},
			BreakGlassTime{EndsAt: &in1h}, "", "", "an absolute end within the cap is kept"},
		{"endsAt past the cap", allowed(ptr("PT2H"), nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason, EndsAt: &in3h},
			BreakGlassTime{Duration: ptr("PT2H"), Capped: true}, "", "", "an end past the cap becomes the cap, counted from provisioning (at once)"},
		{"policy maximum is shorter", allowed(ptr("PT4H"), ptr("PT1H")), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason},
			BreakGlassTime{Duration: ptr("PT1H"), Capped: true}, "", "", "emergency access is never longer than any access the policy allows"},
		{"stored cap over the hard maximum", allowed(ptr("P7D"), nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason},
			BreakGlassTime{Duration: ptr("P1D"), Capped: true}, "", "", "the hard maximum holds whatever is stored"},
		{"not allowed", BuiltInRequestPolicy(), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason},
			BreakGlassTime{}, errcode.BreakGlassNotAllowed, "", "break-glass is off unless a policy turns it on"},
		{"no reason", allowed(nil, nil), BreakGlassFacts{Action: enum.RequestActionGrant},
			BreakGlassTime{}, errcode.InvalidInput, "emergencyReason", "skipping review needs a stated reason"},
		{"blank reason", allowed(nil, nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: ptr(" \t")},
			BreakGlassTime{}, errcode.InvalidInput, "emergencyReason", "spaces say nothing"},
		{"reason checked before the policy", BuiltInRequestPolicy(), BreakGlassFacts{Action: enum.RequestActionGrant},
			BreakGlassTime{}, errcode.InvalidInput, "emergencyReason", "the input's own fault comes first"},
		{"REVOKE", allowed(nil, nil), BreakGlassFacts{Action: enum.RequestActionRevoke, Reason: reason},
			BreakGlassTime{}, errcode.InvalidInput, "emergency", "break-glass grants access; revoking needs no emergency"},
		{"endsAt in the past", allowed(nil, nil), BreakGlassFacts{Action: enum.RequestActionGrant, Reason: reason, EndsAt: &now},
			BreakGlassTime{}, errcode.InvalidInput, "endsAt", "an end not in the future gives no access"},
	}
	for _, c := range cases {
		got, err := CheckBreakGlass(c.p, c.f, now)
		if c.code != "" {
			require.Equal(t, c.code, errcode.Of(err), "%s: %s", c.name, c.why)
			var e *errcode.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, c.field, e.Field, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, got, "%s: %s", c.name, c.why)
	}
}

func TestBreakGlassSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   RequestSettings
		ok   bool
		why  string
	}{
		{"unset", RequestSettings{BreakGlassAllowed: ptr(true)}, true, "the cap inherits"},
		{"a day", RequestSettings{BreakGlassMaxDuration: ptr("P1D")}, true, "the hard maximum itself is allowed"},
		{"over a day", RequestSettings{BreakGlassMaxDuration: ptr("PT25H")}, false, "emergency access longer than a day is a way around review"},
		{"not a duration", RequestSettings{BreakGlassMaxDuration: ptr("4 hours")}, false, "ISO-8601 only"},
		{"zero", RequestSettings{BreakGlassMaxDuration: ptr("PT0S")}, false, "a zero cap would grant nothing"},
	}
	for _, c := range cases {
		err := CheckRequestSettings(c.in)
		if c.ok {
			require.NoError(t, err, "%s: %s", c.name, c.why)
			continue
		}
		var e *errcode.Error
		require.ErrorAs(t, err, &e, "%s: %s", c.name, c.why)
		require.Equal(t, "breakGlassMaxDuration", e.Field, c.name)
	}
}

func TestBreakGlassInherits(t *testing.T) {
	t.Parallel()
	app, ent := pulid.ID("app_1"), pulid.ID("ent_1")
	cases := []struct {
		name         string
		global, a, e *RequestSettings
		allowed      PolicyBool
		cap          PolicyDuration
		why          string
	}{
		{"built in", nil, nil, nil, PolicyBool{false, enum.PolicySourceBuiltIn}, PolicyDuration{ptr("PT4H"), enum.PolicySourceBuiltIn},
			"off, with a four-hour cap, until a policy says otherwise"},
		{"application allows", nil, &RequestSettings{BreakGlassAllowed: ptr(true)}, nil,
			PolicyBool{true, enum.PolicySourceApplication}, PolicyDuration{ptr("PT4H"), enum.PolicySourceBuiltIn},
			"an application's row turns it on for all its entitlements"},
		{"entitlement overrides", &RequestSettings{BreakGlassMaxDuration: ptr("PT1H")}, &RequestSettings{BreakGlassAllowed: ptr(true)},
			&RequestSettings{BreakGlassAllowed: ptr(false)},
			PolicyBool{false, enum.PolicySourceEntitlement}, PolicyDuration{ptr("PT1H"), enum.PolicySourceGlobal},
			"the entitlement's row wins field by field; the cap comes from the global row"},
	}
	for _, c := range cases {
		p := EffectiveRequestPolicy(&app, &ent, c.global, c.a, c.e)
		require.Equal(t, c.allowed, p.BreakGlassAllowed, "%s: %s", c.name, c.why)
		require.Equal(t, c.cap, p.BreakGlassMaxDuration, "%s: %s", c.name, c.why)
	}
}

func TestBreakGlassReview(t *testing.T) {
	t.Parallel()
	manager := StageTemplate{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1}
	risk := StageTemplate{Level: 2, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1}
	owner := StageTemplate{Level: 2, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleAll, Quorum: 1}
	cases := []struct {
		name string
		in   []StageTemplate
		want []StageTemplate
		why  string
	}{
		{"built-in policy", []StageTemplate{manager}, []StageTemplate{manager, risk},
			"the manager and then a risk manager look at emergency access"},
		{"two stages", []StageTemplate{manager, owner}, []StageTemplate{manager, owner, {Level: 3, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1}},
			"the risk manager stage comes last"},
		{"already has one", []StageTemplate{manager, risk}, []StageTemplate{manager, risk},
			"a policy with a risk manager stage is not given a second"},
		{"no stages", nil, []StageTemplate{{Level: 1, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1}},
			"the review is mandatory even where the application approves automatically"},
	}
	for _, c := range cases {
		got := BreakGlassReview(Policy{Stages: c.in})
		require.Equal(t, c.want, got.Stages, "%s: %s", c.name, c.why)
	}
}

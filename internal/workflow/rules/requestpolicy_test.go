package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

func TestEffectiveRequestPolicy(t *testing.T) {
	t.Parallel()
	const (
		ent    = enum.PolicySourceEntitlement
		app    = enum.PolicySourceApplication
		global = enum.PolicySourceGlobal
		built  = enum.PolicySourceBuiltIn
	)
	appID, entID := pulid.ID("app_1"), pulid.ID("ent_1")
	tests := []struct {
		name             string
		global, app, ent *RequestSettings
		wantRequired     PolicyBool
		wantMin          PolicyInt
		wantOthers       PolicyRequestForOthers
		wantMax          *string
		wantMaxSource    enum.PolicySource
		wantPermanent    PolicyBool
		why              string
	}{
		{name: "no rows", wantRequired: PolicyBool{false, built}, wantMin: PolicyInt{0, built},
			wantOthers: PolicyRequestForOthers{enum.RequestForOthersAnyone, built}, wantMaxSource: built, wantPermanent: PolicyBool{true, built},
			why: "without any row the built-in policy is what submission always accepted"},
		{name: "global only", global: &RequestSettings{JustificationRequired: ptr(true), JustificationMinLength: ptr(10)},
			wantRequired: PolicyBool{true, global}, wantMin: PolicyInt{10, global},
			wantOthers: PolicyRequestForOthers{enum.RequestForOthersAnyone, built}, wantMaxSource: built, wantPermanent: PolicyBool{true, built},
			why: "the global row sets what it sets; the rest stays built in"},
		{name: "application overrides global", global: &RequestSettings{JustificationMinLength: ptr(10), MaxDuration: ptr("P90D")},
			app:          &RequestSettings{JustificationMinLength: ptr(20)},
			wantRequired: PolicyBool{false, built}, wantMin: PolicyInt{20, app},
			wantOthers: PolicyRequestForOthers{enum.RequestForOthersAnyone, built}, wantMax: ptr("P90D"), wantMaxSource: global, wantPermanent: PolicyBool{true, built},
			why: "the application's value wins where it sets one, the global value shows through where it does not"},
		{name: "entitlement overrides application", global: &RequestSettings{RequestForOthers: ptr(enum.RequestForOthersAdmins)},
			app:          &RequestSettings{RequestForOthers: ptr(enum.RequestForOthersManagers), PermanentAllowed: ptr(false), MaxDuration: ptr("P30D")},
			ent:          &RequestSettings{RequestForOthers: ptr(enum.RequestForOthersAnyone), MaxDuration: ptr("PT8H")},
			wantRequired: PolicyBool{false, built}, wantMin: PolicyInt{0, built},
			wantOthers: PolicyRequestForOthers{enum.RequestForOthersAnyone, ent}, wantMax: ptr("PT8H"), wantMaxSource: ent, wantPermanent: PolicyBool{false, app},
			why: "entitlement → application → global → built in, field by field"},
		{name: "false is a value", global: &RequestSettings{JustificationRequired: ptr(true)}, app: &RequestSettings{JustificationRequired: ptr(false)},
			wantRequired: PolicyBool{false, app}, wantMin: PolicyInt{0, built},
			wantOthers: PolicyRequestForOthers{enum.RequestForOthersAnyone, built}, wantMaxSource: built, wantPermanent: PolicyBool{true, built},
			why: "an application may turn off what the global policy turns on: only nil inherits"},
	}
	for _, tt := range tests {
		p := EffectiveRequestPolicy(&appID, &entID, tt.global, tt.app, tt.ent)
		require.Equal(t, tt.wantRequired, p.JustificationRequired, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantMin, p.JustificationMinLength, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantOthers, p.RequestForOthers, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantMax, p.MaxDuration.Value, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantMaxSource, p.MaxDuration.Source, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantPermanent, p.PermanentAllowed, "%s: %s", tt.name, tt.why)
		require.Equal(t, &appID, p.ApplicationID)
		require.Equal(t, &entID, p.EntitlementID)
	}
}

func TestCheckRequestSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        RequestSettings
		wantField string
		why       string
	}{
		{"empty", RequestSettings{}, "", "everything inherits"},
		{"full", RequestSettings{JustificationRequired: ptr(true), JustificationMinLength: ptr(10), RequestForOthers: ptr(enum.RequestForOthersManagers),
			MaxDuration: ptr("P30D"), DefaultDuration: ptr("P7D"), PermanentAllowed: ptr(false)}, "", "a coherent policy"},
		{"negative length", RequestSettings{JustificationMinLength: ptr(-1)}, "justificationMinLength", "a length is not negative"},
		{"huge length", RequestSettings{JustificationMinLength: ptr(1001)}, "justificationMinLength", "nobody writes an essay to get access"},
		{"bad max", RequestSettings{MaxDuration: ptr("30 days")}, "maxDuration", "durations are ISO-8601"},
		{"zero default", RequestSettings{DefaultDuration: ptr("PT0S")}, "defaultDuration", "a zero default grants nothing"},
		{"default over max", RequestSettings{MaxDuration: ptr("P7D"), DefaultDuration: ptr("P30D")}, "defaultDuration",
			"the default must itself be allowed"},
		{"unknown who", RequestSettings{RequestForOthers: ptr(enum.RequestForOthers("PEERS"))}, "requestForOthers", "only the listed values"},
	}
	for _, tt := range tests {
		err := CheckRequestSettings(tt.in)
		if tt.wantField == "" {
			require.NoError(t, err, "%s: %s", tt.name, tt.why)
			continue
		}
		var e *errcode.Error
		require.ErrorAs(t, err, &e, "%s: %s", tt.name, tt.why)
		require.Equal(t, errcode.InvalidInput, e.Code, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantField, e.Field, "%s: %s", tt.name, tt.why)
	}
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	const grant, revoke = enum.RequestActionGrant, enum.RequestActionRevoke
	policy := func(s RequestSettings) RequestPolicy { return EffectiveRequestPolicy(nil, nil, &s, nil, nil) }
	anyone := policy(RequestSettings{})
	managers := policy(RequestSettings{RequestForOthers: ptr(enum.RequestForOthersManagers)})
	admins := policy(RequestSettings{RequestForOthers: ptr(enum.RequestForOthersAdmins)})
	required10 := policy(RequestSettings{JustificationRequired: ptr(true), JustificationMinLength: ptr(10)})
	min10 := policy(RequestSettings{JustificationMinLength: ptr(10)})
	max7 := policy(RequestSettings{MaxDuration: ptr("P7D")})
	noPermanent := policy(RequestSettings{PermanentAllowed: ptr(false)})
	withDefault := policy(RequestSettings{PermanentAllowed: ptr(false), DefaultDuration: ptr("P14D")})
	defaultOverMax := EffectiveRequestPolicy(nil, nil, &RequestSettings{PermanentAllowed: ptr(false), DefaultDuration: ptr("P14D")},
		&RequestSettings{MaxDuration: ptr("P7D")}, nil)
	tests := []struct {
		name        string
		p           RequestPolicy
		f           RequestFacts
		wantCode    errcode.Code // "" = accepted
		wantField   string
		wantDefault *string
		why         string
	}{
		{"self, anyone", anyone, RequestFacts{Action: grant}, "", "", nil, "the built-in policy accepts what was always accepted"},
		{"for a peer, anyone", anyone, RequestFacts{Action: grant, ForOthers: true}, "", "", nil, "ANYONE lets anyone request for anyone"},
		{"manager, MANAGERS", managers, RequestFacts{Action: grant, ForOthers: true, RequesterIsManager: true}, "", "", nil,
			"the beneficiary's manager may request for them"},
		{"peer, MANAGERS", managers, RequestFacts{Action: grant, ForOthers: true}, errcode.Forbidden, "", nil,
			"a peer is not the beneficiary's manager"},
		{"self, MANAGERS", managers, RequestFacts{Action: grant}, "", "", nil, "requesting for oneself is never 'for others'"},
		{"admin, ADMINS", admins, RequestFacts{Action: grant, ForOthers: true, RequesterIsAdmin: true}, "", "", nil, "IT admins may always"},
		{"manager, ADMINS", admins, RequestFacts{Action: grant, ForOthers: true, RequesterIsManager: true}, errcode.Forbidden, "", nil,
			"ADMINS leaves out managers"},
		{"revoke for a peer, ADMINS", admins, RequestFacts{Action: revoke, ForOthers: true}, errcode.Forbidden, "", nil,
			"who may act for others applies to REVOKE items too"},
		{"privileged without justification", anyone, RequestFacts{Action: grant, Privileged: true}, errcode.InvalidInput, "justification", nil,
			"privileged access always needs a justification, whatever the policy"},
		{"privileged, blank justification", anyone, RequestFacts{Action: grant, Privileged: true, Justification: ptr("   ")}, errcode.InvalidInput, "justification", nil,
			"spaces are no justification"},
		{"privileged, short, min 10", min10, RequestFacts{Action: grant, Privileged: true, Justification: ptr("need it")}, errcode.InvalidInput, "justification", nil,
			"the minimum length applies to the justification privileged access requires"},
		{"not privileged, short, min 10 not required", min10, RequestFacts{Action: grant, Justification: ptr("x")}, "", "", nil,
			"a minimum length alone does not make a justification required"},
		{"required, missing", required10, RequestFacts{Action: grant}, errcode.InvalidInput, "justification", nil, "required and missing"},
		{"required, 9 characters", required10, RequestFacts{Action: grant, Justification: ptr(" 123456789 ")}, errcode.InvalidInput, "justification", nil,
			"spaces around it are not counted"},
		{"required, 10 characters", required10, RequestFacts{Action: grant, Justification: ptr("éééééééééé")}, "", "", nil,
			"characters, not bytes"},
		{"required, REVOKE", required10, RequestFacts{Action: revoke}, "", "", nil, "removing access needs no justification"},
		{"duration within max", max7, RequestFacts{Action: grant, Duration: ptr("P7D")}, "", "", nil, "the maximum itself is allowed"},
		{"duration over max", max7, RequestFacts{Action: grant, Duration: ptr("P8D")}, errcode.InvalidInput, "duration", nil, "longer than the maximum"},
		{"endsAt over max", max7, RequestFacts{Action: grant, EndsAt: at(8 * 24 * time.Hour)}, errcode.InvalidInput, "endsAt", nil,
			"an end further from now than the maximum"},
		{"permanent, max only", max7, RequestFacts{Action: grant}, "", "", nil,
			"a maximum bounds temporary access; permanent access is a separate setting"},
		{"permanent refused", noPermanent, RequestFacts{Action: grant}, errcode.InvalidInput, "duration", nil,
			"no end and no default where permanent access is not allowed"},
		{"permanent gets default", withDefault, RequestFacts{Action: grant}, "", "", ptr("P14D"),
			"the default duration applies when the request names no end"},
		{"explicit duration beats default", withDefault, RequestFacts{Action: grant, Duration: ptr("P1D")}, "", "", nil,
			"a named end is kept"},
		{"default capped to max", defaultOverMax, RequestFacts{Action: grant}, "", "", ptr("P7D"),
			"a default inherited from above is capped to a stricter maximum"},
		{"REVOKE, no permanent", noPermanent, RequestFacts{Action: revoke}, "", "", nil, "a REVOKE takes no time"},
	}
	for _, tt := range tests {
		tt.f.Item = `"Admin" of Payroll`
		got, err := CheckRequest(tt.p, tt.f, now)
		if tt.wantCode == "" {
			require.NoError(t, err, "%s: %s", tt.name, tt.why)
			require.Equal(t, tt.wantDefault, got, "%s: %s", tt.name, tt.why)
			continue
		}
		var e *errcode.Error
		require.ErrorAs(t, err, &e, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantCode, e.Code, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantField, e.Field, "%s: %s", tt.name, tt.why)
		require.Contains(t, e.Message, `"Admin" of Payroll`, "%s: the message names the item", tt.name)
	}
}

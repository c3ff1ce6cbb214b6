package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/errcode"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
		why  string
	}{
		{"PT8H", 8 * time.Hour, true, "a working day of access"},
		{"P30D", 30 * day, true, "a day is 24 hours"},
		{"P1W", 7 * day, true, "a week is 7 days"},
		{"P1DT12H", 36 * time.Hour, true, "date and time parts add up"},
		{"PT1.5H", 90 * time.Minute, true, "fractions are allowed"},
		{"PT90S", 90 * time.Second, true, "seconds"},
		{"P1Y", 365 * day, true, "a year is 365 days"},
		{"P1M", 365 * day / 12, true, "a month is a twelfth of a year"},
		{"", 0, false, "empty is not a duration"},
		{"8h", 0, false, "Go syntax is not ISO-8601"},
		{"P1H", 0, false, "hours need the T separator"},
		{"PT5", 0, false, "a number without a unit"},
		{"P", 0, false, "no length at all"},
		{"PT0S", 0, false, "a zero duration grants nothing"},
		{"-PT1H", 0, false, "a negative duration ends before it starts"},
		{"P400Y", 0, false, "longer than time.Duration can hold"},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if !tt.ok {
			require.Error(t, err, "%q: %s", tt.in, tt.why)
			require.Equal(t, errcode.InvalidInput, errcode.Of(err), "%q: %s", tt.in, tt.why)
			var e *errcode.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, "duration", e.Field, "%q: the error names the field", tt.in)
			continue
		}
		require.NoError(t, err, "%q: %s", tt.in, tt.why)
		require.Equal(t, tt.want, got, "%q: %s", tt.in, tt.why)
	}
}

func TestCheckTime(t *testing.T) {
	t.Parallel()
	const (
		grant  = enum.RequestActionGrant
		revoke = enum.RequestActionRevoke
	)
	max30 := ptr("P30D")
	tests := []struct {
		name      string
		action    enum.RequestAction
		endsAt    *time.Time
		duration  *string
		max       *string
		wantField string // "" = accepted
		why       string
	}{
		{"permanent, no maximum", grant, nil, nil, nil, "",
			"neither endsAt nor duration is permanent access, allowed when the app has no maximum"},
		{"permanent, maximum", grant, nil, nil, max30, "duration",
			"a permanent GRANT where the application sets max_access_duration"},
		{"both", grant, at(time.Hour), ptr("PT8H"), nil, "endsAt",
			"endsAt and duration exclude each other"},
		{"both on REVOKE", revoke, at(time.Hour), ptr("PT8H"), nil, "endsAt",
			"giving both is refused before the action is looked at"},
		{"REVOKE with endsAt", revoke, at(time.Hour), nil, nil, "endsAt",
			"a REVOKE takes no time"},
		{"REVOKE with duration", revoke, nil, ptr("PT8H"), nil, "duration",
			"a REVOKE takes no time"},
		{"REVOKE, app maximum", revoke, nil, nil, max30, "",
			"the maximum bounds access given, not access taken away"},
		{"endsAt in the past", grant, at(-time.Hour), nil, nil, "endsAt",
			"access that already ended"},
		{"endsAt now", grant, at(0), nil, nil, "endsAt",
			"endsAt must be strictly in the future"},
		{"endsAt in an hour", grant, at(time.Hour), nil, nil, "",
			"a future end without a maximum"},
		{"endsAt in ten years, no maximum", grant, at(10 * 365 * 24 * time.Hour), nil, nil, "",
			"no maximum, no limit"},
		{"endsAt at the maximum", grant, at(30 * 24 * time.Hour), nil, max30, "",
			"exactly now + maximum is allowed"},
		{"endsAt past the maximum", grant, at(30*24*time.Hour + time.Second), nil, max30, "endsAt",
			"one second past now + maximum"},
		{"duration", grant, nil, ptr("PT8H"), nil, "",
			"a duration without a maximum"},
		{"duration at the maximum", grant, nil, ptr("P30D"), max30, "",
			"a duration equal to the maximum is allowed"},
		{"duration within the maximum", grant, nil, ptr("PT720H"), max30, "",
			"the same length written in hours"},
		{"duration over the maximum", grant, nil, ptr("P31D"), max30, "duration",
			"31 days exceed 30"},
		{"month over 30 days", grant, nil, ptr("P1M"), max30, "duration",
			"a month is 30.4 days, more than P30D"},
		{"bad duration", grant, nil, ptr("eight hours"), nil, "duration",
			"not ISO-8601"},
		{"zero duration", grant, nil, ptr("PT0S"), nil, "duration",
			"a duration must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckTime(tt.action, tt.endsAt, tt.duration, tt.max, now)
			if tt.wantField == "" {
				require.NoError(t, err, tt.why)
				return
			}
			require.Equal(t, errcode.InvalidInput, errcode.Of(err), "%s: %v", tt.why, err)
			var e *errcode.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.wantField, e.Field, tt.why)
		})
	}

	t.Run("bad application maximum", func(t *testing.T) {
		t.Parallel()
		err := CheckTime(grant, nil, ptr("PT8H"), ptr("forever"), now)
		require.Error(t, err)
		require.Equal(t, errcode.Internal, errcode.Of(err),
			"a maximum that does not parse is the application's fault, not the client's input")
	})
}

func TestAccessEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		endsAt    *time.Time
		duration  *string
		want      *time.Time
		wantField string // "" = no error
		why       string
	}{
		{"permanent", nil, nil, nil, "",
			"neither endsAt nor duration: the grant has no end"},
		{"endsAt", at(48 * time.Hour), nil, at(48 * time.Hour), "",
			"an absolute end is kept as requested, whenever provisioning happens"},
		{"endsAt already passed", at(-time.Hour), nil, at(-time.Hour), "",
			"a slow approval does not move the requested end; the expiry job ends the grant at once"},
		{"duration", nil, ptr("PT8H"), at(8 * time.Hour), "",
			"a duration counts from provisioning, not from submission"},
		{"duration in days", nil, ptr("P30D"), at(30 * 24 * time.Hour), "",
			"a day is 24 hours"},
		{"both", at(time.Hour), ptr("PT8H"), at(time.Hour), "",
			"submission refuses both; were both stored, the absolute end wins"},
		{"bad duration", nil, ptr("eight hours"), nil, "duration",
			"a stored duration that does not parse is an error, not permanent access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := AccessEnd(tt.endsAt, tt.duration, now)
			if tt.wantField != "" {
				var e *errcode.Error
				require.ErrorAs(t, err, &e, tt.why)
				require.Equal(t, errcode.InvalidInput, e.Code, tt.why)
				require.Equal(t, tt.wantField, e.Field, tt.why)
				return
			}
			require.NoError(t, err, tt.why)
			require.Equal(t, tt.want, got, tt.why)
		})
	}
}

func TestGrantDue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		endsAt    *time.Time
		revokedAt *time.Time
		want      bool
		why       string
	}{
		{"permanent", nil, nil, false,
			"a grant without an end never expires"},
		{"ends later", at(time.Second), nil, false,
			"an early job (or one left from before an extension) does nothing"},
		{"ends now", at(0), nil, true,
			"the end is reached at the instant it names"},
		{"ended an hour ago", at(-time.Hour), nil, true,
			"an expiry missed while the server was down runs when it comes back"},
		{"already revoked", at(-time.Hour), at(-time.Minute), false,
			"a revoked grant is not ended twice (a repeated job, or a REVOKE request first)"},
		{"revoked permanent", nil, at(-time.Minute), false,
			"revoked and without an end"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, GrantDue(tt.endsAt, tt.revokedAt, now), "%s: %s", tt.name, tt.why)
	}
}

package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/sosodev/duration"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/errcode"
)

// Nanoseconds in the calendar units of an ISO-8601 duration, with the
// conventions of github.com/sosodev/duration: a day is 24 h, a year 365 days
// and a month a twelfth of a year.
const (
	nsDay   = float64(24 * time.Hour)
	nsYear  = 365 * nsDay
	nsMonth = nsYear / 12
)

// ParseDuration parses an ISO-8601 duration such as PT8H, P30D or P1DT12H
// into a time.Duration. A day is 24 hours, a week 7 days, a year 365 days and
// a month a twelfth of a year.
//
// Errors: INVALID_INPUT (field duration) when s is not an ISO-8601 duration,
// is zero or negative, or is longer than time.Duration can hold (~292 years).
func ParseDuration(s string) (time.Duration, error) {
	d, err := duration.Parse(s)
	if err != nil {
		return 0, errcode.Invalid("duration", "%q is not an ISO-8601 duration such as PT8H or P30D", s)
	}
	ns := d.Years*nsYear + d.Months*nsMonth + d.Weeks*7*nsDay + d.Days*nsDay +
		d.Hours*float64(time.Hour) + d.Minutes*float64(time.Minute) + d.Seconds*float64(time.Second)
	if d.Negative {
		ns = -ns
	}
	switch {
	case math.IsNaN(ns) || math.IsInf(ns, 0) || ns >= math.MaxInt64:
		return 0, errcode.Invalid("duration", "%q is too long", s)
	case math.Round(ns) <= 0:
		return 0, errcode.Invalid("duration", "%q must be longer than zero", s)
	}
	return time.Duration(math.Round(ns)), nil
}

// CheckTime applies the time rules of a submission (DESIGN §4.1). endsAt is
// the requested absolute end, duration the requested ISO-8601 length counted
// from provisioning, maxDuration the application's max_access_duration (nil
// when permanent access is allowed); neither endsAt nor duration means
// permanent access. The rules, each an INVALID_INPUT error naming the field:
//
//   - endsAt and duration together (endsAt);
//   - either of them on a REVOKE request (the one given);
//   - a permanent GRANT where the application has a maximum (duration);
//   - endsAt not after now, or after now + maximum (endsAt);
//   - a duration that does not parse, is not positive or exceeds the
//     maximum (duration).
//
// A maxDuration that does not parse is the application's fault, not the
// client's: CheckTime then returns an uncoded error.
func CheckTime(action enum.RequestAction, endsAt *time.Time, duration *string, maxDuration *string, now time.Time) error {
	if endsAt != nil && duration != nil {
		return errcode.Invalid("endsAt", "give endsAt or duration, not both")
	}
	if action == enum.RequestActionRevoke {
		switch {
		case endsAt != nil:
			return errcode.Invalid("endsAt", "a REVOKE request takes no end")
		case duration != nil:
			return errcode.Invalid("duration", "a REVOKE request takes no duration")
		}
		return nil
	}
	var limit time.Duration
	if maxDuration != nil {
		var err error
		if limit, err = ParseDuration(*maxDuration); err != nil {
			return fmt.Errorf("rules: application max access duration %q does not parse: %v", *maxDuration, err)
		}
	}
	switch {
	case endsAt != nil:
		if !endsAt.After(now) {
			return errcode.Invalid("endsAt", "%s is not in the future", endsAt.UTC().Format(time.RFC3339))
		}
		if maxDuration != nil && endsAt.After(now.Add(limit)) {
			return errcode.Invalid("endsAt", "%s is past the application's maximum of %s", endsAt.UTC().Format(time.RFC3339), *maxDuration)
		}
	case duration != nil:
		d, err := ParseDuration(*duration)
		if err != nil {
			return err
		}
		if maxDuration != nil && d > limit {
			return errcode.Invalid("duration", "%s is longer than the application's maximum of %s", *duration, *maxDuration)
		}
	case maxDuration != nil:
		return errcode.Invalid("duration", "the application allows access for at most %s: give endsAt or duration", *maxDuration)
	}
	return nil
}

// AccessEnd is when access provisioned at provisionedAt ends (DESIGN §4.1):
// the requested endsAt when given, else the requested ISO-8601 duration
// counted from provisioning, else nil for permanent access. The fulfilment
// of a GRANT item records it as the grant's end.
//
// Errors: INVALID_INPUT (field duration) for a duration that does not parse;
// CheckTime refused it at submission, so only a stored value changed since
// gives it.
func AccessEnd(endsAt *time.Time, duration *string, provisionedAt time.Time) (*time.Time, error) {
	if endsAt != nil {
		return endsAt, nil
	}
	if duration == nil {
		return nil, nil
	}
	d, err := ParseDuration(*duration)
	if err != nil {
		return nil, err
	}
	end := provisionedAt.Add(d)
	return &end, nil
}

// GrantDue reports whether a grant ending at endsAt (nil: permanent) and
// revoked at revokedAt (nil: not revoked) is to end at now: it is not
// revoked and its end has come. The expiry job acts only on a due grant, so
// a job left over from before an extension does nothing.
func GrantDue(endsAt, revokedAt *time.Time, now time.Time) bool {
	return revokedAt == nil && endsAt != nil && !now.Before(*endsAt)
}

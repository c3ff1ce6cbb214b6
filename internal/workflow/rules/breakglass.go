package rules

import (
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// BreakGlassDefaultMax is the cap of emergency access when no request
// policy sets one.
const BreakGlassDefaultMax = "PT4H"

// BreakGlassHardMax is the longest emergency access any policy may allow:
// break-glass is for an emergency, not a way around review.
const BreakGlassHardMax = 24 * time.Hour

// maxEmergencyReason is the longest reason of an emergency request (the
// length of a justification).
const maxEmergencyReason = 4000

// checkBreakGlassSettings validates the break-glass settings of a request
// policy: breakGlassMaxDuration a positive ISO-8601 duration of at most
// BreakGlassHardMax, else INVALID_INPUT (breakGlassMaxDuration).
func checkBreakGlassSettings(s RequestSettings) error {
	if s.BreakGlassMaxDuration == nil {
		return nil
	}
	d, err := ParseDuration(*s.BreakGlassMaxDuration)
	if err != nil {
		return errcode.Invalid("breakGlassMaxDuration", "%q is not a positive ISO-8601 duration such as PT4H", *s.BreakGlassMaxDuration)
	}
	if d > BreakGlassHardMax {
		return errcode.Invalid("breakGlassMaxDuration", "%s is longer than the hard maximum of P1D for emergency access", *s.BreakGlassMaxDuration)
	}
	return nil
}

// BreakGlassFacts is what the break-glass rules look at of one item of an
// emergency request.
type BreakGlassFacts struct {
	// Item names the item in messages, e.g. `"Admin" of Payroll`.
	Item   string
	Action enum.RequestAction
	// Reason is the emergency's reason.
	Reason *string
	// EndsAt and Duration are the end the request asks for (neither: the
	// cap).
	EndsAt   *time.Time
	Duration *string
}

// BreakGlassTime is the time an emergency item is provisioned for: an
// absolute end (EndsAt) or a duration counted from provisioning, which
// happens at once. Capped reports that the request asked for more (or for
// no end) and got the cap.
type BreakGlassTime struct {
	EndsAt   *time.Time
	Duration *string
	Capped   bool
}

// BreakGlassCap is the longest emergency access of policy p and its
// ISO-8601 form: p.BreakGlassMaxDuration, no longer than BreakGlassHardMax
// nor the policy's MaxDuration. A stored duration that does not parse
// (CheckRequestSettings refuses it) counts as the default cap.
func BreakGlassCap(p RequestPolicy) (time.Duration, string) {
	limit, iso := 4*time.Hour, BreakGlassDefaultMax
	if v := p.BreakGlassMaxDuration.Value; v != nil {
		if d, err := ParseDuration(*v); err == nil {
			limit, iso = d, *v
		}
	}
	if limit > BreakGlassHardMax {
		limit, iso = BreakGlassHardMax, "P1D"
	}
	if v := p.MaxDuration.Value; v != nil {
		if d, err := ParseDuration(*v); err == nil && d < limit {
			limit, iso = d, *v
		}
	}
	return limit, iso
}

// CheckBreakGlass applies the break-glass rules to one item of an
// emergency request at now, under the item's effective request policy p.
// In order:
//
//   - a REVOKE item: INVALID_INPUT (emergency) — break-glass grants access;
//   - no reason (blank), or one over 4000 characters: INVALID_INPUT
//     (emergencyReason);
//   - a policy that does not allow break-glass: BREAK_GLASS_NOT_ALLOWED;
//   - an endsAt not in the future: INVALID_INPUT (endsAt).
//
// It returns the time the item is provisioned for: what the request asks
// when within the cap (BreakGlassCap), else the cap — also when the request
// names no end, so emergency access is never permanent.
func CheckBreakGlass(p RequestPolicy, f BreakGlassFacts, now time.Time) (BreakGlassTime, error) {
	if f.Action != enum.RequestActionGrant {
		return BreakGlassTime{}, errcode.Invalid("emergency", "an emergency request grants access: %s is a %s item", f.Item, f.Action)
	}
	n := 0
	if f.Reason != nil {
		n = utf8.RuneCountInString(strings.TrimSpace(*f.Reason))
	}
	switch {
	case n == 0:
		return BreakGlassTime{}, errcode.Invalid("emergencyReason", "an emergency request needs a reason: say what cannot wait for review")
	case n > maxEmergencyReason:
		return BreakGlassTime{}, errcode.Invalid("emergencyReason", "at most %d characters (%d given)", maxEmergencyReason, n)
	}
	if !p.BreakGlassAllowed.Value {
		return BreakGlassTime{}, errcode.New(errcode.BreakGlassNotAllowed, "the request policy of %s does not allow emergency (break-glass) access: submit a normal request", f.Item)
	}
	limit, iso := BreakGlassCap(p)
	capped := BreakGlassTime{Duration: new(iso), Capped: true}
	switch {
	case f.EndsAt != nil:
		if !f.EndsAt.After(now) {
			return BreakGlassTime{}, errcode.Invalid("endsAt", "%s is not in the future", f.EndsAt.UTC().Format(time.RFC3339))
		}
		if f.EndsAt.After(now.Add(limit)) {
			return capped, nil
		}
		return BreakGlassTime{EndsAt: f.EndsAt}, nil
	case f.Duration != nil:
		d, err := ParseDuration(*f.Duration)
		if err != nil {
			return BreakGlassTime{}, err
		}
		if d > limit {
			return capped, nil
		}
		return BreakGlassTime{Duration: f.Duration}, nil
	}
	return capped, nil
}

// BreakGlassReview is the review policy of an emergency item's
// after-the-fact review: the item's own review policy (its application's
// stages, the global default or the built-in one), followed by one
// RISK_MANAGER stage (ANY) unless the policy already has a RISK_MANAGER
// stage — a risk manager always looks at emergency access.
func BreakGlassReview(p Policy) Policy {
	last := 0
	for _, st := range p.Stages {
		if st.Kind == enum.ReviewerKindRiskManager {
			return p
		}
		last = max(last, st.Level)
	}
	stages := append(append([]StageTemplate{}, p.Stages...),
		StageTemplate{Level: last + 1, Kind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1})
	designated := p.Designated
	if designated == nil {
		designated = map[int][]pulid.ID{}
	}
	return Policy{Stages: stages, Designated: designated}
}

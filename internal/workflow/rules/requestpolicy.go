package rules

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// RequestSettings are the values of one request policy row, or of the
// input that sets one: a nil value inherits (an entitlement's from its
// application's policy, an application's from the global policy, the global
// policy's from BuiltInRequestPolicy).
type RequestSettings struct {
	// JustificationRequired: a GRANT needs a justification. A privileged
	// entitlement always needs one, whatever this says.
	JustificationRequired *bool
	// JustificationMinLength: a required justification has at least this
	// many characters (spaces around it not counted).
	JustificationMinLength *int
	// RequestForOthers: who may ask for access for someone else.
	RequestForOthers *enum.RequestForOthers
	// MaxDuration: the longest temporary access (ISO-8601), counted from
	// submission for endsAt and from provisioning for a duration.
	MaxDuration *string
	// DefaultDuration: the length of access (ISO-8601) when a GRANT gives
	// no end and permanent access is not allowed.
	DefaultDuration *string
	// PermanentAllowed: a GRANT may give no end.
	PermanentAllowed *bool
	// BreakGlassAllowed: emergency (break-glass) requests are allowed
	// (rules.CheckBreakGlass).
	BreakGlassAllowed *bool
	// BreakGlassMaxDuration: the longest emergency access (ISO-8601, at
	// most BreakGlassHardMax).
	BreakGlassMaxDuration *string
	// ReviewPolicyID: the review policy whose stages review the items
	// (see ChooseReview for what takes precedence); none: the stage
	// templates.
	ReviewPolicyID *pulid.ID
}

// PolicyBool is a yes-or-no value of an effective request policy and where
// it comes from.
type PolicyBool struct {
	Value  bool
	Source enum.PolicySource
}

// PolicyInt is a number of an effective request policy and where it comes
// from.
type PolicyInt struct {
	Value  int
	Source enum.PolicySource
}

// PolicyDuration is an ISO-8601 duration of an effective request policy
// (nil: none) and where it comes from.
type PolicyDuration struct {
	Value  *string
	Source enum.PolicySource
}

// PolicyRequestForOthers is who may request for others under an effective
// request policy, and where it comes from.
type PolicyRequestForOthers struct {
	Value  enum.RequestForOthers
	Source enum.PolicySource
}

// PolicyReviewPolicy is the review policy an effective request policy
// names (nil: none, the stage templates apply) and where it comes from.
type PolicyReviewPolicy struct {
	Value  *pulid.ID
	Source enum.PolicySource
}

// RequestPolicy is the request policy in force for an entitlement, an
// application or (both IDs nil) the global default, each value with its
// source.
type RequestPolicy struct {
	ApplicationID          *pulid.ID
	EntitlementID          *pulid.ID
	JustificationRequired  PolicyBool
	JustificationMinLength PolicyInt
	RequestForOthers       PolicyRequestForOthers
	MaxDuration            PolicyDuration
	DefaultDuration        PolicyDuration
	PermanentAllowed       PolicyBool
	BreakGlassAllowed      PolicyBool
	BreakGlassMaxDuration  PolicyDuration
	ReviewPolicy           PolicyReviewPolicy
}

// BuiltInRequestPolicy is the policy when no row sets a value: what
// submission always accepted — no justification required (except for
// privileged entitlements), anyone may request for anyone, no maximum or
// default duration, permanent access allowed.
func BuiltInRequestPolicy() RequestPolicy {
	b := enum.PolicySourceBuiltIn
	return RequestPolicy{
		JustificationRequired:  PolicyBool{false, b},
		JustificationMinLength: PolicyInt{0, b},
		RequestForOthers:       PolicyRequestForOthers{enum.RequestForOthersAnyone, b},
		MaxDuration:            PolicyDuration{nil, b},
		DefaultDuration:        PolicyDuration{nil, b},
		PermanentAllowed:       PolicyBool{true, b},
		BreakGlassAllowed:      PolicyBool{false, b},
		BreakGlassMaxDuration:  PolicyDuration{new(string(BreakGlassDefaultMax)), b},
		ReviewPolicy:           PolicyReviewPolicy{nil, b},
	}
}

// EffectiveRequestPolicy merges the request policy of entitlement entID of
// application appID (either nil for the application's or the global
// policy): each value from the entitlement's row when it sets it, else the
// application's, else the global row's, else built in. Any row may be nil
// (none).
func EffectiveRequestPolicy(appID, entID *pulid.ID, global, app, ent *RequestSettings) RequestPolicy {
	p := BuiltInRequestPolicy()
	p.ApplicationID, p.EntitlementID = appID, entID
	layers := []struct {
		s   *RequestSettings
		src enum.PolicySource
	}{{global, enum.PolicySourceGlobal}, {app, enum.PolicySourceApplication}, {ent, enum.PolicySourceEntitlement}}
	for _, l := range layers {
		if l.s == nil {
			continue
		}
		s, src := l.s, l.src
		if s.JustificationRequired != nil {
			p.JustificationRequired = PolicyBool{*s.JustificationRequired, src}
		}
		if s.JustificationMinLength != nil {
			p.JustificationMinLength = PolicyInt{*s.JustificationMinLength, src}
		}
		if s.RequestForOthers != nil {
			p.RequestForOthers = PolicyRequestForOthers{*s.RequestForOthers, src}
		}
		if s.MaxDuration != nil {
			p.MaxDuration = PolicyDuration{s.MaxDuration, src}
		}
		if s.DefaultDuration != nil {
			p.DefaultDuration = PolicyDuration{s.DefaultDuration, src}
		}
		if s.PermanentAllowed != nil {
			p.PermanentAllowed = PolicyBool{*s.PermanentAllowed, src}
		}
		if s.BreakGlassAllowed != nil {
			p.BreakGlassAllowed = PolicyBool{*s.BreakGlassAllowed, src}
		}
		if s.BreakGlassMaxDuration != nil {
			p.BreakGlassMaxDuration = PolicyDuration{s.BreakGlassMaxDuration, src}
		}
		if s.ReviewPolicyID != nil {
			p.ReviewPolicy = PolicyReviewPolicy{s.ReviewPolicyID, src}
		}
	}
	return p
}

// maxJustificationLength is the largest minimum length of a justification.
const maxJustificationLength = 1000

// CheckRequestSettings validates the settings of a request policy. Errors,
// each INVALID_INPUT naming the field: justificationMinLength negative or
// over 1000; maxDuration or defaultDuration not a positive ISO-8601
// duration; defaultDuration longer than maxDuration given with it; an
// unknown requestForOthers; breakGlassMaxDuration not a positive ISO-8601
// duration or longer than BreakGlassHardMax.
func CheckRequestSettings(s RequestSettings) error {
	if n := s.JustificationMinLength; n != nil && (*n < 0 || *n > maxJustificationLength) {
		return errcode.Invalid("justificationMinLength", "must be 0 to %d", maxJustificationLength)
	}
	if s.RequestForOthers != nil && !s.RequestForOthers.IsValid() {
		return errcode.Invalid("requestForOthers", "%q is not ANYONE, MANAGERS or ADMINS", *s.RequestForOthers)
	}
	lengths := map[string]time.Duration{}
	for _, f := range []struct {
		field string
		v     *string
	}{{"maxDuration", s.MaxDuration}, {"defaultDuration", s.DefaultDuration}} {
		if f.v == nil {
			continue
		}
		d, err := ParseDuration(*f.v)
		if err != nil {
			return errcode.Invalid(f.field, "%q is not a positive ISO-8601 duration such as PT8H or P30D", *f.v)
		}
		lengths[f.field] = d
	}
	if max, ok := lengths["maxDuration"]; ok && lengths["defaultDuration"] > max {
		return errcode.Invalid("defaultDuration", "%s is longer than maxDuration %s", *s.DefaultDuration, *s.MaxDuration)
	}
	return checkBreakGlassSettings(s)
}

// RequestFacts is what the request policy of one item looks at.
type RequestFacts struct {
	// Item names the item in messages, e.g. `"Admin" of Payroll`.
	Item   string
	Action enum.RequestAction
	// Privileged: the entitlement is privileged.
	Privileged bool
	// ForOthers: the beneficiary is not the requester.
	ForOthers bool
	// RequesterIsAdmin: the requester is an IT admin.
	RequesterIsAdmin bool
	// RequesterIsManager: the requester is the beneficiary's manager.
	RequesterIsManager bool
	Justification      *string
	EndsAt             *time.Time
	Duration           *string
}

// CheckRequest applies the effective request policy p to one item of a
// submission at now (after CheckTime accepted its time). In order:
//
//   - a request for someone else that p.RequestForOthers does not allow:
//     FORBIDDEN (IT admins may always; MANAGERS lets the beneficiary's
//     manager);
//   - a GRANT without a justification of JustificationMinLength
//     characters (at least one) when the policy requires one or the
//     entitlement is privileged: INVALID_INPUT (justification);
//   - a GRANT longer than MaxDuration: INVALID_INPUT (duration, or endsAt
//     past now + MaxDuration);
//   - a GRANT with no end where permanent access is not allowed:
//     the default duration applies when the policy has one (capped to
//     MaxDuration), returned as defaultDuration; else INVALID_INPUT
//     (duration).
//
// A duration of the policy that does not parse (CheckRequestSettings
// refuses it) is an uncoded error.
func CheckRequest(p RequestPolicy, f RequestFacts, now time.Time) (defaultDuration *string, err error) {
	if f.ForOthers && !f.RequesterIsAdmin {
		switch p.RequestForOthers.Value {
		case enum.RequestForOthersAdmins:
			return nil, errcode.New(errcode.Forbidden, "the request policy of %s lets only IT admins request it for someone else", f.Item)
		case enum.RequestForOthersManagers:
			if !f.RequesterIsManager {
				return nil, errcode.New(errcode.Forbidden, "the request policy of %s lets only the beneficiary's manager or an IT admin request it for someone else", f.Item)
			}
		}
	}
	if f.Action != enum.RequestActionGrant {
		return nil, nil
	}
	if p.JustificationRequired.Value || f.Privileged {
		min := max(p.JustificationMinLength.Value, 1)
		n := 0
		if f.Justification != nil {
			n = utf8.RuneCountInString(strings.TrimSpace(*f.Justification))
		}
		switch {
		case n == 0 && f.Privileged:
			return nil, errcode.Invalid("justification", "%s is privileged: say why it is needed", f.Item)
		case n == 0:
			return nil, errcode.Invalid("justification", "the request policy of %s requires a justification", f.Item)
		case n < min:
			return nil, errcode.Invalid("justification", "the request policy of %s requires at least %d characters (%d given)", f.Item, min, n)
		}
	}
	var limit time.Duration
	if p.MaxDuration.Value != nil {
		if limit, err = ParseDuration(*p.MaxDuration.Value); err != nil {
			return nil, fmt.Errorf("rules: request policy maximum %q does not parse: %v", *p.MaxDuration.Value, err)
		}
	}
	switch {
	case f.EndsAt != nil:
		if limit > 0 && f.EndsAt.After(now.Add(limit)) {
			return nil, errcode.Invalid("endsAt", "%s is past the request policy maximum of %s for %s", f.EndsAt.UTC().Format(time.RFC3339), *p.MaxDuration.Value, f.Item)
		}
	case f.Duration != nil:
		d, err := ParseDuration(*f.Duration)
		if err != nil {
			return nil, err
		}
		if limit > 0 && d > limit {
			return nil, errcode.Invalid("duration", "%s is longer than the request policy maximum of %s for %s", *f.Duration, *p.MaxDuration.Value, f.Item)
		}
	case p.PermanentAllowed.Value:
	case p.DefaultDuration.Value != nil:
		def, err := ParseDuration(*p.DefaultDuration.Value)
		if err != nil {
			return nil, fmt.Errorf("rules: request policy default %q does not parse: %v", *p.DefaultDuration.Value, err)
		}
		if limit > 0 && def > limit {
			return p.MaxDuration.Value, nil
		}
		return p.DefaultDuration.Value, nil
	default:
		hint := ""
		if p.MaxDuration.Value != nil {
			hint = " (at most " + *p.MaxDuration.Value + ")"
		}
		return nil, errcode.Invalid("duration", "the request policy of %s does not allow permanent access: give endsAt or duration%s", f.Item, hint)
	}
	return nil, nil
}

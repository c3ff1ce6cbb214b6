package rules

import (
	"slices"
	"strings"
	"time"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// ReviewStageSpec is one stage of a named review policy: the same
// specification as a stage template (reviewer kind, rule, quorum, and the
// designated reviewers of a DESIGNATED stage). Level is its place in the
// policy, from 1, set by CheckReviewPolicy.
type ReviewStageSpec struct {
	Level                 int               `json:"level"`
	ReviewerKind          enum.ReviewerKind `json:"reviewerKind"`
	Rule                  enum.StageRule    `json:"rule"`
	Quorum                int               `json:"quorum"`
	DesignatedReviewerIDs []pulid.ID        `json:"designatedReviewerIds,omitempty"`
}

// ReviewPolicy is a named, ordered set of review stages an IT admin
// manages ("Manager then risk manager"). A policy rule's REQUIRE_REVIEW
// outcome and a request policy name one.
type ReviewPolicy struct {
	ID     pulid.ID
	Name   string
	Stages []ReviewStageSpec
}

// Policy is the review of an item under p, as PlanStages takes it: the
// stages in order and the designated reviewers by level.
func (p ReviewPolicy) Policy() Policy {
	out := Policy{Designated: map[int][]pulid.ID{}}
	for i, s := range p.Stages {
		level := i + 1
		out.Stages = append(out.Stages, StageTemplate{Level: level, Kind: s.ReviewerKind, Rule: s.Rule, Quorum: max(s.Quorum, 1)})
		if len(s.DesignatedReviewerIDs) > 0 {
			out.Designated[level] = slices.Clone(s.DesignatedReviewerIDs)
		}
	}
	return out
}

// maxReviewStages is the most stages a review policy may have (the level
// bound of stage templates).
const maxReviewStages = 20

// CheckReviewPolicy validates a review policy's name and stages and
// returns the stages numbered from 1, each as CheckStage returns it.
// Errors, each INVALID_INPUT naming the field stages (and, in the message,
// the stage and what CheckStage refused): an empty name or one over 200
// characters; no stage or more than 20; a stage CheckStage refuses.
func CheckReviewPolicy(name string, stages []ReviewStageSpec) ([]ReviewStageSpec, error) {
	if n := strings.TrimSpace(name); n == "" || len(n) > 200 {
		return nil, errcode.Invalid("name", "a review policy needs a name of 1 to 200 characters")
	}
	if len(stages) == 0 || len(stages) > maxReviewStages {
		return nil, errcode.Invalid("stages", "a review policy has 1 to %d stages", maxReviewStages)
	}
	out := make([]ReviewStageSpec, len(stages))
	for i, s := range stages {
		s, err := CheckStage(s)
		if err != nil {
			return nil, errcode.Invalid("stages", "stage %d: %v", i+1, err)
		}
		s.Level = i + 1
		out[i] = s
	}
	return out, nil
}

// CheckStage validates one review stage, of a review policy or a stage
// template alike, and returns it with the rule ANY when none is given, the
// quorum 1 for ANY and ALL, and the designated reviewers sorted without
// repeats. Errors, each INVALID_INPUT naming the stage's field: an unknown
// reviewerKind or rule; designatedReviewerIDs on a stage whose kind is not
// DESIGNATED, or a DESIGNATED stage without any; a QUORUM stage's quorum
// below 1, or above the number of its designated reviewers; a quorum other
// than 1 on an ANY or ALL stage (0 counts as not given).
func CheckStage(s ReviewStageSpec) (ReviewStageSpec, error) {
	if !s.ReviewerKind.IsValid() {
		return s, errcode.Invalid("reviewerKind", "unknown reviewer kind %q", s.ReviewerKind)
	}
	if s.Rule == "" {
		s.Rule = enum.StageRuleAny
	}
	if !s.Rule.IsValid() {
		return s, errcode.Invalid("rule", "unknown rule %q", s.Rule)
	}
	designated := slices.Compact(slices.Sorted(slices.Values(s.DesignatedReviewerIDs)))
	switch {
	case s.ReviewerKind == enum.ReviewerKindDesignated && len(designated) == 0:
		return s, errcode.Invalid("designatedReviewerIDs", "a DESIGNATED stage names its reviewers")
	case s.ReviewerKind != enum.ReviewerKindDesignated && len(designated) > 0:
		return s, errcode.Invalid("designatedReviewerIDs", "only a DESIGNATED stage names reviewers; %s stages find theirs", s.ReviewerKind)
	}
	switch {
	case s.Rule == enum.StageRuleQuorum && s.Quorum < 1:
		return s, errcode.Invalid("quorum", "a QUORUM stage needs a quorum of at least 1")
	case s.Rule == enum.StageRuleQuorum && s.ReviewerKind == enum.ReviewerKindDesignated && s.Quorum > len(designated):
		return s, errcode.Invalid("quorum", "quorum %d is more than its %d designated reviewers", s.Quorum, len(designated))
	case s.Rule != enum.StageRuleQuorum && s.Quorum != 0 && s.Quorum != 1:
		return s, errcode.Invalid("quorum", "only QUORUM stages take a quorum, not %s", s.Rule)
	case s.Rule != enum.StageRuleQuorum:
		s.Quorum = 1
	}
	s.DesignatedReviewerIDs = designated
	return s, nil
}

// RuleConditions are what a policy rule matches. Every condition is
// optional (empty or nil matches anything); all those given must match.
// A list matches when the item's value is one of its values.
type RuleConditions struct {
	// Departments of the beneficiary (compared without case).
	Departments []string `json:"departments,omitempty"`
	// JobTitleIDs: the beneficiary's job title.
	JobTitleIDs []pulid.ID `json:"jobTitleIds,omitempty"`
	// PlatformRoles: the beneficiary's platform role.
	PlatformRoles []enum.PlatformRole `json:"platformRoles,omitempty"`
	// ManagerIDs: the beneficiary's manager.
	ManagerIDs []pulid.ID `json:"managerIds,omitempty"`
	// ApplicationIDs and EntitlementIDs: what the item is for.
	ApplicationIDs []pulid.ID `json:"applicationIds,omitempty"`
	EntitlementIDs []pulid.ID `json:"entitlementIds,omitempty"`
	// Privileged: the entitlement's privileged flag.
	Privileged *bool `json:"privileged,omitempty"`
	// Labels: the entitlement carries at least one of them.
	Labels []string `json:"labels,omitempty"`
	// Action: GRANT or REVOKE.
	Action *enum.RequestAction `json:"action,omitempty"`
	// Permanent: true matches a GRANT with no end, false a GRANT with
	// one. A REVOKE item never matches a duration condition.
	Permanent *bool `json:"permanent,omitempty"`
	// MaxDuration (ISO-8601): matches a temporary GRANT no longer than
	// this; a permanent GRANT never matches.
	MaxDuration *string `json:"maxDuration,omitempty"`
}

// PolicyRule is a policy rule as stored: evaluated at submission for each
// item, in Order (then name), the first enabled rule whose conditions all
// match decides (MatchRule).
type PolicyRule struct {
	ID      pulid.ID
	Name    string
	Order   int
	Version int
	Enabled bool
	When    RuleConditions
	Outcome enum.PolicyRuleOutcome
	// Message is shown to the requester of an AUTO_DENY.
	Message string
	// ReviewPolicyID is the review policy a REQUIRE_REVIEW rule applies.
	ReviewPolicyID *pulid.ID
	// AllowPrivilegedAutoApprove lets an AUTO_APPROVE rule match
	// privileged entitlements.
	AllowPrivilegedAutoApprove bool
}

// RuleSubject is what the policy rules look at of one item.
type RuleSubject struct {
	Department    string
	JobTitleID    *pulid.ID
	PlatformRole  enum.PlatformRole
	ManagerID     *pulid.ID
	ApplicationID pulid.ID
	EntitlementID pulid.ID
	Privileged    bool
	Labels        []string
	Action        enum.RequestAction
	// Length is how long a temporary GRANT lasts; nil for a permanent
	// GRANT (and for a REVOKE).
	Length *time.Duration
}

// Matches reports whether every condition of c holds for s. A MaxDuration
// that does not parse (CheckPolicyRule refuses it) matches nothing.
func (c RuleConditions) Matches(s RuleSubject) bool {
	if len(c.Departments) > 0 && !slices.ContainsFunc(c.Departments, func(d string) bool { return strings.EqualFold(d, s.Department) }) {
		return false
	}
	if len(c.JobTitleIDs) > 0 && (s.JobTitleID == nil || !slices.Contains(c.JobTitleIDs, *s.JobTitleID)) {
		return false
	}
	if len(c.PlatformRoles) > 0 && !slices.Contains(c.PlatformRoles, s.PlatformRole) {
		return false
	}
	if len(c.ManagerIDs) > 0 && (s.ManagerID == nil || !slices.Contains(c.ManagerIDs, *s.ManagerID)) {
		return false
	}
	if len(c.ApplicationIDs) > 0 && !slices.Contains(c.ApplicationIDs, s.ApplicationID) {
		return false
	}
	if len(c.EntitlementIDs) > 0 && !slices.Contains(c.EntitlementIDs, s.EntitlementID) {
		return false
	}
	if c.Privileged != nil && *c.Privileged != s.Privileged {
		return false
	}
	if len(c.Labels) > 0 && !slices.ContainsFunc(c.Labels, func(l string) bool { return slices.Contains(s.Labels, l) }) {
		return false
	}
	if c.Action != nil && *c.Action != s.Action {
		return false
	}
	if c.Permanent == nil && c.MaxDuration == nil {
		return true
	}
	if s.Action != enum.RequestActionGrant {
		return false
	}
	if c.Permanent != nil && *c.Permanent != (s.Length == nil) {
		return false
	}
	if c.MaxDuration != nil {
		limit, err := ParseDuration(*c.MaxDuration)
		if err != nil || s.Length == nil || *s.Length > limit {
			return false
		}
	}
	return true
}

// MatchRule returns the rule that decides for s: the first enabled rule,
// by Order and then by name, whose conditions all match; nil when none
// does. An AUTO_APPROVE rule without AllowPrivilegedAutoApprove never
// matches a privileged entitlement (CheckPolicyRule refuses to store one
// that could; this holds even for a rule stored before an entitlement
// became privileged), so evaluation goes on to the next rule.
func MatchRule(rs []PolicyRule, s RuleSubject) *PolicyRule {
	ordered := slices.Clone(rs)
	slices.SortStableFunc(ordered, func(a, b PolicyRule) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := range ordered {
		r := &ordered[i]
		if !r.Enabled || !r.When.Matches(s) {
			continue
		}
		if r.Outcome == enum.PolicyRuleOutcomeAutoApprove && s.Privileged && !r.AllowPrivilegedAutoApprove {
			continue
		}
		return r
	}
	return nil
}

// maxRuleMessage is the longest AUTO_DENY message.
const maxRuleMessage = 1000

// CheckPolicyRule validates a policy rule before it is stored. Errors,
// each INVALID_INPUT naming the field: an empty name or one over 200
// characters; a negative order; an unknown outcome, platform role or
// action; AUTO_DENY without a message (or a message over 1000
// characters), a message on another outcome; REQUIRE_REVIEW without a
// reviewPolicyId, a reviewPolicyId on another outcome; an AUTO_APPROVE
// rule that could match privileged entitlements (its privileged condition
// is not false) without allowPrivilegedAutoApprove, and that flag on
// another outcome; a maxDuration that is not a positive ISO-8601
// duration, permanent true together with maxDuration, or a duration
// condition on a REVOKE rule; an empty department or label.
func CheckPolicyRule(r PolicyRule) error {
	if n := strings.TrimSpace(r.Name); n == "" || len(n) > 200 {
		return errcode.Invalid("name", "a policy rule needs a name of 1 to 200 characters")
	}
	if r.Order < 0 {
		return errcode.Invalid("order", "order must be 0 or more")
	}
	if !r.Outcome.IsValid() {
		return errcode.Invalid("outcome", "unknown outcome %q", r.Outcome)
	}
	msg := strings.TrimSpace(r.Message)
	switch {
	case r.Outcome == enum.PolicyRuleOutcomeAutoDeny && msg == "":
		return errcode.Invalid("message", "an AUTO_DENY rule needs the message its requesters see")
	case r.Outcome != enum.PolicyRuleOutcomeAutoDeny && msg != "":
		return errcode.Invalid("message", "only an AUTO_DENY rule has a message")
	case len(msg) > maxRuleMessage:
		return errcode.Invalid("message", "the message is longer than %d characters", maxRuleMessage)
	case r.Outcome == enum.PolicyRuleOutcomeRequireReview && r.ReviewPolicyID == nil:
		return errcode.Invalid("reviewPolicyId", "a REQUIRE_REVIEW rule names the review policy it applies")
	case r.Outcome != enum.PolicyRuleOutcomeRequireReview && r.ReviewPolicyID != nil:
		return errcode.Invalid("reviewPolicyId", "only a REQUIRE_REVIEW rule names a review policy")
	case r.Outcome != enum.PolicyRuleOutcomeAutoApprove && r.AllowPrivilegedAutoApprove:
		return errcode.Invalid("allowPrivilegedAutoApprove", "only an AUTO_APPROVE rule may allow privileged auto-approval")
	case r.Outcome == enum.PolicyRuleOutcomeAutoApprove && (r.When.Privileged == nil || *r.When.Privileged) && !r.AllowPrivilegedAutoApprove:
		return errcode.Invalid("allowPrivilegedAutoApprove",
			"rule %q would approve privileged entitlements without review: add the condition privileged: false, or set allowPrivilegedAutoApprove: true to mean it", r.Name)
	}
	c := r.When
	for _, p := range c.PlatformRoles {
		if !p.IsValid() {
			return errcode.Invalid("conditions.platformRoles", "unknown platform role %q", p)
		}
	}
	if c.Action != nil && !c.Action.IsValid() {
		return errcode.Invalid("conditions.action", "unknown action %q", *c.Action)
	}
	for _, l := range [][]string{c.Departments, c.Labels} {
		if slices.ContainsFunc(l, func(s string) bool { return strings.TrimSpace(s) == "" }) {
			return errcode.Invalid("conditions", "departments and labels are not empty")
		}
	}
	if c.MaxDuration != nil {
		if _, err := ParseDuration(*c.MaxDuration); err != nil {
			return errcode.Invalid("conditions.maxDuration", "%q is not a positive ISO-8601 duration such as PT8H or P30D", *c.MaxDuration)
		}
		if c.Permanent != nil && *c.Permanent {
			return errcode.Invalid("conditions.maxDuration", "permanent access has no length: maxDuration never matches with permanent: true")
		}
	}
	if c.Action != nil && *c.Action == enum.RequestActionRevoke && (c.Permanent != nil || c.MaxDuration != nil) {
		return errcode.Invalid("conditions.action", "a REVOKE has no duration: drop permanent and maxDuration")
	}
	return nil
}

// ReviewKind says how an item is reviewed (ChooseReview).
type ReviewKind int

// The ways an item is reviewed.
const (
	// ReviewTemplates: the stage templates (ChoosePolicy).
	ReviewTemplates ReviewKind = iota
	// ReviewAutoApproved: no review; approved at submission.
	ReviewAutoApproved
	// ReviewByPolicy: the stages of a named review policy.
	ReviewByPolicy
	// ReviewExtension: the lighter review of an extension (one stage of
	// the application's owners).
	ReviewExtension
)

// ReviewInputs are what decides how one item is reviewed.
type ReviewInputs struct {
	// Item names the item in messages, e.g. `"Admin" of Payroll`.
	Item string
	// Rule is the policy rule that matched the item (MatchRule), or nil.
	Rule *PolicyRule
	// RuleReview is the review policy the rule names (REQUIRE_REVIEW).
	RuleReview *ReviewPolicy
	// AppAutoApproves: the application's fulfilment is
	// DIRECT_AUTO_APPROVED.
	AppAutoApproves bool
	// LighterExtension: the item extends a grant and the lifecycle policy
	// asks for the application owners' review of extensions.
	LighterExtension bool
	// RequestPolicyReview is the review policy the item's effective
	// request policy names (entitlement, else application, else global),
	// or nil.
	RequestPolicyReview *ReviewPolicy
}

// ReviewDecision is how an item is reviewed: Kind, and the review policy
// for ReviewByPolicy.
type ReviewDecision struct {
	Kind   ReviewKind
	Policy *ReviewPolicy
}

// ChooseReview decides how an item is reviewed, in this precedence (the
// most specific statement of an administrator first):
//
//  1. the policy rule that matched: AUTO_DENY refuses the submission
//     (DENIED_BY_POLICY with the rule's message), AUTO_APPROVE approves
//     with no review, REQUIRE_REVIEW applies the rule's review policy —
//     whatever the application's auto-approve switch says;
//  2. the application's auto-approve switch (DIRECT_AUTO_APPROVED): no
//     review;
//  3. an extension's lighter review, when its lifecycle policy asks for
//     it;
//  4. the review policy of the item's effective request policy;
//  5. the stage templates (the application's, else the global ones, else
//     the built-in manager stage).
//
// A REQUIRE_REVIEW rule whose review policy is gone (nil RuleReview)
// falls through to 2. Errors: DENIED_BY_POLICY for AUTO_DENY.
func ChooseReview(in ReviewInputs) (ReviewDecision, error) {
	if r := in.Rule; r != nil {
		switch r.Outcome {
		case enum.PolicyRuleOutcomeAutoDeny:
			return ReviewDecision{}, errcode.New(errcode.DeniedByPolicy, "policy rule %q (version %d) refuses %s: %s", r.Name, r.Version, in.Item, r.Message)
		case enum.PolicyRuleOutcomeAutoApprove:
			return ReviewDecision{Kind: ReviewAutoApproved}, nil
		case enum.PolicyRuleOutcomeRequireReview:
			if in.RuleReview != nil {
				return ReviewDecision{Kind: ReviewByPolicy, Policy: in.RuleReview}, nil
			}
		}
	}
	switch {
	case in.AppAutoApproves:
		return ReviewDecision{Kind: ReviewAutoApproved}, nil
	case in.LighterExtension:
		return ReviewDecision{Kind: ReviewExtension}, nil
	case in.RequestPolicyReview != nil:
		return ReviewDecision{Kind: ReviewByPolicy, Policy: in.RequestPolicyReview}, nil
	}
	return ReviewDecision{Kind: ReviewTemplates}, nil
}

// MatchedRule is the policy rule that decided an item, as recorded at
// submission: its ID, name and version then, and (in a preview) its
// outcome.
type MatchedRule struct {
	ID      pulid.ID
	Name    string
	Version int
	Outcome *enum.PolicyRuleOutcome
}

// Matched is the record of r as the rule that decided an item.
func (r *PolicyRule) Matched() *MatchedRule {
	if r == nil {
		return nil
	}
	o := r.Outcome
	return &MatchedRule{ID: r.ID, Name: r.Name, Version: r.Version, Outcome: &o}
}

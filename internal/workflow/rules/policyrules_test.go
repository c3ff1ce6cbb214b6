package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

func TestMatchRule(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	week := 7 * day
	mgr, title := pulid.ID("usr_mgr"), pulid.ID("jt_analyst")
	grant, revoke := enum.RequestActionGrant, enum.RequestActionRevoke
	// The subject all rows start from: a temporary GRANT (7 days) of a
	// non-privileged "finance"-labelled entitlement for a Finance analyst.
	base := RuleSubject{Department: "Finance", JobTitleID: &title, PlatformRole: enum.PlatformRoleUser, ManagerID: &mgr,
		ApplicationID: "app_erp", EntitlementID: "ent_read", Labels: []string{"finance", "low-risk"}, Action: grant, Length: &week}
	rule := func(name string, order int, outcome enum.PolicyRuleOutcome, when RuleConditions) PolicyRule {
		return PolicyRule{ID: pulid.ID("prl_" + name), Name: name, Order: order, Version: 1, Enabled: true, When: when, Outcome: outcome}
	}
	approve, deny, review := enum.PolicyRuleOutcomeAutoApprove, enum.PolicyRuleOutcomeAutoDeny, enum.PolicyRuleOutcomeRequireReview
	tests := []struct {
		name    string
		rules   []PolicyRule
		subject func(s RuleSubject) RuleSubject
		want    string // the matched rule's name, "" for none
		why     string
	}{
		{"no rules", nil, nil, "", "no rule: the other review settings decide"},
		{"empty conditions match", []PolicyRule{rule("all", 1, review, RuleConditions{})}, nil, "all", "a rule without conditions matches every item"},
		{"first by order", []PolicyRule{rule("late", 20, deny, RuleConditions{}), rule("early", 10, review, RuleConditions{})}, nil, "early",
			"the lowest order is evaluated first, whatever the stored order"},
		{"ties by name", []PolicyRule{rule("b", 1, deny, RuleConditions{}), rule("a", 1, review, RuleConditions{})}, nil, "a",
			"equal orders are broken by name so that evaluation is deterministic"},
		{"disabled skipped", []PolicyRule{func() PolicyRule { r := rule("off", 1, deny, RuleConditions{}); r.Enabled = false; return r }(), rule("on", 2, review, RuleConditions{})}, nil, "on",
			"a disabled rule never matches"},
		{"department without case", []PolicyRule{rule("fin", 1, review, RuleConditions{Departments: []string{"finance"}})}, nil, "fin",
			"departments are compared without case"},
		{"other department", []PolicyRule{rule("eng", 1, review, RuleConditions{Departments: []string{"Engineering"}})}, nil, "",
			"a Finance beneficiary is not in Engineering"},
		{"all conditions must hold", []PolicyRule{rule("both", 1, review, RuleConditions{Departments: []string{"Finance"}, PlatformRoles: []enum.PlatformRole{enum.PlatformRoleITAdmin}})}, nil, "",
			"the department matches but the platform role does not: every given condition must match"},
		{"job title", []PolicyRule{rule("jt", 1, review, RuleConditions{JobTitleIDs: []pulid.ID{title}})}, nil, "jt", "the beneficiary has the job title"},
		{"no job title", []PolicyRule{rule("jt", 1, review, RuleConditions{JobTitleIDs: []pulid.ID{title}})},
			func(s RuleSubject) RuleSubject { s.JobTitleID = nil; return s }, "", "a beneficiary without a job title matches no job title condition"},
		{"manager", []PolicyRule{rule("m", 1, review, RuleConditions{ManagerIDs: []pulid.ID{mgr}})}, nil, "m", "the beneficiary reports to the manager"},
		{"other manager", []PolicyRule{rule("m", 1, review, RuleConditions{ManagerIDs: []pulid.ID{"usr_other"}})}, nil, "", "another manager's reports only"},
		{"application and entitlement", []PolicyRule{rule("e", 1, review, RuleConditions{ApplicationIDs: []pulid.ID{"app_erp"}, EntitlementIDs: []pulid.ID{"ent_read", "ent_x"}})}, nil, "e",
			"the item's application and entitlement are listed"},
		{"other entitlement", []PolicyRule{rule("e", 1, review, RuleConditions{EntitlementIDs: []pulid.ID{"ent_x"}})}, nil, "", "the entitlement is not listed"},
		{"labels any of", []PolicyRule{rule("l", 1, review, RuleConditions{Labels: []string{"pii", "low-risk"}})}, nil, "l",
			"the entitlement carries one of the labels"},
		{"labels none", []PolicyRule{rule("l", 1, review, RuleConditions{Labels: []string{"pii"}})}, nil, "", "the entitlement carries none of the labels"},
		{"privileged true", []PolicyRule{rule("p", 1, review, RuleConditions{Privileged: ptr(true)})},
			func(s RuleSubject) RuleSubject { s.Privileged = true; return s }, "p", "a privileged entitlement matches privileged: true"},
		{"privileged false", []PolicyRule{rule("p", 1, review, RuleConditions{Privileged: ptr(false)})},
			func(s RuleSubject) RuleSubject { s.Privileged = true; return s }, "", "privileged: false leaves privileged entitlements out"},
		{"action", []PolicyRule{rule("r", 1, review, RuleConditions{Action: &revoke})}, nil, "", "a GRANT does not match action REVOKE"},
		{"permanent true", []PolicyRule{rule("perm", 1, review, RuleConditions{Permanent: ptr(true)})},
			func(s RuleSubject) RuleSubject { s.Length = nil; return s }, "perm", "a GRANT with no end is permanent"},
		{"permanent true, temporary", []PolicyRule{rule("perm", 1, review, RuleConditions{Permanent: ptr(true)})}, nil, "",
			"a 7-day GRANT is not permanent"},
		{"permanent false", []PolicyRule{rule("temp", 1, review, RuleConditions{Permanent: ptr(false)})}, nil, "temp", "a 7-day GRANT is temporary"},
		{"max duration within", []PolicyRule{rule("short", 1, approve, RuleConditions{MaxDuration: ptr("P7D"), Privileged: ptr(false)})}, nil, "short",
			"7 days is within P7D: the bound is inclusive"},
		{"max duration over", []PolicyRule{rule("short", 1, approve, RuleConditions{MaxDuration: ptr("P1D"), Privileged: ptr(false)})}, nil, "",
			"7 days is longer than P1D"},
		{"max duration, permanent", []PolicyRule{rule("short", 1, approve, RuleConditions{MaxDuration: ptr("P30D"), Privileged: ptr(false)})},
			func(s RuleSubject) RuleSubject { s.Length = nil; return s }, "", "permanent access is longer than any maximum"},
		{"duration condition, revoke", []PolicyRule{rule("temp", 1, review, RuleConditions{Permanent: ptr(false)})},
			func(s RuleSubject) RuleSubject { s.Action, s.Length = revoke, nil; return s }, "", "a REVOKE has no duration: duration conditions never match it"},
		{"privileged auto-approve without flag skipped", []PolicyRule{rule("auto", 1, approve, RuleConditions{}), rule("review", 2, review, RuleConditions{})},
			func(s RuleSubject) RuleSubject { s.Privileged = true; return s }, "review",
			"an AUTO_APPROVE rule without allowPrivilegedAutoApprove never approves privileged access: evaluation goes on"},
		{"privileged auto-approve with flag", []PolicyRule{func() PolicyRule {
			r := rule("auto", 1, approve, RuleConditions{})
			r.AllowPrivilegedAutoApprove = true
			return r
		}()}, func(s RuleSubject) RuleSubject { s.Privileged = true; return s }, "auto", "the explicit flag lets it approve privileged access"},
		{"a later match does not win", []PolicyRule{rule("review", 1, review, RuleConditions{}), rule("deny", 2, deny, RuleConditions{Departments: []string{"Finance"}})}, nil, "review",
			"first match wins even when a later rule is more specific"},
	}
	for _, tt := range tests {
		s := base
		if tt.subject != nil {
			s = tt.subject(base)
		}
		got := MatchRule(tt.rules, s)
		name := ""
		if got != nil {
			name = got.Name
		}
		require.Equal(t, tt.want, name, "%s: %s", tt.name, tt.why)
	}
}

func TestCheckPolicyRule(t *testing.T) {
	t.Parallel()
	rp := pulid.ID("rvp_1")
	ok := func(mod func(r *PolicyRule)) PolicyRule {
		r := PolicyRule{Name: "rule", Order: 1, Outcome: enum.PolicyRuleOutcomeRequireReview, ReviewPolicyID: &rp}
		mod(&r)
		return r
	}
	revoke := enum.RequestActionRevoke
	tests := []struct {
		name      string
		rule      PolicyRule
		wantField string // "" for valid
		why       string
	}{
		{"valid require", ok(func(*PolicyRule) {}), "", "a REQUIRE_REVIEW rule naming its review policy"},
		{"no name", ok(func(r *PolicyRule) { r.Name = " " }), "name", "a rule is named"},
		{"negative order", ok(func(r *PolicyRule) { r.Order = -1 }), "order", "orders start at 0"},
		{"unknown outcome", ok(func(r *PolicyRule) { r.Outcome = "MAYBE" }), "outcome", "only the three outcomes exist"},
		{"require without policy", ok(func(r *PolicyRule) { r.ReviewPolicyID = nil }), "reviewPolicyId", "REQUIRE_REVIEW needs the stages to apply"},
		{"deny without message", ok(func(r *PolicyRule) { r.Outcome, r.ReviewPolicyID = enum.PolicyRuleOutcomeAutoDeny, nil }), "message",
			"the requester is told why"},
		{"deny with message", ok(func(r *PolicyRule) {
			r.Outcome, r.ReviewPolicyID, r.Message = enum.PolicyRuleOutcomeAutoDeny, nil, "ask the service desk"
		}), "", "a valid AUTO_DENY"},
		{"message on require", ok(func(r *PolicyRule) { r.Message = "hello" }), "message", "only AUTO_DENY shows a message"},
		{"policy on deny", ok(func(r *PolicyRule) { r.Outcome, r.Message = enum.PolicyRuleOutcomeAutoDeny, "no" }), "reviewPolicyId",
			"a review policy on AUTO_DENY would never apply"},
		{"auto-approve could match privileged", ok(func(r *PolicyRule) { r.Outcome, r.ReviewPolicyID = enum.PolicyRuleOutcomeAutoApprove, nil }),
			"allowPrivilegedAutoApprove", "no privileged condition: it would approve privileged access, which needs the explicit flag"},
		{"auto-approve privileged true", ok(func(r *PolicyRule) {
			r.Outcome, r.ReviewPolicyID, r.When.Privileged = enum.PolicyRuleOutcomeAutoApprove, nil, ptr(true)
		}), "allowPrivilegedAutoApprove", "explicitly privileged: needs the flag"},
		{"auto-approve privileged false", ok(func(r *PolicyRule) {
			r.Outcome, r.ReviewPolicyID, r.When.Privileged = enum.PolicyRuleOutcomeAutoApprove, nil, ptr(false)
		}), "", "non-privileged only: no flag needed"},
		{"auto-approve with flag", ok(func(r *PolicyRule) {
			r.Outcome, r.ReviewPolicyID, r.AllowPrivilegedAutoApprove = enum.PolicyRuleOutcomeAutoApprove, nil, true
		}), "", "the flag states the intent"},
		{"flag on require", ok(func(r *PolicyRule) { r.AllowPrivilegedAutoApprove = true }), "allowPrivilegedAutoApprove",
			"the flag means nothing on another outcome"},
		{"bad max duration", ok(func(r *PolicyRule) { r.When.MaxDuration = ptr("soon") }), "conditions.maxDuration", "not ISO-8601"},
		{"permanent with max", ok(func(r *PolicyRule) { r.When.MaxDuration, r.When.Permanent = ptr("P1D"), ptr(true) }), "conditions.maxDuration",
			"permanent access has no length: the rule could never match"},
		{"duration on revoke", ok(func(r *PolicyRule) { r.When.Action, r.When.Permanent = &revoke, ptr(false) }), "conditions.action",
			"a REVOKE has no duration"},
		{"unknown role", ok(func(r *PolicyRule) { r.When.PlatformRoles = []enum.PlatformRole{"BOSS"} }), "conditions.platformRoles", "unknown platform role"},
		{"empty label", ok(func(r *PolicyRule) { r.When.Labels = []string{""} }), "conditions", "an empty label matches nothing meaningful"},
	}
	for _, tt := range tests {
		err := CheckPolicyRule(tt.rule)
		if tt.wantField == "" {
			require.NoError(t, err, "%s: %s", tt.name, tt.why)
			continue
		}
		var ce *errcode.Error
		require.ErrorAs(t, err, &ce, "%s: %s", tt.name, tt.why)
		require.Equal(t, errcode.InvalidInput, ce.Code, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantField, ce.Field, "%s: %s", tt.name, tt.why)
	}
}

func TestChooseReview(t *testing.T) {
	t.Parallel()
	rp := &ReviewPolicy{ID: "rvp_rule", Name: "Manager then risk manager"}
	reqRP := &ReviewPolicy{ID: "rvp_req", Name: "Owners"}
	rule := func(o enum.PolicyRuleOutcome) *PolicyRule {
		return &PolicyRule{ID: "prl_1", Name: "r", Version: 3, Outcome: o, Message: "not for contractors"}
	}
	tests := []struct {
		name       string
		in         ReviewInputs
		wantKind   ReviewKind
		wantPolicy *ReviewPolicy
		wantCode   errcode.Code
		why        string
	}{
		{"nothing", ReviewInputs{}, ReviewTemplates, nil, "", "no rule, no switch, no review policy: today's template choice"},
		{"request policy", ReviewInputs{RequestPolicyReview: reqRP}, ReviewByPolicy, reqRP, "",
			"the request policy's review policy replaces the templates"},
		{"app switch over request policy", ReviewInputs{AppAutoApproves: true, RequestPolicyReview: reqRP}, ReviewAutoApproved, nil, "",
			"an auto-approving application is reviewed only when a rule says so"},
		{"extension over request policy", ReviewInputs{LighterExtension: true, RequestPolicyReview: reqRP}, ReviewExtension, nil, "",
			"the lifecycle policy's lighter extension review is more specific than the request policy"},
		{"rule require over everything", ReviewInputs{Rule: rule(enum.PolicyRuleOutcomeRequireReview), RuleReview: rp, AppAutoApproves: true, LighterExtension: true, RequestPolicyReview: reqRP},
			ReviewByPolicy, rp, "", "a matching rule is the most specific statement: it adds review even to an auto-approving application"},
		{"rule approve over templates", ReviewInputs{Rule: rule(enum.PolicyRuleOutcomeAutoApprove), RequestPolicyReview: reqRP}, ReviewAutoApproved, nil, "",
			"AUTO_APPROVE skips the request policy's review"},
		{"rule deny", ReviewInputs{Rule: rule(enum.PolicyRuleOutcomeAutoDeny), AppAutoApproves: true}, 0, nil, errcode.DeniedByPolicy,
			"AUTO_DENY refuses even on an auto-approving application"},
		{"rule policy gone", ReviewInputs{Rule: rule(enum.PolicyRuleOutcomeRequireReview), RequestPolicyReview: reqRP}, ReviewByPolicy, reqRP, "",
			"a REQUIRE_REVIEW whose review policy is gone falls through to the next source"},
	}
	for _, tt := range tests {
		got, err := ChooseReview(tt.in)
		if tt.wantCode != "" {
			var ce *errcode.Error
			require.ErrorAs(t, err, &ce, "%s: %s", tt.name, tt.why)
			require.Equal(t, tt.wantCode, ce.Code, "%s: %s", tt.name, tt.why)
			require.Contains(t, ce.Message, "not for contractors", "%s: the requester sees the rule's message", tt.name)
			continue
		}
		require.NoError(t, err, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantKind, got.Kind, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantPolicy, got.Policy, "%s: %s", tt.name, tt.why)
	}
}

func TestCheckReviewPolicy(t *testing.T) {
	t.Parallel()
	mgr := ReviewStageSpec{ReviewerKind: enum.ReviewerKindManager}
	tests := []struct {
		name      string
		stages    []ReviewStageSpec
		wantField string
		why       string
	}{
		{"manager then risk manager", []ReviewStageSpec{mgr, {ReviewerKind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAll}}, "",
			"two stages; ALL gets quorum 1"},
		{"quorum on ALL", []ReviewStageSpec{mgr, {ReviewerKind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAll, Quorum: 5}}, "stages",
			"only a QUORUM stage takes a quorum, as a stage template"},
		{"unknown rule", []ReviewStageSpec{{ReviewerKind: enum.ReviewerKindManager, Rule: "MOST"}}, "stages", "unknown rule"},
		{"none", nil, "stages", "a review policy has a stage"},
		{"unknown kind", []ReviewStageSpec{{ReviewerKind: "BOSS"}}, "stages", "unknown reviewer kind"},
		{"designated without reviewers", []ReviewStageSpec{{ReviewerKind: enum.ReviewerKindDesignated}}, "stages", "DESIGNATED names its reviewers"},
		{"reviewers on manager", []ReviewStageSpec{{ReviewerKind: enum.ReviewerKindManager, DesignatedReviewerIDs: []pulid.ID{"usr_1"}}}, "stages",
			"a MANAGER stage finds its reviewer"},
		{"quorum over designated", []ReviewStageSpec{{ReviewerKind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 3, DesignatedReviewerIDs: []pulid.ID{"usr_1", "usr_2"}}},
			"stages", "3 of 2 can never be reached"},
		{"quorum zero", []ReviewStageSpec{{ReviewerKind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleQuorum}}, "stages", "a quorum is at least 1"},
	}
	for _, tt := range tests {
		got, err := CheckReviewPolicy("Policy", tt.stages)
		if tt.wantField == "" {
			require.NoError(t, err, "%s: %s", tt.name, tt.why)
			for i, s := range got {
				require.Equal(t, i+1, s.Level, "%s: levels count from 1", tt.name)
				if s.Rule != enum.StageRuleQuorum {
					require.Equal(t, 1, s.Quorum, "%s: %s", tt.name, tt.why)
				}
			}
			continue
		}
		var ce *errcode.Error
		require.ErrorAs(t, err, &ce, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantField, ce.Field, "%s: %s", tt.name, tt.why)
	}
}

// TestCheckStage: the one check of a review stage, a stage template's or a
// review policy's.
func TestCheckStage(t *testing.T) {
	t.Parallel()
	two := []pulid.ID{"usr_2", "usr_1", "usr_2"}
	tests := []struct {
		why       string
		in        ReviewStageSpec
		wantField string
		want      ReviewStageSpec
	}{
		{"no rule is ANY, with quorum 1", ReviewStageSpec{ReviewerKind: enum.ReviewerKindManager}, "",
			ReviewStageSpec{ReviewerKind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1}},
		{"a quorum of 1 on ALL is no quorum", ReviewStageSpec{ReviewerKind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAll, Quorum: 1}, "",
			ReviewStageSpec{ReviewerKind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAll, Quorum: 1}},
		{"designated reviewers sorted, each once; a quorum they can reach",
			ReviewStageSpec{ReviewerKind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2, DesignatedReviewerIDs: two}, "",
			ReviewStageSpec{ReviewerKind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 2, DesignatedReviewerIDs: []pulid.ID{"usr_1", "usr_2"}}},
		{"an unknown kind", ReviewStageSpec{ReviewerKind: "BOSS"}, "reviewerKind", ReviewStageSpec{}},
		{"an unknown rule", ReviewStageSpec{ReviewerKind: enum.ReviewerKindManager, Rule: "MOST"}, "rule", ReviewStageSpec{}},
		{"DESIGNATED names its reviewers", ReviewStageSpec{ReviewerKind: enum.ReviewerKindDesignated}, "designatedReviewerIDs", ReviewStageSpec{}},
		{"other kinds find theirs", ReviewStageSpec{ReviewerKind: enum.ReviewerKindApplicationOwner, DesignatedReviewerIDs: two}, "designatedReviewerIDs", ReviewStageSpec{}},
		{"a QUORUM stage without a quorum", ReviewStageSpec{ReviewerKind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleQuorum}, "quorum", ReviewStageSpec{}},
		{"3 of 2 designated reviewers can never be reached (repeats count once)",
			ReviewStageSpec{ReviewerKind: enum.ReviewerKindDesignated, Rule: enum.StageRuleQuorum, Quorum: 3, DesignatedReviewerIDs: two}, "quorum", ReviewStageSpec{}},
		{"a quorum on an ANY stage", ReviewStageSpec{ReviewerKind: enum.ReviewerKindApplicationOwner, Quorum: 3}, "quorum", ReviewStageSpec{}},
	}
	for _, tt := range tests {
		got, err := CheckStage(tt.in)
		if tt.wantField == "" {
			require.NoError(t, err, tt.why)
			require.Equal(t, tt.want, got, tt.why)
			continue
		}
		var ce *errcode.Error
		require.ErrorAs(t, err, &ce, tt.why)
		require.Equal(t, errcode.InvalidInput, ce.Code, tt.why)
		require.Equal(t, tt.wantField, ce.Field, tt.why)
	}
}

func TestEffectiveRequestPolicyReviewPolicy(t *testing.T) {
	t.Parallel()
	g, a, e := pulid.ID("rvp_g"), pulid.ID("rvp_a"), pulid.ID("rvp_e")
	tests := []struct {
		name             string
		global, app, ent *RequestSettings
		want             *pulid.ID
		wantSource       enum.PolicySource
		why              string
	}{
		{"none", nil, nil, nil, nil, enum.PolicySourceBuiltIn, "no row names one: the stage templates apply"},
		{"global", &RequestSettings{ReviewPolicyID: &g}, nil, nil, &g, enum.PolicySourceGlobal, "the global row names it"},
		{"application over global", &RequestSettings{ReviewPolicyID: &g}, &RequestSettings{ReviewPolicyID: &a}, nil, &a, enum.PolicySourceApplication,
			"the application's row overrides the global one"},
		{"entitlement over application", &RequestSettings{ReviewPolicyID: &g}, &RequestSettings{ReviewPolicyID: &a}, &RequestSettings{ReviewPolicyID: &e}, &e,
			enum.PolicySourceEntitlement, "the entitlement's row overrides its application's"},
		{"unset inherits", &RequestSettings{ReviewPolicyID: &g}, &RequestSettings{JustificationRequired: ptr(true)}, &RequestSettings{}, &g, enum.PolicySourceGlobal,
			"rows that do not set it inherit"},
	}
	appID, entID := pulid.ID("app_1"), pulid.ID("ent_1")
	for _, tt := range tests {
		p := EffectiveRequestPolicy(&appID, &entID, tt.global, tt.app, tt.ent)
		require.Equal(t, tt.want, p.ReviewPolicy.Value, "%s: %s", tt.name, tt.why)
		require.Equal(t, tt.wantSource, p.ReviewPolicy.Source, "%s: %s", tt.name, tt.why)
	}
}

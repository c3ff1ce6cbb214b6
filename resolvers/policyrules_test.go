package resolvers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// Policy rule tests (issue 15, item 2): review policies and policy rules
// are managed through GraphQL by an IT admin and applied by
// previewAccessRequest and submitAccessRequest.

const (
	prRuleFields = `id name order version enabled outcome message allowPrivilegedAutoApprove reviewPolicy { name }
  conditions { departments privileged labels entitlementIds action permanent maxDuration }`
	prCreatePolicy = `mutation($in: ReviewPolicyInput!) { createReviewPolicy(input: $in) { id name stages { level reviewerKind rule quorum } } }`
	prCreateRule   = `mutation($in: PolicyRuleInput!) { createPolicyRule(input: $in) { ` + prRuleFields + ` } }`
	prUpdateRule   = `mutation($id: ID!, $in: PolicyRuleInput!) { updatePolicyRule(id: $id, input: $in) { ` + prRuleFields + ` } }`
	prEnableRule   = `mutation($id: ID!, $on: Boolean!) { setPolicyRuleEnabled(id: $id, enabled: $on) { ` + prRuleFields + ` } }`
	prDeleteRule   = `mutation($id: ID!) { deletePolicyRule(id: $id) }`
	prDeletePolicy = `mutation($id: ID!) { deleteReviewPolicy(id: $id) }`
	prRules        = `{ policyRules { ` + prRuleFields + ` } }`
	prPolicies     = `{ reviewPolicies { name stages { level reviewerKind } } }`
	prPreview      = `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) {
  autoApproved errors { code message }
  items { entitlement { name } autoApproved policyRule { id name version outcome } reviewPolicy { name }
    stages { level reviewerKind reviewers { email } } } } }`
	prItems = `query($id: ID!) { node(id: $id) { ... on AccessRequest { items { id status policyRule { id name version outcome }
  stages { level reviewerKind } } } } }`
)

type prRule struct {
	ID                         string
	Name                       string
	Order                      int
	Version                    int
	Enabled                    bool
	Outcome                    string
	Message                    string
	AllowPrivilegedAutoApprove bool
	ReviewPolicy               *struct{ Name string }
}

type prMatched struct {
	ID      string
	Name    string
	Version int
	Outcome *string
}

type prPreviewResult struct {
	AutoApproved bool
	Errors       []struct{ Code, Message string }
	Items        []struct {
		Entitlement  struct{ Name string }
		AutoApproved bool
		PolicyRule   *prMatched
		ReviewPolicy *struct{ Name string }
		Stages       []struct {
			Level        int
			ReviewerKind string
			Reviewers    []struct{ Email string }
		}
	}
}

type prItem struct {
	ID         string
	Status     string
	PolicyRule *prMatched
	Stages     []struct {
		Level        int
		ReviewerKind string
	}
}

// prReviewPolicy creates a review policy as an IT admin and returns its ID.
func (o *org) prReviewPolicy(t *testing.T, name string, kinds ...string) string {
	t.Helper()
	stages := make([]map[string]any, len(kinds))
	for i, k := range kinds {
		stages[i] = map[string]any{"reviewerKind": k}
	}
	var out struct{ CreateReviewPolicy struct{ ID string } }
	o.env.MustDo(t, o.env.Token(t, o.admin), prCreatePolicy, map[string]any{"in": map[string]any{"name": name, "stages": stages}}, &out)
	return out.CreateReviewPolicy.ID
}

// prRule creates a policy rule as an IT admin.
func (o *org) prRule(t *testing.T, in map[string]any) prRule {
	t.Helper()
	var out struct{ CreatePolicyRule prRule }
	o.env.MustDo(t, o.env.Token(t, o.admin), prCreateRule, map[string]any{"in": in}, &out)
	return out.CreatePolicyRule
}

func prPreviewOf(t *testing.T, env *apitest.Env, token string, in map[string]any) prPreviewResult {
	t.Helper()
	var out struct{ PreviewAccessRequest prPreviewResult }
	env.MustDo(t, token, prPreview, map[string]any{"in": in}, &out)
	return out.PreviewAccessRequest
}

func prItemsOf(t *testing.T, env *apitest.Env, token, id string) []prItem {
	t.Helper()
	var out struct{ Node struct{ Items []prItem } }
	env.MustDo(t, token, prItems, map[string]any{"id": id}, &out)
	return out.Node.Items
}

func TestPolicyRuleAdministration(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		_, e := o.app(t, "Ledger", enum.FulfillmentManual, nil)
		user := env.User(t, "u@example.com", enum.PlatformRoleUser)
		risk := env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		uTok, riskTok, aTok := env.Token(t, user), env.Token(t, risk), env.Token(t, o.admin)

		// Who may: IT admins change, risk managers read rules, users read
		// review policies only (TestReviewPoliciesReadByAnyone).
		require.Equal(t, "FORBIDDEN", env.Do(t, uTok, prRules, nil).Code(), "a USER reads no rules")
		deny := map[string]any{"name": "No ledger", "order": 10, "outcome": "AUTO_DENY", "message": "Ask finance."}
		require.Equal(t, "FORBIDDEN", env.Do(t, riskTok, prCreateRule, map[string]any{"in": deny}).Code(), "a risk manager changes nothing")

		// Review policies: validation, then one with two stages.
		for _, tc := range []struct {
			in   map[string]any
			code string
			why  string
		}{
			{map[string]any{"name": "Empty", "stages": []any{}}, "INVALID_INPUT", "a review policy has a stage"},
			{map[string]any{"name": "Designated", "stages": []any{map[string]any{"reviewerKind": "DESIGNATED"}}}, "INVALID_INPUT",
				"a DESIGNATED stage names its reviewers"},
			{map[string]any{"name": "Ghost", "stages": []any{map[string]any{"reviewerKind": "DESIGNATED", "designatedReviewerIds": []string{"usr_nope"}}}},
				"NOT_FOUND", "an unknown reviewer"},
		} {
			require.Equal(t, tc.code, env.Do(t, aTok, prCreatePolicy, map[string]any{"in": tc.in}).Code(), tc.why)
		}
		mr := o.prReviewPolicy(t, "Manager then risk manager", "MANAGER", "RISK_MANAGER")
		require.Equal(t, "CONFLICT", env.Do(t, aTok, prCreatePolicy, map[string]any{"in": map[string]any{"name": "Manager then risk manager",
			"stages": []any{map[string]any{"reviewerKind": "MANAGER"}}}}).Code(), "names are unique")
		var pols struct {
			ReviewPolicies []struct {
				Name   string
				Stages []struct {
					Level        int
					ReviewerKind string
				}
			}
		}
		env.MustDo(t, riskTok, prPolicies, nil, &pols)
		require.Len(t, pols.ReviewPolicies, 1)
		require.Equal(t, "RISK_MANAGER", pols.ReviewPolicies[0].Stages[1].ReviewerKind)
		require.Equal(t, 2, pols.ReviewPolicies[0].Stages[1].Level)

		// Policy rules: validation, each naming its field; unknown IDs are NOT_FOUND.
		for _, tc := range []struct {
			in          map[string]any
			code, field string
			why         string
		}{
			{map[string]any{"name": "Approve all", "order": 1, "outcome": "AUTO_APPROVE"}, "INVALID_INPUT", "allowPrivilegedAutoApprove",
				"an auto-approve rule that could match privileged entitlements needs the explicit flag"},
			{map[string]any{"name": "Review", "order": 1, "outcome": "REQUIRE_REVIEW"}, "INVALID_INPUT", "reviewPolicyId",
				"REQUIRE_REVIEW names its review policy"},
			{map[string]any{"name": "Deny", "order": 1, "outcome": "AUTO_DENY"}, "INVALID_INPUT", "message", "AUTO_DENY tells the requester why"},
			{map[string]any{"name": "Review", "order": 1, "outcome": "REQUIRE_REVIEW", "reviewPolicyId": "rvp_nope"}, "NOT_FOUND", "reviewPolicyId",
				"an unknown review policy"},
			{map[string]any{"name": "Deny", "order": 1, "outcome": "AUTO_DENY", "message": "no", "conditions": map[string]any{"entitlementIds": []string{"ent_nope"}}},
				"NOT_FOUND", "conditions.entitlementIds", "an unknown entitlement"},
		} {
			res := env.Do(t, aTok, prCreateRule, map[string]any{"in": tc.in})
			require.Equal(t, tc.code, res.Code(), tc.why)
			require.Contains(t, res.Errors[0].Message, tc.field, tc.why)
		}
		res := env.Do(t, aTok, prCreateRule, map[string]any{"in": map[string]any{"name": "Approve all", "order": 1, "outcome": "AUTO_APPROVE"}})
		require.Contains(t, res.Errors[0].Message, "privileged: false", "the refusal says how to fix it")

		priv := o.prRule(t, map[string]any{"name": "Privileged needs risk", "order": 10, "outcome": "REQUIRE_REVIEW", "reviewPolicyId": mr,
			"conditions": map[string]any{"privileged": true}})
		require.Equal(t, 1, priv.Version)
		require.Equal(t, "Manager then risk manager", priv.ReviewPolicy.Name)
		o.prRule(t, map[string]any{"name": "Ledger denied", "order": 5, "outcome": "AUTO_DENY", "message": "Ask finance.",
			"conditions": map[string]any{"entitlementIds": []string{string(e.ID)}}})
		o.prRule(t, map[string]any{"name": "Everything approved", "order": 5, "outcome": "AUTO_APPROVE", "allowPrivilegedAutoApprove": true, "enabled": false})

		// Every change adds a version.
		var upd struct{ UpdatePolicyRule prRule }
		env.MustDo(t, aTok, prUpdateRule, map[string]any{"id": priv.ID, "in": map[string]any{"name": "Privileged needs risk", "order": 30,
			"outcome": "REQUIRE_REVIEW", "reviewPolicyId": mr, "conditions": map[string]any{"privileged": true, "action": "GRANT"}}}, &upd)
		require.Equal(t, 2, upd.UpdatePolicyRule.Version)
		require.Equal(t, 30, upd.UpdatePolicyRule.Order)
		var en struct{ SetPolicyRuleEnabled prRule }
		env.MustDo(t, aTok, prEnableRule, map[string]any{"id": priv.ID, "on": false}, &en)
		require.Equal(t, 3, en.SetPolicyRuleEnabled.Version)
		require.False(t, en.SetPolicyRuleEnabled.Enabled)
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, prEnableRule, map[string]any{"id": "prl_nope", "on": true}).Code())

		// Listed in evaluation order: order, then name.
		var list struct{ PolicyRules []prRule }
		env.MustDo(t, riskTok, prRules, nil, &list)
		var names []string
		for _, r := range list.PolicyRules {
			names = append(names, r.Name)
		}
		require.Equal(t, []string{"Everything approved", "Ledger denied", "Privileged needs risk"}, names)

		// A review policy in use is not deleted; a rule is.
		res = env.Do(t, aTok, prDeletePolicy, map[string]any{"id": mr})
		require.Equal(t, "CONFLICT", res.Code())
		require.Contains(t, res.Errors[0].Message, "Privileged needs risk", "the refusal names the rule that applies it")
		env.MustDo(t, aTok, prDeleteRule, map[string]any{"id": priv.ID}, nil)
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, prDeleteRule, map[string]any{"id": priv.ID}).Code())
		env.MustDo(t, aTok, prDeletePolicy, map[string]any{"id": mr}, nil)

		// Every change is audited on the system chain, by the admin.
		evs, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Actor(string(o.admin.ID)), auditevent.Action(string(audit.CatalogChanged))).
			All(apitest.Sys())
		require.NoError(t, err)
		ops := map[string]int{}
		for _, ev := range evs {
			if ent, ok := ev.Data["entity"].(string); ok && (ent == "PolicyRule" || ent == "ReviewPolicy") {
				ops[ent+" "+ev.Data["op"].(string)]++
			}
		}
		require.Equal(t, map[string]int{
			"ReviewPolicy OpCreate": 1, "ReviewPolicy OpDeleteOne": 1,
			"PolicyRule OpCreate": 3, "PolicyRule OpUpdateOne": 2, "PolicyRule OpDeleteOne": 1,
		}, ops, "refused inputs recorded nothing")
	})
}

func TestPolicyRulesAtSubmission(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, _, _, b := o.cast(t)
		risk := env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		bTok, aTok := env.Token(t, b), env.Token(t, o.admin)
		app, low := o.app(t, "Ledger", enum.FulfillmentManual, nil) // default review: B's manager
		sys := apitest.Sys()
		_, err := low.Update().SetLabels([]string{"low-risk"}).Save(sys)
		require.NoError(t, err)
		mk := func(name string, privileged bool) *ent.Entitlement {
			e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name).SetName(name).SetPrivileged(privileged).Save(sys)
			require.NoError(t, err)
			return e
		}
		admin, admin2, vendor, plain := mk("Ledger admin", true), mk("Ledger superuser", true), mk("Vendor tool", false), mk("Ledger reports", false)
		grant := func(e *ent.Entitlement) map[string]any {
			return map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": "month-end close"}
		}

		mr := o.prReviewPolicy(t, "Manager then risk manager", "MANAGER", "RISK_MANAGER")
		privRule := o.prRule(t, map[string]any{"name": "Privileged: manager and risk", "order": 10, "outcome": "REQUIRE_REVIEW",
			"reviewPolicyId": mr, "conditions": map[string]any{"privileged": true}})
		lowRule := o.prRule(t, map[string]any{"name": "Low risk approved", "order": 20, "outcome": "AUTO_APPROVE",
			"conditions": map[string]any{"labels": []string{"low-risk"}, "privileged": false}})
		o.prRule(t, map[string]any{"name": "Vendor tools elsewhere", "order": 30, "outcome": "AUTO_DENY",
			"message": "Vendor tools are requested through the vendor portal.", "conditions": map[string]any{"entitlementIds": []string{string(vendor.ID)}}})

		// Auto-approve by rule: preview shows the rule, the item is approved with no review.
		p := prPreviewOf(t, env, bTok, grant(low))
		require.Empty(t, p.Errors)
		require.True(t, p.AutoApproved)
		require.Equal(t, &prMatched{ID: lowRule.ID, Name: "Low risk approved", Version: 1, Outcome: ptrTo("AUTO_APPROVE")}, p.Items[0].PolicyRule)
		req := subSubmit(t, env, bTok, grant(low))
		items := prItemsOf(t, env, bTok, req.ID)
		require.Equal(t, "APPROVED", items[0].Status, "approved at submission; a manual application then fulfils it")
		require.Empty(t, items[0].Stages)
		require.Equal(t, &prMatched{ID: lowRule.ID, Name: "Low risk approved", Version: 1, Outcome: ptrTo("AUTO_APPROVE")}, items[0].PolicyRule,
			"the item shows the rule with its outcome, as the preview did")
		trail := prTrail(t, env, req.ID)
		require.Contains(t, trail, audit.ItemAutoApproved)
		added := trail[audit.ItemAdded]
		require.Equal(t, map[string]any{"id": lowRule.ID, "name": "Low risk approved", "version": 1.0, "outcome": "AUTO_APPROVE"}, added["policyRule"],
			"the item's audit event names the rule and its version")

		// Auto-deny by rule: refused with the rule's message, at preview and at submission.
		p = prPreviewOf(t, env, bTok, grant(vendor))
		require.Len(t, p.Errors, 1)
		require.Equal(t, "DENIED_BY_POLICY", p.Errors[0].Code)
		res := subTry(t, env, bTok, grant(vendor), nil)
		require.Equal(t, "DENIED_BY_POLICY", res.Code())
		require.Contains(t, res.Errors[0].Message, "Vendor tools are requested through the vendor portal.")
		require.Contains(t, res.Errors[0].Message, "Vendor tools elsewhere", "the refusal names the rule")

		// A privileged entitlement gains a RISK_MANAGER stage by rule.
		p = prPreviewOf(t, env, bTok, grant(admin))
		require.Empty(t, p.Errors)
		require.Equal(t, "Privileged: manager and risk", p.Items[0].PolicyRule.Name)
		require.Equal(t, "Manager then risk manager", p.Items[0].ReviewPolicy.Name)
		require.Len(t, p.Items[0].Stages, 2)
		require.Equal(t, "MANAGER", p.Items[0].Stages[0].ReviewerKind)
		require.Equal(t, m.Email, p.Items[0].Stages[0].Reviewers[0].Email)
		require.Equal(t, "RISK_MANAGER", p.Items[0].Stages[1].ReviewerKind)
		require.Equal(t, risk.Email, p.Items[0].Stages[1].Reviewers[0].Email)
		req = subSubmit(t, env, bTok, grant(admin))
		items = prItemsOf(t, env, bTok, req.ID)
		require.Equal(t, "PENDING_REVIEW", items[0].Status)
		require.Len(t, items[0].Stages, 2)
		require.Equal(t, "RISK_MANAGER", items[0].Stages[1].ReviewerKind)
		require.Equal(t, 1, items[0].PolicyRule.Version)
		require.Equal(t, ptrTo("REQUIRE_REVIEW"), items[0].PolicyRule.Outcome)
		require.Equal(t, mr, prTrail(t, env, req.ID)[audit.ItemAdded]["reviewPolicy"], "the trail names the review policy applied")

		// The version recorded is the one in force at submission.
		var upd struct{ UpdatePolicyRule prRule }
		env.MustDo(t, aTok, prUpdateRule, map[string]any{"id": privRule.ID, "in": map[string]any{"name": "Privileged: manager and risk", "order": 10,
			"outcome": "REQUIRE_REVIEW", "reviewPolicyId": mr, "conditions": map[string]any{"privileged": true, "action": "GRANT"}}}, &upd)
		require.Equal(t, 2, upd.UpdatePolicyRule.Version)
		require.Equal(t, 1, prItemsOf(t, env, bTok, req.ID)[0].PolicyRule.Version, "the submitted item keeps version 1")
		env.MustDo(t, aTok, prUpdateRule, map[string]any{"id": lowRule.ID, "in": map[string]any{"name": "Low risk approved", "order": 20,
			"outcome": "REQUIRE_REVIEW", "reviewPolicyId": mr, "conditions": map[string]any{"labels": []string{"low-risk"}, "privileged": false}}}, nil)
		require.Equal(t, ptrTo("AUTO_APPROVE"), prItemsOf(t, env, bTok, prRequestOf(t, env, low))[0].PolicyRule.Outcome,
			"an item keeps the outcome that decided it when the rule changes")
		req2 := subSubmit(t, env, bTok, grant(admin2))
		require.Equal(t, 2, prItemsOf(t, env, bTok, req2.ID)[0].PolicyRule.Version, "a new item records version 2")

		// No rule matches: the request policy's review policy applies, else the templates.
		p = prPreviewOf(t, env, bTok, grant(plain))
		require.Nil(t, p.Items[0].PolicyRule)
		require.Nil(t, p.Items[0].ReviewPolicy)
		require.Len(t, p.Items[0].Stages, 1, "the built-in manager stage")
		risky := o.prReviewPolicy(t, "Risk only", "RISK_MANAGER")
		var set struct {
			SetRequestPolicy struct {
				ReviewPolicy struct {
					Value  *struct{ Name string }
					Source string
				}
			}
		}
		env.MustDo(t, aTok, `mutation($app: ID, $in: RequestPolicyInput!) { setRequestPolicy(applicationId: $app, input: $in) {
  reviewPolicy { value { name } source } } }`, map[string]any{"app": string(app.ID), "in": map[string]any{"reviewPolicyId": risky}}, &set)
		require.Equal(t, "Risk only", set.SetRequestPolicy.ReviewPolicy.Value.Name)
		require.Equal(t, "APPLICATION", set.SetRequestPolicy.ReviewPolicy.Source)
		p = prPreviewOf(t, env, bTok, grant(plain))
		require.Empty(t, p.Errors)
		require.Nil(t, p.Items[0].PolicyRule)
		require.Equal(t, "Risk only", p.Items[0].ReviewPolicy.Name, "the application's request policy names the review policy")
		require.Equal(t, "RISK_MANAGER", p.Items[0].Stages[0].ReviewerKind)
		p = prPreviewOf(t, env, bTok, grant(mk("Ledger root", true)))
		require.Empty(t, p.Errors)
		require.Equal(t, "Manager then risk manager", p.Items[0].ReviewPolicy.Name, "a matching rule takes precedence over the request policy")
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, `mutation($in: RequestPolicyInput!) { setRequestPolicy(input: $in) { reviewPolicy { source } } }`,
			map[string]any{"in": map[string]any{"reviewPolicyId": "rvp_nope"}}).Code())
	})
}

// prTrail returns the data of the last event of each action of a request's
// chain.
func prTrail(t *testing.T, env *apitest.Env, reqID string) map[audit.Action]map[string]any {
	t.Helper()
	evs, err := env.Client.AuditEvent.Query().Where(auditevent.Chain(reqID)).Order(auditevent.BySeq()).All(apitest.Sys())
	require.NoError(t, err)
	out := map[audit.Action]map[string]any{}
	for _, ev := range evs {
		out[audit.Action(ev.Action)] = ev.Data
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }

// TestPolicyRulePrecedence: a matching rule takes precedence over the
// application's auto-approve switch; without one, the switch wins over the
// request policy's review policy; a review policy's DESIGNATED stage
// assigns its reviewers.
func TestPolicyRulePrecedence(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		_, _, _, b := o.cast(t)
		bTok, aTok := env.Token(t, b), env.Token(t, o.admin)
		auditor := env.User(t, "auditor@example.com", enum.PlatformRoleUser)
		app, plain := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
		sys := apitest.Sys()
		tagged, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("wiki-hr").SetName("HR space").
			SetLabels([]string{"pii"}).Save(sys)
		require.NoError(t, err)
		grant := func(e *ent.Entitlement) map[string]any {
			return map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}}
		}

		var created struct{ CreateReviewPolicy struct{ ID string } }
		env.MustDo(t, aTok, prCreatePolicy, map[string]any{"in": map[string]any{"name": "Auditor", "stages": []any{
			map[string]any{"reviewerKind": "DESIGNATED", "designatedReviewerIds": []string{string(auditor.ID)}},
		}}}, &created)
		designated := created.CreateReviewPolicy.ID
		o.prRule(t, map[string]any{"name": "PII reviewed", "order": 1, "outcome": "REQUIRE_REVIEW", "reviewPolicyId": designated,
			"conditions": map[string]any{"labels": []string{"pii"}}})
		env.MustDo(t, aTok, `mutation($app: ID, $in: RequestPolicyInput!) { setRequestPolicy(applicationId: $app, input: $in) { justificationRequired { value } } }`,
			map[string]any{"app": string(app.ID), "in": map[string]any{"reviewPolicyId": designated}}, nil)

		p := prPreviewOf(t, env, bTok, grant(plain))
		require.Empty(t, p.Errors)
		require.True(t, p.Items[0].AutoApproved, "no rule matches: the application's switch wins over the request policy's review policy")
		require.Nil(t, p.Items[0].ReviewPolicy)

		p = prPreviewOf(t, env, bTok, grant(tagged))
		require.Empty(t, p.Errors)
		require.False(t, p.Items[0].AutoApproved, "the matching rule adds review to an auto-approving application")
		require.Equal(t, "PII reviewed", p.Items[0].PolicyRule.Name)
		require.Len(t, p.Items[0].Stages, 1)
		require.Equal(t, "DESIGNATED", p.Items[0].Stages[0].ReviewerKind)
		require.Equal(t, "auditor@example.com", p.Items[0].Stages[0].Reviewers[0].Email, "the review policy's designated reviewer")
		req := subSubmit(t, env, bTok, grant(tagged))
		require.Equal(t, "PENDING_REVIEW", prItemsOf(t, env, bTok, req.ID)[0].Status)
	})
}

// prName returns a name of the audit scene not used before.
func (s *auditScene) prName(what string) string {
	s.apps++
	return fmt.Sprintf("%s %d", what, s.apps)
}

// prPolicyInput is a review policy input with a new name.
func (s *auditScene) prPolicyInput() map[string]any {
	return map[string]any{"name": s.prName("Policy"), "stages": []any{map[string]any{"reviewerKind": "RISK_MANAGER"}}}
}

// prRuleInput is a rule with a new name that matches no item of the scene
// (a label nothing carries), so that the other cases' requests are
// reviewed as before.
func (s *auditScene) prRuleInput(t *testing.T) map[string]any {
	return map[string]any{"name": s.prName("Rule"), "order": 1, "outcome": "REQUIRE_REVIEW",
		"reviewPolicyId": s.prReviewPolicy(t, s.prName("Policy"), "MANAGER"), "conditions": map[string]any{"labels": []string{"never-used"}}}
}

// prRequestOf returns the ID of the last request with an item of e.
func prRequestOf(t *testing.T, env *apitest.Env, e *ent.Entitlement) string {
	t.Helper()
	it, err := env.Client.RequestItem.Query().Where(requestitem.EntitlementID(e.ID)).
		Order(ent.Desc(requestitem.FieldCreatedAt)).First(apitest.Sys())
	require.NoError(t, err)
	return string(it.RequestID)
}

// TestReviewPoliciesReadByAnyone: any signed-in user reads the review
// policies — their list, the one an effective request policy names and the
// one a preview shows — as the rows they are (times included), through the
// privacy layer, which keeps the policy rules from them; a preview reads
// the review policies of its items once, however many items name them.
func TestReviewPoliciesReadByAnyone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, sys := o.env, apitest.Sys()
		_, _, _, b := o.cast(t)
		bTok, aTok := env.Token(t, b), env.Token(t, o.admin)
		env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		app, _ := o.app(t, "Ledger", enum.FulfillmentManual, nil)
		var privileged []string
		for i := range 5 {
			e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(fmt.Sprintf("p%d", i)).
				SetName(fmt.Sprintf("Ledger admin %d", i)).SetPrivileged(true).Save(sys)
			require.NoError(t, err)
			privileged = append(privileged, string(e.ID))
		}
		mr := o.prReviewPolicy(t, "Manager then risk manager", "MANAGER", "RISK_MANAGER")
		o.prRule(t, map[string]any{"name": "Privileged: manager and risk", "order": 10, "outcome": "REQUIRE_REVIEW",
			"reviewPolicyId": mr, "conditions": map[string]any{"privileged": true}})
		risky := o.prReviewPolicy(t, "Risk only", "RISK_MANAGER")
		env.MustDo(t, aTok, `mutation($app: ID, $in: RequestPolicyInput!) { setRequestPolicy(applicationId: $app, input: $in) { reviewPolicy { source } } }`,
			map[string]any{"app": string(app.ID), "in": map[string]any{"reviewPolicyId": risky}}, nil)
		row, err := env.Client.ReviewPolicy.Get(sys, pulid.ID(mr))
		require.NoError(t, err)
		riskyRow, err := env.Client.ReviewPolicy.Get(sys, pulid.ID(risky))
		require.NoError(t, err)

		// The privacy layer is the one rule: a USER reads review policies,
		// not policy rules; nobody reads without signing in.
		userCtx := authz.NewContext(context.Background(), &authz.Viewer{UserID: b.ID, Role: enum.PlatformRoleUser})
		rps, err := env.Client.ReviewPolicy.Query().All(userCtx)
		require.NoError(t, err)
		require.Len(t, rps, 2)
		_, err = env.Client.PolicyRule.Query().All(userCtx)
		require.Error(t, err, "policy rules stay with risk managers and IT admins")
		_, err = env.Client.ReviewPolicy.Query().All(context.Background())
		require.Error(t, err)

		type rp struct {
			ID, Name             string
			CreatedAt, UpdatedAt time.Time
			Stages               []struct{ ReviewerKind string }
		}
		const rpFields = `id name createdAt updatedAt stages { reviewerKind }`
		var list struct{ ReviewPolicies []rp }
		env.MustDo(t, bTok, `{ reviewPolicies { `+rpFields+` } }`, nil, &list)
		require.Len(t, list.ReviewPolicies, 2, "a USER lists the review policies")
		var eff struct {
			RequestPolicy struct{ ReviewPolicy struct{ Value *rp } }
		}
		env.MustDo(t, bTok, `query($app: ID) { requestPolicy(applicationId: $app) { reviewPolicy { value { `+rpFields+` } } } }`,
			map[string]any{"app": string(app.ID)}, &eff)
		require.Equal(t, "Risk only", eff.RequestPolicy.ReviewPolicy.Value.Name)
		require.True(t, riskyRow.CreatedAt.Equal(eff.RequestPolicy.ReviewPolicy.Value.CreatedAt), "the row itself")

		// A preview shows the review policy row: its times are the row's,
		// not zero.
		preview := func(n int, fields string) ([]struct{ ReviewPolicy *rp }, int64) {
			var out struct {
				PreviewAccessRequest struct {
					Errors []struct{ Code string }
					Items  []struct{ ReviewPolicy *rp }
				}
			}
			env.Statements.Reset()
			env.MustDo(t, bTok, `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) {
			  errors { code } items { entitlement { id } `+fields+` } } }`, map[string]any{"in": map[string]any{"action": "GRANT",
				"entitlementIds": privileged[:n], "justification": "month-end close"}}, &out)
			require.Empty(t, out.PreviewAccessRequest.Errors)
			require.Len(t, out.PreviewAccessRequest.Items, n)
			return out.PreviewAccessRequest.Items, env.Statements.Count()
		}
		items, _ := preview(5, `reviewPolicy { `+rpFields+` }`)
		for _, it := range items {
			require.Equal(t, mr, it.ReviewPolicy.ID)
			require.True(t, row.CreatedAt.Equal(it.ReviewPolicy.CreatedAt), "createdAt is the row's, got %s", it.ReviewPolicy.CreatedAt)
			require.True(t, row.UpdatedAt.Equal(it.ReviewPolicy.UpdatedAt))
			require.Len(t, it.ReviewPolicy.Stages, 2)
		}
		_, with2 := preview(2, `reviewPolicy { name }`)
		_, without2 := preview(2, ``)
		_, with5 := preview(5, `reviewPolicy { name }`)
		_, without5 := preview(5, ``)
		require.Equal(t, without2+1, with2, "one statement reads the review policies of 2 items")
		require.Equal(t, without5+1, with5, "and of 5")
	})
}

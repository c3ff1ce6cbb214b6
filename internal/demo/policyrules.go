package demo

import (
	"context"
	"fmt"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/workflow/rules"
)

// labels are the demo's entitlement labels, by "application/external ID",
// which the demo policy rules match.
func labels() map[string][]string {
	return map[string][]string{
		"NetSuite/role:controller":              {"finance", "sox"},
		"NetSuite/perm:approve-vendor-payments": {"finance", "sox", "payments"},
		"NetSuite/perm:view-financial-reports":  {"finance", "read-only", "low-risk"},
		"Salesforce/perm:run-reports":           {"read-only"},
		"Production Database/app_readonly":      {"read-only"},
		"Production Database/schema:billing":    {"pii", "payments"},
		"Production Database/db_admin":          {"production"},
		"Production Database/app_readwrite":     {"production"},
		"GitHub/team:release-managers":          {"production"},
		"NetSuite/subsidiary:example-uk":        {"finance"},
		"NetSuite/role:accountant":              {"finance"},
		"Salesforce/role:sales-manager":         {"sales"},
		"Salesforce/role:sales-user":            {"sales"},
		"GitHub/team:engineering":               {"read-only"},
		"GitHub/team:backend":                   {"engineering"},
		"GitHub/team:frontend":                  {"engineering"},
	}
}

// seedPolicyRules labels some entitlements and adds the demo's review
// policy and policy rules, evaluated in this order:
//
//  10. "Sales never gets payment data": a Sales beneficiary asking for an
//     entitlement labelled payments is refused with a message;
//  20. "Privileged finance access: manager then risk manager": a GRANT of
//     a privileged entitlement labelled sox (NetSuite Controller, Approve
//     Vendor Payments) is reviewed by the manager, then a risk manager;
//  30. "Financial reports approved for Finance": a Finance beneficiary
//     asking for a non-privileged low-risk entitlement (View Financial
//     Reports) is approved at once.
func (s *seeder) seedPolicyRules(ctx context.Context) error {
	for key, ls := range labels() {
		id, ok := s.entitlements[key]
		if !ok || len(ls) == 0 {
			continue
		}
		if err := s.tx.Entitlement.UpdateOneID(id).SetLabels(ls).Exec(ctx); err != nil {
			return fmt.Errorf("label %s: %w", key, err)
		}
	}
	mr, err := s.tx.ReviewPolicy.Create().SetName("Manager then risk manager").
		SetDescription("The beneficiary's manager, then a risk manager.").
		SetStages([]rules.ReviewStageSpec{
			{Level: 1, ReviewerKind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1},
			{Level: 2, ReviewerKind: enum.ReviewerKindRiskManager, Rule: enum.StageRuleAny, Quorum: 1},
		}).Save(ctx)
	if err != nil {
		return fmt.Errorf("create review policy: %w", err)
	}
	grant, no := enum.RequestActionGrant, false
	yes := true
	for _, r := range []rules.PolicyRule{
		{Name: "Sales never gets payment data", Order: 10, Outcome: enum.PolicyRuleOutcomeAutoDeny,
			Message: "Payment data is not available to Sales. Ask Finance for the report you need.",
			When:    rules.RuleConditions{Departments: []string{Sales}, Labels: []string{"payments"}}},
		{Name: "Privileged finance access: manager then risk manager", Order: 20, Outcome: enum.PolicyRuleOutcomeRequireReview,
			ReviewPolicyID: &mr.ID, When: rules.RuleConditions{Privileged: &yes, Labels: []string{"sox"}, Action: &grant}},
		{Name: "Financial reports approved for Finance", Order: 30, Outcome: enum.PolicyRuleOutcomeAutoApprove,
			When: rules.RuleConditions{Departments: []string{Finance}, Labels: []string{"low-risk"}, Privileged: &no}},
	} {
		if err := rules.CheckPolicyRule(r); err != nil {
			return fmt.Errorf("policy rule %q: %w", r.Name, err)
		}
		err := s.tx.PolicyRule.Create().SetName(r.Name).SetPosition(r.Order).SetOutcome(r.Outcome).SetMessage(r.Message).
			SetConditions(r.When).SetNillableReviewPolicyID(r.ReviewPolicyID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("create policy rule %q: %w", r.Name, err)
		}
	}
	return nil
}

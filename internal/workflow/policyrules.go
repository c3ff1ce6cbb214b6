package workflow

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/jobtitle"
	"gatehouse/ent/policyrule"
	"gatehouse/ent/requestpolicy"
	"gatehouse/ent/reviewpolicy"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// ReviewPolicyInput is a review policy as created or replaced.
type ReviewPolicyInput struct {
	Name        string
	Description *string
	Stages      []rules.ReviewStageSpec
}

// PolicyRuleInput is a policy rule as created or replaced.
type PolicyRuleInput struct {
	Name                       string
	Order                      int
	Enabled                    *bool
	Conditions                 *rules.RuleConditions
	Outcome                    enum.PolicyRuleOutcome
	Message                    *string
	ReviewPolicyID             *pulid.ID
	AllowPrivilegedAutoApprove *bool
}

// rule is the rules' view of in.
func (in PolicyRuleInput) rule() rules.PolicyRule {
	r := rules.PolicyRule{Name: strings.TrimSpace(in.Name), Order: in.Order, Enabled: in.Enabled == nil || *in.Enabled,
		Outcome: in.Outcome, ReviewPolicyID: in.ReviewPolicyID,
		AllowPrivilegedAutoApprove: in.AllowPrivilegedAutoApprove != nil && *in.AllowPrivilegedAutoApprove}
	if in.Conditions != nil {
		r.When = *in.Conditions
	}
	if in.Message != nil {
		r.Message = strings.TrimSpace(*in.Message)
	}
	return r
}

// ReviewPolicies returns the review policies by name. Any authenticated
// viewer (authz.ReviewPolicyPolicy). Errors: UNAUTHENTICATED.
func (s *Service) ReviewPolicies(ctx context.Context) ([]*ent.ReviewPolicy, error) {
	if _, err := authz.Require(ctx, authz.Need{}); err != nil {
		return nil, err
	}
	out, err := s.client.ReviewPolicy.Query().Order(reviewpolicy.ByName()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("review policies: %w", err)
	}
	return out, nil
}

// PolicyRules returns the policy rules in evaluation order (order, then
// name), disabled ones included. Risk managers and IT admins. Errors:
// UNAUTHENTICATED, FORBIDDEN.
func (s *Service) PolicyRules(ctx context.Context) ([]*ent.PolicyRule, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Auditor, To: "read policy rules"}); err != nil {
		return nil, err
	}
	out, err := s.client.PolicyRule.Query().WithReviewPolicy().Order(policyrule.ByPosition(), policyrule.ByName()).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy rules: %w", err)
	}
	return out, nil
}

// CreateReviewPolicy creates a review policy. IT admins, with a WRITE
// token; audited on the system chain (CATALOG_CHANGED, entity
// ReviewPolicy). Errors: UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT
// (rules.CheckReviewPolicy), NOT_FOUND (designatedReviewerIds), CONFLICT
// (a name taken, from the unique constraint).
func (s *Service) CreateReviewPolicy(ctx context.Context, in ReviewPolicyInput) (*ent.ReviewPolicy, error) {
	return s.writeReviewPolicy(ctx, nil, in)
}

// UpdateReviewPolicy replaces the name, description and stages of the
// review policy id. Items already planned keep their stages. IT admins,
// with a WRITE token; audited. Errors: as CreateReviewPolicy, and
// NOT_FOUND (id).
func (s *Service) UpdateReviewPolicy(ctx context.Context, id pulid.ID, in ReviewPolicyInput) (*ent.ReviewPolicy, error) {
	return s.writeReviewPolicy(ctx, &id, in)
}

func (s *Service) writeReviewPolicy(ctx context.Context, id *pulid.ID, in ReviewPolicyInput) (*ent.ReviewPolicy, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "change review policies"}); err != nil {
		return nil, err
	}
	stages, err := rules.CheckReviewPolicy(in.Name, in.Stages)
	if err != nil {
		return nil, err
	}
	var out *ent.ReviewPolicy
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var designated []pulid.ID
		for _, st := range stages {
			designated = append(designated, st.DesignatedReviewerIDs...)
		}
		if err := checkIDs("stages.designatedReviewerIds", "user", designated, func(ids []pulid.ID) (int, error) {
			return t.client.User.Query().Where(user.IDIn(ids...)).Count(ctx)
		}); err != nil {
			return err
		}
		desc := ""
		if in.Description != nil {
			desc = *in.Description
		}
		if id == nil {
			out, err = t.client.ReviewPolicy.Create().SetName(strings.TrimSpace(in.Name)).SetDescription(desc).SetStages(stages).Save(ctx)
			return err
		}
		if err := s.lockKey(ctx, t, "review-policy/"+string(*id)); err != nil {
			return fmt.Errorf("lock review policy: %w", err)
		}
		out, err = t.client.ReviewPolicy.UpdateOneID(*id).SetName(strings.TrimSpace(in.Name)).SetDescription(desc).SetStages(stages).Save(ctx)
		if ent.IsNotFound(err) {
			return &errcode.Error{Code: errcode.NotFound, Field: "id", Message: "id: no such review policy"}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write review policy: %w", err)
	}
	return out, nil
}

// DeleteReviewPolicy deletes the review policy id when no policy rule and
// no request policy names it. IT admins, with a WRITE token; audited.
// Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND (id), CONFLICT (still
// named, saying by what).
func (s *Service) DeleteReviewPolicy(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "change review policies"}); err != nil {
		return "", err
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := s.lockKey(ctx, t, "review-policy/"+string(id)); err != nil {
			return fmt.Errorf("lock review policy: %w", err)
		}
		rp, err := t.client.ReviewPolicy.Get(ctx, id)
		if ent.IsNotFound(err) {
			return &errcode.Error{Code: errcode.NotFound, Field: "id", Message: "id: no such review policy"}
		}
		if err != nil {
			return fmt.Errorf("load review policy: %w", err)
		}
		names, err := t.client.PolicyRule.Query().Where(policyrule.ReviewPolicyID(id)).Order(policyrule.ByName()).Select(policyrule.FieldName).Strings(ctx)
		if err != nil {
			return fmt.Errorf("rules of review policy: %w", err)
		}
		if len(names) > 0 {
			return errcode.New(errcode.Conflict, "review policy %q is applied by policy rules %s: change them first", rp.Name, strings.Join(names, ", "))
		}
		n, err := t.client.RequestPolicy.Query().Where(requestpolicy.ReviewPolicyID(id)).Count(ctx)
		if err != nil {
			return fmt.Errorf("request policies of review policy: %w", err)
		}
		if n > 0 {
			return errcode.New(errcode.Conflict, "review policy %q is named by %d request policies: change them first", rp.Name, n)
		}
		return t.client.ReviewPolicy.DeleteOneID(id).Exec(ctx)
	})
	if err != nil {
		return "", fmt.Errorf("delete review policy: %w", err)
	}
	return id, nil
}

// CreatePolicyRule creates a policy rule at version 1. IT admins, with a
// WRITE token; audited on the system chain (CATALOG_CHANGED, entity
// PolicyRule). Errors: UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT
// (rules.CheckPolicyRule, e.g. an AUTO_APPROVE rule that could match
// privileged entitlements without allowPrivilegedAutoApprove), NOT_FOUND
// (reviewPolicyId, an ID in the conditions), CONFLICT (a name taken).
func (s *Service) CreatePolicyRule(ctx context.Context, in PolicyRuleInput) (*ent.PolicyRule, error) {
	return s.writePolicyRule(ctx, nil, in)
}

// UpdatePolicyRule replaces the policy rule id; its version grows by one.
// Items already submitted keep the version recorded on them. IT admins,
// with a WRITE token; audited. Errors: as CreatePolicyRule, and NOT_FOUND
// (id).
func (s *Service) UpdatePolicyRule(ctx context.Context, id pulid.ID, in PolicyRuleInput) (*ent.PolicyRule, error) {
	return s.writePolicyRule(ctx, &id, in)
}

// SetPolicyRuleEnabled enables or disables the policy rule id; its
// version grows by one. IT admins, with a WRITE token; audited. Errors:
// UNAUTHENTICATED, FORBIDDEN, NOT_FOUND (id), INVALID_INPUT (enabling a
// rule rules.CheckPolicyRule refuses).
func (s *Service) SetPolicyRuleEnabled(ctx context.Context, id pulid.ID, enabled bool) (*ent.PolicyRule, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "change policy rules"}); err != nil {
		return nil, err
	}
	var out *ent.PolicyRule
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		row, err := s.lockRule(ctx, t, id)
		if err != nil {
			return err
		}
		r := ruleOf(row)
		if r.Enabled = enabled; enabled {
			if err := rules.CheckPolicyRule(r); err != nil {
				return err
			}
		}
		out, err = row.Update().SetEnabled(enabled).SetVersion(row.Version + 1).Save(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set policy rule enabled: %w", err)
	}
	return out, nil
}

// DeletePolicyRule deletes the policy rule id; items it decided keep its
// ID, name and version. IT admins, with a WRITE token; audited. Errors:
// UNAUTHENTICATED, FORBIDDEN, NOT_FOUND (id).
func (s *Service) DeletePolicyRule(ctx context.Context, id pulid.ID) (pulid.ID, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "change policy rules"}); err != nil {
		return "", err
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if _, err := s.lockRule(ctx, t, id); err != nil {
			return err
		}
		return t.client.PolicyRule.DeleteOneID(id).Exec(ctx)
	})
	if err != nil {
		return "", fmt.Errorf("delete policy rule: %w", err)
	}
	return id, nil
}

// lockRule takes the lock of the policy rule id and reads it: NOT_FOUND
// (id) when there is none.
func (s *Service) lockRule(ctx context.Context, t *txn, id pulid.ID) (*ent.PolicyRule, error) {
	if err := s.lockKey(ctx, t, "policy-rule/"+string(id)); err != nil {
		return nil, fmt.Errorf("lock policy rule: %w", err)
	}
	row, err := t.client.PolicyRule.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &errcode.Error{Code: errcode.NotFound, Field: "id", Message: "id: no such policy rule"}
	}
	if err != nil {
		return nil, fmt.Errorf("load policy rule: %w", err)
	}
	return row, nil
}

func (s *Service) writePolicyRule(ctx context.Context, id *pulid.ID, in PolicyRuleInput) (*ent.PolicyRule, error) {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Admin, Write: true, To: "change policy rules"}); err != nil {
		return nil, err
	}
	r := in.rule()
	if err := rules.CheckPolicyRule(r); err != nil {
		return nil, err
	}
	var out *ent.PolicyRule
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		if err := checkRuleReferences(ctx, t.client, r); err != nil {
			return err
		}
		if id == nil {
			var err error
			out, err = t.client.PolicyRule.Create().SetName(r.Name).SetPosition(r.Order).SetEnabled(r.Enabled).
				SetConditions(r.When).SetOutcome(r.Outcome).SetMessage(r.Message).
				SetNillableReviewPolicyID(r.ReviewPolicyID).SetAllowPrivilegedAutoApprove(r.AllowPrivilegedAutoApprove).
				Save(ctx)
			return err
		}
		row, err := s.lockRule(ctx, t, *id)
		if err != nil {
			return err
		}
		upd := row.Update().SetName(r.Name).SetPosition(r.Order).SetEnabled(r.Enabled).
			SetConditions(r.When).SetOutcome(r.Outcome).SetMessage(r.Message).
			SetAllowPrivilegedAutoApprove(r.AllowPrivilegedAutoApprove).SetVersion(row.Version + 1)
		if r.ReviewPolicyID != nil {
			upd.SetReviewPolicyID(*r.ReviewPolicyID)
		} else {
			upd.ClearReviewPolicyID()
		}
		out, err = upd.Save(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write policy rule: %w", err)
	}
	return out, nil
}

// checkRuleReferences returns NOT_FOUND naming the field for a review
// policy, job title, user, application or entitlement r names that does
// not exist.
func checkRuleReferences(ctx context.Context, client *ent.Client, r rules.PolicyRule) error {
	if r.ReviewPolicyID != nil {
		if err := checkIDs("reviewPolicyId", "review policy", []pulid.ID{*r.ReviewPolicyID}, func(ids []pulid.ID) (int, error) {
			return client.ReviewPolicy.Query().Where(reviewpolicy.IDIn(ids...)).Count(ctx)
		}); err != nil {
			return err
		}
	}
	c := r.When
	checks := []struct {
		field, what string
		ids         []pulid.ID
		count       func([]pulid.ID) (int, error)
	}{
		{"conditions.jobTitleIds", "job title", c.JobTitleIDs, func(ids []pulid.ID) (int, error) {
			return client.JobTitle.Query().Where(jobtitle.IDIn(ids...)).Count(ctx)
		}},
		{"conditions.managerIds", "user", c.ManagerIDs, func(ids []pulid.ID) (int, error) {
			return client.User.Query().Where(user.IDIn(ids...)).Count(ctx)
		}},
		{"conditions.applicationIds", "application", c.ApplicationIDs, func(ids []pulid.ID) (int, error) {
			return client.Application.Query().Where(application.IDIn(ids...)).Count(ctx)
		}},
		{"conditions.entitlementIds", "entitlement", c.EntitlementIDs, func(ids []pulid.ID) (int, error) {
			return client.Entitlement.Query().Where(entitlement.IDIn(ids...)).Count(ctx)
		}},
	}
	for _, ch := range checks {
		if err := checkIDs(ch.field, ch.what, ch.ids, ch.count); err != nil {
			return err
		}
	}
	return nil
}

// checkIDs returns NOT_FOUND naming field when count finds fewer rows
// than the distinct ids.
func checkIDs(field, what string, ids []pulid.ID, count func([]pulid.ID) (int, error)) error {
	ids = distinct(ids)
	if len(ids) == 0 {
		return nil
	}
	n, err := count(ids)
	if err != nil {
		return fmt.Errorf("check %s: %w", field, err)
	}
	if n < len(ids) {
		return &errcode.Error{Code: errcode.NotFound, Field: field, Message: fmt.Sprintf("%s: no such %s", field, what)}
	}
	return nil
}

// ruleOf is the rules' view of a stored policy rule.
func ruleOf(row *ent.PolicyRule) rules.PolicyRule {
	return rules.PolicyRule{ID: row.ID, Name: row.Name, Order: row.Position, Version: row.Version, Enabled: row.Enabled,
		When: row.Conditions, Outcome: row.Outcome, Message: row.Message, ReviewPolicyID: row.ReviewPolicyID,
		AllowPrivilegedAutoApprove: row.AllowPrivilegedAutoApprove}
}

// ruleSetQuery reads, in one statement, what submission evaluates besides
// the items themselves: the enabled policy rules ('R'); the review
// policies that an enabled rule or any request policy names ('P'); the
// stage templates of apps applications and the global ones ('T', with
// the reviewer kind, level, quorum, rule and application in the columns of
// name, position, version, outcome and review policy); and the requested
// entitlements that a separation-of-duties conflict set lists ('S', once
// per set). Its arguments are the application IDs, then the requested
// entitlement IDs.
func ruleSetQuery(apps, requested int) string {
	return `SELECT 'R', r.id, r.name, r.position, r.version, r.outcome, r.message, r.allow_privileged_auto_approve, r.conditions, r.review_policy_id
FROM policy_rules r WHERE r.enabled
UNION ALL
SELECT 'P', p.id, p.name, 0, 0, '', '', false, p.stages, NULL
FROM review_policies p
WHERE p.id IN (SELECT review_policy_id FROM policy_rules WHERE enabled) OR p.id IN (SELECT review_policy_id FROM request_policies)
UNION ALL
SELECT 'T', t.id, t.reviewer_kind, t.level, t.quorum, t.rule, '', false, NULL, t.application_id
FROM review_stage_templates t
WHERE t.application_id IS NULL OR t.application_id IN (` + database.Placeholders(apps) + `)
UNION ALL
SELECT 'S', m.entitlement_id, '', 0, 0, '', '', false, NULL, NULL
FROM sod_conflict_set_entitlements m
WHERE m.entitlement_id IN (` + database.Placeholders(requested) + `)`
}

// ruleSet is what submission evaluates: the enabled policy rules, the
// review policies they and the request policies name, the stage templates
// that may apply to the items (loadTemplates' rows), and the requested
// entitlements that a conflict set lists (checkSod reads the sets only
// when there is one).
type ruleSet struct {
	rules     []rules.PolicyRule
	policies  map[pulid.ID]*rules.ReviewPolicy
	templates []template
	sodListed []pulid.ID
}

// loadRuleSet reads the rule set of the items of p with one statement
// (ruleSetQuery): the rules, templates and conflict-set membership that
// submission would otherwise read with three.
func (s *Service) loadRuleSet(ctx context.Context, client *ent.Client, p *Plan) (ruleSet, error) {
	var apps, requested []pulid.ID
	for _, it := range p.Items {
		apps = append(apps, it.Application.ID)
		if it.Action == enum.RequestActionGrant {
			requested = append(requested, it.Entitlement.ID)
		}
	}
	apps = distinct(apps)
	args := make([]any, 0, len(apps)+len(requested))
	for _, id := range append(slices.Clone(apps), requested...) {
		args = append(args, string(id))
	}
	rows, err := client.QueryContext(ctx, database.Bind(s.dialect, ruleSetQuery(len(apps), len(requested))), args...)
	if err != nil {
		return ruleSet{}, fmt.Errorf("load policy rules: %w", err)
	}
	defer rows.Close()
	out := ruleSet{policies: map[pulid.ID]*rules.ReviewPolicy{}}
	for rows.Next() {
		var (
			kind, id, name, outcome, message string
			position, version                int
			allow                            bool
			doc                              []byte
			reviewPolicy                     sql.NullString
		)
		if err := rows.Scan(&kind, &id, &name, &position, &version, &outcome, &message, &allow, &doc, &reviewPolicy); err != nil {
			return ruleSet{}, fmt.Errorf("load policy rules: %w", err)
		}
		switch kind {
		case "S":
			if !slices.Contains(out.sodListed, pulid.ID(id)) {
				out.sodListed = append(out.sodListed, pulid.ID(id))
			}
			continue
		case "T":
			t := template{ID: pulid.ID(id), Template: rules.Template{StageTemplate: rules.StageTemplate{
				Level: position, Kind: enum.ReviewerKind(name), Rule: enum.StageRule(outcome), Quorum: version}}}
			if reviewPolicy.Valid {
				t.ApplicationID = pulid.ID(reviewPolicy.String)
			}
			out.templates = append(out.templates, t)
			continue
		case "P":
			p := &rules.ReviewPolicy{ID: pulid.ID(id), Name: name}
			if err := json.Unmarshal(doc, &p.Stages); err != nil {
				return ruleSet{}, fmt.Errorf("review policy %s: stages: %w", id, err)
			}
			out.policies[p.ID] = p
			continue
		}
		r := rules.PolicyRule{ID: pulid.ID(id), Name: name, Order: position, Version: version, Enabled: true,
			Outcome: enum.PolicyRuleOutcome(outcome), Message: message, AllowPrivilegedAutoApprove: allow}
		if reviewPolicy.Valid {
			rp := pulid.ID(reviewPolicy.String)
			r.ReviewPolicyID = &rp
		}
		if err := json.Unmarshal(doc, &r.When); err != nil {
			return ruleSet{}, fmt.Errorf("policy rule %s: conditions: %w", id, err)
		}
		out.rules = append(out.rules, r)
	}
	if err := rows.Err(); err != nil {
		return ruleSet{}, fmt.Errorf("load policy rules: %w", err)
	}
	return out, nil
}

// matchPolicyRules finds, for each item of p, the policy rule of set that
// decides it (rules.MatchRule) and the review policies that the rule and
// the item's request policy name; planReviews then chooses the review
// (rules.ChooseReview).
func matchPolicyRules(p *Plan, set ruleSet, in SubmitInput, now time.Time) error {
	b := p.Beneficiary
	for i := range p.Items {
		it := &p.Items[i]
		subject := rules.RuleSubject{
			Department: b.Department, JobTitleID: b.JobTitleID, PlatformRole: b.PlatformRole, ManagerID: b.ManagerID,
			ApplicationID: it.Application.ID, EntitlementID: it.Entitlement.ID,
			Privileged: it.Entitlement.Privileged, Labels: it.Entitlement.Labels, Action: it.Action,
		}
		if it.Action == enum.RequestActionGrant {
			var err error
			if subject.Length, err = accessLength(in, it.DefaultDuration, now); err != nil {
				return err
			}
		}
		it.Rule = rules.MatchRule(set.rules, subject)
		if it.Rule != nil && it.Rule.ReviewPolicyID != nil {
			it.RuleReview = set.policies[*it.Rule.ReviewPolicyID]
		}
		if it.RequestReviewID != nil {
			it.RequestReview = set.policies[*it.RequestReviewID]
		}
	}
	return nil
}

// accessLength is how long a GRANT submitted with in lasts
// (rules.AccessEnd from now: until endsAt, for its duration, or for the
// default duration its request policy gives); nil when permanent.
func accessLength(in SubmitInput, defaultDuration *string, now time.Time) (*time.Duration, error) {
	end, err := rules.AccessEnd(in.EndsAt, cmp.Or(in.Duration, defaultDuration), now)
	if err != nil || end == nil {
		return nil, err
	}
	d := end.Sub(now)
	return &d, nil
}

// chooseReview decides how the item it is reviewed (rules.ChooseReview).
func chooseReview(it *PlannedItem, lighterExtension bool) (rules.ReviewDecision, error) {
	return rules.ChooseReview(rules.ReviewInputs{
		Item: fmt.Sprintf("%q of %s", it.Entitlement.Name, it.Application.Name),
		Rule: it.Rule, RuleReview: it.RuleReview, RequestPolicyReview: it.RequestReview,
		AppAutoApproves:  it.Application.Fulfillment == enum.FulfillmentDirectAutoApproved,
		LighterExtension: lighterExtension,
	})
}

// designatedReviewers are the designated reviewers of the review policies
// that may review the item, for the directory to load.
func (it *PlannedItem) designatedReviewers() []pulid.ID {
	var out []pulid.ID
	for _, rp := range []*rules.ReviewPolicy{it.RuleReview, it.RequestReview} {
		if rp == nil {
			continue
		}
		for _, st := range rp.Stages {
			out = append(out, st.DesignatedReviewerIDs...)
		}
	}
	return out
}

// setPolicyRule records on the item row the rule that decided it, and
// returns it for the item's audit event (nil when none did).
func setPolicyRule(ic *ent.RequestItemCreate, pi PlannedItem) map[string]any {
	if pi.Rule == nil {
		return nil
	}
	ic.SetPolicyRuleID(pi.Rule.ID).SetPolicyRuleName(pi.Rule.Name).SetPolicyRuleVersion(pi.Rule.Version)
	return map[string]any{"id": string(pi.Rule.ID), "name": pi.Rule.Name, "version": pi.Rule.Version, "outcome": string(pi.Rule.Outcome)}
}

// RuleOutcomes returns, by item, the outcome of the policy rule that decided
// each of the items at submission, as its ITEM_ADDED audit event records it
// (setPolicyRule); items no rule decided are left out. One statement, with
// the privacy of ctx: whoever sees an item sees its request's trail.
func RuleOutcomes(ctx context.Context, client *ent.Client, itemIDs []pulid.ID) (map[pulid.ID]enum.PolicyRuleOutcome, error) {
	evs, err := client.AuditEvent.Query().
		Where(auditevent.ItemIDIn(itemIDs...), auditevent.Action(string(audit.ItemAdded))).
		Select(auditevent.FieldItemID, auditevent.FieldData).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy rule outcomes: %w", err)
	}
	out := make(map[pulid.ID]enum.PolicyRuleOutcome, len(evs))
	for _, ev := range evs {
		rule, _ := ev.Data["policyRule"].(map[string]any)
		if o, ok := rule["outcome"].(string); ok && ev.ItemID != nil {
			out[*ev.ItemID] = enum.PolicyRuleOutcome(o)
		}
	}
	return out, nil
}

// MatchedRuleOf is the policy rule recorded on the item, else nil; its
// outcome is in the item's audit trail (RuleOutcomes).
func MatchedRuleOf(it *ent.RequestItem) *rules.MatchedRule {
	if it.PolicyRuleID == nil {
		return nil
	}
	m := &rules.MatchedRule{ID: *it.PolicyRuleID}
	if it.PolicyRuleName != nil {
		m.Name = *it.PolicyRuleName
	}
	if it.PolicyRuleVersion != nil {
		m.Version = *it.PolicyRuleVersion
	}
	return m
}

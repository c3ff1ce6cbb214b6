package workflow

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/jobtitle"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/role"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// SubmitInput is a request as submitted (DESIGN §4.1).
type SubmitInput struct {
	Action                enum.RequestAction `json:"action"`
	Mode                  *enum.RequestMode  `json:"mode"`
	BeneficiaryID         *pulid.ID          `json:"beneficiaryId"`
	EntitlementIDs        []pulid.ID         `json:"entitlementIds"`
	ReferenceUserID       *pulid.ID          `json:"referenceUserId"`
	RoleID                *pulid.ID          `json:"roleId"`
	JobTitleID            *pulid.ID          `json:"jobTitleId"`
	Threshold             *float64           `json:"threshold"`
	ApplicationIDs        []pulid.ID         `json:"applicationIds"`
	ExcludeEntitlementIDs []pulid.ID         `json:"excludeEntitlementIds"`
	RevokeEntitlementIDs  []pulid.ID         `json:"revokeEntitlementIds"`
	EndsAt                *time.Time         `json:"endsAt"`
	Duration              *string            `json:"duration"`
	Justification         *string            `json:"justification"`
	// ExtendsGrantID makes the request an extension of this grant
	// (RequestExtension); the API's submission input has no such field.
	ExtendsGrantID *pulid.ID `json:"extendsGrantId,omitempty"`
	// Emergency makes the request a break-glass request (breakglass.go),
	// with its EmergencyReason.
	Emergency       bool    `json:"emergency,omitempty"`
	EmergencyReason *string `json:"emergencyReason,omitempty"`
}

// ModeOrDefault is the mode, ENTITLEMENTS when none was given.
func (in SubmitInput) ModeOrDefault() enum.RequestMode {
	if in.Mode == nil {
		return enum.RequestModeEntitlements
	}
	return *in.Mode
}

// Plan is what a submission would create: the items with their stages, the
// entitlements a LIKE_* mode left out, the applications in which an account
// will be created, and fixed notes for the preview. A plan tells the caller
// only what the caller may read (rules.DisclosureFor): for a beneficiary
// whose holdings the caller may not read, AccountsToCreate is empty and no
// exclusion says "already held".
type Plan struct {
	Action           enum.RequestAction
	Mode             enum.RequestMode
	RequesterID      pulid.ID
	Beneficiary      *ent.User
	Items            []PlannedItem
	Excluded         []rules.Exclusion
	AccountsToCreate []pulid.ID
	Notes            []string

	// ExtendsGrantID is the grant an extension request extends, else nil:
	// its review follows the lifecycle policy's extension review.
	ExtendsGrantID *pulid.ID

	// SubmittedByID is the person who minted the service account token
	// the request is submitted with, when not the requester; else empty.
	SubmittedByID pulid.ID

	// sodBlock is the first blocking separation-of-duties conflict
	// (SodError), else nil.
	sodBlock error
}

// AutoApproved reports whether every item is approved at submission.
func (p *Plan) AutoApproved() bool {
	for _, it := range p.Items {
		if !it.AutoApproved {
			return false
		}
	}
	return len(p.Items) > 0
}

// PlannedItem is one item of a Plan.
type PlannedItem struct {
	Action       enum.RequestAction
	Entitlement  *ent.Entitlement
	Application  *ent.Application
	AutoApproved bool
	Stages       []rules.PlannedStage
	// DefaultDuration is the length of a GRANT item given no end that its
	// request policy applies (rules.CheckRequest), else nil.
	DefaultDuration *string
	// BreakGlass is the time an item of an emergency request is
	// provisioned for at submission (rules.CheckBreakGlass), else nil.
	BreakGlass *rules.BreakGlassTime
	// Rule is the policy rule that decides the item (matchPolicyRules),
	// else nil; RuleReview is the review policy it names. RequestReviewID
	// is the review policy the item's request policy names, and
	// RequestReview that policy. ReviewPolicy is the one whose stages
	// review the item (rules.ChooseReview), else nil.
	Rule                      *rules.PolicyRule
	RuleReview, RequestReview *rules.ReviewPolicy
	RequestReviewID           *pulid.ID
	ReviewPolicy              *rules.ReviewPolicy
	// SodConflicts are the item's separation-of-duties conflicts
	// (checkSod).
	SodConflicts []enum.SodConflict
}

// idempotencyWindow is how long an idempotency key returns its request.
const idempotencyWindow = 24 * time.Hour

// Submit submits a request as the viewer (DESIGN §4.1). With an
// idempotency key, the same key and input within 24 hours return the first
// request and a different input is CONFLICT. Errors: UNAUTHENTICATED,
// FORBIDDEN (READ token; a request for someone else that an item's request
// policy does not allow), INVALID_INPUT (also: what an item's request
// policy refuses, rules.CheckRequest), NOT_FOUND, ALREADY_HELD, NOT_HELD,
// DUPLICATE_PENDING, NOTHING_TO_REQUEST, NO_REVIEWER, CONFLICT,
// DENIED_BY_POLICY (an item an AUTO_DENY policy rule matches, with the
// rule's message), BREAK_GLASS_NOT_ALLOWED (an emergency request:
// breakglass.go), SOD_CONFLICT (a blocking separation-of-duties conflict,
// checkSod); nothing is written on error. ALREADY_HELD and NOT_HELD are given only to callers who
// may read the beneficiary's grants (the beneficiary, risk managers, IT
// admins), and DUPLICATE_PENDING only for an open request the caller may
// read; other callers' requests are accepted and fulfilment, which is
// idempotent, settles them (DESIGN §4.1).
func (s *Service) Submit(ctx context.Context, in SubmitInput, idempotencyKey *string) (*ent.AccessRequest, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	if idempotencyKey != nil && (len(*idempotencyKey) == 0 || len(*idempotencyKey) > 255) {
		return nil, errcode.Invalid("idempotencyKey", "must be 1 to 255 characters")
	}
	inputHash, err := hashInput(in)
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	var out *ent.AccessRequest
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		now := s.now()
		if idempotencyKey != nil {
			if err := s.lockKey(ctx, t, string(v.UserID)+"/"+*idempotencyKey); err != nil {
				return fmt.Errorf("lock idempotency key: %w", err)
			}
			prev, err := t.client.AccessRequest.Query().
				Where(accessrequest.RequesterID(v.UserID), accessrequest.IdempotencyKey(*idempotencyKey),
					accessrequest.SubmittedAtGT(now.Add(-idempotencyWindow))).
				Only(ctx)
			switch {
			case err == nil && prev.InputHash == inputHash:
				out = prev
				return nil
			case err == nil:
				return errcode.New(errcode.Conflict, "idempotency key %q was used for request %s with other input", *idempotencyKey, prev.ID)
			case !ent.IsNotFound(err):
				return fmt.Errorf("find request of idempotency key: %w", err)
			}
		}
		plan, err := s.plan(ctx, t.client, v, in, now)
		if err != nil {
			return fmt.Errorf("plan: %w", err)
		}
		if err := plan.SodError(); err != nil {
			return err
		}
		if out, err = s.create(ctx, t, plan, in, idempotencyKey, inputHash, v); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("submit: %w", err)
	}
	return out, nil
}

// Preview runs the planning of Submit without writing and returns the plan,
// or the error submission would give. Any authenticated viewer may call it;
// it reveals no more than Submit (see Plan).
func (s *Service) Preview(ctx context.Context, in SubmitInput) (*Plan, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	p, err := s.plan(authz.SystemContext(ctx), s.client, v, in, s.now())
	if err != nil {
		return nil, fmt.Errorf("preview: %w", err)
	}
	for i := range p.Items {
		for j := range p.Items[i].SodConflicts {
			p.Items[i].SodConflicts[j].Checkpoint = enum.SodCheckpointPreview
		}
	}
	return p, nil
}

func hashInput(in SubmitInput) (string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("hash input: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// create writes the request, its items, stages and tasks and their audit
// events, and approves auto-approved items.
func (s *Service) create(ctx context.Context, t *txn, p *Plan, in SubmitInput, key *string, inputHash string, v *authz.Viewer) (*ent.AccessRequest, error) {
	now, actor := s.now(), v.Actor()
	c := t.client.AccessRequest.Create().
		SetAction(p.Action).SetMode(p.Mode).
		SetRequesterID(p.RequesterID).SetBeneficiaryID(p.Beneficiary.ID).
		SetNillableSubmittedByID(nonEmpty(p.SubmittedByID)).
		SetNillableEndsAt(in.EndsAt).SetNillableDuration(in.Duration).
		SetNillableReferenceUserID(in.ReferenceUserID).SetNillableRoleID(in.RoleID).SetNillableJobTitleID(in.JobTitleID).
		SetNillableIdempotencyKey(key).SetInputHash(inputHash).
		SetNillableExtendsGrantID(in.ExtendsGrantID).
		SetNillableEmergencyReason(emergencyReason(in)).
		SetSubmittedAt(now)
	if in.Justification != nil {
		c.SetJustification(*in.Justification)
	}
	if p.Mode == enum.RequestModeLikeJobTitle {
		th := rules.DefaultThreshold
		if in.Threshold != nil {
			th = *in.Threshold
		}
		c.SetThreshold(th)
	}
	req, err := c.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	// The request is new: its chain is empty, and nobody else can append
	// to it before commit.
	t.locked[req.ID], t.heads[req.ID] = true, audit.Head{}
	t.known.know(req, map[pulid.ID]enum.ItemStatus{})
	submitted := map[string]any{
		"action": string(p.Action), "mode": string(p.Mode),
		"requester": string(p.RequesterID), "beneficiary": string(p.Beneficiary.ID),
		"items": len(p.Items),
	}
	if in.ExtendsGrantID != nil {
		submitted["extendsGrant"] = string(*in.ExtendsGrantID)
	}
	events := []audit.Event{{Action: audit.RequestSubmitted, RequestID: &req.ID, Data: withCredential(v, submitted)}}
	var (
		items  []*ent.RequestItemCreate
		stages []*ent.ReviewStageCreate
		tasks  []*ent.ReviewTaskCreate
		autos  []PlannedItem
		autoID []pulid.ID
		// fallbacks records, in the REQUEST_SUBMITTED event, the stages
		// that took fallback reviewers to reach their number.
		fallbacks []map[string]any
	)
	for _, pi := range p.Items {
		itemID := requestitem.DefaultID()
		ic := t.client.RequestItem.Create().SetID(itemID).
			SetRequestID(req.ID).SetAction(pi.Action).
			SetEntitlementID(pi.Entitlement.ID).SetApplicationID(pi.Application.ID)
		if pi.Action == enum.RequestActionGrant {
			ic.SetNillableEndsAt(in.EndsAt).SetNillableDuration(in.Duration)
			if pi.DefaultDuration != nil {
				ic.SetDuration(*pi.DefaultDuration)
			}
		}
		if pi.BreakGlass != nil {
			ic.SetNillableEndsAt(pi.BreakGlass.EndsAt).SetNillableDuration(pi.BreakGlass.Duration).
				SetEmergencyReview(enum.EmergencyReviewPending)
		}
		if len(pi.SodConflicts) > 0 {
			ic.SetSodConflicts(pi.SodConflicts)
		}
		items = append(items, ic)
		added := map[string]any{
			"action": string(pi.Action), "entitlement": string(pi.Entitlement.ID), "application": string(pi.Application.ID),
		}
		if rule := setPolicyRule(ic, pi); rule != nil {
			added["policyRule"] = rule
		}
		if pi.ReviewPolicy != nil {
			added["reviewPolicy"] = string(pi.ReviewPolicy.ID)
		}
		events = append(events, audit.Event{Action: audit.ItemAdded, RequestID: &req.ID, ItemID: &itemID, Data: added})
		events = append(events, sodEvents(audit.SodConflictWarned, req.ID, itemID, pi.SodConflicts)...)
		if pi.BreakGlass != nil {
			// Provisioned at once; its stages are the after-the-fact review.
			events = append(events, breakGlassInvoked(req.ID, itemID, pi, in))
			autos, autoID = append(autos, pi), append(autoID, itemID)
		}
		if pi.AutoApproved {
			autos, autoID = append(autos, pi), append(autoID, itemID)
			continue
		}
		events = append(events, s.planStages(t, req.ID, itemID, pi.Stages, &stages, &tasks)...)
		fallbacks = append(fallbacks, fallbackData(itemID, pi.Stages)...)
	}
	if len(fallbacks) > 0 {
		submitted["fallbacks"] = fallbacks
	}
	if err := t.client.RequestItem.CreateBulk(items...).Exec(ctx); err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	if len(stages) > 0 {
		if err := t.client.ReviewStage.CreateBulk(stages...).Exec(ctx); err != nil {
			return nil, fmt.Errorf("stages: %w", err)
		}
	}
	if len(tasks) > 0 {
		if err := t.client.ReviewTask.CreateBulk(tasks...).Exec(ctx); err != nil {
			return nil, fmt.Errorf("tasks: %w", err)
		}
	}
	for i, pi := range autos {
		more, err := s.approveItem(ctx, t, req.ID, autoID[i], pi.Application.Fulfillment == enum.FulfillmentManual, true)
		if err != nil {
			return nil, fmt.Errorf("auto-approve item %s: %w", autoID[i], err)
		}
		events = append(events, more...)
	}
	if err := s.record(ctx, t, req.ID, actor, events...); err != nil {
		return nil, fmt.Errorf("record events: %w", err)
	}
	return req, nil
}

// planStages adds the rows that materialise all stages of an item to
// stages and tasks — the first stage ACTIVE with PENDING tasks, the others
// WAITING with WAITING tasks — and returns the audit events of the first
// stage's assignments.
func (s *Service) planStages(t *txn, requestID, itemID pulid.ID, planned []rules.PlannedStage, stages *[]*ent.ReviewStageCreate, tasks *[]*ent.ReviewTaskCreate) []audit.Event {
	// Times by the service's clock, which the lifecycle sweep compares.
	now := s.now()
	var events []audit.Event
	for i, ps := range planned {
		stageStatus, taskStatus := enum.StageStatusWaiting, enum.TaskStatusWaiting
		if i == 0 {
			stageStatus, taskStatus = enum.StageStatusActive, enum.TaskStatusPending
		}
		stageID := reviewstage.DefaultID()
		*stages = append(*stages, t.client.ReviewStage.Create().SetID(stageID).SetCreatedAt(now).SetUpdatedAt(now).
			SetItemID(itemID).SetLevel(ps.Level).SetReviewerKind(ps.Kind).
			SetRule(ps.Rule).SetQuorum(ps.Quorum).SetStatus(stageStatus).
			SetNillableResolution(nonEmpty(ps.Resolution)).SetFallbackReviewerIds(fallbackIDs(ps.Fallbacks)))
		for _, a := range ps.Assignments {
			taskID := reviewtask.DefaultID()
			*tasks = append(*tasks, t.client.ReviewTask.Create().SetID(taskID).SetCreatedAt(now).SetUpdatedAt(now).
				SetStageID(stageID).SetRequestID(requestID).SetReviewerID(a.Reviewer).
				SetNillableOnBehalfOfID(a.OnBehalfOf).SetStatus(taskStatus))
			if i > 0 {
				continue
			}
			data := map[string]any{"task": string(taskID), "reviewer": string(a.Reviewer), "stage": ps.Level}
			action := audit.TaskAssigned
			if a.OnBehalfOf != nil {
				action = audit.TaskDelegated
				data["onBehalfOf"] = string(*a.OnBehalfOf)
			}
			events = append(events, audit.Event{Action: action, RequestID: &requestID, ItemID: &itemID, Data: data})
		}
	}
	return events
}

// fallbackIDs returns the users of fallbacks, nil for none.
func fallbackIDs(fallbacks []rules.Fallback) []pulid.ID {
	var ids []pulid.ID
	for _, f := range fallbacks {
		ids = append(ids, f.Reviewer)
	}
	return ids
}

// fallbackData describes, for the audit trail, each stage of the item that
// took fallback reviewers: its level, the reviewers added with the kind
// that named them, and the resolution.
func fallbackData(itemID pulid.ID, planned []rules.PlannedStage) []map[string]any {
	var out []map[string]any
	for _, ps := range planned {
		if len(ps.Fallbacks) == 0 {
			continue
		}
		added := make([]map[string]any, len(ps.Fallbacks))
		for i, f := range ps.Fallbacks {
			added[i] = map[string]any{"reviewer": string(f.Reviewer), "kind": string(f.Kind)}
		}
		out = append(out, map[string]any{"item": string(itemID), "stage": ps.Level, "rule": string(ps.Rule),
			"quorum": ps.Quorum, "reviewers": added, "why": ps.Resolution})
	}
	return out
}

// enqueueFulfillment inserts the job that fulfils an approved item, in the
// transaction of the approval (with the transaction's other jobs, before
// commit).
func (s *Service) enqueueFulfillment(t *txn, itemID pulid.ID) {
	t.jobs = append(t.jobs, river.InsertManyParams{Args: FulfillArgs{ItemID: itemID}, InsertOpts: &river.InsertOpts{MaxAttempts: FulfillmentAttempts}})
}

// openItemStatuses are the item statuses of an open request for an
// entitlement: a new request for it would duplicate it.
var openItemStatuses = []enum.ItemStatus{
	enum.ItemStatusPendingReview, enum.ItemStatusApproved, enum.ItemStatusFulfilling, enum.ItemStatusFailed,
}

// plan resolves and validates a submission by the viewer v. It only reads,
// in a system context: what it may tell v is decided by
// rules.DisclosureFor from v's rights (authz.Viewer.ReadsGrantsOf).
func (s *Service) plan(ctx context.Context, client *ent.Client, v *authz.Viewer, in SubmitInput, now time.Time) (*Plan, error) {
	requesterID := v.UserID
	mode := in.ModeOrDefault()
	p := &Plan{Action: in.Action, Mode: mode, RequesterID: requesterID, SubmittedByID: v.MintedByOther(), ExtendsGrantID: in.ExtendsGrantID}
	if err := checkShape(in, mode); err != nil {
		return nil, err
	}
	if err := checkEmergencyShape(in, mode, requesterID); err != nil {
		return nil, err
	}
	beneficiaryID := requesterID
	if in.BeneficiaryID != nil {
		beneficiaryID = *in.BeneficiaryID
	}
	// The viewer's own user, as authentication read it for this request,
	// saves a query when the viewer is the beneficiary.
	b, err := v.User, error(nil)
	if b == nil || b.ID != beneficiaryID {
		b, err = client.User.Get(ctx, beneficiaryID)
	}
	if ent.IsNotFound(err) {
		return nil, &errcode.Error{Code: errcode.NotFound, Field: "beneficiaryId", Message: "beneficiaryId: no such user"}
	}
	if err != nil {
		return nil, fmt.Errorf("load beneficiary: %w", err)
	}
	if b.Status != enum.UserStatusActive {
		return nil, errcode.Invalid("beneficiaryId", "%s is not an active user", b.Email)
	}
	if b.Kind == enum.UserKindService {
		return nil, errcode.Invalid("beneficiaryId", "%s is a service account: service accounts submit requests for people but receive no access through them", b.Email)
	}
	p.Beneficiary = b
	d := rules.DisclosureFor(rules.Reader{ReadsAll: v.ReadsAll(), ReadsBeneficiary: v.ReadsGrantsOf(b.ID)}, mode)
	p.Notes = d.Notes
	// For a caller who may not read the beneficiary's grants, the plan is
	// made as if the beneficiary held nothing: the answer is then the same
	// whatever they hold.
	held := map[pulid.ID]*ent.Grant{}
	var accounts []pulid.ID
	if d.Precise {
		if held, accounts, err = s.holdingsAndAccounts(ctx, client, b.ID); err != nil {
			return nil, fmt.Errorf("holdings of beneficiary: %w", err)
		}
	}

	// The entitlements to grant and to revoke.
	var grants, revokes []pulid.ID
	switch {
	case in.Action == enum.RequestActionRevoke:
		revokes = in.EntitlementIDs
	case mode == enum.RequestModeEntitlements:
		grants = in.EntitlementIDs
		revokes = in.RevokeEntitlementIDs
	default:
		res, err := s.resolveLike(ctx, client, v, d, b, held, in, mode)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", mode, err)
		}
		for _, e := range res.Items {
			grants = append(grants, e.ID)
		}
		p.Excluded = res.Excluded
		revokes = in.RevokeEntitlementIDs
	}
	grants, revokes = distinct(grants), distinct(revokes)
	for _, id := range revokes {
		if slices.Contains(grants, id) {
			return nil, errcode.Invalid("revokeEntitlementIds", "entitlement %s is both granted and revoked", id)
		}
	}
	if mode == enum.RequestModeEntitlements && in.Action == enum.RequestActionGrant {
		grants = slices.DeleteFunc(grants, func(id pulid.ID) bool { return slices.Contains(in.ExcludeEntitlementIDs, id) })
	}
	ents, err := client.Entitlement.Query().
		Where(entitlement.IDIn(append(slices.Clone(grants), revokes...)...)).
		WithApplication(func(q *ent.ApplicationQuery) { q.WithOwners() }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load entitlements: %w", err)
	}
	byID := make(map[pulid.ID]*ent.Entitlement, len(ents))
	for _, e := range ents {
		byID[e.ID] = e
	}
	field := "entitlementIds"
	if in.Action == enum.RequestActionGrant {
		field = "revokeEntitlementIds"
	}
	for _, id := range grants {
		e := byID[id]
		switch {
		case e == nil:
			return nil, errcode.Invalid("entitlementIds", "no entitlement %s", id)
		case !e.Requestable:
			return nil, errcode.Invalid("entitlementIds", "entitlement %q of %s cannot be requested", e.Name, e.Edges.Application.Name)
		case mode == enum.RequestModeEntitlements && len(in.ApplicationIDs) > 0 && !slices.Contains(in.ApplicationIDs, e.ApplicationID):
			continue
		}
		if g := held[id]; g != nil && g.EndsAt == nil {
			return nil, errcode.New(errcode.AlreadyHeld, "%s already holds %q of %s permanently", b.Email, e.Name, e.Edges.Application.Name)
		}
		// A GRANT that names no end is checked once its request policy
		// has given it a default duration (checkRequestPolicies).
		if in.EndsAt != nil || in.Duration != nil {
			if err := rules.CheckTime(enum.RequestActionGrant, in.EndsAt, in.Duration, e.Edges.Application.MaxAccessDuration, now); err != nil {
				return nil, err
			}
		}
		p.Items = append(p.Items, PlannedItem{Action: enum.RequestActionGrant, Entitlement: e, Application: e.Edges.Application})
	}
	if in.Action == enum.RequestActionRevoke {
		if err := rules.CheckTime(enum.RequestActionRevoke, in.EndsAt, in.Duration, nil, now); err != nil {
			return nil, err
		}
	}
	for _, id := range revokes {
		e := byID[id]
		if e == nil {
			return nil, errcode.Invalid(field, "no entitlement %s", id)
		}
		if d.Precise && held[id] == nil {
			return nil, errcode.New(errcode.NotHeld, "%s does not hold %q of %s", b.Email, e.Name, e.Edges.Application.Name)
		}
		p.Items = append(p.Items, PlannedItem{Action: enum.RequestActionRevoke, Entitlement: e, Application: e.Edges.Application})
	}
	if len(p.Items) == 0 {
		return nil, errcode.New(errcode.NothingToRequest, "the request resolves to no entitlement to grant or revoke")
	}
	if in.Emergency {
		if err := checkBreakGlassHeld(p, held); err != nil {
			return nil, err
		}
	}
	if err := checkRequestPolicies(ctx, client, v, p, in, now); err != nil {
		return nil, fmt.Errorf("request policy: %w", err)
	}
	visible := []predicate.AccessRequest{accessrequest.BeneficiaryID(b.ID)}
	if !d.AllOpenRequests {
		visible = append(visible, authz.VisibleRequest(v))
	}
	if err := checkDuplicates(ctx, client, visible, p.Items); err != nil {
		return nil, fmt.Errorf("check duplicates: %w", err)
	}
	set, err := s.loadRuleSet(ctx, client, p)
	if err != nil {
		return nil, fmt.Errorf("policy rules: %w", err)
	}
	if err := matchPolicyRules(p, set, in, now); err != nil {
		return nil, fmt.Errorf("policy rules: %w", err)
	}
	if err := s.checkSod(ctx, client, p, set.sodListed, d.Precise, now); err != nil {
		return nil, fmt.Errorf("separation of duties: %w", err)
	}
	if err := s.planReviews(ctx, client, p, set.templates, now); err != nil {
		return nil, fmt.Errorf("plan reviews: %w", err)
	}
	if !d.Precise {
		return p, nil
	}
	planAccounts(p, accounts)
	return p, nil
}

// checkShape checks the combinations of action, mode and fields.
func checkShape(in SubmitInput, mode enum.RequestMode) error {
	if !in.Action.IsValid() {
		return errcode.Invalid("action", "must be GRANT or REVOKE")
	}
	if !mode.IsValid() {
		return errcode.Invalid("mode", "unknown mode %q", mode)
	}
	if in.Action == enum.RequestActionRevoke {
		switch {
		case mode != enum.RequestModeEntitlements:
			return errcode.Invalid("mode", "a REVOKE request takes mode ENTITLEMENTS")
		case len(in.RevokeEntitlementIDs) > 0:
			return errcode.Invalid("revokeEntitlementIds", "a REVOKE request lists its entitlements in entitlementIds")
		}
	}
	need := map[enum.RequestMode]struct {
		field string
		set   bool
	}{
		enum.RequestModeLikeUser:     {"referenceUserId", in.ReferenceUserID != nil},
		enum.RequestModeLikeRole:     {"roleId", in.RoleID != nil},
		enum.RequestModeLikeJobTitle: {"jobTitleId", in.JobTitleID != nil},
	}
	if n, ok := need[mode]; ok && !n.set {
		return errcode.Invalid(n.field, "mode %s needs %s", mode, n.field)
	}
	if mode != enum.RequestModeEntitlements && len(in.EntitlementIDs) > 0 {
		return errcode.Invalid("entitlementIds", "mode %s resolves its entitlements itself", mode)
	}
	if in.Threshold != nil && mode != enum.RequestModeLikeJobTitle {
		return errcode.Invalid("threshold", "only LIKE_JOB_TITLE takes a threshold")
	}
	return nil
}

// holdings returns the beneficiary's unrevoked grants by entitlement.
func holdings(ctx context.Context, client *ent.Client, userID pulid.ID) (map[pulid.ID]*ent.Grant, error) {
	gs, err := client.Grant.Query().
		Where(grant.RevokedAtIsNil(), grant.HasIdentityWith(identity.UserID(userID))).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load grants: %w", err)
	}
	out := make(map[pulid.ID]*ent.Grant, len(gs))
	for _, g := range gs {
		if prev := out[g.EntitlementID]; prev == nil || prev.EndsAt != nil {
			out[g.EntitlementID] = g
		}
	}
	return out, nil
}

// holdingsAndAccounts returns what holdings returns of the user, and the
// applications where the user has an account, with one query.
func (s *Service) holdingsAndAccounts(ctx context.Context, client *ent.Client, userID pulid.ID) (map[pulid.ID]*ent.Grant, []pulid.ID, error) {
	rows, err := client.QueryContext(ctx, database.Bind(s.dialect, `SELECT i.application_id, g.entitlement_id, g.ends_at
FROM identities i LEFT JOIN grants g ON g.identity_id = i.id AND g.revoked_at IS NULL
WHERE i.user_id = ?`), string(userID))
	if err != nil {
		return nil, nil, fmt.Errorf("load accounts and grants: %w", err)
	}
	defer rows.Close()
	held := map[pulid.ID]*ent.Grant{}
	var accounts []pulid.ID
	for rows.Next() {
		var (
			app         string
			entitlement sql.NullString
			endsAt      sql.NullTime
		)
		if err := rows.Scan(&app, &entitlement, &endsAt); err != nil {
			return nil, nil, fmt.Errorf("load accounts and grants: %w", err)
		}
		if !slices.Contains(accounts, pulid.ID(app)) {
			accounts = append(accounts, pulid.ID(app))
		}
		if !entitlement.Valid {
			continue
		}
		id := pulid.ID(entitlement.String)
		if prev := held[id]; prev == nil || prev.EndsAt != nil {
			held[id] = &ent.Grant{EntitlementID: id, EndsAt: timeOrNil(endsAt)}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("load accounts and grants: %w", err)
	}
	return held, accounts, nil
}

// keys returns the entitlement IDs of holdings, sorted.
func keys(held map[pulid.ID]*ent.Grant) rules.Holding {
	out := make(rules.Holding, 0, len(held))
	for id := range held {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// resolveLike loads what a LIKE_* mode works from and resolves it, within
// what d lets the viewer v learn: a LIKE_USER reference v may read or a peer
// of the beneficiary, a job-title cohort of d.MinCohort people or more.
func (s *Service) resolveLike(ctx context.Context, client *ent.Client, v *authz.Viewer, d rules.Disclosure, b *ent.User, held map[pulid.ID]*ent.Grant, in SubmitInput, mode enum.RequestMode) (rules.Resolution, error) {
	li := rules.LikeInput{
		Threshold: in.Threshold, ApplicationIDs: in.ApplicationIDs, ExcludeIDs: in.ExcludeEntitlementIDs,
		Beneficiary: keys(held), HidePrivileged: d.HidePrivileged, MinHolders: d.MinHolders,
	}
	var err error
	switch mode {
	case enum.RequestModeLikeUser:
		r, qerr := client.User.Get(ctx, *in.ReferenceUserID)
		if qerr != nil {
			return rules.Resolution{}, notFound(qerr, "referenceUserId", "user")
		}
		if err := rules.CheckReference(v.ReadsGrantsOf(r.ID), colleague(b), colleague(r)); err != nil {
			return rules.Resolution{}, err
		}
		ref, err := holdings(ctx, client, *in.ReferenceUserID)
		if err != nil {
			return rules.Resolution{}, fmt.Errorf("holdings of reference user: %w", err)
		}
		li.Candidates = keys(ref)
	case enum.RequestModeLikeRole:
		r, qerr := client.Role.Query().Where(role.ID(*in.RoleID)).WithEntitlements().Only(ctx)
		if qerr != nil {
			return rules.Resolution{}, notFound(qerr, "roleId", "role")
		}
		for _, e := range r.Edges.Entitlements {
			li.Candidates = append(li.Candidates, e.ID)
		}
	case enum.RequestModeLikeJobTitle:
		jt, qerr := client.JobTitle.Query().Where(jobtitle.ID(*in.JobTitleID)).WithBaselineEntitlements().Only(ctx)
		if qerr != nil {
			return rules.Resolution{}, notFound(qerr, "jobTitleId", "job title")
		}
		for _, e := range jt.Edges.BaselineEntitlements {
			li.Baseline = append(li.Baseline, e.ID)
		}
		if li.Peers, err = peerHoldings(ctx, client, jt.ID, b.ID); err != nil {
			return rules.Resolution{}, fmt.Errorf("holdings of peers: %w", err)
		}
		if err := rules.CheckCohort(d, len(li.Peers)); err != nil {
			return rules.Resolution{}, err
		}
	}
	candidates := append(slices.Clone(li.Candidates), li.Baseline...)
	for _, p := range li.Peers {
		candidates = append(candidates, p...)
	}
	ents, err := client.Entitlement.Query().Where(entitlement.IDIn(distinct(candidates)...)).All(ctx)
	if err != nil {
		return rules.Resolution{}, fmt.Errorf("load candidate entitlements: %w", err)
	}
	li.Catalog = make(map[pulid.ID]rules.CatalogEntry, len(ents))
	for _, e := range ents {
		li.Catalog[e.ID] = rules.CatalogEntry{ID: e.ID, ApplicationID: e.ApplicationID, Requestable: e.Requestable, Privileged: e.Privileged}
	}
	return rules.ResolveLike(mode, li)
}

// peerHoldings returns what each ACTIVE user with the job title holds, the
// beneficiary left out, with one query.
func peerHoldings(ctx context.Context, client *ent.Client, titleID, beneficiaryID pulid.ID) ([]rules.Holding, error) {
	peers, err := client.User.Query().
		Where(user.JobTitleID(titleID), user.StatusEQ(enum.UserStatusActive), user.IDNEQ(beneficiaryID)).
		IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("load peers: %w", err)
	}
	if len(peers) == 0 {
		return nil, nil
	}
	gs, err := client.Grant.Query().
		Where(grant.RevokedAtIsNil(), grant.HasIdentityWith(identity.UserIDIn(peers...))).
		WithIdentity().
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load grants of peers: %w", err)
	}
	byUser := make(map[pulid.ID]rules.Holding, len(peers))
	for _, g := range gs {
		u := g.Edges.Identity.UserID
		byUser[u] = append(byUser[u], g.EntitlementID)
	}
	out := make([]rules.Holding, 0, len(peers))
	for _, p := range peers {
		out = append(out, byUser[p])
	}
	return out, nil
}

// colleague is what the disclosure rules know of u.
func colleague(u *ent.User) rules.Colleague {
	return rules.Colleague{ID: u.ID, ManagerID: u.ManagerID, Department: u.Department}
}

func notFound(err error, field, what string) error {
	if err != nil && !ent.IsNotFound(err) {
		return fmt.Errorf("load %s: %w", what, err)
	}
	return &errcode.Error{Code: errcode.NotFound, Field: field, Message: fmt.Sprintf("%s: no such %s", field, what)}
}

// checkDuplicates refuses an item for an entitlement that already has an
// open item in a request matching all of requests (the beneficiary's
// requests, narrowed to those the caller may read).
func checkDuplicates(ctx context.Context, client *ent.Client, requests []predicate.AccessRequest, items []PlannedItem) error {
	ids := make([]pulid.ID, len(items))
	for i, it := range items {
		ids[i] = it.Entitlement.ID
	}
	open, err := client.RequestItem.Query().
		Where(requestitem.EntitlementIDIn(ids...), requestitem.StatusIn(openItemStatuses...),
			requestitem.HasRequestWith(requests...)).
		WithEntitlement().
		First(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("find open items: %w", err)
	}
	return errcode.New(errcode.DuplicatePending, "%q is already requested in open request %s", open.Edges.Entitlement.Name, open.RequestID)
}

// planReviews resolves the stages of each item as rules.ChooseReview
// decides: none when a policy rule or the application approves
// automatically (an AUTO_DENY rule refuses); the stages of a policy rule's
// review policy; for an extension whose application's lifecycle policy
// asks for the lighter review, one stage of the application's owners (ANY,
// with the usual fallback); the stages of the request policy's review
// policy; else the application's templates, the global default policy, or
// the built-in one. templates are the stage templates of the items'
// applications and the global ones (loadRuleSet reads them).
func (s *Service) planReviews(ctx context.Context, client *ent.Client, p *Plan, templates []template, now time.Time) error {
	dir, err := loadDirectory(ctx, client, p, templates)
	if err != nil {
		return fmt.Errorf("load directory: %w", err)
	}
	all := policies(templates)
	var lifecycle lifecycles
	if p.ExtendsGrantID != nil {
		if lifecycle, err = loadLifecycles(ctx, client); err != nil {
			return err
		}
	}
	for i := range p.Items {
		it := &p.Items[i]
		review, err := chooseReview(it, p.ExtendsGrantID != nil && lifecycle.of(&it.Application.ID).ExtensionReview.Value == enum.ExtensionReviewApplicationOwner)
		if err != nil {
			return err
		}
		var policy rules.Policy
		switch review.Kind {
		case rules.ReviewAutoApproved:
			if it.BreakGlass == nil {
				it.AutoApproved = true
				continue
			}
			// An emergency item is reviewed after the fact all the same.
			policy = rules.ChoosePolicy(it.Application.ID, all)
		case rules.ReviewByPolicy:
			it.ReviewPolicy, policy = review.Policy, review.Policy.Policy()
		case rules.ReviewExtension:
			policy = rules.Policy{Stages: []rules.StageTemplate{
				{Level: 1, Kind: enum.ReviewerKindApplicationOwner, Rule: enum.StageRuleAny, Quorum: 1},
			}, Designated: map[int][]pulid.ID{}}
		default:
			policy = rules.ChoosePolicy(it.Application.ID, all)
		}
		if it.BreakGlass != nil {
			policy = rules.BreakGlassReview(policy)
		}
		it.Stages, err = rules.PlanStages(policy.Stages, dir.forItem(it, policy.Designated), now)
		if err != nil {
			return fmt.Errorf("stages of entitlement %s: %w", it.Entitlement.ID, err)
		}
	}
	return nil
}

// planAccounts lists the applications of GRANT items where the beneficiary
// has no account yet (accounts: the applications where they have one).
func planAccounts(p *Plan, accounts []pulid.ID) {
	for _, it := range p.Items {
		id := it.Application.ID
		if it.Action == enum.RequestActionGrant && !slices.Contains(accounts, id) && !slices.Contains(p.AccountsToCreate, id) {
			p.AccountsToCreate = append(p.AccountsToCreate, id)
		}
	}
}

package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// ReviewerKindITAdmin is the last step of the reviewer fallback (DESIGN
// §4.2): the users with platform role IT_ADMIN.
const ReviewerKindITAdmin = enum.ReviewerKindITAdmin

// Person is what reviewer resolution, reassignment and delegation need to
// know about a user.
type Person struct {
	ID pulid.ID
	// Email names the user in error messages.
	Email string
	// Active is false for a TERMINATED user.
	Active bool
	// Service is true for a service account (user kind SERVICE), which is
	// never a reviewer nor a delegate.
	Service bool
	// Delegate is the user's delegation, or nil.
	Delegate *Delegation
}

// Delegation sends a user's review tasks to another user for a while.
type Delegation struct {
	// To is the delegate.
	To pulid.ID
	// From and Until bound the delegation: it applies when From <= now <
	// Until. A nil bound is open.
	From, Until *time.Time
}

// ActiveAt reports whether the delegation applies at now: From <= now <
// Until, nil bounds open. A nil delegation never applies.
func (d *Delegation) ActiveAt(now time.Time) bool {
	if d == nil || d.To == "" {
		return false
	}
	if d.From != nil && now.Before(*d.From) {
		return false
	}
	if d.Until != nil && !now.Before(*d.Until) {
		return false
	}
	return true
}

// Directory is the plain data reviewer resolution works from, loaded by the
// caller for one request item. An empty ID means "none".
type Directory struct {
	// RequesterID is the user who submits the request (the viewer) and
	// BeneficiaryID the user who gets the access; they are the same user
	// when one requests for oneself. Neither may ever review the item.
	RequesterID   pulid.ID
	BeneficiaryID pulid.ID
	// SubmittedByID is, for a request submitted with a service account's
	// API token, the person who minted that token; they may not review it
	// either. Empty otherwise.
	SubmittedByID pulid.ID
	// ManagerID is the beneficiary's manager (kind MANAGER).
	ManagerID pulid.ID
	// ApplicationOwnerIDs are the owners of the item's application (kind
	// APPLICATION_OWNER).
	ApplicationOwnerIDs []pulid.ID
	// EntitlementOwnerID is the owner of the item's entitlement (kind
	// ENTITLEMENT_OWNER).
	EntitlementOwnerID pulid.ID
	// Designated holds, by stage level, the designated reviewers of that
	// stage's template (kind DESIGNATED); PlanStages reads it.
	Designated map[int][]pulid.ID
	// RiskManagerIDs are the users with platform role RISK_MANAGER (kind
	// RISK_MANAGER) and ITAdminIDs those with IT_ADMIN (last fallback).
	RiskManagerIDs []pulid.ID
	ITAdminIDs     []pulid.ID
	// People holds every user named above, and every delegate of theirs, by
	// ID. A user missing from People is treated as inactive: never a
	// reviewer, never a delegate.
	People map[pulid.ID]Person
}

// Assignment is one review task to create: Reviewer is the user who gets the
// task; OnBehalfOf is the reviewer resolved by the rules when the task went
// to their delegate instead, else nil.
type Assignment struct {
	Reviewer   pulid.ID
	OnBehalfOf *pulid.ID
}

// fallbacks lists, for each kind a template may name, the kinds tried in
// order (DESIGN §4.2).
var fallbacks = map[enum.ReviewerKind][]enum.ReviewerKind{
	enum.ReviewerKindDesignated:       {enum.ReviewerKindDesignated, enum.ReviewerKindApplicationOwner, enum.ReviewerKindRiskManager, ReviewerKindITAdmin},
	enum.ReviewerKindEntitlementOwner: {enum.ReviewerKindEntitlementOwner, enum.ReviewerKindApplicationOwner, enum.ReviewerKindRiskManager, ReviewerKindITAdmin},
	enum.ReviewerKindManager:          {enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner, enum.ReviewerKindRiskManager, ReviewerKindITAdmin},
	enum.ReviewerKindApplicationOwner: {enum.ReviewerKindApplicationOwner, enum.ReviewerKindRiskManager, ReviewerKindITAdmin},
	enum.ReviewerKindRiskManager:      {enum.ReviewerKindRiskManager, ReviewerKindITAdmin},
	ReviewerKindITAdmin:               {ReviewerKindITAdmin},
}

// ResolveStage finds the reviewers of one stage of one item (DESIGN §4.2).
//
// The kind names the candidates: MANAGER the beneficiary's manager,
// APPLICATION_OWNER the application owners, ENTITLEMENT_OWNER the
// entitlement's owner, DESIGNATED the given designated users, RISK_MANAGER
// the risk managers, ReviewerKindITAdmin the IT admins. A candidate is
// eligible unless they are the requester, the beneficiary, the minter of the
// token that submitted the request, a service account, inactive
// (TERMINATED, or missing from dir.People) or in excluded (the people
// assigned in earlier stages of the same item; ResolveStage does not modify
// it). When a kind yields nobody eligible the next kind is tried:
// DESIGNATED and ENTITLEMENT_OWNER fall back to APPLICATION_OWNER, then along
// MANAGER → APPLICATION_OWNER → RISK_MANAGER → IT_ADMIN. The kind that
// yielded the reviewers is returned.
//
// Delegation: when an eligible reviewer's delegation is active at now and the
// delegate is eligible by the same rules (and is not the reviewer), the task
// goes to the delegate with OnBehalfOf set to the reviewer; otherwise it
// stays with the reviewer. Delegations are followed one step, not along
// chains. Assignments are deduplicated by the user who gets the task, in
// candidate order; when a user would get a task both in their own right and
// on someone's behalf, the task in their own right is kept.
//
// Errors: NO_REVIEWER when the whole fallback chain yields nobody;
// INVALID_INPUT (field reviewerKind) for a kind that is not known.
func ResolveStage(kind enum.ReviewerKind, designated []pulid.ID, dir Directory, excluded map[pulid.ID]bool, now time.Time) ([]Assignment, enum.ReviewerKind, error) {
	r, err := resolve(kind, designated, dir, excluded, now, 1)
	return r.assignments, r.kind, err
}

// Fallback is a reviewer a stage took from a later kind of its fallback
// chain to reach the number of reviewers its rule needs (see PlanStages).
type Fallback struct {
	// Reviewer is the user resolved (the task may go to their delegate).
	Reviewer pulid.ID
	// Kind is the fallback kind that named them.
	Kind enum.ReviewerKind
}

// resolution is what resolve found: the assignments, the kind that yielded
// the first reviewers, the reviewers taken from later kinds to reach the
// number needed, and why the stage's own kind fell short ("" when it did
// not).
type resolution struct {
	assignments []Assignment
	kind        enum.ReviewerKind
	fallbacks   []Fallback
	why         string
}

// resolve walks kind's fallback chain: the first kind yielding anybody
// eligible gives all its eligible people; while there are fewer than need
// assignments, the next eligible people of the following kinds are added
// one by one. The why names the people of kind who were excluded, the kind
// that took over when kind found nobody, and the reviewers added. NO_REVIEWER
// when the chain yields nobody, or fewer than need.
func resolve(kind enum.ReviewerKind, designated []pulid.ID, dir Directory, excluded map[pulid.ID]bool, now time.Time, need int) (resolution, error) {
	chain, ok := fallbacks[kind]
	if !ok {
		return resolution{}, errcode.Invalid("reviewerKind", "%q is not a reviewer kind", kind)
	}
	parties := Parties{RequesterID: dir.RequesterID, BeneficiaryID: dir.BeneficiaryID, SubmittedByID: dir.SubmittedByID}
	var (
		r      resolution
		seen   = map[pulid.ID]bool{}
		at     = map[pulid.ID]int{}
		passed []string
	)
	add := func(id pulid.ID) {
		seen[id] = true
		a, _ := Route(id, dir.People, parties, excluded, now)
		if i, dup := at[a.Reviewer]; dup {
			if r.assignments[i].OnBehalfOf != nil && a.OnBehalfOf == nil {
				r.assignments[i] = a
			}
			return
		}
		at[a.Reviewer] = len(r.assignments)
		r.assignments = append(r.assignments, a)
	}
	for _, k := range chain {
		if r.kind != "" && len(r.assignments) >= need {
			break
		}
		for _, id := range dir.candidates(k, designated) {
			if seen[id] {
				continue
			}
			if why := ineligible(dir.person(id), parties, excluded); why != "" {
				if r.kind == "" && k == kind && id != "" {
					passed = append(passed, dir.name(id)+" ("+why+")")
				}
				continue
			}
			switch {
			case r.kind == "" || r.kind == k:
				add(id)
			case len(r.assignments) < need:
				n := len(r.assignments)
				add(id)
				if len(r.assignments) > n {
					r.fallbacks = append(r.fallbacks, Fallback{Reviewer: id, Kind: k})
				}
			}
		}
		if r.kind == "" && len(r.assignments) > 0 {
			r.kind = k
		}
	}
	names := make([]string, len(chain))
	for i, k := range chain {
		names[i] = string(k)
	}
	if len(r.assignments) == 0 {
		return resolution{}, errcode.New(errcode.NoReviewer,
			"no eligible reviewer: %s found nobody who is an active person and neither the requester, the beneficiary nor a reviewer of an earlier stage",
			strings.Join(names, ", then "))
	}
	if len(r.assignments) < need {
		return resolution{}, errcode.New(errcode.NoReviewer,
			"needs %d reviewers but %s found only %d eligible; the number is never lowered",
			need, strings.Join(names, ", then "), len(r.assignments))
	}
	if len(r.fallbacks) > 0 || r.kind != kind {
		own := len(r.assignments) - len(r.fallbacks)
		var b strings.Builder
		if r.kind != kind {
			fmt.Fprintf(&b, "needs %d reviewers; %s found nobody eligible", need, kind)
		} else {
			fmt.Fprintf(&b, "needs %d reviewers; %s left %d eligible", need, kind, own)
		}
		if len(passed) > 0 {
			fmt.Fprintf(&b, " (excluded: %s)", strings.Join(passed, ", "))
		}
		if r.kind != kind {
			fmt.Fprintf(&b, "; the stage went to %s", r.kind)
		}
		if len(r.fallbacks) == 0 {
			r.why = b.String()
			return r, nil
		}
		added := make([]string, len(r.fallbacks))
		for i, f := range r.fallbacks {
			added[i] = dir.name(f.Reviewer) + " (" + string(f.Kind) + ")"
		}
		fmt.Fprintf(&b, "; added fallback %s", strings.Join(added, ", "))
		r.why = b.String()
	}
	return r, nil
}

// name names a user in a message: their email when known, else their ID.
func (dir Directory) name(id pulid.ID) string {
	if p := dir.person(id); p.Email != "" {
		return p.Email
	}
	return string(id)
}

// need is the number of reviewers a stage must have (DESIGN §4.2): its
// quorum (at least 1) for QUORUM; for ALL, every distinct person its own
// kind names, eligible or not, so that an exclusion is made up for by a
// fallback reviewer rather than shrinking "all"; 1 for ANY.
func (dir Directory) need(t StageTemplate, designated []pulid.ID) int {
	switch t.Rule {
	case enum.StageRuleQuorum:
		return max(t.Quorum, 1)
	case enum.StageRuleAll:
		named := map[pulid.ID]bool{}
		for _, id := range dir.candidates(t.Kind, designated) {
			if id != "" {
				named[id] = true
			}
		}
		return max(len(named), 1)
	}
	return 1
}

// person returns the user id of dir.People; a user missing from it is an
// inactive Person.
func (dir Directory) person(id pulid.ID) Person {
	return personIn(dir.People, id)
}

func personIn(people map[pulid.ID]Person, id pulid.ID) Person {
	if p, ok := people[id]; ok {
		return p
	}
	return Person{ID: id}
}

// Route says who gets a review task of reviewer when it becomes PENDING
// (DESIGN §4.2), at submission for a first stage and when a waiting stage
// becomes active. When the reviewer's delegation is active at now and the
// delegate may review the item by the rules of ResolveStage (with assigned
// the people excluded as reviewers of the item), the task goes to the
// delegate on the reviewer's behalf. Otherwise it stays with the reviewer,
// and passedOver says why an active delegation was not followed ("" when
// there was none to follow). Delegations are followed one step. people
// holds the reviewer and their delegate; a delegate missing from it is
// treated as inactive.
func Route(reviewer pulid.ID, people map[pulid.ID]Person, p Parties, assigned map[pulid.ID]bool, now time.Time) (a Assignment, passedOver string) {
	a = Assignment{Reviewer: reviewer}
	d := people[reviewer].Delegate
	if !d.ActiveAt(now) || d.To == reviewer {
		return a, ""
	}
	if why := ineligible(personIn(people, d.To), p, assigned); why != "" {
		return a, why
	}
	return Assignment{Reviewer: d.To, OnBehalfOf: &reviewer}, ""
}

func (dir Directory) candidates(k enum.ReviewerKind, designated []pulid.ID) []pulid.ID {
	switch k {
	case enum.ReviewerKindManager:
		return []pulid.ID{dir.ManagerID}
	case enum.ReviewerKindApplicationOwner:
		return dir.ApplicationOwnerIDs
	case enum.ReviewerKindEntitlementOwner:
		return []pulid.ID{dir.EntitlementOwnerID}
	case enum.ReviewerKindDesignated:
		return designated
	case enum.ReviewerKindRiskManager:
		return dir.RiskManagerIDs
	case ReviewerKindITAdmin:
		return dir.ITAdminIDs
	}
	return nil
}

// StageTemplate is one stage of a review policy (a ReviewStageTemplate row).
// Its designated reviewers, for kind DESIGNATED, are in
// Directory.Designated under its Level.
type StageTemplate struct {
	Level  int
	Kind   enum.ReviewerKind
	Rule   enum.StageRule
	Quorum int
}

// DefaultStageTemplates returns the built-in review policy, one MANAGER stage
// under rule ANY, which ChoosePolicy falls back to.
func DefaultStageTemplates() []StageTemplate {
	return []StageTemplate{{Level: 1, Kind: enum.ReviewerKindManager, Rule: enum.StageRuleAny, Quorum: 1}}
}

// Template is a stage template as stored: its stage, the application whose
// policy it belongs to (empty for the global default policy) and the
// designated reviewers of a DESIGNATED stage.
type Template struct {
	StageTemplate
	ApplicationID pulid.ID
	Designated    []pulid.ID
}

// Policy is the review policy of one item: its stages, and the designated
// reviewers of its stages by level (Directory.Designated).
type Policy struct {
	Stages     []StageTemplate
	Designated map[int][]pulid.ID
}

// ChoosePolicy returns the review policy of an item of the application
// appID (DESIGN §4.2) from the stored templates: the application's own
// templates when it has any; else the global default policy, the
// templates without an application; else the built-in
// DefaultStageTemplates. Templates of other applications never apply.
// Submission plans with it and a terminated reviewer's replacement is
// resolved with it.
func ChoosePolicy(appID pulid.ID, templates []Template) Policy {
	var own, global []Template
	for _, t := range templates {
		switch t.ApplicationID {
		case appID:
			own = append(own, t)
		case "":
			global = append(global, t)
		}
	}
	use := own
	if len(use) == 0 {
		use = global
	}
	if len(use) == 0 {
		return Policy{Stages: DefaultStageTemplates(), Designated: map[int][]pulid.ID{}}
	}
	p := Policy{Designated: map[int][]pulid.ID{}}
	for _, t := range use {
		p.Stages = append(p.Stages, t.StageTemplate)
		if len(t.Designated) > 0 {
			p.Designated[t.Level] = append(p.Designated[t.Level], t.Designated...)
		}
	}
	return p
}

// PlannedStage is one stage to materialise for an item: its level, the
// reviewer kind actually used (after fallback), its rule, its quorum and its
// tasks.
type PlannedStage struct {
	Level       int
	Kind        enum.ReviewerKind
	Rule        enum.StageRule
	Quorum      int
	Assignments []Assignment
	// Fallbacks are the reviewers taken from later kinds of the fallback
	// chain because exclusions left the stage's first kind yielding anybody
	// (Kind) fewer people than its rule needs. Resolution says in a
	// sentence who was excluded, which kind took over when the template's
	// kind found nobody, and who was added; "" when the template's own kind
	// sufficed.
	Fallbacks  []Fallback
	Resolution string
}

// PlanStages resolves all the stages of one item at submission, in level
// order. Everyone assigned in a stage, and everyone a delegate acts for, is
// excluded from the later stages, so each stage has distinct people.
//
// The quorum is never lowered: a stage needs as many reviewers as its rule
// asks (QUORUM n: n; ALL: every person its kind names; ANY: one). When
// exclusions (requester, beneficiary, token minter, earlier-stage
// reviewer, inactive user) leave its own kind fewer eligible people, the
// stage takes the next eligible people along its fallback chain (e.g.
// DESIGNATED → APPLICATION_OWNER → RISK_MANAGER → IT_ADMIN), one by one,
// until it has the number; they are listed in Fallbacks and explained in
// Resolution. A QUORUM stage keeps its quorum; other rules get quorum 1.
//
// The caller chooses the templates (ChoosePolicy) and must pass at least
// one; auto-approved items get no stages and are not planned. Templates may
// come in any order.
//
// Errors: NO_REVIEWER naming the stage when one resolves to nobody, or when
// even the whole fallback chain has fewer eligible people than the stage
// needs; INVALID_INPUT for an unknown kind or rule, a level below 1 or a
// level given twice; an uncoded error for no templates.
func PlanStages(templates []StageTemplate, dir Directory, now time.Time) ([]PlannedStage, error) {
	if len(templates) == 0 {
		return nil, errors.New("rules: plan stages: no stage templates (pass the global default policy)")
	}
	ts := slices.Clone(templates)
	slices.SortStableFunc(ts, func(a, b StageTemplate) int { return a.Level - b.Level })
	for i, t := range ts {
		if t.Level < 1 {
			return nil, errcode.Invalid("level", "stage level %d is below 1", t.Level)
		}
		if i > 0 && ts[i-1].Level == t.Level {
			return nil, errcode.Invalid("level", "stage level %d is given twice", t.Level)
		}
		if !t.Rule.IsValid() {
			return nil, errcode.Invalid("rule", "%q is not a stage rule", t.Rule)
		}
	}
	excluded := map[pulid.ID]bool{}
	out := make([]PlannedStage, 0, len(ts))
	for _, t := range ts {
		designated := dir.Designated[t.Level]
		r, err := resolve(t.Kind, designated, dir, excluded, now, dir.need(t, designated))
		if err != nil {
			var e *errcode.Error
			if errors.As(err, &e) && e.Code == errcode.NoReviewer {
				return nil, errcode.New(errcode.NoReviewer, "stage %d (%s): %s", t.Level, t.Kind, e.Message)
			}
			return nil, err
		}
		for _, a := range r.assignments {
			excluded[a.Reviewer] = true
			if a.OnBehalfOf != nil {
				excluded[*a.OnBehalfOf] = true
			}
		}
		q := 1
		if t.Rule == enum.StageRuleQuorum {
			q = ClampQuorum(t.Quorum, len(r.assignments))
		}
		out = append(out, PlannedStage{Level: t.Level, Kind: r.kind, Rule: t.Rule, Quorum: q,
			Assignments: r.assignments, Fallbacks: r.fallbacks, Resolution: r.why})
	}
	return out, nil
}

// ineligible says why the user may not review an item of a request with
// the given parties, or "" when they may (DESIGN §4.2): never anyone unfit
// to review at all (see unfit), the requester, the beneficiary, the person
// behind a service account's submission, or anyone assigned in an earlier
// stage of the item (assigned). Reviewer resolution, delegation and
// reassignment all apply it.
func ineligible(u Person, p Parties, assigned map[pulid.ID]bool) string {
	if why := u.unfit(); why != "" {
		return why
	}
	switch {
	case u.ID == p.RequesterID:
		return "the requester"
	case u.ID == p.BeneficiaryID:
		return "the beneficiary"
	case u.ID == p.SubmittedByID:
		return "the minter of the token the request was submitted with"
	case assigned[u.ID]:
		return "already a reviewer of this item"
	}
	return ""
}

// unfit says why the user may review nothing at all, or "": nobody, a
// service account, or a user who is not active (TERMINATED).
func (u Person) unfit() string {
	switch {
	case u.ID == "":
		return "nobody"
	case u.Service:
		return "a service account never reviews"
	case !u.Active:
		return "not an active user"
	}
	return ""
}

package workflow

import (
	"context"
	"fmt"

	"gatehouse/ent"
	"gatehouse/ent/reviewstagetemplate"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/workflow/rules"
)

// directory is the people data of reviewer resolution for one submission,
// loaded with a fixed number of queries whatever the number of items.
type directory struct {
	requester, beneficiary, manager pulid.ID
	submittedBy                     pulid.ID
	appOwners                       map[pulid.ID][]pulid.ID
	riskManagers, itAdmins          []pulid.ID
	people                          map[pulid.ID]rules.Person
}

// loadDirectory loads the candidates of every reviewer kind for the plan's
// items (whose applications come with their owners), and the people (with
// their delegates) among them; it fills in the designated reviewers of the
// templates of kind DESIGNATED.
func loadDirectory(ctx context.Context, client *ent.Client, p *Plan, templates []template) (*directory, error) {
	d := &directory{requester: p.RequesterID, beneficiary: p.Beneficiary.ID, submittedBy: p.SubmittedByID, appOwners: map[pulid.ID][]pulid.ID{}}
	if p.Beneficiary.ManagerID != nil {
		d.manager = *p.Beneficiary.ManagerID
	}
	ids := []pulid.ID{d.requester, d.beneficiary, d.manager}
	for _, it := range p.Items {
		if _, done := d.appOwners[it.Application.ID]; done {
			continue
		}
		d.appOwners[it.Application.ID] = []pulid.ID{}
		for _, o := range it.Application.Edges.Owners {
			d.appOwners[it.Application.ID] = append(d.appOwners[it.Application.ID], o.ID)
			ids = append(ids, o.ID)
		}
	}
	for _, it := range p.Items {
		if it.Entitlement.OwnerID != nil {
			ids = append(ids, *it.Entitlement.OwnerID)
		}
		ids = append(ids, it.designatedReviewers()...)
	}
	// The templates' designated reviewers come with the people, in the
	// same query, when a template has designated reviewers.
	var designated []pulid.ID
	for _, t := range templates {
		if t.Kind == enum.ReviewerKindDesignated {
			designated = append(designated, t.ID)
		}
	}
	// The people named above and the risk managers and IT admins, then the
	// delegates of them all.
	staff := user.And(user.PlatformRoleIn(enum.PlatformRoleRiskManager, enum.PlatformRoleITAdmin), user.StatusEQ(enum.UserStatusActive))
	q := client.User.Query().Order(user.ByEmail())
	if len(designated) > 0 {
		q.Where(user.Or(user.IDIn(distinct(ids)...), staff, user.HasDesignatedStageTemplatesWith(reviewstagetemplate.IDIn(designated...)))).
			WithDesignatedStageTemplates(func(q *ent.ReviewStageTemplateQuery) {
				q.Where(reviewstagetemplate.IDIn(designated...)).Select(reviewstagetemplate.FieldID)
			})
	} else {
		q.Where(user.Or(user.IDIn(distinct(ids)...), staff))
	}
	people, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load reviewers, risk managers and admins: %w", err)
	}
	d.people = make(map[pulid.ID]rules.Person)
	ids = ids[:0]
	byTemplate := map[pulid.ID][]pulid.ID{}
	for _, u := range people {
		if u.Status == enum.UserStatusActive {
			switch u.PlatformRole {
			case enum.PlatformRoleRiskManager:
				d.riskManagers = append(d.riskManagers, u.ID)
			case enum.PlatformRoleITAdmin:
				d.itAdmins = append(d.itAdmins, u.ID)
			}
		}
		for _, t := range u.Edges.DesignatedStageTemplates {
			byTemplate[t.ID] = append(byTemplate[t.ID], u.ID)
		}
		d.add(u)
	}
	for i := range templates {
		templates[i].Designated = byTemplate[templates[i].ID]
	}
	for _, u := range people {
		if u.DelegateID != nil {
			if _, ok := d.people[*u.DelegateID]; !ok {
				ids = append(ids, *u.DelegateID)
			}
		}
	}
	if len(ids) == 0 {
		return d, nil
	}
	// Delegates, and theirs.
	for range 2 {
		users, err := client.User.Query().Where(user.IDIn(distinct(ids)...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load delegates: %w", err)
		}
		ids = ids[:0]
		for _, u := range users {
			d.add(u)
			if u.DelegateID != nil {
				if _, ok := d.people[*u.DelegateID]; !ok {
					ids = append(ids, *u.DelegateID)
				}
			}
		}
		if len(ids) == 0 {
			break
		}
	}
	return d, nil
}

func (d *directory) add(u *ent.User) { d.people[u.ID] = person(u) }

// person is what the reviewer rules know of u.
func person(u *ent.User) rules.Person {
	p := rules.Person{ID: u.ID, Email: u.Email, Active: u.Status == enum.UserStatusActive, Service: u.Kind == enum.UserKindService}
	if u.DelegateID != nil {
		p.Delegate = &rules.Delegation{To: *u.DelegateID, From: u.DelegateFrom, Until: u.DelegateUntil}
	}
	return p
}

// template is a stage template with its ID, to fill in its designated
// reviewers.
type template struct {
	rules.Template
	ID pulid.ID
}

// loadTemplates loads the stage templates that may apply to items of the
// applications: their own and the global default policy (rules.ChoosePolicy
// picks). loadDirectory fills in their designated reviewers. Submission
// reads the same rows with its rule set (loadRuleSet).
func loadTemplates(ctx context.Context, client *ent.Client, appIDs ...pulid.ID) ([]template, error) {
	ts, err := client.ReviewStageTemplate.Query().
		Where(reviewstagetemplate.Or(reviewstagetemplate.ApplicationIDIn(appIDs...), reviewstagetemplate.ApplicationIDIsNil())).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load stage templates: %w", err)
	}
	out := make([]template, len(ts))
	for i, t := range ts {
		out[i] = template{ID: t.ID, Template: rules.Template{StageTemplate: rules.StageTemplate{Level: t.Level, Kind: t.ReviewerKind, Rule: t.Rule, Quorum: t.Quorum}}}
		if t.ApplicationID != nil {
			out[i].ApplicationID = *t.ApplicationID
		}
	}
	return out, nil
}

// policies returns the rules' view of templates.
func policies(templates []template) []rules.Template {
	out := make([]rules.Template, len(templates))
	for i, t := range templates {
		out[i] = t.Template
	}
	return out
}

// forItem returns the rules.Directory of one item.
func (d *directory) forItem(it *PlannedItem, designated map[int][]pulid.ID) rules.Directory {
	out := rules.Directory{
		RequesterID:         d.requester,
		BeneficiaryID:       d.beneficiary,
		SubmittedByID:       d.submittedBy,
		ManagerID:           d.manager,
		ApplicationOwnerIDs: d.appOwners[it.Application.ID],
		Designated:          designated,
		RiskManagerIDs:      d.riskManagers,
		ITAdminIDs:          d.itAdmins,
		People:              d.people,
	}
	if it.Entitlement.OwnerID != nil {
		out.EntitlementOwnerID = *it.Entitlement.OwnerID
	}
	return out
}

package workflow

import (
	"context"
	"fmt"

	"gatehouse/ent"
	"gatehouse/ent/application"
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
// items, and the people (with their delegates) among them.
func loadDirectory(ctx context.Context, client *ent.Client, p *Plan, appIDs []pulid.ID, templates []rules.Template) (*directory, error) {
	d := &directory{requester: p.RequesterID, beneficiary: p.Beneficiary.ID, submittedBy: p.SubmittedByID, appOwners: map[pulid.ID][]pulid.ID{}}
	if p.Beneficiary.ManagerID != nil {
		d.manager = *p.Beneficiary.ManagerID
	}
	apps, err := client.Application.Query().Where(application.IDIn(appIDs...)).WithOwners().All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load application owners: %w", err)
	}
	ids := []pulid.ID{d.requester, d.beneficiary, d.manager}
	for _, a := range apps {
		for _, o := range a.Edges.Owners {
			d.appOwners[a.ID] = append(d.appOwners[a.ID], o.ID)
			ids = append(ids, o.ID)
		}
	}
	for _, it := range p.Items {
		if it.Entitlement.OwnerID != nil {
			ids = append(ids, *it.Entitlement.OwnerID)
		}
	}
	for _, t := range templates {
		ids = append(ids, t.Designated...)
	}
	staff, err := client.User.Query().
		Where(user.PlatformRoleIn(enum.PlatformRoleRiskManager, enum.PlatformRoleITAdmin), user.StatusEQ(enum.UserStatusActive)).
		Order(user.ByEmail()).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load risk managers and admins: %w", err)
	}
	d.people = make(map[pulid.ID]rules.Person)
	for _, u := range staff {
		if u.PlatformRole == enum.PlatformRoleRiskManager {
			d.riskManagers = append(d.riskManagers, u.ID)
		} else {
			d.itAdmins = append(d.itAdmins, u.ID)
		}
		d.add(u)
		if u.DelegateID != nil {
			ids = append(ids, *u.DelegateID)
		}
	}
	// The people named above, then their delegates.
	for range 2 {
		users, err := client.User.Query().Where(user.IDIn(distinct(ids)...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load reviewers: %w", err)
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

// loadTemplates loads the stage templates that may apply to items of the
// applications: their own and the global default policy (rules.ChoosePolicy
// picks).
func loadTemplates(ctx context.Context, client *ent.Client, appIDs ...pulid.ID) ([]rules.Template, error) {
	ts, err := client.ReviewStageTemplate.Query().
		Where(reviewstagetemplate.Or(reviewstagetemplate.ApplicationIDIn(appIDs...), reviewstagetemplate.ApplicationIDIsNil())).
		WithDesignatedReviewers().
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load stage templates: %w", err)
	}
	out := make([]rules.Template, len(ts))
	for i, t := range ts {
		out[i] = rules.Template{StageTemplate: rules.StageTemplate{Level: t.Level, Kind: t.ReviewerKind, Rule: t.Rule, Quorum: t.Quorum}}
		if t.ApplicationID != nil {
			out[i].ApplicationID = *t.ApplicationID
		}
		for _, u := range t.Edges.DesignatedReviewers {
			out[i].Designated = append(out[i].Designated, u.ID)
		}
	}
	return out, nil
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

package resolvers_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// catalogNode decodes any catalog object of these tests: JSON field names
// match case-insensitively, and fields a query does not select stay zero.
type catalogNode struct {
	ID, Email, Name, Department, Status, PlatformRole string
	Description, Fulfillment, ConnectorKind           string
	MaxAccessDuration                                 *string
	ApplicationID, ManagerID, JobTitleID              *string
	ExternalID, Kind                                  string
	Privileged, Requestable                           bool
	Level, Quorum                                     int
	ReviewerKind, Rule                                string

	Manager, JobTitle, Owner, Application *catalogNode

	Reports, Users, BaselineEntitlements                                       []catalogNode
	OwnedApplications, OwnedRoles, OwnedEntitlements, DesignatedStageTemplates []catalogNode
	Owners, Entitlements, ReviewStages, Roles, JobTitles, DesignatedReviewers  []catalogNode
}

// catalogConn decodes a Relay connection of catalog objects.
type catalogConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   catalogNode
	}
}

func (c catalogConn) names() []string {
	out := make([]string, 0, len(c.Edges))
	for _, e := range c.Edges {
		out = append(out, e.Node.Name)
	}
	return out
}

func catalogEmails(ns []catalogNode) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.Email)
	}
	sort.Strings(out)
	return out
}

func catalogNames(ns []catalogNode) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

func catalogExternalIDs(ns []catalogNode) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.ExternalID)
	}
	sort.Strings(out)
	return out
}

func catalogByExternalID(t *testing.T, ns []catalogNode, id string) catalogNode {
	t.Helper()
	for _, n := range ns {
		if n.ExternalID == id {
			return n
		}
	}
	require.Failf(t, "entitlement missing", "no entitlement %q among %v", id, catalogExternalIDs(ns))
	return catalogNode{}
}

func catalogSortByLevel(ns []catalogNode) []catalogNode {
	out := append([]catalogNode(nil), ns...)
	sort.Slice(out, func(i, j int) bool { return out[i].Level < out[j].Level })
	return out
}

// catalogCreate runs the mutation field(input: $in) with input type inType
// and returns the new object's ID.
func catalogCreate(t *testing.T, env *apitest.Env, token, field, inType string, in map[string]any) string {
	t.Helper()
	q := fmt.Sprintf(`mutation($in: %s!) { %s(input: $in) { id } }`, inType, field)
	var out map[string]struct{ ID string }
	env.MustDo(t, token, q, map[string]any{"in": in}, &out)
	require.NotEmpty(t, out[field].ID)
	return out[field].ID
}

// catalogGet reads one object through the connection list filtered by ID,
// with the selection sel (a fragment on the object's type).
func catalogGet(t *testing.T, env *apitest.Env, token, list, id, sel string) catalogNode {
	t.Helper()
	var out map[string]catalogConn
	q := `query($id: ID!) { ` + list + `(where: {id: $id}) { totalCount edges { node { id ` + sel + ` } } } }`
	env.MustDo(t, token, q, map[string]any{"id": id}, &out)
	require.Equal(t, 1, out[list].TotalCount, "%s %s", list, id)
	require.Len(t, out[list].Edges, 1)
	return out[list].Edges[0].Node
}

const (
	catalogUserSel = `... on User { email name department status platformRole
	  manager { id email } jobTitle { id name baselineEntitlements { externalID } users { email } }
	  reports { email } ownedApplications { name } ownedRoles { name } ownedEntitlements { externalID }
	  designatedStageTemplates { level } }`
	catalogAppSel = `... on Application { name description fulfillment connectorKind maxAccessDuration
	  owners { email }
	  entitlements { id externalID name kind privileged requestable owner { email } application { name }
	                 roles { name } jobTitles { name } }
	  reviewStages { id level reviewerKind rule quorum application { name } designatedReviewers { email } } }`
	catalogRoleSel = `... on Role { name description owners { email } entitlements { externalID application { name } } }`
	catalogJobSel  = `... on JobTitle { name users { email } baselineEntitlements { externalID } }`
)

// catalogSnapshot renders every catalog row and M2M edge, plus the number of
// API tokens and audit events, so that a comparison shows any write.
func catalogSnapshot(t *testing.T, env *apitest.Env) []string {
	t.Helper()
	ctx := apitest.Sys()
	c := env.Client
	var rows []string
	users, err := c.User.Query().All(ctx)
	require.NoError(t, err)
	for _, u := range users {
		rows = append(rows, u.String())
	}
	titles, err := c.JobTitle.Query().WithBaselineEntitlements().All(ctx)
	require.NoError(t, err)
	for _, j := range titles {
		rows = append(rows, j.String()+" baseline="+catalogEntIDs(j.Edges.BaselineEntitlements))
	}
	roles, err := c.Role.Query().WithEntitlements().WithOwners().All(ctx)
	require.NoError(t, err)
	for _, r := range roles {
		rows = append(rows, r.String()+" entitlements="+catalogEntIDs(r.Edges.Entitlements)+" owners="+catalogUserIDs(r.Edges.Owners))
	}
	apps, err := c.Application.Query().WithOwners().All(ctx)
	require.NoError(t, err)
	for _, a := range apps {
		rows = append(rows, a.String()+" owners="+catalogUserIDs(a.Edges.Owners))
	}
	ents, err := c.Entitlement.Query().All(ctx)
	require.NoError(t, err)
	for _, e := range ents {
		rows = append(rows, e.String())
	}
	stages, err := c.ReviewStageTemplate.Query().WithDesignatedReviewers().All(ctx)
	require.NoError(t, err)
	for _, s := range stages {
		rows = append(rows, s.String()+" reviewers="+catalogUserIDs(s.Edges.DesignatedReviewers))
	}
	tokens, err := c.ApiToken.Query().Count(ctx)
	require.NoError(t, err)
	events, err := c.AuditEvent.Query().Count(ctx)
	require.NoError(t, err)
	rows = append(rows, fmt.Sprintf("~api_tokens=%d", tokens), fmt.Sprintf("~audit_events=%d", events))
	sort.Strings(rows)
	return rows
}

func catalogUserIDs(us []*ent.User) string {
	ids := make([]string, 0, len(us))
	for _, u := range us {
		ids = append(ids, string(u.ID))
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func catalogEntIDs(es []*ent.Entitlement) string {
	ids := make([]string, 0, len(es))
	for _, e := range es {
		ids = append(ids, string(e.ID))
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

// catalogRequireError checks that res failed with code (and field, when not
// empty) and that no error message shows SQL or driver details.
func catalogRequireError(t *testing.T, res *apitest.Response, code, field string) {
	t.Helper()
	require.NotEmpty(t, res.Errors, "expected %s, got data %s", code, res.Data)
	require.Equal(t, code, res.Code(), "errors: %+v", res.Errors)
	if field != "" {
		require.Equal(t, field, res.Errors[0].Extensions.Field, "errors: %+v", res.Errors)
	}
	catalogRequireNoLeak(t, res)
}

func catalogRequireNoLeak(t *testing.T, res *apitest.Response) {
	t.Helper()
	for _, e := range res.Errors {
		msg := strings.ToLower(e.Message)
		for _, leak := range []string{"sql", "constraint", "pq:", "sqlite", "violates", "duplicate key"} {
			require.NotContains(t, msg, leak, "error message leaks internals: %q", e.Message)
		}
	}
}

// TestCatalogCreateAndRead builds a catalog through the admin mutations,
// reads it back with nested edges, then updates and deletes parts of it.
func TestCatalogCreateAndRead(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@x.example", enum.PlatformRoleITAdmin)
		tok := env.Token(t, admin)

		// Users who will own things.
		var created struct{ CreateUser catalogNode }
		env.MustDo(t, tok, `mutation($in: CreateUserInput!) { createUser(input: $in) {
			id email name department status platformRole } }`,
			map[string]any{"in": map[string]any{
				"email": "mona@x.example", "name": "Mona Manager", "department": "Finance", "platformRole": "RISK_MANAGER",
			}}, &created)
		mgr := created.CreateUser
		require.True(t, strings.HasPrefix(mgr.ID, "usr_"), "user IDs are prefixed: %s", mgr.ID)
		require.Equal(t, catalogNode{
			ID: mgr.ID, Email: "mona@x.example", Name: "Mona Manager", Department: "Finance",
			Status: "ACTIVE", PlatformRole: "RISK_MANAGER",
		}, mgr)
		owner := catalogCreate(t, env, tok, "createUser", "CreateUserInput", map[string]any{
			"email": "olaf@x.example", "name": "Olaf Owner",
		})

		// Applications.
		var createdApp struct{ CreateApplication catalogNode }
		env.MustDo(t, tok, `mutation($in: CreateApplicationInput!) { createApplication(input: $in) {
			id name description fulfillment connectorKind maxAccessDuration } }`,
			map[string]any{"in": map[string]any{
				"name": "Payroll", "description": "Salaries", "fulfillment": "MANUAL", "connectorKind": "MANUAL",
				"maxAccessDuration": "P30D", "ownerIDs": []string{owner, mgr.ID},
			}}, &createdApp)
		payroll := createdApp.CreateApplication.ID
		require.True(t, strings.HasPrefix(payroll, "app_"), payroll)
		require.Equal(t, "P30D", *createdApp.CreateApplication.MaxAccessDuration)
		wiki := catalogCreate(t, env, tok, "createApplication", "CreateApplicationInput", map[string]any{
			"name": "Wiki", "fulfillment": "MANUAL", "connectorKind": "MANUAL", "connectorConfig": map[string]any{},
		})

		// Entitlements: explicit values on one, defaults on the other.
		admins := catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": payroll, "externalID": "grp-admins", "name": "Payroll Admins", "kind": "GROUP",
			"privileged": true, "requestable": false, "ownerID": owner, "description": "Full control",
		})
		read := catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": payroll, "externalID": "perm-read", "name": "Payroll Read", "kind": "PERMISSION",
		})
		editor := catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": wiki, "externalID": "role-editor", "name": "Wiki Editor", "kind": "ROLE",
		})
		space := catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": wiki, "externalID": "res-space", "name": "Finance Space", "kind": "RESOURCE",
		})
		require.True(t, strings.HasPrefix(admins, "ent_"), admins)

		// A job title with a baseline bundle, and a user holding it.
		engineer := catalogCreate(t, env, tok, "createJobTitle", "CreateJobTitleInput", map[string]any{
			"name": "Engineer", "baselineEntitlementIDs": []string{read, editor},
		})
		eve := catalogCreate(t, env, tok, "createUser", "CreateUserInput", map[string]any{
			"email": "eve@x.example", "name": "Eve Engineer", "department": "Engineering",
			"platformRole": "USER", "managerID": mgr.ID, "jobTitleID": engineer,
		})

		// A role.
		analyst := catalogCreate(t, env, tok, "createRole", "CreateRoleInput", map[string]any{
			"name": "Finance Analyst", "description": "Reads payroll", "entitlementIDs": []string{read, space},
			"ownerIDs": []string{mgr.ID},
		})

		// Review policy: three stages for Payroll, one global default.
		var createdStage struct{ CreateReviewStageTemplate catalogNode }
		stageMutation := `mutation($in: CreateReviewStageTemplateInput!) { createReviewStageTemplate(input: $in) {
			id level reviewerKind rule quorum applicationID } }`
		env.MustDo(t, tok, stageMutation, map[string]any{"in": map[string]any{
			"applicationID": payroll, "level": 1, "reviewerKind": "MANAGER",
		}}, &createdStage)
		require.Equal(t, "ANY", createdStage.CreateReviewStageTemplate.Rule, "the default rule")
		require.Equal(t, payroll, *createdStage.CreateReviewStageTemplate.ApplicationID)
		require.Equal(t, 1, createdStage.CreateReviewStageTemplate.Quorum, "the default quorum")
		env.MustDo(t, tok, stageMutation, map[string]any{"in": map[string]any{
			"applicationID": payroll, "level": 2, "reviewerKind": "APPLICATION_OWNER", "rule": "QUORUM", "quorum": 2,
		}}, &createdStage)
		require.Equal(t, 2, createdStage.CreateReviewStageTemplate.Quorum)
		env.MustDo(t, tok, stageMutation, map[string]any{"in": map[string]any{
			"applicationID": payroll, "level": 3, "reviewerKind": "DESIGNATED", "rule": "ALL",
			"designatedReviewerIDs": []string{owner, mgr.ID},
		}}, &createdStage)
		designated := createdStage.CreateReviewStageTemplate.ID
		require.True(t, strings.HasPrefix(designated, "rst_"), designated)
		env.MustDo(t, tok, stageMutation, map[string]any{"in": map[string]any{
			"level": 1, "reviewerKind": "RISK_MANAGER",
		}}, &createdStage)
		global := createdStage.CreateReviewStageTemplate
		require.Nil(t, global.ApplicationID, "a global stage has no application")

		// Read everything back.
		e := catalogGet(t, env, tok, "users", eve, catalogUserSel)
		require.Equal(t, "eve@x.example", e.Email)
		require.Equal(t, "Eve Engineer", e.Name)
		require.Equal(t, "Engineering", e.Department)
		require.Equal(t, "ACTIVE", e.Status)
		require.Equal(t, "USER", e.PlatformRole)
		require.NotNil(t, e.Manager)
		require.Equal(t, mgr.ID, e.Manager.ID)
		require.NotNil(t, e.JobTitle)
		require.Equal(t, engineer, e.JobTitle.ID)
		require.Equal(t, "Engineer", e.JobTitle.Name)
		require.Equal(t, []string{"perm-read", "role-editor"}, catalogExternalIDs(e.JobTitle.BaselineEntitlements))
		require.Equal(t, []string{"eve@x.example"}, catalogEmails(e.JobTitle.Users))

		m := catalogGet(t, env, tok, "users", mgr.ID, catalogUserSel)
		require.Nil(t, m.Manager)
		require.Nil(t, m.JobTitle)
		require.Equal(t, []string{"eve@x.example"}, catalogEmails(m.Reports))
		require.Equal(t, []string{"Payroll"}, catalogNames(m.OwnedApplications))
		require.Equal(t, []string{"Finance Analyst"}, catalogNames(m.OwnedRoles))
		require.Empty(t, m.OwnedEntitlements)
		require.Len(t, m.DesignatedStageTemplates, 1)
		require.Equal(t, 3, m.DesignatedStageTemplates[0].Level)

		o := catalogGet(t, env, tok, "users", owner, catalogUserSel)
		require.Equal(t, "USER", o.PlatformRole, "the default platform role")
		require.Equal(t, "", o.Department, "the default department")
		require.Equal(t, []string{"grp-admins"}, catalogExternalIDs(o.OwnedEntitlements))

		var apps struct{ Applications catalogConn }
		env.MustDo(t, tok, `query { applications(where: {name: "Payroll"}) { totalCount edges { node { id `+catalogAppSel+` } } } }`, nil, &apps)
		require.Equal(t, 1, apps.Applications.TotalCount)
		require.Len(t, apps.Applications.Edges, 1)
		p := apps.Applications.Edges[0].Node
		require.Equal(t, payroll, p.ID)
		require.Equal(t, "Salaries", p.Description)
		require.Equal(t, "MANUAL", p.Fulfillment)
		require.Equal(t, "MANUAL", p.ConnectorKind)
		require.NotNil(t, p.MaxAccessDuration)
		require.Equal(t, "P30D", *p.MaxAccessDuration)
		require.Equal(t, []string{"mona@x.example", "olaf@x.example"}, catalogEmails(p.Owners))
		require.Equal(t, []string{"grp-admins", "perm-read"}, catalogExternalIDs(p.Entitlements))
		ga := catalogByExternalID(t, p.Entitlements, "grp-admins")
		require.Equal(t, admins, ga.ID)
		require.Equal(t, "Payroll Admins", ga.Name)
		require.Equal(t, "GROUP", ga.Kind)
		require.True(t, ga.Privileged)
		require.False(t, ga.Requestable)
		require.NotNil(t, ga.Owner)
		require.Equal(t, "olaf@x.example", ga.Owner.Email)
		require.Equal(t, "Payroll", ga.Application.Name)
		require.Empty(t, ga.Roles)
		require.Empty(t, ga.JobTitles)
		pr := catalogByExternalID(t, p.Entitlements, "perm-read")
		require.Equal(t, "PERMISSION", pr.Kind)
		require.False(t, pr.Privileged, "privileged defaults to false")
		require.True(t, pr.Requestable, "requestable defaults to true")
		require.Nil(t, pr.Owner)
		require.Equal(t, []string{"Finance Analyst"}, catalogNames(pr.Roles))
		require.Equal(t, []string{"Engineer"}, catalogNames(pr.JobTitles))
		stages := catalogSortByLevel(p.ReviewStages)
		require.Len(t, stages, 3)
		for i, want := range []struct {
			kind, rule string
			quorum     int
			reviewers  []string
		}{
			{"MANAGER", "ANY", 1, []string{}},
			{"APPLICATION_OWNER", "QUORUM", 2, []string{}},
			{"DESIGNATED", "ALL", 1, []string{"mona@x.example", "olaf@x.example"}},
		} {
			require.Equal(t, i+1, stages[i].Level)
			require.Equal(t, want.kind, stages[i].ReviewerKind, "level %d", i+1)
			require.Equal(t, want.rule, stages[i].Rule, "level %d", i+1)
			require.Equal(t, want.quorum, stages[i].Quorum, "level %d", i+1)
			require.Equal(t, want.reviewers, catalogEmails(stages[i].DesignatedReviewers), "level %d", i+1)
			require.Equal(t, "Payroll", stages[i].Application.Name)
		}

		w := catalogGet(t, env, tok, "applications", wiki, catalogAppSel)
		require.Nil(t, w.MaxAccessDuration, "no maximum: permanent access allowed")
		require.Empty(t, w.Owners)
		require.Empty(t, w.ReviewStages)
		require.Equal(t, []string{"res-space", "role-editor"}, catalogExternalIDs(w.Entitlements))
		require.Equal(t, "RESOURCE", catalogByExternalID(t, w.Entitlements, "res-space").Kind)
		require.Equal(t, "ROLE", catalogByExternalID(t, w.Entitlements, "role-editor").Kind)

		var roles struct{ Roles catalogConn }
		env.MustDo(t, tok, `query { roles(where: {name: "Finance Analyst"}) { totalCount edges { node { id `+catalogRoleSel+` } } } }`, nil, &roles)
		require.Equal(t, 1, roles.Roles.TotalCount)
		r := roles.Roles.Edges[0].Node
		require.Equal(t, analyst, r.ID)
		require.Equal(t, "Reads payroll", r.Description)
		require.Equal(t, []string{"mona@x.example"}, catalogEmails(r.Owners))
		require.Equal(t, []string{"perm-read", "res-space"}, catalogExternalIDs(r.Entitlements))
		require.Equal(t, "Wiki", catalogByExternalID(t, r.Entitlements, "res-space").Application.Name)

		var globals struct{ ReviewStageTemplates catalogConn }
		env.MustDo(t, tok, `query { reviewStageTemplates(where: {applicationIDIsNil: true}) {
			totalCount edges { node { id level reviewerKind rule quorum application { name } } } } }`, nil, &globals)
		require.Equal(t, 1, globals.ReviewStageTemplates.TotalCount)
		g := globals.ReviewStageTemplates.Edges[0].Node
		require.Equal(t, global.ID, g.ID)
		require.Equal(t, 1, g.Level)
		require.Equal(t, "RISK_MANAGER", g.ReviewerKind)
		require.Equal(t, "ANY", g.Rule)
		require.Nil(t, g.Application)

		// updateUser: clear the manager, change plain fields.
		var upd struct{ UpdateUser catalogNode }
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) {
			id name department platformRole managerID jobTitleID } }`,
			map[string]any{"id": eve, "in": map[string]any{
				"clearManager": true, "department": "Platform", "name": "Eve E.", "platformRole": "RISK_MANAGER",
			}}, &upd)
		require.Nil(t, upd.UpdateUser.ManagerID)
		require.NotNil(t, upd.UpdateUser.JobTitleID, "untouched edges stay")
		require.Equal(t, engineer, *upd.UpdateUser.JobTitleID)
		require.Equal(t, "RISK_MANAGER", upd.UpdateUser.PlatformRole)
		e = catalogGet(t, env, tok, "users", eve, catalogUserSel)
		require.Nil(t, e.Manager)
		require.Equal(t, "Platform", e.Department)
		require.Equal(t, "Eve E.", e.Name)
		require.Equal(t, "RISK_MANAGER", e.PlatformRole)
		require.Equal(t, "eve@x.example", e.Email, "untouched fields stay")
		require.Empty(t, catalogGet(t, env, tok, "users", mgr.ID, catalogUserSel).Reports)
		// Set a new manager and clear the job title.
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id } }`,
			map[string]any{"id": eve, "in": map[string]any{"managerID": owner, "clearJobTitle": true}}, nil)
		e = catalogGet(t, env, tok, "users", eve, catalogUserSel)
		require.NotNil(t, e.Manager)
		require.Equal(t, owner, e.Manager.ID)
		require.Nil(t, e.JobTitle)
		require.Empty(t, catalogGet(t, env, tok, "jobTitles", engineer, catalogJobSel).Users)

		// updateRole: add and remove entitlements and owners, rename.
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateRoleInput!) { updateRole(id: $id, input: $in) { id } }`,
			map[string]any{"id": analyst, "in": map[string]any{
				"name": "Finance Lead", "addEntitlementIDs": []string{admins}, "removeEntitlementIDs": []string{read},
				"addOwnerIDs": []string{owner}, "removeOwnerIDs": []string{mgr.ID},
			}}, nil)
		r = catalogGet(t, env, tok, "roles", analyst, catalogRoleSel)
		require.Equal(t, "Finance Lead", r.Name)
		require.Equal(t, "Reads payroll", r.Description)
		require.Equal(t, []string{"grp-admins", "res-space"}, catalogExternalIDs(r.Entitlements))
		require.Equal(t, []string{"olaf@x.example"}, catalogEmails(r.Owners))

		// updateApplication: clear the maximum, drop an owner, then set a new maximum.
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateApplicationInput!) { updateApplication(id: $id, input: $in) { id } }`,
			map[string]any{"id": payroll, "in": map[string]any{
				"name": "Payroll 2", "description": "Pay", "clearMaxAccessDuration": true, "removeOwnerIDs": []string{mgr.ID},
			}}, nil)
		p = catalogGet(t, env, tok, "applications", payroll, catalogAppSel)
		require.Equal(t, "Payroll 2", p.Name)
		require.Equal(t, "Pay", p.Description)
		require.Nil(t, p.MaxAccessDuration)
		require.Equal(t, []string{"olaf@x.example"}, catalogEmails(p.Owners))
		require.Len(t, p.Entitlements, 2, "entitlements stay")
		require.Len(t, p.ReviewStages, 3, "stages stay")
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateApplicationInput!) { updateApplication(id: $id, input: $in) { id } }`,
			map[string]any{"id": payroll, "in": map[string]any{"maxAccessDuration": "PT8H", "addOwnerIDs": []string{eve}}}, nil)
		p = catalogGet(t, env, tok, "applications", payroll, catalogAppSel)
		require.Equal(t, "PT8H", *p.MaxAccessDuration)
		require.Equal(t, []string{"eve@x.example", "olaf@x.example"}, catalogEmails(p.Owners))

		// updateEntitlement: flip flags, change kind, clear and set owners.
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateEntitlementInput!) { updateEntitlement(id: $id, input: $in) { id } }`,
			map[string]any{"id": admins, "in": map[string]any{
				"name": "Payroll Superusers", "kind": "ROLE", "privileged": false, "requestable": true, "clearOwner": true,
			}}, nil)
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateEntitlementInput!) { updateEntitlement(id: $id, input: $in) { id } }`,
			map[string]any{"id": read, "in": map[string]any{"ownerID": mgr.ID, "externalID": "perm-read-all"}}, nil)
		p = catalogGet(t, env, tok, "applications", payroll, catalogAppSel)
		ga = catalogByExternalID(t, p.Entitlements, "grp-admins")
		require.Equal(t, "Payroll Superusers", ga.Name)
		require.Equal(t, "ROLE", ga.Kind)
		require.False(t, ga.Privileged)
		require.True(t, ga.Requestable)
		require.Nil(t, ga.Owner)
		pr = catalogByExternalID(t, p.Entitlements, "perm-read-all")
		require.Equal(t, "mona@x.example", pr.Owner.Email)
		require.Equal(t, "Payroll Read", pr.Name, "untouched fields stay")

		// updateJobTitle: rename and change the bundle.
		env.MustDo(t, tok, `mutation($id: ID!, $in: UpdateJobTitleInput!) { updateJobTitle(id: $id, input: $in) { id } }`,
			map[string]any{"id": engineer, "in": map[string]any{
				"name": "Senior Engineer", "addBaselineEntitlementIDs": []string{admins}, "removeBaselineEntitlementIDs": []string{read},
			}}, nil)
		j := catalogGet(t, env, tok, "jobTitles", engineer, catalogJobSel)
		require.Equal(t, "Senior Engineer", j.Name)
		require.Equal(t, []string{"grp-admins", "role-editor"}, catalogExternalIDs(j.BaselineEntitlements))

		// deleteReviewStageTemplate: the stage is gone; deleting again is NOT_FOUND.
		var del struct{ DeleteReviewStageTemplate string }
		env.MustDo(t, tok, `mutation($id: ID!) { deleteReviewStageTemplate(id: $id) }`, map[string]any{"id": designated}, &del)
		require.Equal(t, designated, del.DeleteReviewStageTemplate)
		var gone struct{ ReviewStageTemplates catalogConn }
		env.MustDo(t, tok, `query($id: ID!) { reviewStageTemplates(where: {id: $id}) { totalCount } }`, map[string]any{"id": designated}, &gone)
		require.Equal(t, 0, gone.ReviewStageTemplates.TotalCount)
		p = catalogGet(t, env, tok, "applications", payroll, catalogAppSel)
		stages = catalogSortByLevel(p.ReviewStages)
		require.Len(t, stages, 2)
		require.Equal(t, []int{1, 2}, []int{stages[0].Level, stages[1].Level})
		require.Empty(t, catalogGet(t, env, tok, "users", mgr.ID, catalogUserSel).DesignatedStageTemplates)
		var all struct{ ReviewStageTemplates catalogConn }
		env.MustDo(t, tok, `query { reviewStageTemplates { totalCount } }`, nil, &all)
		require.Equal(t, 3, all.ReviewStageTemplates.TotalCount)
		res := env.Do(t, tok, `mutation($id: ID!) { deleteReviewStageTemplate(id: $id) }`, map[string]any{"id": designated})
		catalogRequireError(t, res, "NOT_FOUND", "")
		env.MustDo(t, tok, `query { reviewStageTemplates { totalCount } }`, nil, &all)
		require.Equal(t, 3, all.ReviewStageTemplates.TotalCount)

		// The two checks below do not stop the test, so that each reports.
		// A mutation's result resolves the edges a client selects.
		res = env.Do(t, tok, `mutation($id: ID!) { updateUser(id: $id, input: {department: "Ops"}) {
			department manager { email } jobTitle { name } } }`, map[string]any{"id": eve})
		if assert.Empty(t, res.Errors, "updateUser result with edges") {
			var out struct{ UpdateUser catalogNode }
			require.NoError(t, json.Unmarshal(res.Data, &out))
			assert.Equal(t, "olaf@x.example", out.UpdateUser.Manager.Email)
			assert.Nil(t, out.UpdateUser.JobTitle)
		}
		res = env.Do(t, tok, `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { owners { email } } }`,
			map[string]any{"in": map[string]any{"name": "Ledger", "fulfillment": "MANUAL", "connectorKind": "MANUAL", "ownerIDs": []string{owner}}})
		if assert.Empty(t, res.Errors, "createApplication result with edges") {
			var out struct{ CreateApplication catalogNode }
			require.NoError(t, json.Unmarshal(res.Data, &out))
			assert.Equal(t, []string{"olaf@x.example"}, catalogEmails(out.CreateApplication.Owners))
		}
		res = env.Do(t, tok, `mutation($in: CreateReviewStageTemplateInput!) { createReviewStageTemplate(input: $in) {
			level application { name } designatedReviewers { email } } }`,
			map[string]any{"in": map[string]any{"applicationID": payroll, "level": 3, "reviewerKind": "DESIGNATED", "designatedReviewerIDs": []string{owner}}})
		if assert.Empty(t, res.Errors, "createReviewStageTemplate result with edges") {
			var out struct{ CreateReviewStageTemplate catalogNode }
			require.NoError(t, json.Unmarshal(res.Data, &out))
			assert.Equal(t, "Payroll 2", out.CreateReviewStageTemplate.Application.Name)
			assert.Equal(t, []string{"olaf@x.example"}, catalogEmails(out.CreateReviewStageTemplate.DesignatedReviewers))
		}

		// node(id:) resolves every catalog type; a deleted object reads as null.
		for id, typename := range map[string]string{
			eve: "User", payroll: "Application", admins: "Entitlement", analyst: "Role", engineer: "JobTitle", global.ID: "ReviewStageTemplate",
		} {
			res := env.Do(t, tok, `query($id: ID!) { node(id: $id) { id __typename } }`, map[string]any{"id": id})
			if assert.Empty(t, res.Errors, "node(id:) of a %s", typename) {
				var out struct {
					Node *struct {
						ID       string
						Typename string `json:"__typename"`
					}
				}
				require.NoError(t, json.Unmarshal(res.Data, &out))
				if assert.NotNil(t, out.Node, typename) {
					assert.Equal(t, id, out.Node.ID)
					assert.Equal(t, typename, out.Node.Typename)
				}
			}
		}
		res = env.Do(t, tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": designated})
		assert.Empty(t, res.Errors, "node(id:) of a deleted stage")
		assert.JSONEq(t, `{"node": null}`, string(res.Data), "node(id:) of a deleted stage")
	})
}

// catalogPage is one page of a connection: the names, in order, and the page
// info.
type catalogPage struct {
	names []string
	conn  catalogConn
}

// catalogList runs the list field (users or entitlements) with the given
// arguments; nil arguments are left out.
func catalogList(t *testing.T, env *apitest.Env, token, field, typ string, args map[string]any) catalogPage {
	t.Helper()
	q := fmt.Sprintf(`query($where: %[2]sWhereInput, $orderBy: [%[2]sOrder!], $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
	  %[1]s(where: $where, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
	    totalCount
	    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
	    edges { cursor node { id name } }
	  }
	}`, field, typ)
	vars := map[string]any{}
	for k, v := range args {
		if v != nil {
			vars[k] = v
		}
	}
	var out map[string]catalogConn
	env.MustDo(t, token, q, vars, &out)
	c := out[field]
	return catalogPage{names: c.names(), conn: c}
}

// catalogWalk pages forward with first: n, then backward with last: n, and
// checks that each walk sees want exactly once, in order, with a correct
// totalCount and page info on every page.
func catalogWalk(t *testing.T, env *apitest.Env, token, field, typ string, where, orderBy any, n int, want []string) {
	t.Helper()
	var seen []string
	var after any
	for pages := 0; ; pages++ {
		require.Less(t, pages, len(want)+1, "forward paging does not end")
		p := catalogList(t, env, token, field, typ, map[string]any{"where": where, "orderBy": orderBy, "first": n, "after": after})
		require.Equal(t, len(want), p.conn.TotalCount, "totalCount counts all matches, not the page")
		require.LessOrEqual(t, len(p.names), n)
		seen = append(seen, p.names...)
		require.Equal(t, len(seen) < len(want), p.conn.PageInfo.HasNextPage, "hasNextPage after %v", seen)
		if !p.conn.PageInfo.HasNextPage {
			break
		}
		require.Len(t, p.names, n, "only the last page is short")
		require.NotNil(t, p.conn.PageInfo.EndCursor)
		require.Equal(t, p.conn.Edges[len(p.conn.Edges)-1].Cursor, *p.conn.PageInfo.EndCursor)
		after = *p.conn.PageInfo.EndCursor
	}
	require.Equal(t, want, seen, "forward pages cover every row once, in order")

	var back []string
	var before any
	for pages := 0; ; pages++ {
		require.Less(t, pages, len(want)+1, "backward paging does not end")
		p := catalogList(t, env, token, field, typ, map[string]any{"where": where, "orderBy": orderBy, "last": n, "before": before})
		require.Equal(t, len(want), p.conn.TotalCount)
		require.LessOrEqual(t, len(p.names), n)
		back = append(append([]string(nil), p.names...), back...)
		require.Equal(t, len(back) < len(want), p.conn.PageInfo.HasPreviousPage, "hasPreviousPage before %v", back)
		if !p.conn.PageInfo.HasPreviousPage {
			break
		}
		require.NotNil(t, p.conn.PageInfo.StartCursor)
		before = *p.conn.PageInfo.StartCursor
	}
	require.Equal(t, want, back, "backward pages cover every row once, in order")
}

// TestCatalogListFiltersOrderingPagination checks where filters, ordering
// and cursor pagination of the users and entitlements connections.
func TestCatalogListFiltersOrderingPagination(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@x.example", enum.PlatformRoleITAdmin)
		tok := env.Token(t, admin)

		// Seven people of corp.example; the admin is outside that domain.
		ids := map[string]string{}
		for _, u := range []struct{ name, dept, role, manager string }{
			{"Alice Anders", "Engineering", "USER", ""},
			{"Bob Brown", "Engineering", "USER", "Alice Anders"},
			{"Carol Chen", "Finance", "RISK_MANAGER", ""},
			{"Dave Dunn", "Finance", "USER", "Carol Chen"},
			{"Erin Evans", "Sales", "USER", "Alice Anders"},
			{"Frank Fisher", "Sales", "IT_ADMIN", ""},
			{"Grace Green", "Engineering", "USER", "Bob Brown"},
		} {
			in := map[string]any{
				"email":        strings.ToLower(strings.Fields(u.name)[0]) + "@corp.example",
				"name":         u.name,
				"department":   u.dept,
				"platformRole": u.role,
			}
			if u.manager != "" {
				in["managerID"] = ids[u.manager]
			}
			ids[u.name] = catalogCreate(t, env, tok, "createUser", "CreateUserInput", in)
		}
		corp := func(where map[string]any) map[string]any {
			out := map[string]any{"emailHasSuffix": "@corp.example"}
			for k, v := range where {
				out[k] = v
			}
			return out
		}
		asc := []map[string]any{{"field": "NAME", "direction": "ASC"}}
		for _, tc := range []struct {
			name  string
			where map[string]any
			want  []string
		}{
			{"department", map[string]any{"department": "Engineering"}, []string{"Alice Anders", "Bob Brown", "Grace Green"}},
			{"nameContains", map[string]any{"nameContains": "en"}, []string{"Carol Chen", "Grace Green"}},
			{"nameContainsFold", map[string]any{"nameContainsFold": "EN"}, []string{"Carol Chen", "Grace Green"}},
			{"platformRole", map[string]any{"platformRole": "RISK_MANAGER"}, []string{"Carol Chen"}},
			{"platformRoleIn", map[string]any{"platformRoleIn": []string{"IT_ADMIN", "RISK_MANAGER"}}, []string{"Carol Chen", "Frank Fisher"}},
			{"hasManagerWith", map[string]any{"hasManagerWith": []map[string]any{{"name": "Alice Anders"}}}, []string{"Bob Brown", "Erin Evans"}},
			{"hasManager false", map[string]any{"hasManager": false}, []string{"Alice Anders", "Carol Chen", "Frank Fisher"}},
			{"managerID", map[string]any{"managerID": ids["Bob Brown"]}, []string{"Grace Green"}},
			{"or", map[string]any{"or": []map[string]any{{"department": "Sales"}, {"platformRole": "RISK_MANAGER"}}}, []string{"Carol Chen", "Erin Evans", "Frank Fisher"}},
			{"and", map[string]any{"and": []map[string]any{{"department": "Engineering"}, {"hasManager": true}}}, []string{"Bob Brown", "Grace Green"}},
			{"not", map[string]any{"not": map[string]any{"department": "Engineering"}}, []string{"Carol Chen", "Dave Dunn", "Erin Evans", "Frank Fisher"}},
			{"no match", map[string]any{"department": "Legal"}, []string{}},
		} {
			p := catalogList(t, env, tok, "users", "User", map[string]any{"where": corp(tc.where), "orderBy": asc})
			require.Equal(t, tc.want, p.names, tc.name)
			require.Equal(t, len(tc.want), p.conn.TotalCount, tc.name)
			require.False(t, p.conn.PageInfo.HasNextPage, tc.name)
		}
		// Without the domain filter the admin is listed too.
		all := catalogList(t, env, tok, "users", "User", nil)
		require.Equal(t, 8, all.conn.TotalCount)

		everyone := []string{"Alice Anders", "Bob Brown", "Carol Chen", "Dave Dunn", "Erin Evans", "Frank Fisher", "Grace Green"}
		desc := []map[string]any{{"field": "NAME", "direction": "DESC"}}
		reversed := []string{"Grace Green", "Frank Fisher", "Erin Evans", "Dave Dunn", "Carol Chen", "Bob Brown", "Alice Anders"}
		p := catalogList(t, env, tok, "users", "User", map[string]any{"where": corp(nil), "orderBy": desc})
		require.Equal(t, reversed, p.names)
		p = catalogList(t, env, tok, "users", "User", map[string]any{"where": corp(nil), "orderBy": map[string]any{"field": "NAME", "direction": "DESC"}})
		require.Equal(t, reversed, p.names, "a single order object is a one-element list")
		deptThenName := []map[string]any{{"field": "DEPARTMENT", "direction": "ASC"}, {"field": "NAME", "direction": "DESC"}}
		p = catalogList(t, env, tok, "users", "User", map[string]any{"where": corp(nil), "orderBy": deptThenName})
		require.Equal(t, []string{"Grace Green", "Bob Brown", "Alice Anders", "Dave Dunn", "Carol Chen", "Frank Fisher", "Erin Evans"}, p.names)

		catalogWalk(t, env, tok, "users", "User", corp(nil), asc, 3, everyone)
		catalogWalk(t, env, tok, "users", "User", corp(nil), desc, 3, reversed)
		catalogWalk(t, env, tok, "users", "User", corp(nil), deptThenName, 2,
			[]string{"Grace Green", "Bob Brown", "Alice Anders", "Dave Dunn", "Carol Chen", "Frank Fisher", "Erin Evans"})
		catalogWalk(t, env, tok, "users", "User", corp(map[string]any{"department": "Engineering"}), asc, 2,
			[]string{"Alice Anders", "Bob Brown", "Grace Green"})
		// A page exactly the size of the result has no next page.
		p = catalogList(t, env, tok, "users", "User", map[string]any{"where": corp(nil), "orderBy": asc, "first": 7})
		require.Len(t, p.names, 7)
		require.False(t, p.conn.PageInfo.HasNextPage)

		// Entitlements of two applications.
		apps := map[string]string{}
		for _, name := range []string{"Alpha", "Beta"} {
			apps[name] = catalogCreate(t, env, tok, "createApplication", "CreateApplicationInput", map[string]any{
				"name": name, "fulfillment": "MANUAL", "connectorKind": "MANUAL",
			})
		}
		for _, e := range []struct {
			app, name, kind string
			privileged      bool
		}{
			{"Alpha", "Audit Log", "PERMISSION", false},
			{"Alpha", "Billing Admin", "ROLE", true},
			{"Alpha", "Console", "GROUP", false},
			{"Alpha", "Root", "ROLE", true},
			{"Beta", "Dashboards", "RESOURCE", false},
			{"Beta", "Exports", "PERMISSION", false},
			{"Beta", "Owner", "ROLE", true},
		} {
			catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
				"applicationID": apps[e.app], "externalID": strings.ToLower(strings.ReplaceAll(e.name, " ", "-")),
				"name": e.name, "kind": e.kind, "privileged": e.privileged,
			})
		}
		for _, tc := range []struct {
			name  string
			where map[string]any
			want  []string
		}{
			{"applicationID", map[string]any{"applicationID": apps["Alpha"]}, []string{"Audit Log", "Billing Admin", "Console", "Root"}},
			{"privileged", map[string]any{"privileged": true}, []string{"Billing Admin", "Owner", "Root"}},
			{"not privileged", map[string]any{"privileged": false}, []string{"Audit Log", "Console", "Dashboards", "Exports"}},
			{"applicationID and privileged", map[string]any{"applicationID": apps["Beta"], "privileged": true}, []string{"Owner"}},
			{"hasApplicationWith", map[string]any{"hasApplicationWith": []map[string]any{{"name": "Beta"}}}, []string{"Dashboards", "Exports", "Owner"}},
			{"kindIn", map[string]any{"kindIn": []string{"GROUP", "RESOURCE"}}, []string{"Console", "Dashboards"}},
			{"or", map[string]any{"or": []map[string]any{{"kind": "PERMISSION"}, {"name": "Root"}}}, []string{"Audit Log", "Exports", "Root"}},
		} {
			p := catalogList(t, env, tok, "entitlements", "Entitlement", map[string]any{"where": tc.where, "orderBy": asc})
			require.Equal(t, tc.want, p.names, tc.name)
			require.Equal(t, len(tc.want), p.conn.TotalCount, tc.name)
		}
		allEnts := []string{"Audit Log", "Billing Admin", "Console", "Dashboards", "Exports", "Owner", "Root"}
		p = catalogList(t, env, tok, "entitlements", "Entitlement", map[string]any{"orderBy": desc})
		require.Equal(t, []string{"Root", "Owner", "Exports", "Dashboards", "Console", "Billing Admin", "Audit Log"}, p.names)
		byApp := []map[string]any{{"field": "APPLICATION_NAME", "direction": "DESC"}, {"field": "NAME", "direction": "ASC"}}
		p = catalogList(t, env, tok, "entitlements", "Entitlement", map[string]any{"orderBy": byApp})
		require.Equal(t, []string{"Dashboards", "Exports", "Owner", "Audit Log", "Billing Admin", "Console", "Root"}, p.names)

		catalogWalk(t, env, tok, "entitlements", "Entitlement", nil, asc, 3, allEnts)
		catalogWalk(t, env, tok, "entitlements", "Entitlement", map[string]any{"applicationID": apps["Alpha"]}, desc, 3,
			[]string{"Root", "Console", "Billing Admin", "Audit Log"})
		catalogWalk(t, env, tok, "entitlements", "Entitlement", map[string]any{"privileged": false}, asc, 2,
			[]string{"Audit Log", "Console", "Dashboards", "Exports"})
	})
}

// catalogCase is one call that must fail with code (and field) and write
// nothing.
type catalogCase struct {
	name  string
	query string
	vars  map[string]any
	code  string
	field string
}

const (
	catalogCreateUser    = `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`
	catalogUpdateUser    = `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id } }`
	catalogCreateApp     = `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`
	catalogUpdateApp     = `mutation($id: ID!, $in: UpdateApplicationInput!) { updateApplication(id: $id, input: $in) { id } }`
	catalogCreateEnt     = `mutation($in: CreateEntitlementInput!) { createEntitlement(input: $in) { id } }`
	catalogUpdateEnt     = `mutation($id: ID!, $in: UpdateEntitlementInput!) { updateEntitlement(id: $id, input: $in) { id } }`
	catalogCreateRole    = `mutation($in: CreateRoleInput!) { createRole(input: $in) { id } }`
	catalogUpdateRole    = `mutation($id: ID!, $in: UpdateRoleInput!) { updateRole(id: $id, input: $in) { id } }`
	catalogCreateJob     = `mutation($in: CreateJobTitleInput!) { createJobTitle(input: $in) { id } }`
	catalogUpdateJob     = `mutation($id: ID!, $in: UpdateJobTitleInput!) { updateJobTitle(id: $id, input: $in) { id } }`
	catalogCreateStage   = `mutation($in: CreateReviewStageTemplateInput!) { createReviewStageTemplate(input: $in) { id } }`
	catalogDeleteStage   = `mutation($id: ID!) { deleteReviewStageTemplate(id: $id) }`
	catalogCreateAPIToks = `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { token apiToken { id } } }`
)

func catalogIn(in map[string]any) map[string]any { return map[string]any{"in": in} }

func catalogIDIn(id string, in map[string]any) map[string]any {
	return map[string]any{"id": id, "in": in}
}

// TestCatalogBadInput checks that each bad admin call fails with the right
// code and field, writes nothing and leaks no SQL.
func TestCatalogBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@x.example", enum.PlatformRoleITAdmin)
		tok := env.Token(t, admin)

		taken := catalogCreate(t, env, tok, "createUser", "CreateUserInput", map[string]any{"email": "taken@x.example", "name": "Taken"})
		a := catalogCreate(t, env, tok, "createUser", "CreateUserInput", map[string]any{"email": "a@x.example", "name": "A"})
		b := catalogCreate(t, env, tok, "createUser", "CreateUserInput", map[string]any{"email": "b@x.example", "name": "B", "managerID": a})
		c := catalogCreate(t, env, tok, "createUser", "CreateUserInput", map[string]any{"email": "c@x.example", "name": "C", "managerID": b})
		app := catalogCreate(t, env, tok, "createApplication", "CreateApplicationInput", map[string]any{
			"name": "Existing", "fulfillment": "MANUAL", "connectorKind": "MANUAL", "ownerIDs": []string{taken},
		})
		ent1 := catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": app, "externalID": "dup", "name": "Dup",
		})
		catalogCreate(t, env, tok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": app, "externalID": "other", "name": "Other",
		})
		role := catalogCreate(t, env, tok, "createRole", "CreateRoleInput", map[string]any{"name": "Existing Role"})
		job := catalogCreate(t, env, tok, "createJobTitle", "CreateJobTitleInput", map[string]any{"name": "Existing Title"})
		catalogCreate(t, env, tok, "createJobTitle", "CreateJobTitleInput", map[string]any{"name": "Other Title"})
		catalogCreate(t, env, tok, "createReviewStageTemplate", "CreateReviewStageTemplateInput", map[string]any{
			"applicationID": app, "level": 1, "reviewerKind": "MANAGER",
		})
		catalogCreate(t, env, tok, "createReviewStageTemplate", "CreateReviewStageTemplateInput", map[string]any{
			"level": 1, "reviewerKind": "MANAGER",
		})
		noUser := string(pulid.MustNew("usr"))
		noApp := string(pulid.MustNew("app"))
		noEnt := string(pulid.MustNew("ent"))
		noRole := string(pulid.MustNew("rol"))
		noJob := string(pulid.MustNew("jbt"))
		noStage := string(pulid.MustNew("rst"))
		manualApp := func(extra map[string]any) map[string]any {
			in := map[string]any{"name": "New App", "fulfillment": "MANUAL", "connectorKind": "MANUAL"}
			for k, v := range extra {
				in[k] = v
			}
			return catalogIn(in)
		}
		stage := func(in map[string]any) map[string]any {
			in["applicationID"] = app
			return catalogIn(in)
		}

		cases := []catalogCase{
			// GraphQL validation.
			{"missing required field", `mutation { createUser(input: {email: "new@x.example"}) { id } }`, nil, "INVALID_INPUT", ""},
			{"missing required variable field", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example"}), "INVALID_INPUT", ""},
			{"null for a required field", catalogCreateApp, catalogIn(map[string]any{"name": nil, "fulfillment": "MANUAL", "connectorKind": "MANUAL"}), "INVALID_INPUT", ""},
			{"bad enum literal", `mutation { createUser(input: {email: "new@x.example", name: "N", platformRole: SUPERUSER}) { id } }`, nil, "INVALID_INPUT", ""},
			{"bad enum in variables", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example", "name": "N", "platformRole": "SUPERUSER"}), "INVALID_INPUT", ""},
			{"bad enum in variables (kind)", catalogCreateEnt, catalogIn(map[string]any{"applicationID": app, "externalID": "x", "name": "X", "kind": "TEAM"}), "INVALID_INPUT", ""},
			{"unknown input field", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example", "name": "N", "isAdmin": true}), "INVALID_INPUT", ""},
			{"page too large", `query { users(first: 100000) { totalCount } }`, nil, "INVALID_INPUT", "first"},

			// Users.
			{"bad email", catalogCreateUser, catalogIn(map[string]any{"email": "not-an-email", "name": "N"}), "INVALID_INPUT", "email"},
			{"email with a display name", catalogCreateUser, catalogIn(map[string]any{"email": "Eve <eve@x.example>", "name": "N"}), "INVALID_INPUT", "email"},
			{"empty name", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example", "name": ""}), "INVALID_INPUT", "name"},
			{"duplicate email", catalogCreateUser, catalogIn(map[string]any{"email": "taken@x.example", "name": "N"}), "CONFLICT", "email"},
			{"duplicate email, other case", catalogCreateUser, catalogIn(map[string]any{"email": "TAKEN@X.Example", "name": "N"}), "CONFLICT", "email"},
			{"duplicate email, spaces", catalogCreateUser, catalogIn(map[string]any{"email": " taken@x.example ", "name": "N"}), "CONFLICT", "email"},
			{"update to a taken email", catalogUpdateUser, catalogIDIn(a, map[string]any{"email": "Taken@x.example"}), "CONFLICT", "email"},
			{"unknown managerID", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example", "name": "N", "managerID": noUser}), "NOT_FOUND", "managerID"},
			{"managerID of another type", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example", "name": "N", "managerID": app}), "NOT_FOUND", "managerID"},
			{"unknown jobTitleID", catalogCreateUser, catalogIn(map[string]any{"email": "new@x.example", "name": "N", "jobTitleID": noJob}), "NOT_FOUND", "jobTitleID"},
			{"manager of self", catalogUpdateUser, catalogIDIn(a, map[string]any{"managerID": a}), "INVALID_INPUT", "managerID"},
			{"manager loop A->B->A", catalogUpdateUser, catalogIDIn(a, map[string]any{"managerID": b}), "INVALID_INPUT", "managerID"},
			{"manager loop A->C->B->A", catalogUpdateUser, catalogIDIn(a, map[string]any{"managerID": c}), "INVALID_INPUT", "managerID"},
			{"update unknown user", catalogUpdateUser, catalogIDIn(noUser, map[string]any{"name": "N"}), "NOT_FOUND", ""},

			// Applications.
			{"duplicate application name", catalogCreateApp, catalogIn(map[string]any{"name": "Existing", "fulfillment": "MANUAL", "connectorKind": "MANUAL"}), "CONFLICT", "name"},
			{"empty application name", catalogCreateApp, manualApp(map[string]any{"name": ""}), "INVALID_INPUT", "name"},
			{"unknown ownerIDs", catalogCreateApp, manualApp(map[string]any{"ownerIDs": []string{taken, noUser}}), "NOT_FOUND", "ownerIDs"},
			{"MANUAL fulfilment with WEBHOOK", catalogCreateApp, manualApp(map[string]any{"connectorKind": "WEBHOOK"}), "INVALID_INPUT", "connectorKind"},
			{"DIRECT fulfilment with MANUAL", catalogCreateApp, manualApp(map[string]any{"fulfillment": "DIRECT"}), "INVALID_INPUT", "connectorKind"},
			{"DIRECT_AUTO_APPROVED with MANUAL", catalogCreateApp, manualApp(map[string]any{"fulfillment": "DIRECT_AUTO_APPROVED"}), "INVALID_INPUT", "connectorKind"},
			{"SCIM without baseUrl", catalogCreateApp, manualApp(map[string]any{"fulfillment": "DIRECT", "connectorKind": "SCIM"}), "INVALID_INPUT", "connectorConfig.baseUrl"},
			{"MANUAL with a config key", catalogCreateApp, manualApp(map[string]any{"connectorConfig": map[string]any{"url": "x"}}), "INVALID_INPUT", "connectorConfig.url"},
			{"maxAccessDuration forever", catalogCreateApp, manualApp(map[string]any{"maxAccessDuration": "forever"}), "INVALID_INPUT", "maxAccessDuration"},
			{"maxAccessDuration PT0S", catalogCreateApp, manualApp(map[string]any{"maxAccessDuration": "PT0S"}), "INVALID_INPUT", "maxAccessDuration"},
			{"maxAccessDuration negative", catalogCreateApp, manualApp(map[string]any{"maxAccessDuration": "-P1D"}), "INVALID_INPUT", "maxAccessDuration"},
			{"update to WEBHOOK keeps MANUAL fulfilment", catalogUpdateApp, catalogIDIn(app, map[string]any{"connectorKind": "WEBHOOK"}), "INVALID_INPUT", "connectorKind"},
			{"update to DIRECT on MANUAL", catalogUpdateApp, catalogIDIn(app, map[string]any{"fulfillment": "DIRECT"}), "INVALID_INPUT", "connectorKind"},
			{"update with a config key", catalogUpdateApp, catalogIDIn(app, map[string]any{"connectorConfig": map[string]any{"token": "x"}}), "INVALID_INPUT", "connectorConfig.token"},
			{"update to a bad duration", catalogUpdateApp, catalogIDIn(app, map[string]any{"maxAccessDuration": "PT0S"}), "INVALID_INPUT", "maxAccessDuration"},
			{"update unknown addOwnerIDs", catalogUpdateApp, catalogIDIn(app, map[string]any{"addOwnerIDs": []string{noUser}}), "NOT_FOUND", "addOwnerIDs"},
			{"update unknown application", catalogUpdateApp, catalogIDIn(noApp, map[string]any{"description": "x"}), "NOT_FOUND", ""},

			// Entitlements.
			{"duplicate external ID", catalogCreateEnt, catalogIn(map[string]any{"applicationID": app, "externalID": "dup", "name": "Fresh"}), "CONFLICT", "externalID"},
			{"duplicate entitlement name", catalogCreateEnt, catalogIn(map[string]any{"applicationID": app, "externalID": "fresh", "name": "Dup"}), "CONFLICT", "name"},
			{"empty external ID", catalogCreateEnt, catalogIn(map[string]any{"applicationID": app, "externalID": "", "name": "Fresh"}), "INVALID_INPUT", "externalID"},
			{"unknown applicationID", catalogCreateEnt, catalogIn(map[string]any{"applicationID": noApp, "externalID": "x", "name": "X"}), "NOT_FOUND", "applicationID"},
			{"unknown entitlement ownerID", catalogCreateEnt, catalogIn(map[string]any{"applicationID": app, "externalID": "x", "name": "X", "ownerID": noUser}), "NOT_FOUND", "ownerID"},
			{"update to a taken external ID", catalogUpdateEnt, catalogIDIn(ent1, map[string]any{"externalID": "other"}), "CONFLICT", "externalID"},
			{"update unknown entitlement", catalogUpdateEnt, catalogIDIn(noEnt, map[string]any{"name": "x"}), "NOT_FOUND", ""},

			// Roles and job titles.
			{"unknown entitlementIDs", catalogCreateRole, catalogIn(map[string]any{"name": "New Role", "entitlementIDs": []string{ent1, noEnt}}), "NOT_FOUND", "entitlementIDs"},
			{"unknown role ownerIDs", catalogCreateRole, catalogIn(map[string]any{"name": "New Role", "ownerIDs": []string{noUser}}), "NOT_FOUND", "ownerIDs"},
			{"duplicate role name", catalogCreateRole, catalogIn(map[string]any{"name": "Existing Role"}), "CONFLICT", "name"},
			{"empty role name", catalogCreateRole, catalogIn(map[string]any{"name": ""}), "INVALID_INPUT", "name"},
			{"update role with unknown addEntitlementIDs", catalogUpdateRole, catalogIDIn(role, map[string]any{"addEntitlementIDs": []string{noEnt}}), "NOT_FOUND", "addEntitlementIDs"},
			{"update unknown role", catalogUpdateRole, catalogIDIn(noRole, map[string]any{"name": "x"}), "NOT_FOUND", ""},
			{"duplicate job title", catalogCreateJob, catalogIn(map[string]any{"name": "Existing Title"}), "CONFLICT", "name"},
			{"unknown baselineEntitlementIDs", catalogCreateJob, catalogIn(map[string]any{"name": "New Title", "baselineEntitlementIDs": []string{noEnt}}), "NOT_FOUND", "baselineEntitlementIDs"},
			{"update unknown job title", catalogUpdateJob, catalogIDIn(noJob, map[string]any{"name": "x"}), "NOT_FOUND", ""},
			{"rename job title to a taken name", catalogUpdateJob, catalogIDIn(job, map[string]any{"name": "Other Title"}), "CONFLICT", "name"},
			{"update job title with unknown addBaselineEntitlementIDs", catalogUpdateJob, catalogIDIn(job, map[string]any{"addBaselineEntitlementIDs": []string{noEnt}}), "NOT_FOUND", "addBaselineEntitlementIDs"},

			// Review stage templates.
			{"DESIGNATED without reviewers", catalogCreateStage, stage(map[string]any{"level": 2, "reviewerKind": "DESIGNATED"}), "INVALID_INPUT", "designatedReviewerIDs"},
			{"reviewers on a MANAGER stage", catalogCreateStage, stage(map[string]any{"level": 2, "reviewerKind": "MANAGER", "designatedReviewerIDs": []string{a}}), "INVALID_INPUT", "designatedReviewerIDs"},
			{"unknown designatedReviewerIDs", catalogCreateStage, stage(map[string]any{"level": 2, "reviewerKind": "DESIGNATED", "designatedReviewerIDs": []string{noUser}}), "NOT_FOUND", "designatedReviewerIDs"},
			{"QUORUM without quorum", catalogCreateStage, stage(map[string]any{"level": 2, "reviewerKind": "APPLICATION_OWNER", "rule": "QUORUM"}), "INVALID_INPUT", "quorum"},
			{"QUORUM of zero", catalogCreateStage, stage(map[string]any{"level": 2, "reviewerKind": "APPLICATION_OWNER", "rule": "QUORUM", "quorum": 0}), "INVALID_INPUT", "quorum"},
			{"quorum on an ANY stage", catalogCreateStage, stage(map[string]any{"level": 2, "reviewerKind": "APPLICATION_OWNER", "quorum": 3}), "INVALID_INPUT", "quorum"},
			{"duplicate level", catalogCreateStage, stage(map[string]any{"level": 1, "reviewerKind": "APPLICATION_OWNER"}), "CONFLICT", "level"},
			{"duplicate global level", catalogCreateStage, catalogIn(map[string]any{"level": 1, "reviewerKind": "RISK_MANAGER"}), "CONFLICT", "level"},
			{"level zero", catalogCreateStage, stage(map[string]any{"level": 0, "reviewerKind": "MANAGER"}), "INVALID_INPUT", "level"},
			{"level above 20", catalogCreateStage, stage(map[string]any{"level": 21, "reviewerKind": "MANAGER"}), "INVALID_INPUT", "level"},
			{"stage of an unknown application", catalogCreateStage, catalogIn(map[string]any{"applicationID": noApp, "level": 1, "reviewerKind": "MANAGER"}), "NOT_FOUND", "applicationID"},
			{"delete unknown stage", catalogDeleteStage, map[string]any{"id": noStage}, "NOT_FOUND", ""},
		}
		for _, tc := range cases {
			before := catalogSnapshot(t, env)
			res := env.Do(t, tok, tc.query, tc.vars)
			assertCatalogError(t, tc, res)
			assert.Equal(t, before, catalogSnapshot(t, env), "%s: nothing is written", tc.name)
		}

		// The rows the cases were about are as they were.
		require.Nil(t, catalogGet(t, env, tok, "users", a, "manager { id }").Manager, "A still has no manager")
	})
}

// assertCatalogError checks one bad-input case: the code, the field when
// the case names one, and no leak. It does not stop the test, so that one
// broken rule does not hide the others.
func assertCatalogError(t *testing.T, tc catalogCase, res *apitest.Response) {
	t.Helper()
	catalogRequireNoLeak(t, res)
	if len(res.Errors) == 0 {
		t.Errorf("%s: expected %s, got data %s", tc.name, tc.code, res.Data)
		return
	}
	got := res.Errors[0]
	if got.Extensions.Code != tc.code || (tc.field != "" && got.Extensions.Field != tc.field) {
		t.Errorf("%s: expected %s field %q, got %s field %q (%q)", tc.name, tc.code, tc.field,
			got.Extensions.Code, got.Extensions.Field, got.Message)
	}
}

// TestCatalogForbidden checks that only IT admins with a writing credential
// may call the admin mutations, and that refused calls write nothing.
func TestCatalogForbidden(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@x.example", enum.PlatformRoleITAdmin)
		adminTok := env.Token(t, admin)
		user := env.User(t, "user@x.example", enum.PlatformRoleUser)
		risk := env.User(t, "risk@x.example", enum.PlatformRoleRiskManager)

		app := catalogCreate(t, env, adminTok, "createApplication", "CreateApplicationInput", map[string]any{
			"name": "App", "fulfillment": "MANUAL", "connectorKind": "MANUAL",
		})
		ent1 := catalogCreate(t, env, adminTok, "createEntitlement", "CreateEntitlementInput", map[string]any{
			"applicationID": app, "externalID": "e1", "name": "E1",
		})
		role := catalogCreate(t, env, adminTok, "createRole", "CreateRoleInput", map[string]any{"name": "Role"})
		job := catalogCreate(t, env, adminTok, "createJobTitle", "CreateJobTitleInput", map[string]any{"name": "Title"})
		stage := catalogCreate(t, env, adminTok, "createReviewStageTemplate", "CreateReviewStageTemplateInput", map[string]any{
			"applicationID": app, "level": 1, "reviewerKind": "MANAGER",
		})

		// Valid calls: each succeeds for the admin after the others are refused.
		cases := []catalogCase{
			{name: "createUser", query: catalogCreateUser, vars: catalogIn(map[string]any{"email": "new@x.example", "name": "New", "platformRole": "IT_ADMIN"})},
			{name: "updateUser (other)", query: catalogUpdateUser, vars: catalogIDIn(string(risk.ID), map[string]any{"department": "Audit"})},
			{name: "createJobTitle", query: catalogCreateJob, vars: catalogIn(map[string]any{"name": "New Title", "baselineEntitlementIDs": []string{ent1}})},
			{name: "updateJobTitle", query: catalogUpdateJob, vars: catalogIDIn(job, map[string]any{"name": "Renamed Title"})},
			{name: "createRole", query: catalogCreateRole, vars: catalogIn(map[string]any{"name": "New Role", "entitlementIDs": []string{ent1}})},
			{name: "updateRole", query: catalogUpdateRole, vars: catalogIDIn(role, map[string]any{"addEntitlementIDs": []string{ent1}})},
			{name: "createApplication", query: catalogCreateApp, vars: catalogIn(map[string]any{"name": "New App", "fulfillment": "MANUAL", "connectorKind": "MANUAL"})},
			{name: "updateApplication", query: catalogUpdateApp, vars: catalogIDIn(app, map[string]any{"addOwnerIDs": []string{string(user.ID)}})},
			{name: "createEntitlement", query: catalogCreateEnt, vars: catalogIn(map[string]any{"applicationID": app, "externalID": "e2", "name": "E2"})},
			{name: "updateEntitlement", query: catalogUpdateEnt, vars: catalogIDIn(ent1, map[string]any{"ownerID": string(user.ID)})},
			{name: "createReviewStageTemplate", query: catalogCreateStage, vars: catalogIn(map[string]any{"level": 1, "reviewerKind": "MANAGER"})},
			{name: "deleteReviewStageTemplate", query: catalogDeleteStage, vars: map[string]any{"id": stage}},
			// Last: the admin's call makes the USER an admin.
			{name: "updateUser (self-promotion)", query: catalogUpdateUser, vars: catalogIDIn(string(user.ID), map[string]any{"platformRole": "IT_ADMIN"})},
		}
		callers := []struct {
			name  string
			token string
		}{
			{"USER", env.Token(t, user)},
			{"RISK_MANAGER", env.Token(t, risk)},
		}
		for _, tc := range cases {
			before := catalogSnapshot(t, env)
			for _, c := range callers {
				res := env.Do(t, c.token, tc.query, tc.vars)
				catalogRequireError(t, res, "FORBIDDEN", "")
				require.JSONEq(t, "null", string(res.Data), "%s as %s returns no data", tc.name, c.name)
			}
			res := env.Do(t, "", tc.query, tc.vars)
			catalogRequireError(t, res, "UNAUTHENTICATED", "")
			require.Equal(t, before, catalogSnapshot(t, env), "%s: refused calls write nothing", tc.name)
			env.MustDo(t, adminTok, tc.query, tc.vars, nil)
			require.NotEqual(t, before, catalogSnapshot(t, env), "%s: the admin's call writes", tc.name)
		}

		// A READ-scope API token of an IT admin reads but cannot write.
		var created struct {
			CreateApiToken struct {
				Token    string
				ApiToken struct{ ID string }
			}
		}
		env.MustDo(t, adminTok, catalogCreateAPIToks, catalogIn(map[string]any{"name": "reader", "scope": "READ"}), &created)
		readTok := created.CreateApiToken.Token
		require.NotEmpty(t, readTok)
		before := catalogSnapshot(t, env)
		for _, tc := range []catalogCase{
			{name: "createUser", query: catalogCreateUser, vars: catalogIn(map[string]any{"email": "ro@x.example", "name": "RO"})},
			{name: "updateRole", query: catalogUpdateRole, vars: catalogIDIn(role, map[string]any{"name": "By Reader"})},
			{name: "createApplication", query: catalogCreateApp, vars: catalogIn(map[string]any{"name": "RO App", "fulfillment": "MANUAL", "connectorKind": "MANUAL"})},
			{name: "createApiToken", query: catalogCreateAPIToks, vars: catalogIn(map[string]any{"name": "escalate", "scope": "WRITE"})},
		} {
			res := env.Do(t, readTok, tc.query, tc.vars)
			catalogRequireError(t, res, "FORBIDDEN", "")
		}
		require.Equal(t, before, catalogSnapshot(t, env), "a READ token writes nothing")
		var read struct {
			Viewer struct{ Email string }
			Users  catalogConn
			Roles  catalogConn
		}
		env.MustDo(t, readTok, `query { viewer { email } users { totalCount } roles(where: {name: "Role"}) { totalCount } }`, nil, &read)
		require.Equal(t, "admin@x.example", read.Viewer.Email)
		require.Equal(t, 4, read.Users.TotalCount, "admin, user, risk manager and the user the admin created")
		require.Equal(t, 1, read.Roles.TotalCount)

		// The same admin's WRITE token may change the catalog.
		env.MustDo(t, adminTok, catalogCreateAPIToks, catalogIn(map[string]any{"name": "writer", "scope": "WRITE"}), &created)
		var made struct{ CreateUser catalogNode }
		env.MustDo(t, created.CreateApiToken.Token, `mutation { createUser(input: {email: "rw@x.example", name: "RW"}) { email } }`, nil, &made)
		require.Equal(t, "rw@x.example", made.CreateUser.Email)
	})
}

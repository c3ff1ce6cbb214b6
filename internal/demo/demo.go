// Package demo seeds the demo organisation of Gatehouse (DESIGN §7): a small
// company at example.com with departments, managers and job titles, four
// applications with entitlements and owners, a multi-stage review policy,
// the global default policy, and two roles. The server seeds it into an empty
// database so that a fresh checkout runs end to end without set-up.
//
// The applications exercise every fulfilment mode: GitHub and Production
// Database are DIRECT, Salesforce is DIRECT_AUTO_APPROVED, NetSuite is MANUAL.
// The direct ones use the WEBHOOK connector pointed at the Sink, which the
// server serves at SinkPath in demo mode only and which signs with the secret
// in the environment variable SinkSecretEnv; PointWebhooks re-points them at
// the server's actual address at each start.
package demo

import (
	"context"
	"fmt"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
)

// Department names of the demo organisation.
const (
	Engineering = "Engineering"
	Finance     = "Finance"
	Sales       = "Sales"
)

// Org is what Seed created. Its entities are detached from the seeding
// transaction, so their edges may be queried through the client afterwards.
type Org struct {
	// Users are the demo users in a stable order: the IT admin first, then
	// everyone else with each manager before their reports. The caller
	// prints a token per user from their ID, Email, Name and PlatformRole.
	Users []*ent.User
	// JobTitles, Applications and Roles are in the order they were seeded.
	JobTitles    []*ent.JobTitle
	Applications []*ent.Application
	Roles        []*ent.Role
}

// User returns the demo user with the given email, or nil when there is none.
func (o *Org) User(email string) *ent.User {
	for _, u := range o.Users {
		if u.Email == email {
			return u
		}
	}
	return nil
}

// IsEmpty reports whether the database holds no user yet, which is when the
// server seeds the demo organisation. Any caller may use it: it reads in a
// system context, whatever the viewer of ctx.
func IsEmpty(ctx context.Context, client *ent.Client) (bool, error) {
	exists, err := client.User.Query().Exist(authz.SystemContext(ctx))
	if err != nil {
		return false, fmt.Errorf("demo: count users: %w", err)
	}
	return !exists, nil
}

// Seed creates the demo organisation in one transaction, in a system context
// so that the privacy policies allow the writes; only trusted start-up code
// (the server with demo mode on, the `demo` subcommand) calls it. When the
// database already holds a user, Seed changes nothing and returns (nil, nil).
// Any error rolls the whole seed back.
func Seed(ctx context.Context, client *ent.Client) (*Org, error) {
	ctx = authz.SystemContext(ctx)
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("demo: begin: %w", err)
	}
	// The emptiness check runs inside the transaction so that two servers
	// starting on one database cannot both seed it (the unique email index
	// makes the second one fail and roll back).
	exists, err := tx.User.Query().Exist(ctx)
	if err != nil {
		return nil, rollback(tx, fmt.Errorf("demo: count users: %w", err))
	}
	if exists {
		return nil, rollback(tx, nil)
	}
	s := &seeder{tx: tx, org: &Org{}}
	if err := s.seed(ctx); err != nil {
		return nil, rollback(tx, fmt.Errorf("demo: %w", err))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("demo: commit: %w", err)
	}
	s.org.unwrap()
	return s.org, nil
}

// rollback rolls tx back and returns err, joined with the rollback's error.
func rollback(tx *ent.Tx, err error) error {
	if rerr := tx.Rollback(); rerr != nil {
		if err == nil {
			return fmt.Errorf("demo: rollback: %w", rerr)
		}
		return fmt.Errorf("%w (rollback: %v)", err, rerr)
	}
	return err
}

// unwrap detaches the entities from the committed transaction.
func (o *Org) unwrap() {
	for i, u := range o.Users {
		o.Users[i] = u.Unwrap()
	}
	for i, j := range o.JobTitles {
		o.JobTitles[i] = j.Unwrap()
	}
	for i, a := range o.Applications {
		o.Applications[i] = a.Unwrap()
	}
	for i, r := range o.Roles {
		o.Roles[i] = r.Unwrap()
	}
}

// person is one demo user. Users are listed managers first, so that a
// manager exists when their reports are created.
type person struct {
	email, name, department, title, manager string
	role                                    enum.PlatformRole
}

const adminEmail = "admin@example.com"

// people returns the demo users; the CEO has no department and no manager.
func people() []person {
	const (
		ceo     = "margaret.chen@example.com"
		vpEng   = "david.okafor@example.com"
		emEng   = "sofia.alvarez@example.com"
		vpFin   = "rachel.goldberg@example.com"
		vpSales = "carlos.mendes@example.com"
	)
	user, risk, admin := enum.PlatformRoleUser, enum.PlatformRoleRiskManager, enum.PlatformRoleITAdmin
	return []person{
		{ceo, "Margaret Chen", "", "Chief Executive Officer", "", user},
		{vpEng, "David Okafor", Engineering, "VP of Engineering", ceo, user},
		{adminEmail, "Alex Rivera", Engineering, "IT Administrator", vpEng, admin},
		{emEng, "Sofia Alvarez", Engineering, "Engineering Manager", vpEng, user},
		{"james.park@example.com", "James Park", Engineering, "Software Engineer", emEng, user},
		{"aisha.rahman@example.com", "Aisha Rahman", Engineering, "Software Engineer", emEng, user},
		{"tom.becker@example.com", "Tom Becker", Engineering, "Site Reliability Engineer", emEng, user},
		{vpFin, "Rachel Goldberg", Finance, "VP of Finance", ceo, user},
		{"nadia.kowalski@example.com", "Nadia Kowalski", Finance, "Risk and Compliance Manager", vpFin, risk},
		{"liam.obrien@example.com", "Liam O'Brien", Finance, "Accountant", vpFin, user},
		{"mei.tanaka@example.com", "Mei Tanaka", Finance, "Accountant", vpFin, user},
		{vpSales, "Carlos Mendes", Sales, "VP of Sales", ceo, user},
		{"emma.schultz@example.com", "Emma Schultz", Sales, "Account Executive", vpSales, user},
		{"noah.williams@example.com", "Noah Williams", Sales, "Account Executive", vpSales, user},
		{"grace.liu@example.com", "Grace Liu", Sales, "Sales Operations Analyst", vpSales, user},
	}
}

// app is one demo application. Roles and baselines name its entitlements as
// "application name/external ID".
type app struct {
	name, description string
	owners            []string
	maxAccessDuration string
	fulfillment       enum.Fulfillment
	// connector is MANUAL (empty config) or WEBHOOK (pointed at the sink).
	connector    enum.ConnectorKind
	entitlements []entitlement
	// stages is the application's review policy; empty means the global
	// default applies (and DIRECT_AUTO_APPROVED skips review altogether).
	stages []enum.ReviewerKind
}

// connectorConfig returns the connector configuration a demo application is
// seeded with: none for MANUAL, the sink at the default address for WEBHOOK.
func (a app) connectorConfig() map[string]any {
	if a.connector != enum.ConnectorKindWebhook {
		return map[string]any{}
	}
	return map[string]any{
		webhook.KeyURL:       defaultSinkURL,
		webhook.KeySecretEnv: SinkSecretEnv,
	}
}

// entitlement is one demo entitlement; owner is an email or empty.
type entitlement struct {
	externalID, name, description string
	kind                          enum.EntitlementKind
	privileged, notRequestable    bool
	owner                         string
}

// apps returns the demo applications, one or more per fulfilment mode.
// Salesforce is auto-approved, so its one privileged entitlement is not
// requestable: nothing privileged is granted without review.
func apps() []app {
	group, role, perm, res := enum.EntitlementKindGroup, enum.EntitlementKindRole, enum.EntitlementKindPermission, enum.EntitlementKindResource
	return []app{
		{
			name:        "GitHub",
			description: "Source code hosting for the example-com organisation: repositories, pull requests and CI.",
			owners:      []string{"david.okafor@example.com", "sofia.alvarez@example.com"},
			fulfillment: enum.FulfillmentDirect,
			connector:   enum.ConnectorKindWebhook,
			entitlements: []entitlement{
				{externalID: "team:engineering", name: "Engineering", description: "Read access to all engineering repositories.", kind: group},
				{externalID: "team:backend", name: "Backend", description: "Write access to the API and service repositories.", kind: group},
				{externalID: "team:frontend", name: "Frontend", description: "Write access to the web and mobile repositories.", kind: group},
				{externalID: "team:release-managers", name: "Release Managers", description: "May push release tags and bypass branch protection.", kind: group, privileged: true},
				{externalID: "org:owners", name: "Organization Owners", description: "Full administrative control of the organisation; granted by IT only.", kind: group, privileged: true, notRequestable: true, owner: adminEmail},
			},
		},
		{
			name:        "Salesforce",
			description: "CRM for leads, opportunities and customer accounts.",
			owners:      []string{"carlos.mendes@example.com"},
			fulfillment: enum.FulfillmentDirectAutoApproved,
			connector:   enum.ConnectorKindWebhook,
			entitlements: []entitlement{
				{externalID: "role:sales-user", name: "Sales User", description: "Manage own leads and opportunities.", kind: role},
				{externalID: "role:sales-manager", name: "Sales Manager", description: "Manage the team's pipeline and forecasts.", kind: role},
				{externalID: "perm:run-reports", name: "Run Reports", description: "Run and export standard revenue reports.", kind: perm},
				{externalID: "perm:modify-all-data", name: "Modify All Data", description: "Edit and delete every record regardless of sharing; granted by IT only.", kind: perm, privileged: true, notRequestable: true, owner: adminEmail},
			},
		},
		{
			name:        "NetSuite",
			description: "ERP for the general ledger, payables, receivables and the month-end close.",
			owners:      []string{"rachel.goldberg@example.com"},
			fulfillment: enum.FulfillmentManual,
			connector:   enum.ConnectorKindManual,
			entitlements: []entitlement{
				{externalID: "role:accountant", name: "Accountant", description: "Enter journal entries, bills and invoices.", kind: role},
				{externalID: "role:controller", name: "Controller", description: "Approve and post entries, close periods.", kind: role, privileged: true, owner: "rachel.goldberg@example.com"},
				{externalID: "perm:view-financial-reports", name: "View Financial Reports", description: "Read the income statement, balance sheet and cash flow.", kind: perm},
				{externalID: "perm:approve-vendor-payments", name: "Approve Vendor Payments", description: "Release payment runs to vendors.", kind: perm, privileged: true},
				{externalID: "perm:create-vendors", name: "Create Vendors", description: "Add vendors and edit their bank details.", kind: perm},
				{externalID: "subsidiary:example-uk", name: "Example Ltd (UK) Subsidiary", description: "Access to the books of the UK subsidiary.", kind: res},
			},
		},
		{
			name:              "Production Database",
			description:       "The PostgreSQL cluster behind the customer-facing product.",
			owners:            []string{"tom.becker@example.com", "david.okafor@example.com"},
			maxAccessDuration: "P90D",
			fulfillment:       enum.FulfillmentDirect,
			connector:         enum.ConnectorKindWebhook,
			entitlements: []entitlement{
				{externalID: "app_readonly", name: "Read Only", description: "SELECT on the application schemas.", kind: role, owner: "tom.becker@example.com"},
				{externalID: "app_readwrite", name: "Read Write", description: "INSERT, UPDATE and DELETE on the application schemas.", kind: role, privileged: true, owner: "tom.becker@example.com"},
				{externalID: "db_admin", name: "Database Administrator", description: "DDL, role management and maintenance.", kind: role, privileged: true, owner: "tom.becker@example.com"},
				{externalID: "schema:billing", name: "Billing Schema", description: "Read access to the billing schema, which holds payment data.", kind: res, privileged: true},
			},
			stages: []enum.ReviewerKind{enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner, enum.ReviewerKindRiskManager},
		},
	}
}

// role is one demo role; owners are emails, entitlements are named as in app.
type role struct {
	name, description string
	owners            []string
	entitlements      []string
}

// roles returns the demo roles.
func roles() []role {
	return []role{
		{
			name:         "Engineering Onboarding",
			description:  "What a new engineer needs in the first week: source code and read access to production data.",
			owners:       []string{"david.okafor@example.com"},
			entitlements: []string{"GitHub/team:engineering", "GitHub/team:backend", "Production Database/app_readonly"},
		},
		{
			name:         "Finance Close",
			description:  "Access for the month-end close: ledger entries, financial reports and revenue reports.",
			owners:       []string{"rachel.goldberg@example.com"},
			entitlements: []string{"NetSuite/role:accountant", "NetSuite/perm:view-financial-reports", "Salesforce/perm:run-reports"},
		},
	}
}

// baselines maps job titles to the entitlements everyone with the title
// should hold.
func baselines() map[string][]string {
	return map[string][]string{
		"Software Engineer":         {"GitHub/team:engineering", "Production Database/app_readonly"},
		"Site Reliability Engineer": {"GitHub/team:engineering", "Production Database/app_readonly"},
		"Accountant":                {"NetSuite/role:accountant", "NetSuite/perm:view-financial-reports"},
		"Account Executive":         {"Salesforce/role:sales-user"},
	}
}

// seeder creates the demo rows in tx and remembers their IDs by natural key.
type seeder struct {
	tx           *ent.Tx
	org          *Org
	users        map[string]pulid.ID // by email
	titles       map[string]*ent.JobTitle
	entitlements map[string]pulid.ID // by "application/external ID"
}

func (s *seeder) seed(ctx context.Context) error {
	for _, step := range []func(context.Context) error{
		s.seedJobTitles, s.seedUsers, s.seedApplications, s.seedBaselines, s.seedDefaultPolicy, s.seedLifecyclePolicy, s.seedRequestPolicies, s.seedRoles,
		s.seedPolicyRules,
		s.seedSodConflictSets,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *seeder) seedJobTitles(ctx context.Context) error {
	s.titles = map[string]*ent.JobTitle{}
	for _, p := range people() {
		if _, ok := s.titles[p.title]; ok {
			continue
		}
		jt, err := s.tx.JobTitle.Create().SetName(p.title).Save(ctx)
		if err != nil {
			return fmt.Errorf("create job title %q: %w", p.title, err)
		}
		s.titles[p.title] = jt
		s.org.JobTitles = append(s.org.JobTitles, jt)
	}
	return nil
}

func (s *seeder) seedUsers(ctx context.Context) error {
	s.users = map[string]pulid.ID{}
	var admin *ent.User
	for _, p := range people() {
		c := s.tx.User.Create().
			SetEmail(p.email).
			SetName(p.name).
			SetDepartment(p.department).
			SetPlatformRole(p.role).
			SetJobTitleID(s.titles[p.title].ID).
			SetNillableStartDate(startDate(s.tx.Now(), p.email))
		if p.manager != "" {
			c.SetManagerID(s.users[p.manager])
		}
		u, err := c.Save(ctx)
		if err != nil {
			return fmt.Errorf("create user %s: %w", p.email, err)
		}
		s.users[p.email] = u.ID
		if p.email == adminEmail {
			admin = u
			continue
		}
		s.org.Users = append(s.org.Users, u)
	}
	s.org.Users = append([]*ent.User{admin}, s.org.Users...)
	return nil
}

func (s *seeder) seedApplications(ctx context.Context) error {
	s.entitlements = map[string]pulid.ID{}
	for _, a := range apps() {
		c := s.tx.Application.Create().
			SetName(a.name).
			SetDescription(a.description).
			SetFulfillment(a.fulfillment).
			SetConnectorKind(a.connector).
			SetConnectorConfig(a.connectorConfig()).
			AddOwnerIDs(s.userIDs(a.owners)...)
		if a.maxAccessDuration != "" {
			c.SetMaxAccessDuration(a.maxAccessDuration)
		}
		created, err := c.Save(ctx)
		if err != nil {
			return fmt.Errorf("create application %q: %w", a.name, err)
		}
		s.org.Applications = append(s.org.Applications, created)

		builders := make([]*ent.EntitlementCreate, len(a.entitlements))
		for i, e := range a.entitlements {
			builders[i] = s.tx.Entitlement.Create().
				SetApplicationID(created.ID).
				SetExternalID(e.externalID).
				SetName(e.name).
				SetDescription(e.description).
				SetKind(e.kind).
				SetPrivileged(e.privileged).
				SetRequestable(!e.notRequestable)
			if e.owner != "" {
				builders[i].SetOwnerID(s.users[e.owner])
			}
		}
		ents, err := s.tx.Entitlement.CreateBulk(builders...).Save(ctx)
		if err != nil {
			return fmt.Errorf("create entitlements of %q: %w", a.name, err)
		}
		for _, e := range ents {
			s.entitlements[a.name+"/"+e.ExternalID] = e.ID
		}

		for i, kind := range a.stages {
			_, err := s.tx.ReviewStageTemplate.Create().
				SetApplicationID(created.ID).
				SetLevel(i + 1).
				SetReviewerKind(kind).
				SetRule(enum.StageRuleAny).
				Save(ctx)
			if err != nil {
				return fmt.Errorf("create review stage %d of %q: %w", i+1, a.name, err)
			}
		}
	}
	return nil
}

func (s *seeder) seedBaselines(ctx context.Context) error {
	for _, jt := range s.org.JobTitles {
		keys := baselines()[jt.Name]
		if len(keys) == 0 {
			continue
		}
		ids, err := s.entitlementIDs(keys)
		if err != nil {
			return fmt.Errorf("baseline of %q: %w", jt.Name, err)
		}
		if err := s.tx.JobTitle.UpdateOne(jt).AddBaselineEntitlementIDs(ids...).Exec(ctx); err != nil {
			return fmt.Errorf("set baseline of %q: %w", jt.Name, err)
		}
	}
	return nil
}

func (s *seeder) seedDefaultPolicy(ctx context.Context) error {
	_, err := s.tx.ReviewStageTemplate.Create().
		SetLevel(1).
		SetReviewerKind(enum.ReviewerKindManager).
		SetRule(enum.StageRuleAny).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("create default review stage: %w", err)
	}
	return nil
}

// Demo lifecycle timings, short enough to watch: a pending task's reviewer
// is reminded every three minutes (at most three times), and the task is
// escalated after half an hour; an undecided request expires after 14
// days, and temporary access is warned of a day before it ends.
const (
	demoRemindEveryHours   = 0.05
	demoMaxReminders       = 3
	demoEscalateAfterHours = 0.5
	demoExpirePendingDays  = 14
	demoWarnBeforeEndDays  = 1
)

// seedLifecyclePolicy sets the global lifecycle policy of the demo.
func (s *seeder) seedLifecyclePolicy(ctx context.Context) error {
	err := s.tx.LifecyclePolicy.Create().
		SetRemindEveryHours(demoRemindEveryHours).SetMaxReminders(demoMaxReminders).
		SetEscalateAfterHours(demoEscalateAfterHours).SetExpirePendingDays(demoExpirePendingDays).
		SetWarnBeforeEndDays(demoWarnBeforeEndDays).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("create lifecycle policy: %w", err)
	}
	return nil
}

// seedRequestPolicies sets the demo's request policies: globally, a
// justification of at least 10 characters where one is required (always
// for privileged access); the production Database Administrator role asked
// for by the beneficiary's manager or an IT admin only, for at most a week,
// a day when the request names no end — or, in an emergency, by break-glass
// for at most four hours, reviewed after the fact.
func (s *seeder) seedRequestPolicies(ctx context.Context) error {
	if err := s.tx.RequestPolicy.Create().SetJustificationMinLength(10).Exec(ctx); err != nil {
		return fmt.Errorf("create global request policy: %w", err)
	}
	ids, err := s.entitlementIDs([]string{"Production Database/db_admin"})
	if err != nil {
		return fmt.Errorf("request policy: %w", err)
	}
	err = s.tx.RequestPolicy.Create().SetEntitlementID(ids[0]).
		SetRequestForOthers(enum.RequestForOthersManagers).SetMaxDuration("P7D").
		SetPermanentAllowed(false).SetDefaultDuration("P1D").
		SetBreakGlassAllowed(true).SetBreakGlassMaxDuration("PT4H").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("create request policy of Database Administrator: %w", err)
	}
	return nil
}

// seedSodConflictSets sets the demo's separation-of-duties rule: nobody
// both creates vendors and approves their payments in NetSuite (BLOCK).
func (s *seeder) seedSodConflictSets(ctx context.Context) error {
	ids, err := s.entitlementIDs([]string{"NetSuite/perm:create-vendors", "NetSuite/perm:approve-vendor-payments"})
	if err != nil {
		return fmt.Errorf("conflict set: %w", err)
	}
	err = s.tx.SodConflictSet.Create().SetName("Vendor creation vs payment approval").
		SetDescription("Who adds a vendor or changes its bank details must not also release its payments.").
		SetMode(enum.SodModeBlock).AddEntitlementIDs(ids...).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("create conflict set: %w", err)
	}
	return nil
}

func (s *seeder) seedRoles(ctx context.Context) error {
	for _, r := range roles() {
		ids, err := s.entitlementIDs(r.entitlements)
		if err != nil {
			return fmt.Errorf("role %q: %w", r.name, err)
		}
		created, err := s.tx.Role.Create().
			SetName(r.name).
			SetDescription(r.description).
			AddOwnerIDs(s.userIDs(r.owners)...).
			AddEntitlementIDs(ids...).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("create role %q: %w", r.name, err)
		}
		s.org.Roles = append(s.org.Roles, created)
	}
	return nil
}

func (s *seeder) userIDs(emails []string) []pulid.ID {
	ids := make([]pulid.ID, len(emails))
	for i, e := range emails {
		ids[i] = s.users[e]
	}
	return ids
}

func (s *seeder) entitlementIDs(keys []string) ([]pulid.ID, error) {
	ids := make([]pulid.ID, len(keys))
	for i, k := range keys {
		id, ok := s.entitlements[k]
		if !ok {
			return nil, fmt.Errorf("unknown entitlement %q", k)
		}
		ids[i] = id
	}
	return ids, nil
}

// Members returns the demo users present in the database, IT admin first,
// for the start-up log to print their tokens on every start in demo mode.
// It reads in a system context.
func Members(ctx context.Context, client *ent.Client) ([]*ent.User, error) {
	ps := people()
	emails := make([]string, len(ps))
	for i, p := range ps {
		emails[i] = p.email
	}
	found, err := client.User.Query().Where(user.EmailIn(emails...)).All(authz.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("demo: members: %w", err)
	}
	byEmail := make(map[string]*ent.User, len(found))
	for _, u := range found {
		byEmail[u.Email] = u
	}
	out := make([]*ent.User, 0, len(found))
	if u := byEmail[adminEmail]; u != nil {
		out = append(out, u)
	}
	for _, e := range emails {
		if u := byEmail[e]; u != nil && e != adminEmail {
			out = append(out, u)
		}
	}
	return out, nil
}

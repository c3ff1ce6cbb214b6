package resolvers_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow/rules"
)

// The submission tests (DESIGN §4.1) run every mode and every validation
// rule of submitAccessRequest and previewAccessRequest through GraphQL. The
// helpers here are shared with review_test.go.

// subUser is a user as the submission and review responses show it.
type subUser struct{ Email string }

type subTask struct {
	ID         string
	Status     string
	Reviewer   subUser
	OnBehalfOf *subUser
}

type subStage struct {
	Level        int
	ReviewerKind string
	Rule         string
	Quorum       int
	Status       string
	Tasks        []subTask
}

type subItem struct {
	ID          string
	Action      string
	Status      string
	Entitlement struct{ Name string }
	Stages      []subStage
}

type subRequest struct {
	ID           string
	Status       string
	Requester    subUser
	Beneficiary  subUser
	Completion   completion
	MyCompletion completion
	Items        []subItem
}

const subRequestFields = `id status requester { email } beneficiary { email }
  completion { done total percent } myCompletion { done total percent }
  items { id action status entitlement { name }
    stages { level reviewerKind rule quorum status tasks { id status reviewer { email } onBehalfOf { email } } } }`

const subSubmitMutation = `mutation($in: SubmitAccessRequestInput!, $key: String) {
  submitAccessRequest(input: $in, idempotencyKey: $key) { ` + subRequestFields + ` } }`

const subRequestQuery = `query($id: ID!) { node(id: $id) { ... on AccessRequest { ` + subRequestFields + ` } } }`

// subTry submits a request and returns the raw response.
func subTry(t *testing.T, env *apitest.Env, token string, in map[string]any, key *string) *apitest.Response {
	t.Helper()
	vars := map[string]any{"in": in}
	if key != nil {
		vars["key"] = *key
	}
	return env.Do(t, token, subSubmitMutation, vars)
}

// subSubmit submits a request that must succeed.
func subSubmit(t *testing.T, env *apitest.Env, token string, in map[string]any) subRequest {
	t.Helper()
	var out struct{ SubmitAccessRequest subRequest }
	env.MustDo(t, token, subSubmitMutation, map[string]any{"in": in}, &out)
	return out.SubmitAccessRequest
}

// subGet reads a request as the viewer of token.
func subGet(t *testing.T, env *apitest.Env, token, id string) subRequest {
	t.Helper()
	var out struct{ Node subRequest }
	env.MustDo(t, token, subRequestQuery, map[string]any{"id": id}, &out)
	require.Equal(t, id, out.Node.ID, "the viewer sees the request")
	return out.Node
}

// subGrantIn is the input of a GRANT request in mode ENTITLEMENTS.
func subGrantIn(es ...*ent.Entitlement) map[string]any {
	return map[string]any{"action": "GRANT", "entitlementIds": subIDs(es...)}
}

func subIDs(es ...*ent.Entitlement) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.ID)
	}
	return out
}

// items lists the request's items as "ACTION entitlement", sorted.
func (r subRequest) items() []string {
	out := make([]string, 0, len(r.Items))
	for _, it := range r.Items {
		out = append(out, it.Action+" "+it.Entitlement.Name)
	}
	slices.Sort(out)
	return out
}

// item returns the item for the entitlement.
func (r subRequest) item(t *testing.T, entitlement string) subItem {
	t.Helper()
	for _, it := range r.Items {
		if it.Entitlement.Name == entitlement {
			return it
		}
	}
	t.Fatalf("request %s has no item for %s: %v", r.ID, entitlement, r.items())
	return subItem{}
}

// reviewers lists the reviewers of a stage's tasks with the given status
// ("" for all), sorted.
func (s subStage) reviewers(status string) []string {
	var out []string
	for _, task := range s.Tasks {
		if status == "" || task.Status == status {
			out = append(out, task.Reviewer.Email)
		}
	}
	slices.Sort(out)
	return out
}

// task returns the stage's task of the reviewer with the given status ("" for any).
func (s subStage) task(t *testing.T, reviewer, status string) subTask {
	t.Helper()
	for _, task := range s.Tasks {
		if task.Reviewer.Email == reviewer && (status == "" || task.Status == status) {
			return task
		}
	}
	t.Fatalf("stage %d has no %q task of %s: %+v", s.Level, status, reviewer, s.Tasks)
	return subTask{}
}

// subEnt adds an entitlement to an application.
func subEnt(t *testing.T, env *apitest.Env, app *ent.Application, name string, privileged, requestable bool) *ent.Entitlement {
	t.Helper()
	e, err := env.Client.Entitlement.Create().SetApplicationID(app.ID).SetExternalID(strings.ToLower(strings.ReplaceAll(name, " ", "-"))).
		SetName(name).SetPrivileged(privileged).SetRequestable(requestable).Save(apitest.Sys())
	require.NoError(t, err)
	return e
}

// subPerson creates an ACTIVE user with an optional manager and job title.
func subPerson(t *testing.T, env *apitest.Env, email string, manager *ent.User, title *ent.JobTitle) *ent.User {
	t.Helper()
	c := env.Client.User.Create().SetEmail(email).SetName(email)
	if manager != nil {
		c.SetManager(manager)
	}
	if title != nil {
		c.SetJobTitle(title)
	}
	u, err := c.Save(apitest.Sys())
	require.NoError(t, err)
	return u
}

// subHold makes u hold e (permanently when endsAt is nil), with an account
// in e's application.
func subHold(t *testing.T, env *apitest.Env, u *ent.User, e *ent.Entitlement, endsAt *time.Time) *ent.Grant {
	t.Helper()
	ctx := apitest.Sys()
	idn, err := env.Client.Identity.Query().Where(identity.UserID(u.ID), identity.ApplicationID(e.ApplicationID)).Only(ctx)
	if ent.IsNotFound(err) {
		idn, err = env.Client.Identity.Create().SetUserID(u.ID).SetApplicationID(e.ApplicationID).
			SetExternalID("ext-" + string(u.ID)).SetLogin(u.Email).Save(ctx)
	}
	require.NoError(t, err)
	g, err := env.Client.Grant.Create().SetIdentityID(idn.ID).SetEntitlementID(e.ID).SetNillableEndsAt(endsAt).Save(ctx)
	require.NoError(t, err)
	return g
}

// subSetStatus sets a user's status directly in the database.
func subSetStatus(t *testing.T, env *apitest.Env, u *ent.User, s enum.UserStatus) {
	t.Helper()
	require.NoError(t, env.Client.User.UpdateOne(u).SetStatus(s).Exec(apitest.Sys()))
}

// subCount is the number of rows of the tables a submission writes.
type subCount struct{ Requests, Items, Stages, Tasks, Events int }

func subCounts(t *testing.T, env *apitest.Env) subCount {
	t.Helper()
	ctx, c := apitest.Sys(), env.Client
	var n subCount
	var err error
	n.Requests, err = c.AccessRequest.Query().Count(ctx)
	require.NoError(t, err)
	n.Items, err = c.RequestItem.Query().Count(ctx)
	require.NoError(t, err)
	n.Stages, err = c.ReviewStage.Query().Count(ctx)
	require.NoError(t, err)
	n.Tasks, err = c.ReviewTask.Query().Count(ctx)
	require.NoError(t, err)
	n.Events, err = c.AuditEvent.Query().Count(ctx)
	require.NoError(t, err)
	return n
}

// subTrail returns the actions of a request's audit trail, in order.
func subTrail(t *testing.T, env *apitest.Env, token, id string) []string {
	t.Helper()
	var out struct{ AuditTrail []struct{ Action string } }
	env.MustDo(t, token, `query($id: ID!) { auditTrail(requestId: $id) { action } }`, map[string]any{"id": id}, &out)
	actions := make([]string, len(out.AuditTrail))
	for i, e := range out.AuditTrail {
		actions[i] = e.Action
	}
	return actions
}

type subPreviewStage struct {
	Level             int
	ReviewerKind      string
	Rule              string
	Quorum            int
	Reviewers         []subUser
	FallbackReviewers subFallbacks
	Resolution        *string
}

// subFallbacks are a stage's fallback reviewers: nil when there are none,
// so that a stage without fallback compares equal to one written without.
type subFallbacks []subFallback

type subFallback struct {
	User subUser
	Kind string
}

func (f *subFallbacks) UnmarshalJSON(b []byte) error {
	var all []subFallback
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*f = nil
	if len(all) > 0 {
		*f = all
	}
	return nil
}

type subPreviewResult struct {
	Action      string
	Mode        string
	Beneficiary subUser
	Items       []struct {
		Action       string
		Entitlement  struct{ Name string }
		Application  struct{ Name string }
		Privileged   bool
		AutoApproved bool
		Stages       []subPreviewStage
	}
	Excluded []struct {
		Entitlement struct{ Name string }
		Reason      string
	}
	AccountsToCreate []struct{ Name string }
	Notes            []string
	AutoApproved     bool
	Errors           []struct {
		Code    string
		Message string
		Field   *string
	}
}

const subPreviewQuery = `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) {
  action mode beneficiary { email }
  items { action entitlement { name } application { name } privileged autoApproved
    stages { level reviewerKind rule quorum reviewers { email } fallbackReviewers { user { email } kind } resolution } }
  excluded { entitlement { name } reason }
  accountsToCreate { name }
  notes
  autoApproved
  errors { code message field }
} }`

func subPreview(t *testing.T, env *apitest.Env, token string, in map[string]any) subPreviewResult {
	t.Helper()
	var out struct{ PreviewAccessRequest subPreviewResult }
	env.MustDo(t, token, subPreviewQuery, map[string]any{"in": in}, &out)
	return out.PreviewAccessRequest
}

// items lists the preview's items as "ACTION entitlement", sorted.
func (p subPreviewResult) items() []string {
	out := make([]string, 0, len(p.Items))
	for _, it := range p.Items {
		out = append(out, it.Action+" "+it.Entitlement.Name)
	}
	slices.Sort(out)
	return out
}

// excluded lists the preview's exclusions as "entitlement: reason", sorted.
func (p subPreviewResult) excluded() []string {
	out := make([]string, 0, len(p.Excluded))
	for _, e := range p.Excluded {
		out = append(out, e.Entitlement.Name+": "+e.Reason)
	}
	slices.Sort(out)
	return out
}

func (p subPreviewResult) errorCodes() []string {
	out := make([]string, 0, len(p.Errors))
	for _, e := range p.Errors {
		out = append(out, e.Code)
	}
	return out
}

func subEmails(us []subUser) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	slices.Sort(out)
	return out
}

// subModeWorld is the organisation of the mode tests: two applications
// reviewed by the beneficiary's manager (the built-in policy), their
// entitlements, and the people whose holdings the LIKE_* modes copy.
type subModeWorld struct {
	o                                             *org
	m, owner, r                                   *ent.User
	alpha, beta                                   *ent.Application
	aUsers, aAdmins, aSecret, aRead, bUsers, bOps *ent.Entitlement
	engineer                                      *ent.JobTitle
	ops                                           *ent.Role
	rTok                                          string
}

func seedSubModeWorld(t *testing.T, db *dbtest.DB) *subModeWorld {
	t.Helper()
	o := newOrg(t, db)
	env, ctx := o.env, apitest.Sys()
	w := &subModeWorld{o: o}
	w.m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	w.owner = env.User(t, "owner@example.com", enum.PlatformRoleUser)
	w.r = subPerson(t, env, "r@example.com", w.m, nil)
	w.rTok = env.Token(t, w.r)
	w.alpha, w.aUsers = o.app(t, "Alpha", enum.FulfillmentDirect, []*ent.User{w.owner})
	w.beta, w.bUsers = o.app(t, "Beta", enum.FulfillmentDirect, []*ent.User{w.owner})
	w.aAdmins = subEnt(t, env, w.alpha, "Alpha admins", true, true)
	w.aSecret = subEnt(t, env, w.alpha, "Alpha secret", false, false)
	w.aRead = subEnt(t, env, w.alpha, "Alpha read", false, true)
	w.bOps = subEnt(t, env, w.beta, "Beta ops", false, true)

	var err error
	w.engineer, err = env.Client.JobTitle.Create().SetName("Engineer").AddBaselineEntitlements(w.bOps).Save(ctx)
	require.NoError(t, err)
	w.ops, err = env.Client.Role.Create().SetName("Ops").AddEntitlements(w.aRead, w.bOps, w.aUsers, w.aSecret).Save(ctx)
	require.NoError(t, err)
	return w
}

// TestSubmitModes resolves each submission mode on a seeded organisation
// and checks the items created, for the requester's own requests and for
// requests on behalf of another active user.
func TestSubmitModes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		w := seedSubModeWorld(t, db)
		env := w.o.env
		beneficiary := func(email string) *ent.User { return subPerson(t, env, email, w.m, nil) }

		t.Run("ENTITLEMENTS for another user", func(t *testing.T) {
			b := beneficiary("b1@example.com")
			own := subSubmit(t, env, w.rTok, subGrantIn(w.aUsers, w.bUsers))
			require.Equal(t, "r@example.com", own.Beneficiary.Email, "beneficiaryId defaults to the viewer")
			got := subSubmit(t, env, w.rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID,
				"entitlementIds": subIDs(w.aUsers, w.bUsers), "justification": "new hire"})
			require.Equal(t, []string{"GRANT Alpha users", "GRANT Beta users"}, got.items())
			require.Equal(t, "r@example.com", got.Requester.Email)
			require.Equal(t, "b1@example.com", got.Beneficiary.Email, "the request is for b, not the viewer")
			require.Equal(t, "PENDING_REVIEW", got.Status)
			st := got.item(t, "Alpha users").Stages
			require.Len(t, st, 1, "built-in policy: one MANAGER stage")
			require.Equal(t, "MANAGER", st[0].ReviewerKind)
			require.Equal(t, []string{"m@example.com"}, st[0].reviewers("PENDING"), "b's manager reviews")
		})

		t.Run("applicationIds narrows", func(t *testing.T) {
			b := beneficiary("b2@example.com")
			got := subSubmit(t, env, w.rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID,
				"entitlementIds": subIDs(w.aUsers, w.bUsers), "applicationIds": []string{string(w.beta.ID)}})
			require.Equal(t, []string{"GRANT Beta users"}, got.items())
		})

		t.Run("excludeEntitlementIds deselects", func(t *testing.T) {
			b := beneficiary("b3@example.com")
			got := subSubmit(t, env, w.rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID,
				"entitlementIds": subIDs(w.aUsers, w.bUsers), "excludeEntitlementIds": subIDs(w.aUsers)})
			require.Equal(t, []string{"GRANT Beta users"}, got.items())
		})

		t.Run("revokeEntitlementIds beside a GRANT", func(t *testing.T) {
			b := beneficiary("b4@example.com")
			subHold(t, env, b, w.aUsers, nil)
			got := subSubmit(t, env, w.rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID,
				"entitlementIds": subIDs(w.bUsers), "revokeEntitlementIds": subIDs(w.aUsers)})
			require.Equal(t, []string{"GRANT Beta users", "REVOKE Alpha users"}, got.items())
			require.Len(t, got.item(t, "Alpha users").Stages, 1, "REVOKE items are reviewed like GRANT items")
		})

		t.Run("LIKE_USER", func(t *testing.T) {
			// ref is a peer of b (same manager): r, a USER, may copy ref's
			// access onto b.
			ref := beneficiary("ref@example.com")
			for _, e := range []*ent.Entitlement{w.aUsers, w.aAdmins, w.aSecret, w.aRead, w.bUsers} {
				subHold(t, env, ref, e, nil)
			}
			b := beneficiary("b5@example.com")
			subHold(t, env, b, w.aUsers, nil)
			// The justification privileged access always needs.
			in := map[string]any{"action": "GRANT", "mode": "LIKE_USER", "beneficiaryId": b.ID, "referenceUserId": ref.ID, "justification": "same work as ref"}
			adminTok := env.Token(t, w.o.admin)

			// An IT admin reads every grant: the whole truth.
			p := subPreview(t, env, adminTok, in)
			require.Empty(t, p.Errors)
			require.Equal(t, "LIKE_USER", p.Mode)
			require.Equal(t, "b5@example.com", p.Beneficiary.Email)
			require.Equal(t, []string{"GRANT Alpha admins", "GRANT Alpha read", "GRANT Beta users"}, p.items(),
				"what ref holds and b lacks, requestable only")
			require.Equal(t, []string{"Alpha secret: not requestable", "Alpha users: already held"}, p.excluded())
			for _, it := range p.Items {
				require.Equal(t, it.Entitlement.Name == "Alpha admins", it.Privileged, "privileged flag of %s", it.Entitlement.Name)
			}
			require.Empty(t, p.Notes)

			// r, a USER, reads neither b's grants nor ref's privileged
			// ones: b is taken to hold nothing (Alpha users is requested
			// again; fulfilment is idempotent), Alpha admins is left out
			// without a trace, and the fixed note says why.
			up := subPreview(t, env, w.rTok, in)
			require.Empty(t, up.Errors)
			require.Equal(t, []string{"GRANT Alpha read", "GRANT Alpha users", "GRANT Beta users"}, up.items())
			require.Equal(t, []string{"Alpha secret: not requestable"}, up.excluded())
			require.Equal(t, []string{rules.NotePrivilegedByName}, up.Notes)

			stranger := subPerson(t, env, "stranger@example.com", nil, nil)
			res := subTry(t, env, w.rTok, map[string]any{"action": "GRANT", "mode": "LIKE_USER", "beneficiaryId": b.ID, "referenceUserId": stranger.ID}, nil)
			require.Equal(t, "INVALID_INPUT", res.Code(), "a stranger to both is no reference for a USER")
			require.Equal(t, "referenceUserId", res.Errors[0].Extensions.Field)

			narrowed := subPreview(t, env, adminTok, map[string]any{"action": "GRANT", "mode": "LIKE_USER", "beneficiaryId": b.ID,
				"referenceUserId": ref.ID, "applicationIds": []string{string(w.alpha.ID)}, "excludeEntitlementIds": subIDs(w.aRead),
				"justification": "same work as ref"})
			require.Equal(t, []string{"GRANT Alpha admins"}, narrowed.items())
			require.Equal(t, []string{
				"Alpha read: excluded by request", "Alpha secret: not requestable",
				"Alpha users: already held", "Beta users: outside the selected applications",
			}, narrowed.excluded())

			got := subSubmit(t, env, w.rTok, in)
			require.Equal(t, up.items(), got.items(), "submission creates what the preview showed")
		})

		t.Run("LIKE_ROLE", func(t *testing.T) {
			b := beneficiary("b6@example.com")
			subHold(t, env, b, w.aUsers, nil)
			in := map[string]any{"action": "GRANT", "mode": "LIKE_ROLE", "beneficiaryId": b.ID, "roleId": w.ops.ID}
			adminTok := env.Token(t, w.o.admin)
			p := subPreview(t, env, adminTok, in)
			require.Equal(t, []string{"Alpha secret: not requestable", "Alpha users: already held"}, p.excluded())
			require.Empty(t, p.Notes, "a role is catalog data: no note")
			up := subPreview(t, env, w.rTok, in)
			require.Equal(t, []string{"Alpha secret: not requestable"}, up.excluded(), "r may not read what b holds")
			require.Equal(t, []string{"GRANT Alpha read", "GRANT Alpha users", "GRANT Beta ops"}, up.items())
			require.Empty(t, up.Notes)
			got := subSubmit(t, env, adminTok, in)
			require.Equal(t, []string{"GRANT Alpha read", "GRANT Beta ops"}, got.items())
		})

		t.Run("LIKE_JOB_TITLE", func(t *testing.T) {
			// Four ACTIVE peers: Alpha read is held by 2 (0.5), Beta users
			// by 3 (0.75), Alpha admins by 1 (0.25). Two TERMINATED peers
			// also hold Alpha admins: were they counted, Alpha admins would
			// reach 3 of 6 = 0.5. The beneficiary has the title too and
			// holds nothing: were they counted, Alpha read would fall to
			// 2 of 5. Beta ops is the title's baseline bundle.
			holds := [][]*ent.Entitlement{
				{w.aRead, w.bUsers, w.aAdmins},
				{w.aRead, w.bUsers},
				{w.bUsers},
				{},
			}
			for i, hs := range holds {
				p := subPerson(t, env, "peer"+string(rune('1'+i))+"@example.com", nil, w.engineer)
				for _, e := range hs {
					subHold(t, env, p, e, nil)
				}
			}
			for _, email := range []string{"gone1@example.com", "gone2@example.com"} {
				p := subPerson(t, env, email, nil, w.engineer)
				subHold(t, env, p, w.aAdmins, nil)
				subSetStatus(t, env, p, enum.UserStatusTerminated)
			}
			b := subPerson(t, env, "b7@example.com", w.m, w.engineer)
			in := func(threshold any) map[string]any {
				m := map[string]any{"action": "GRANT", "mode": "LIKE_JOB_TITLE", "beneficiaryId": b.ID, "jobTitleId": w.engineer.ID, "justification": "new engineer"}
				if threshold != nil {
					m["threshold"] = threshold
				}
				return m
			}
			adminTok := env.Token(t, w.o.admin)
			for _, tc := range []struct {
				token     string
				threshold any
				want      []string
				why       string
			}{
				{w.rTok, nil, []string{"GRANT Alpha read", "GRANT Beta ops", "GRANT Beta users"}, "default 0.5: 2 of 4 is enough"},
				{w.rTok, 0.5, []string{"GRANT Alpha read", "GRANT Beta ops", "GRANT Beta users"}, "2 of 4 = 0.5 is in"},
				{w.rTok, 0.75, []string{"GRANT Beta ops", "GRANT Beta users"}, "2 of 4 is out at 0.75, 3 of 4 in"},
				{w.rTok, 1.0, []string{"GRANT Beta ops"}, "nobody held by all: only the baseline bundle"},
				{w.rTok, 0.25, []string{"GRANT Alpha read", "GRANT Beta ops", "GRANT Beta users"},
					"Alpha admins, 1 of 4, is privileged and held by one peer only: not for a USER"},
				{adminTok, 0.25, []string{"GRANT Alpha admins", "GRANT Alpha read", "GRANT Beta ops", "GRANT Beta users"},
					"an IT admin reads every grant: 1 of 4 = 0.25 is in"},
			} {
				p := subPreview(t, env, tc.token, in(tc.threshold))
				require.Empty(t, p.Errors, "threshold %v", tc.threshold)
				require.Equal(t, tc.want, p.items(), "threshold %v: %s", tc.threshold, tc.why)
			}
			got := subSubmit(t, env, w.rTok, in(0.75))
			require.Equal(t, []string{"GRANT Beta ops", "GRANT Beta users"}, got.items())
			var th struct {
				Node struct{ Threshold *float64 }
			}
			env.MustDo(t, w.rTok, `query($id: ID!) { node(id: $id) { ... on AccessRequest { threshold } } }`, map[string]any{"id": got.ID}, &th)
			require.NotNil(t, th.Node.Threshold)
			require.InDelta(t, 0.75, *th.Node.Threshold, 1e-9)
		})
	})
}

// TestSubmitValidation checks each refused submission: its code (and the
// field at fault), the same error in the preview, and nothing written.
func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		rTok, mTok := env.Token(t, r), env.Token(t, m)
		alpha, aUsers := o.app(t, "Alpha", enum.FulfillmentDirect, []*ent.User{owner})
		_, bUsers := o.app(t, "Beta", enum.FulfillmentDirect, []*ent.User{owner})
		aSecret := subEnt(t, env, alpha, "Alpha secret", false, false)
		aHeld := subEnt(t, env, alpha, "Alpha held", false, true)
		aDup := subEnt(t, env, alpha, "Alpha dup", false, true)
		vault, vUsers := o.app(t, "Vault", enum.FulfillmentDirect, []*ent.User{owner})
		require.NoError(t, env.Client.Application.UpdateOne(vault).SetMaxAccessDuration("P30D").Exec(ctx))
		subHold(t, env, r, aHeld, nil)
		ref := subPerson(t, env, "ref@example.com", m, nil) // r's peer
		subHold(t, env, ref, aHeld, nil)
		stranger := subPerson(t, env, "stranger@example.com", nil, nil)
		gone := subPerson(t, env, "gone@example.com", nil, nil)
		subSetStatus(t, env, gone, enum.UserStatusTerminated)

		open := subSubmit(t, env, rTok, subGrantIn(aDup))
		unknown := string(pulid.MustNew("ent"))
		future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		beyond := time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339)

		cases := []struct {
			name  string
			token string
			in    map[string]any
			code  string
			field string // "" when the error names no field
			msg   string // a part of the message, "" for none
		}{
			{"unknown entitlement", rTok, map[string]any{"action": "GRANT", "entitlementIds": []string{unknown}}, "INVALID_INPUT", "entitlementIds", unknown},
			{"unrequestable entitlement", rTok, subGrantIn(aSecret), "INVALID_INPUT", "entitlementIds", "Alpha secret"},
			{"endsAt and duration", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(aUsers), "endsAt": future, "duration": "P1D"}, "INVALID_INPUT", "endsAt", ""},
			{"endsAt in the past", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(aUsers), "endsAt": past}, "INVALID_INPUT", "endsAt", ""},
			{"duration that does not parse", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(aUsers), "duration": "8 hours"}, "INVALID_INPUT", "duration", ""},
			{"duration on a REVOKE", rTok, map[string]any{"action": "REVOKE", "entitlementIds": subIDs(aHeld), "duration": "P1D"}, "INVALID_INPUT", "duration", ""},
			{"endsAt on a REVOKE", rTok, map[string]any{"action": "REVOKE", "entitlementIds": subIDs(aHeld), "endsAt": future}, "INVALID_INPUT", "endsAt", ""},
			{"LIKE_USER with REVOKE", rTok, map[string]any{"action": "REVOKE", "mode": "LIKE_USER", "referenceUserId": ref.ID}, "INVALID_INPUT", "mode", ""},
			{"permanent GRANT where the app has a maximum", rTok, subGrantIn(vUsers), "INVALID_INPUT", "duration", "P30D"},
			{"endsAt past the maximum", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(vUsers), "endsAt": beyond}, "INVALID_INPUT", "endsAt", ""},
			{"duration past the maximum", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(vUsers), "duration": "P31D"}, "INVALID_INPUT", "duration", ""},
			{"GRANT of an entitlement held permanently", rTok, subGrantIn(aHeld), "ALREADY_HELD", "", "Alpha held"},
			{"REVOKE of one not held", rTok, map[string]any{"action": "REVOKE", "entitlementIds": subIDs(aUsers)}, "NOT_HELD", "", "Alpha users"},
			{"REVOKE beside a GRANT of one not held", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(bUsers), "revokeEntitlementIds": subIDs(aUsers)}, "NOT_HELD", "", "Alpha users"},
			{"unknown entitlement in revokeEntitlementIds", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(bUsers), "revokeEntitlementIds": []string{unknown}}, "INVALID_INPUT", "revokeEntitlementIds", unknown},
			{"open request for the same entitlement", rTok, subGrantIn(aDup, bUsers), "DUPLICATE_PENDING", "", open.ID},
			{"open request, other requester, same beneficiary", mTok, map[string]any{"action": "GRANT", "beneficiaryId": r.ID, "entitlementIds": subIDs(aDup)}, "DUPLICATE_PENDING", "", open.ID},
			{"LIKE_USER with nothing new", rTok, map[string]any{"action": "GRANT", "mode": "LIKE_USER", "referenceUserId": ref.ID}, "NOTHING_TO_REQUEST", "", ""},
			{"LIKE_USER from a stranger", rTok, map[string]any{"action": "GRANT", "mode": "LIKE_USER", "referenceUserId": stranger.ID}, "INVALID_INPUT", "referenceUserId", "peer"},
			{"everything narrowed away", rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(aUsers), "applicationIds": []string{string(vault.ID)}}, "NOTHING_TO_REQUEST", "", ""},
			{"TERMINATED beneficiary", rTok, map[string]any{"action": "GRANT", "beneficiaryId": gone.ID, "entitlementIds": subIDs(aUsers)}, "INVALID_INPUT", "beneficiaryId", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := subCounts(t, env)
				res := subTry(t, env, tc.token, tc.in, nil)
				require.Len(t, res.Errors, 1, "%+v", res.Errors)
				e := res.Errors[0]
				require.Equal(t, tc.code, e.Extensions.Code, e.Message)
				require.Equal(t, tc.field, e.Extensions.Field, "field of %q", e.Message)
				require.Contains(t, e.Message, tc.msg)
				require.Equal(t, before, subCounts(t, env), "nothing written")

				p := subPreview(t, env, tc.token, tc.in)
				require.Equal(t, []string{tc.code}, p.errorCodes(), "the preview gives the error submission gives")
				require.Empty(t, p.Items)
				require.Equal(t, before, subCounts(t, env), "the preview writes nothing")
			})
		}
	})
}

// TestSubmitNoReviewer reaches NO_REVIEWER: the requester is the only owner
// of the application, has no manager, and there is no risk manager and no
// active IT admin.
func TestSubmitNoReviewer(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		solo := subPerson(t, env, "solo@example.com", nil, nil)
		tok := env.Token(t, solo)
		_, e := o.app(t, "Lonely", enum.FulfillmentDirect, []*ent.User{solo})

		// With the IT admin, the fallback chain ends with them.
		p := subPreview(t, env, tok, subGrantIn(e))
		require.Empty(t, p.Errors)
		require.Len(t, p.Items, 1)
		require.Len(t, p.Items[0].Stages, 1)
		require.Equal(t, "IT_ADMIN", p.Items[0].Stages[0].ReviewerKind, "MANAGER → APPLICATION_OWNER → RISK_MANAGER → IT_ADMIN")
		require.Equal(t, []string{"it@example.com"}, subEmails(p.Items[0].Stages[0].Reviewers))

		subSetStatus(t, env, o.admin, enum.UserStatusTerminated)
		before := subCounts(t, env)
		res := subTry(t, env, tok, subGrantIn(e), nil)
		require.Equal(t, "NO_REVIEWER", res.Code(), "%+v", res.Errors)
		require.Equal(t, before, subCounts(t, env), "nothing written")
		p = subPreview(t, env, tok, subGrantIn(e))
		require.Equal(t, []string{"NO_REVIEWER"}, p.errorCodes())
	})
}

// TestSubmitExtendsTemporaryHolding checks that a GRANT of an entitlement
// held until a date is accepted and, once fulfilled, extends that grant
// instead of adding a second one.
func TestSubmitExtendsTemporaryHolding(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		_, e := o.app(t, "Alpha", enum.FulfillmentDirect, nil)
		soon := time.Now().Add(time.Hour)
		g := subHold(t, env, r, e, &soon)

		req := subSubmit(t, env, env.Token(t, r), map[string]any{"action": "GRANT", "entitlementIds": subIDs(e), "duration": "P30D"})
		require.Equal(t, []string{"GRANT Alpha users"}, req.items(), "a temporary holding is no ALREADY_HELD")
		task := req.Items[0].Stages[0].task(t, "m@example.com", "PENDING")
		env.MustDo(t, env.Token(t, m), decide, map[string]any{"id": task.ID, "d": "APPROVE"}, nil)

		rTok := env.Token(t, r)
		require.Eventually(t, func() bool {
			return subGet(t, env, rTok, req.ID).Items[0].Status == "FULFILLED"
		}, time.Minute, 50*time.Millisecond)
		held, err := env.Client.Grant.Query().Where(grant.EntitlementID(e.ID), grant.RevokedAtIsNil(),
			grant.HasIdentityWith(identity.UserID(r.ID))).All(ctx)
		require.NoError(t, err)
		require.Len(t, held, 1, "the holding is extended, not doubled")
		require.Equal(t, g.ID, held[0].ID)
		require.NotNil(t, held[0].EndsAt)
		require.WithinDuration(t, time.Now().Add(30*24*time.Hour), *held[0].EndsAt, time.Hour, "extended to 30 days from provisioning")
	})
}

// TestSubmitIdempotencyKey checks that a key replayed with the same input
// returns the first request and with other input is CONFLICT; keys belong
// to their requester.
func TestSubmitIdempotencyKey(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		s := subPerson(t, env, "s@example.com", m, nil)
		rTok, sTok := env.Token(t, r), env.Token(t, s)
		_, e := o.app(t, "Alpha", enum.FulfillmentDirect, nil)
		_, f := o.app(t, "Beta", enum.FulfillmentDirect, nil)
		key := "order-4711"
		in := map[string]any{"action": "GRANT", "entitlementIds": subIDs(e), "justification": "ticket 4711"}

		first := subTry(t, env, rTok, in, &key)
		var a struct{ SubmitAccessRequest subRequest }
		first.Decode(t, &a)
		before := subCounts(t, env)

		again := subTry(t, env, rTok, in, &key)
		var b struct{ SubmitAccessRequest subRequest }
		again.Decode(t, &b)
		require.Equal(t, a.SubmitAccessRequest.ID, b.SubmitAccessRequest.ID, "same key, same input: the first request")
		require.Equal(t, before, subCounts(t, env), "nothing new written")
		n, err := env.Client.AccessRequest.Query().Where(accessrequest.RequesterID(r.ID)).Count(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		other := map[string]any{"action": "GRANT", "entitlementIds": subIDs(f), "justification": "ticket 4711"}
		res := subTry(t, env, rTok, other, &key)
		require.Equal(t, "CONFLICT", res.Code(), "%+v", res.Errors)
		require.Equal(t, before, subCounts(t, env), "nothing written")

		// The key is the requester's: another user may use it.
		var c struct{ SubmitAccessRequest subRequest }
		subTry(t, env, sTok, in, &key).Decode(t, &c)
		require.NotEqual(t, a.SubmitAccessRequest.ID, c.SubmitAccessRequest.ID)
		require.Equal(t, "s@example.com", c.SubmitAccessRequest.Beneficiary.Email)

		long := strings.Repeat("k", 256)
		require.Equal(t, "INVALID_INPUT", subTry(t, env, rTok, other, &long).Code(), "keys are at most 255 characters")
	})
}

// TestSubmitPreview checks what previewAccessRequest shows — items, stages
// with their reviewers, accounts to create, auto-approval, exclusions and
// errors — and that it writes nothing.
func TestSubmitPreview(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, o1, r, b := o.cast(t)
		o2 := env.User(t, "o2@example.com", enum.PlatformRoleUser)
		rTok, adminTok := env.Token(t, r), env.Token(t, o.admin)
		alpha, aUsers := o.app(t, "Alpha", enum.FulfillmentDirect, []*ent.User{o1, o2},
			enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		aHeld := subEnt(t, env, alpha, "Alpha held", false, true)
		aSecret := subEnt(t, env, alpha, "Alpha secret", false, false)
		_, auto := o.app(t, "Auto", enum.FulfillmentDirectAutoApproved, nil)
		subHold(t, env, r, aHeld, nil)                      // r has an account in Alpha, none in Auto
		ref := subPerson(t, env, "ref@example.com", m, nil) // r's peer
		subHold(t, env, ref, aSecret, nil)
		subHold(t, env, ref, aUsers, nil)
		before := subCounts(t, env)

		p := subPreview(t, env, rTok, subGrantIn(aUsers, auto))
		require.Empty(t, p.Errors)
		require.Equal(t, "GRANT", p.Action)
		require.Equal(t, "ENTITLEMENTS", p.Mode)
		require.Equal(t, "r@example.com", p.Beneficiary.Email)
		require.Equal(t, []string{"GRANT Alpha users", "GRANT Auto users"}, p.items())
		require.False(t, p.AutoApproved, "one item needs review")
		require.Equal(t, []struct{ Name string }{{"Auto"}}, p.AccountsToCreate, "r has an account in Alpha only")
		for _, it := range p.Items {
			switch it.Entitlement.Name {
			case "Alpha users":
				require.False(t, it.AutoApproved)
				require.Equal(t, "Alpha", it.Application.Name)
				require.Len(t, it.Stages, 2)
				require.Equal(t, subPreviewStage{Level: 1, ReviewerKind: "MANAGER", Rule: "ANY", Quorum: 1,
					Reviewers: []subUser{{"m@example.com"}}}, it.Stages[0])
				require.Equal(t, "APPLICATION_OWNER", it.Stages[1].ReviewerKind)
				require.Equal(t, []string{"o1@example.com", "o2@example.com"}, subEmails(it.Stages[1].Reviewers))
			case "Auto users":
				require.True(t, it.AutoApproved)
				require.Empty(t, it.Stages, "auto-approved items have no stages")
			}
		}

		p = subPreview(t, env, rTok, subGrantIn(auto))
		require.True(t, p.AutoApproved)
		require.Empty(t, p.Errors)

		p = subPreview(t, env, rTok, map[string]any{"action": "GRANT", "mode": "LIKE_USER", "referenceUserId": ref.ID})
		require.Equal(t, []string{"GRANT Alpha users"}, p.items())
		require.Equal(t, []string{"Alpha secret: not requestable"}, p.excluded())
		require.Equal(t, []string{rules.NotePrivilegedByName}, p.Notes, "the fixed note for a USER, whether or not anything was left out")

		p = subPreview(t, env, rTok, subGrantIn(aHeld))
		require.Equal(t, []string{"ALREADY_HELD"}, p.errorCodes())
		require.Contains(t, p.Errors[0].Message, "Alpha held")
		require.Empty(t, p.Items)

		// For another user, the preview names that user, also when it
		// reports an error. Only a viewer who reads b's grants (an IT
		// admin here) learns b's accounts and holdings; r, a USER, gets
		// answers that do not depend on them (internal/security tests
		// that they are identical).
		require.Equal(t, before, subCounts(t, env), "the previews for r write nothing")
		subHold(t, env, b, aHeld, nil)
		before = subCounts(t, env)
		p = subPreview(t, env, adminTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(aUsers, auto)})
		require.Empty(t, p.Errors)
		require.Equal(t, "b@example.com", p.Beneficiary.Email)
		require.Equal(t, []struct{ Name string }{{"Auto"}}, p.AccountsToCreate, "b has an account in Alpha only")
		p = subPreview(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(aUsers, auto)})
		require.Empty(t, p.Errors)
		require.Equal(t, "b@example.com", p.Beneficiary.Email)
		require.Empty(t, p.AccountsToCreate, "r may not read where b has accounts")
		p = subPreview(t, env, adminTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(aHeld)})
		require.Equal(t, []string{"ALREADY_HELD"}, p.errorCodes())
		require.Equal(t, "b@example.com", p.Beneficiary.Email, "the preview's beneficiary is the request's, not the viewer")
		p = subPreview(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(aHeld)})
		require.Empty(t, p.Errors, "r may not read that b holds it: accepted, fulfilment is idempotent")
		require.Equal(t, []string{"GRANT Alpha held"}, p.items())

		require.Equal(t, before, subCounts(t, env), "the previews for b write nothing")
	})
}

// TestSubmitAutoApproved checks a DIRECT_AUTO_APPROVED application: no
// stages or tasks, ITEM_AUTO_APPROVED in the trail, fulfilled at once, and
// completion 0/0 (100%).
func TestSubmitAutoApproved(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		r := subPerson(t, env, "r@example.com", nil, nil)
		rTok := env.Token(t, r)
		_, auto := o.app(t, "Auto", enum.FulfillmentDirectAutoApproved, nil)

		req := subSubmit(t, env, rTok, subGrantIn(auto))
		require.Len(t, req.Items, 1)
		require.Empty(t, req.Items[0].Stages)
		require.Contains(t, []string{"APPROVED", "FULFILLING", "FULFILLED"}, req.Items[0].Status)
		require.NotEqual(t, "PENDING_REVIEW", req.Status)
		n, err := env.Client.ReviewTask.Query().Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "no review tasks")

		require.Eventually(t, func() bool {
			got := subGet(t, env, rTok, req.ID)
			return got.Items[0].Status == "FULFILLED" && got.Status == "COMPLETED"
		}, time.Minute, 50*time.Millisecond)
		got := subGet(t, env, rTok, req.ID)
		require.Equal(t, completion{0, 0, 100}, got.Completion)
		require.Equal(t, completion{0, 0, 100}, got.MyCompletion)

		trail := subTrail(t, env, rTok, req.ID)
		require.Contains(t, trail, "ITEM_AUTO_APPROVED")
		require.NotContains(t, trail, "ITEM_APPROVED")
		require.NotContains(t, trail, "TASK_ASSIGNED")
		require.Contains(t, trail, "ACCESS_GRANTED")
		require.Equal(t, "REQUEST_COMPLETED", trail[len(trail)-1])
		require.Len(t, o.receiver.Deliveries("grant"), 1)
	})
}

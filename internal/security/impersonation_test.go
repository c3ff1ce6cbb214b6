package security_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// The impersonation attack (issue "Security hardening", section 5): an IT
// admin submitted a request, minted an API token for the assigned reviewer
// and approved the task with it. Tokens now act only as their creator or as
// a service account, carry their minter, and the self-review rules hold for
// the minter; a reassignment needs a reason and is audited.

const (
	impSubmit = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
  id submittedBy { id } items { stages { tasks { id status reviewer { id } } } } } }`
	impMint = `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) {
  token apiToken { id owner { id } createdBy { id } } } }`
	impCreateUser = `mutation($in: CreateUserInput!) { createUser(input: $in) { id kind } }`
	impDecide     = `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id status } }`
	impDecideMany = `mutation($ids: [ID!]!) { decideReviewTasks(ids: $ids, decision: APPROVE) { id status } }`
	impReassign   = `mutation($id: ID!, $to: ID!, $c: String) { reassignReviewTask(id: $id, toUserId: $to, comment: $c) {
  id status reviewer { id } } }`
	impTrail  = `query($id: ID!) { auditTrail(requestId: $id) { action actor data } }`
	impEvents = `query($a: [String!]) { auditEvents(first: 50, filter: {chain: "system", actions: $a}) {
  edges { node { action actor data } } } }`
)

type impEvent struct {
	Action string
	Actor  string
	Data   map[string]any
}

type impMinted struct {
	Token    string
	APIToken struct {
		ID        string
		Owner     struct{ ID string }
		CreatedBy *struct{ ID string }
	} `json:"apiToken"`
}

// impOrg is the cast: an IT admin Ivan who reports to M, an accomplice C
// of Ivan's, an application owner O and B, who also reports to Ivan; one
// MANUAL application owned by O, reviewed by the built-in MANAGER stage.
type impOrg struct {
	env              *apitest.Env
	ivan, m, c, o, b *ent.User
	ivanJWT, oJWT    string
	entitlement      *ent.Entitlement
}

func impNewOrg(t *testing.T, db *dbtest.DB) *impOrg {
	t.Helper()
	env := apitest.New(t, db)
	ctx := apitest.Sys()
	o := &impOrg{env: env}
	o.m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	o.c = env.User(t, "c@example.com", enum.PlatformRoleUser)
	o.o = env.User(t, "o@example.com", enum.PlatformRoleUser)
	o.ivan = env.User(t, "ivan@example.com", enum.PlatformRoleITAdmin)
	var err error
	o.ivan, err = env.Client.User.UpdateOne(o.ivan).SetManager(o.m).Save(ctx)
	require.NoError(t, err)
	o.b, err = env.Client.User.Create().SetEmail("b@example.com").SetName("B").SetManager(o.ivan).Save(ctx)
	require.NoError(t, err)
	app, err := env.Client.Application.Create().SetName("Ledger").
		SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).
		AddOwners(o.o).Save(ctx)
	require.NoError(t, err)
	o.entitlement, err = env.Client.Entitlement.Create().SetApplication(app).
		SetExternalID("ledger-admin").SetName("Ledger admin").Save(ctx)
	require.NoError(t, err)
	o.ivanJWT, o.oJWT = env.Token(t, o.ivan), env.Token(t, o.o)
	return o
}

// serviceAccount creates a service account with the platform role through
// GraphQL as Ivan and mints a WRITE token for it.
func (o *impOrg) serviceAccount(t *testing.T, email string, role enum.PlatformRole) (pulid.ID, impMinted) {
	t.Helper()
	var u struct {
		CreateUser struct{ ID, Kind string }
	}
	o.env.MustDo(t, o.ivanJWT, impCreateUser, map[string]any{"in": map[string]any{
		"email": email, "name": "HR sync", "kind": "SERVICE", "platformRole": role}}, &u)
	require.Equal(t, "SERVICE", u.CreateUser.Kind)
	var minted struct{ CreateAPIToken impMinted }
	o.env.MustDo(t, o.ivanJWT, impMint, map[string]any{"in": map[string]any{
		"name": "hr-sync", "scope": "WRITE", "ownerID": u.CreateUser.ID}}, &minted)
	return pulid.ID(u.CreateUser.ID), minted.CreateAPIToken
}

// submit submits a GRANT of the entitlement with token and returns the
// request ID, its submitter and its pending task.
func (o *impOrg) submit(t *testing.T, token string, beneficiary *ent.User) (reqID string, submittedBy *string, task string, reviewer string) {
	t.Helper()
	in := map[string]any{"action": "GRANT", "entitlementIds": []string{string(o.entitlement.ID)}}
	if beneficiary != nil {
		in["beneficiaryId"] = beneficiary.ID
	}
	var out struct {
		SubmitAccessRequest struct {
			ID          string
			SubmittedBy *struct{ ID string }
			Items       []struct {
				Stages []struct {
					Tasks []struct {
						ID, Status string
						Reviewer   struct{ ID string }
					}
				}
			}
		}
	}
	o.env.MustDo(t, token, impSubmit, map[string]any{"in": in}, &out)
	r := out.SubmitAccessRequest
	require.Len(t, r.Items, 1)
	require.Len(t, r.Items[0].Stages, 1)
	require.Len(t, r.Items[0].Stages[0].Tasks, 1)
	tk := r.Items[0].Stages[0].Tasks[0]
	require.Equal(t, "PENDING", tk.Status)
	if r.SubmittedBy != nil {
		submittedBy = &r.SubmittedBy.ID
	}
	return r.ID, submittedBy, tk.ID, tk.Reviewer.ID
}

func (o *impOrg) task(t *testing.T, id string) *ent.ReviewTask {
	t.Helper()
	task, err := o.env.Client.ReviewTask.Get(apitest.Sys(), pulid.ID(id))
	require.NoError(t, err)
	return task
}

func (o *impOrg) trail(t *testing.T, reqID, action string) []impEvent {
	t.Helper()
	var out struct{ AuditTrail []impEvent }
	o.env.MustDo(t, o.ivanJWT, impTrail, map[string]any{"id": reqID}, &out)
	var events []impEvent
	for _, e := range out.AuditTrail {
		if e.Action == action {
			events = append(events, e)
		}
	}
	return events
}

func impRequireError(t *testing.T, res *apitest.Response, code, field, contains string) {
	t.Helper()
	require.Len(t, res.Errors, 1, "%+v", res.Errors)
	require.Equal(t, code, res.Errors[0].Extensions.Code, "%+v", res.Errors)
	if field != "" {
		require.Equal(t, field, res.Errors[0].Extensions.Field, "%+v", res.Errors)
	}
	if contains != "" {
		require.Contains(t, res.Errors[0].Message, contains)
	}
}

// TestImpersonationSelfApproval replays the attack through the HTTP
// handler: Ivan submits for himself (M reviews), cannot mint a token for M,
// cannot approve with a service account's token he minted, cannot reassign
// the task to an accomplice without a reason, and a reassignment with a
// reason is audited with it; the accomplice's decision records the token
// and its minter.
func TestImpersonationSelfApproval(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := impNewOrg(t, db)
		env := o.env
		reqID, submittedBy, taskID, reviewer := o.submit(t, o.ivanJWT, nil)
		require.Nil(t, submittedBy, "a JWT submission has no separate submitter")
		require.Equal(t, string(o.m.ID), reviewer, "Ivan's manager reviews")

		// Minting a token for the reviewer is refused, and nothing is written.
		res := env.Do(t, o.ivanJWT, impMint, map[string]any{"in": map[string]any{
			"name": "as-m", "scope": "WRITE", "ownerID": o.m.ID}})
		impRequireError(t, res, "FORBIDDEN", "ownerID", "impersonate")
		n, err := env.Client.ApiToken.Query().Where(apitoken.OwnerID(o.m.ID)).Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n, "no token for M")

		// A service account's token records Ivan as its minter, for IT
		// admins and in the system chain.
		svc, minted := o.serviceAccount(t, "hr-sync@svc.example.com", enum.PlatformRoleITAdmin)
		require.Equal(t, string(svc), minted.APIToken.Owner.ID)
		require.NotNil(t, minted.APIToken.CreatedBy)
		require.Equal(t, string(o.ivan.ID), minted.APIToken.CreatedBy.ID)
		var created struct {
			AuditEvents struct{ Edges []struct{ Node impEvent } }
		}
		env.MustDo(t, o.ivanJWT, impEvents, map[string]any{"a": []string{"API_TOKEN_CREATED"}}, &created)
		var found bool
		for _, e := range created.AuditEvents.Edges {
			if e.Node.Data["id"] == minted.APIToken.ID {
				found = true
				require.Equal(t, string(o.ivan.ID), e.Node.Actor)
				require.Equal(t, string(o.ivan.ID), e.Node.Data["createdBy"])
				require.Equal(t, string(svc), e.Node.Data["owner"])
			}
		}
		require.True(t, found, "API_TOKEN_CREATED of the service token: %+v", created)

		// Approving his own request through the service account (an IT
		// admin account, so it sees the task) is refused with the
		// self-review message, alone or in bulk. A service account with the
		// USER role does not even see the task.
		res = env.Do(t, minted.Token, impDecide, map[string]any{"id": taskID})
		impRequireError(t, res, "FORBIDDEN", "", "cannot decide its review tasks")
		res = env.Do(t, minted.Token, impDecideMany, map[string]any{"ids": []string{taskID}})
		impRequireError(t, res, "FORBIDDEN", "", "cannot decide its review tasks")
		_, plain := o.serviceAccount(t, "ci@svc.example.com", enum.PlatformRoleUser)
		res = env.Do(t, plain.Token, impDecide, map[string]any{"id": taskID})
		impRequireError(t, res, "NOT_FOUND", "", "")
		require.Equal(t, enum.TaskStatusPending, o.task(t, taskID).Status)

		// The service account's token mints no tokens of its own.
		res = env.Do(t, minted.Token, impMint, map[string]any{"in": map[string]any{"name": "more", "scope": "WRITE"}})
		impRequireError(t, res, "FORBIDDEN", "", "service account")

		// Reassigning to an accomplice needs a reason; the service account,
		// Ivan himself and M (already assigned) are refused whatever the reason.
		for _, c := range []any{nil, "", "   "} {
			res = env.Do(t, o.ivanJWT, impReassign, map[string]any{"id": taskID, "to": o.c.ID, "c": c})
			impRequireError(t, res, "INVALID_INPUT", "comment", "reason")
		}
		for _, to := range []pulid.ID{svc, o.ivan.ID, o.m.ID} {
			res = env.Do(t, o.ivanJWT, impReassign, map[string]any{"id": taskID, "to": to, "c": "M is away"})
			impRequireError(t, res, "INVALID_INPUT", "toUserId", "")
		}
		// Nor through the service account's token to its minter.
		res = env.Do(t, minted.Token, impReassign, map[string]any{"id": taskID, "to": o.ivan.ID, "c": "M is away"})
		impRequireError(t, res, "INVALID_INPUT", "toUserId", "")
		task := o.task(t, taskID)
		require.Equal(t, enum.TaskStatusPending, task.Status, "nothing changed")
		require.Equal(t, o.m.ID, task.ReviewerID)
		require.Empty(t, o.trail(t, reqID, "TASK_REASSIGNED"))

		// With a reason the task moves, and the trail says why.
		var moved struct {
			ReassignReviewTask struct {
				ID       string
				Reviewer struct{ ID string }
			}
		}
		env.MustDo(t, o.ivanJWT, impReassign, map[string]any{"id": taskID, "to": o.c.ID, "c": "M is on leave until June"}, &moved)
		require.Equal(t, string(o.c.ID), moved.ReassignReviewTask.Reviewer.ID)
		reassigned := o.trail(t, reqID, "TASK_REASSIGNED")
		require.Len(t, reassigned, 1)
		require.Equal(t, string(o.ivan.ID), reassigned[0].Actor)
		require.Equal(t, "M is on leave until June", reassigned[0].Data["comment"])
		require.Equal(t, string(o.m.ID), reassigned[0].Data["from"])
		require.Equal(t, string(o.c.ID), reassigned[0].Data["to"])

		// The accomplice decides with a token of their own: the decision's
		// event names the token and its minter.
		var own struct{ CreateAPIToken impMinted }
		env.MustDo(t, env.Token(t, o.c), impMint, map[string]any{"in": map[string]any{"name": "c-cli", "scope": "WRITE"}}, &own)
		require.Equal(t, string(o.c.ID), own.CreateAPIToken.APIToken.CreatedBy.ID)
		env.MustDo(t, own.CreateAPIToken.Token, impDecide, map[string]any{"id": moved.ReassignReviewTask.ID}, nil)
		approved := o.trail(t, reqID, "TASK_APPROVED")
		require.Len(t, approved, 1)
		require.Equal(t, own.CreateAPIToken.APIToken.ID, approved[0].Actor)
		require.Equal(t, own.CreateAPIToken.APIToken.ID, approved[0].Data["token"])
		require.Equal(t, string(o.c.ID), approved[0].Data["mintedBy"])
	})
}

// TestImpersonationServiceAccountSubmits checks a service account's part:
// it submits for people (the minter of its token is recorded and excluded
// from the review like the requester), never for itself, and is never a
// manager, owner, designated reviewer or delegate.
func TestImpersonationServiceAccountSubmits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := impNewOrg(t, db)
		env := o.env
		svc, minted := o.serviceAccount(t, "hr-sync@svc.example.com", enum.PlatformRoleUser)

		// A USER mints tokens for nobody else, service account or not.
		res := env.Do(t, o.oJWT, impMint, map[string]any{"in": map[string]any{"name": "x", "scope": "WRITE", "ownerID": svc}})
		impRequireError(t, res, "FORBIDDEN", "ownerID", "")

		// Not for itself: service accounts receive no access.
		res = env.Do(t, minted.Token, impSubmit, map[string]any{"in": map[string]any{
			"action": "GRANT", "entitlementIds": []string{string(o.entitlement.ID)}}})
		impRequireError(t, res, "INVALID_INPUT", "beneficiaryId", "service account")

		// For B, whose manager is Ivan: Ivan minted the token, so the
		// review falls back to the application owner.
		reqID, submittedBy, taskID, reviewer := o.submit(t, minted.Token, o.b)
		require.NotNil(t, submittedBy)
		require.Equal(t, string(o.ivan.ID), *submittedBy)
		require.Equal(t, string(o.o.ID), reviewer, "Ivan, B's manager, submitted through the token he minted")
		submitted := o.trail(t, reqID, "REQUEST_SUBMITTED")
		require.Len(t, submitted, 1)
		require.Equal(t, minted.APIToken.ID, submitted[0].Actor)
		require.Equal(t, string(o.ivan.ID), submitted[0].Data["mintedBy"])
		require.Equal(t, string(svc), submitted[0].Data["requester"])

		// Ivan, the submitter, neither decides nor takes the task.
		res = env.Do(t, o.ivanJWT, impDecide, map[string]any{"id": taskID})
		impRequireError(t, res, "FORBIDDEN", "", "cannot decide its review tasks")
		res = env.Do(t, o.oJWT, impReassign, map[string]any{"id": taskID, "to": o.ivan.ID, "c": "Ivan knows B"})
		impRequireError(t, res, "INVALID_INPUT", "toUserId", "minter")
		require.Equal(t, enum.TaskStatusPending, o.task(t, taskID).Status)
		n, err := env.Client.ReviewTask.Query().Where(reviewtask.ReviewerID(o.ivan.ID)).Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n)

		// Never a manager, an owner, a designated reviewer or a delegate.
		app, err := env.Client.Application.Query().Only(apitest.Sys())
		require.NoError(t, err)
		rows := []struct {
			name, query, field string
			vars               map[string]any
		}{
			{"manager", `mutation($id: ID!, $in: UpdateUserInput!) { updateUser(id: $id, input: $in) { id } }`, "managerID",
				map[string]any{"id": o.b.ID, "in": map[string]any{"managerID": svc}}},
			{"manager of a new user", impCreateUser, "managerID",
				map[string]any{"in": map[string]any{"email": "n@example.com", "name": "N", "managerID": svc}}},
			{"application owner", `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`, "ownerIDs",
				map[string]any{"in": map[string]any{"name": "Wiki", "fulfillment": "MANUAL", "connectorKind": "MANUAL", "ownerIDs": []any{o.o.ID, svc}}}},
			{"added application owner", `mutation($id: ID!, $in: UpdateApplicationInput!) { updateApplication(id: $id, input: $in) { id } }`, "addOwnerIDs",
				map[string]any{"id": app.ID, "in": map[string]any{"addOwnerIDs": []any{svc}}}},
			{"entitlement owner", `mutation($id: ID!, $in: UpdateEntitlementInput!) { updateEntitlement(id: $id, input: $in) { id } }`, "ownerID",
				map[string]any{"id": o.entitlement.ID, "in": map[string]any{"ownerID": svc}}},
			{"role owner", `mutation($in: CreateRoleInput!) { createRole(input: $in) { id } }`, "ownerIDs",
				map[string]any{"in": map[string]any{"name": "Finance", "ownerIDs": []any{svc}}}},
			{"designated reviewer", `mutation($in: CreateReviewStageTemplateInput!) { createReviewStageTemplate(input: $in) { id } }`, "designatedReviewerIDs",
				map[string]any{"in": map[string]any{"applicationID": app.ID, "level": 1, "reviewerKind": "DESIGNATED", "designatedReviewerIDs": []any{svc}}}},
		}
		for _, row := range rows {
			res := env.Do(t, o.ivanJWT, row.query, row.vars)
			impRequireError(t, res, "INVALID_INPUT", row.field, "service account")
		}
		res = env.Do(t, o.oJWT, `mutation($u: ID) { setDelegate(userId: $u) { id } }`, map[string]any{"u": svc})
		impRequireError(t, res, "INVALID_INPUT", "userId", "service account")
		b, err := env.Client.User.Get(apitest.Sys(), o.b.ID)
		require.NoError(t, err)
		require.Equal(t, o.ivan.ID, *b.ManagerID, "nothing changed")
		owners, err := env.Client.Application.QueryOwners(app).IDs(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, []pulid.ID{o.o.ID}, owners)

		// A token dies with the person who minted it: a departed admin
		// keeps no working service account token.
		kate := env.User(t, "kate@example.com", enum.PlatformRoleITAdmin)
		var byKate struct{ CreateAPIToken impMinted }
		env.MustDo(t, env.Token(t, kate), impMint, map[string]any{"in": map[string]any{
			"name": "kate-sync", "scope": "READ", "ownerID": svc}}, &byKate)
		const whoAmI = `{ viewer { id } }`
		env.MustDo(t, byKate.CreateAPIToken.Token, whoAmI, nil, nil)
		env.MustDo(t, o.ivanJWT, `mutation($id: ID!) { updateUser(id: $id, input: {status: TERMINATED}) { id } }`,
			map[string]any{"id": kate.ID}, nil)
		impRequireError(t, env.Do(t, byKate.CreateAPIToken.Token, whoAmI, nil), "UNAUTHENTICATED", "", "")
		env.MustDo(t, minted.Token, whoAmI, nil, nil)
	})
}

// TestImpersonationManualFulfilment: the person behind a service account's
// submission may not close its manual fulfilment either — it leaves their
// queue, and completing it is FORBIDDEN — while the application owner still
// sees and closes it.
func TestImpersonationManualFulfilment(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := impNewOrg(t, db)
		_, minted := o.serviceAccount(t, "sync@example.com", enum.PlatformRoleUser)
		reqID, submittedBy, task, reviewer := o.submit(t, minted.Token, o.b)
		require.NotNil(t, submittedBy)
		require.Equal(t, string(o.ivan.ID), *submittedBy)
		require.Equal(t, string(o.o.ID), reviewer, "Ivan, B's manager, submitted: the owner reviews")
		o.env.MustDo(t, o.oJWT, impDecide, map[string]any{"id": task}, nil)

		item, err := o.env.Client.RequestItem.Query().Where(requestitem.RequestID(pulid.ID(reqID))).OnlyID(apitest.Sys())
		require.NoError(t, err)
		queue := func(token string) []string {
			var out struct {
				ManualFulfillments struct {
					Edges []struct{ Node struct{ ID string } }
				}
			}
			o.env.MustDo(t, token, `{ manualFulfillments(first: 50) { edges { node { id } } } }`, nil, &out)
			var ids []string
			for _, e := range out.ManualFulfillments.Edges {
				ids = append(ids, e.Node.ID)
			}
			return ids
		}
		require.Contains(t, queue(o.oJWT), string(item))
		require.NotContains(t, queue(o.ivanJWT), string(item), "the submitter behind the service account")
		complete := `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true) { id status } }`
		require.Equal(t, "FORBIDDEN", o.env.Do(t, o.ivanJWT, complete, map[string]any{"id": item}).Code())
		o.env.MustDo(t, o.oJWT, complete, map[string]any{"id": item}, nil)
	})
}

package resolvers_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
)

// Every write is audited, whatever ent client makes it (DESIGN §4.5): the
// workflow writes through clients of its own, built over its transactions,
// and their writes to users reach the system chain as the catalog's do.

// systemEvents returns the system chain's events, oldest first.
func systemEvents(t *testing.T, env *apitest.Env) []*ent.AuditEvent {
	t.Helper()
	evs, err := env.Client.AuditEvent.Query().
		Where(auditevent.Chain(audit.SystemChain)).
		Order(auditevent.BySeq()).
		All(apitest.Sys())
	require.NoError(t, err)
	return evs
}

// TestAuditSetDelegate: setDelegate changes the viewer's user row through
// the workflow's transaction; the system chain records it, by the viewer,
// naming the fields changed, and the chain still verifies.
func TestAuditSetDelegate(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		dlg := env.User(t, "dlg@example.com", enum.PlatformRoleUser)
		before := len(systemEvents(t, env))

		env.MustDo(t, env.Token(t, m), rvSetDelegate, map[string]any{"u": dlg.ID}, nil)
		evs := systemEvents(t, env)
		require.Len(t, evs, before+1, "setDelegate appends one event to the system chain")
		ev := evs[len(evs)-1]
		require.Equal(t, string(audit.CatalogChanged), ev.Action)
		require.Equal(t, string(m.ID), ev.Actor)
		require.Equal(t, "User", ev.Data["entity"])
		require.Equal(t, string(m.ID), ev.Data["id"])
		require.Subset(t, ev.Data["fields"], []any{"delegate", "delegate_from", "delegate_until"})

		env.MustDo(t, env.Token(t, m), rvSetDelegate, map[string]any{"u": nil}, nil)
		evs = systemEvents(t, env)
		require.Len(t, evs, before+2, "clearing the delegate is audited too")
		require.Subset(t, evs[len(evs)-1].Data["fields"], []any{"delegate", "delegate_from", "delegate_until"})
		require.True(t, audit.Verify(audit.SystemChain, evs).Valid)
	})
}

// TestAuditNamesDeletedRow: deleting a stage template records which one.
func TestAuditNamesDeletedRow(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		st, err := env.Client.ReviewStageTemplate.Create().SetLevel(1).SetReviewerKind(enum.ReviewerKindRiskManager).Save(apitest.Sys())
		require.NoError(t, err)

		env.MustDo(t, env.Token(t, admin), catalogDeleteStage, map[string]any{"id": st.ID}, nil)
		evs := systemEvents(t, env)
		ev := evs[len(evs)-1]
		require.Equal(t, string(admin.ID), ev.Actor)
		require.Equal(t, map[string]any{"entity": "ReviewStageTemplate", "op": "OpDeleteOne", "fields": []any{}, "id": string(st.ID)}, ev.Data)
	})
}

// auditCall is one successful call of a mutation, prepared by its case:
// the operation, who makes it, and the chain that must record it (the
// system chain, or "" for the trail of the request it acts on).
type auditCall struct {
	token, query string
	vars         map[string]any
	actor        pulid.ID
	chain        string
}

// auditScene is the organisation the mutation cases act in: an IT admin; B,
// who reports to M; O, owner of the MANUAL application Paper; DLG, another
// reviewer; and IdP, a SCIM application with one group to discover.
// Requests are for applications of their own (auditRequest), reviewed by
// B's manager and fulfilled by O or through o.receiver.
type auditScene struct {
	*org
	m, b, owner, dlg           *ent.User
	tokAdmin, tokM, tokB, tokO string
	paper                      *ent.Entitlement
	idp                        string
	apps                       int
}

// auditRequest submits B's request for a new entitlement, of a MANUAL
// application owned by O or a WEBHOOK one, and returns the request's ID, its
// item's and M's task on it.
func (s *auditScene) auditRequest(t *testing.T, f enum.Fulfillment) (req, item, task string) {
	t.Helper()
	s.apps++
	_, e := s.app(t, fmt.Sprintf("App %d", s.apps), f, []*ent.User{s.owner}, enum.ReviewerKindManager)
	r := s.fulSubmit(t, s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
	return r.ID, r.Items[0].ID, s.progress(t, s.tokM, r.ID).task(t, e.Name, s.m.Email)
}

// auditCases makes each mutation of the schema once, successfully. A new
// mutation needs a case here (or a place in auditExempt), else
// TestEveryMutationIsAudited fails.
var auditCases = map[string]func(t *testing.T, s *auditScene) auditCall{
	"createUser": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogCreateUser, map[string]any{"in": map[string]any{"email": "new@example.com", "name": "New"}})
	},
	"updateUser": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogUpdateUser, map[string]any{"id": s.b.ID, "in": map[string]any{"department": "Ops"}})
	},
	"createJobTitle": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogCreateJob, map[string]any{"in": map[string]any{"name": "Engineer"}})
	},
	"updateJobTitle": func(t *testing.T, s *auditScene) auditCall {
		jt, err := s.env.Client.JobTitle.Create().SetName("Clerk").Save(apitest.Sys())
		require.NoError(t, err)
		return s.adminCall(catalogUpdateJob, map[string]any{"id": jt.ID, "in": map[string]any{"name": "Senior clerk"}})
	},
	"createRole": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogCreateRole, map[string]any{"in": map[string]any{"name": "Analyst"}})
	},
	"updateRole": func(t *testing.T, s *auditScene) auditCall {
		r, err := s.env.Client.Role.Create().SetName("Auditor").Save(apitest.Sys())
		require.NoError(t, err)
		return s.adminCall(catalogUpdateRole, map[string]any{"id": r.ID, "in": map[string]any{"description": "Reads the books"}})
	},
	"createApplication": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogCreateApp, map[string]any{"in": map[string]any{"name": "Ledger", "fulfillment": "MANUAL", "connectorKind": "MANUAL"}})
	},
	"updateApplication": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogUpdateApp, map[string]any{"id": s.paper.ApplicationID, "in": map[string]any{"description": "Paper forms"}})
	},
	"createEntitlement": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogCreateEnt, map[string]any{"in": map[string]any{
			"applicationID": s.paper.ApplicationID, "externalID": "paper-admins", "name": "Paper admins", "kind": "GROUP"}})
	},
	"updateEntitlement": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogUpdateEnt, map[string]any{"id": s.paper.ID, "in": map[string]any{"description": "Fill in forms"}})
	},
	"createReviewStageTemplate": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(catalogCreateStage, map[string]any{"in": map[string]any{
			"applicationID": s.paper.ApplicationID, "level": 2, "reviewerKind": "APPLICATION_OWNER"}})
	},
	"deleteReviewStageTemplate": func(t *testing.T, s *auditScene) auditCall {
		st, err := s.env.Client.ReviewStageTemplate.Create().SetLevel(1).SetReviewerKind(enum.ReviewerKindRiskManager).Save(apitest.Sys())
		require.NoError(t, err)
		return s.adminCall(catalogDeleteStage, map[string]any{"id": st.ID})
	},
	"createApiToken": func(t *testing.T, s *auditScene) auditCall {
		return auditCall{token: s.tokB, query: catalogCreateAPIToks, actor: s.b.ID, chain: audit.SystemChain,
			vars: map[string]any{"in": map[string]any{"name": "ci", "scope": "READ"}}}
	},
	"revokeApiToken": func(t *testing.T, s *auditScene) auditCall {
		var out struct {
			CreateApiToken struct{ APIToken struct{ ID string } }
		}
		s.env.MustDo(t, s.tokB, catalogCreateAPIToks, map[string]any{"in": map[string]any{"name": "old", "scope": "READ"}}, &out)
		require.NotEmpty(t, out.CreateApiToken.APIToken.ID)
		return auditCall{token: s.tokB, query: `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, actor: s.b.ID, chain: audit.SystemChain,
			vars: map[string]any{"id": out.CreateApiToken.APIToken.ID}}
	},
	"syncApplication": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(cnSync, map[string]any{"id": s.idp})
	},
	"setDelegate": func(t *testing.T, s *auditScene) auditCall {
		// O delegates to DLG: O reviews nothing in these cases, so no other
		// case's tasks move.
		return auditCall{token: s.tokO, query: rvSetDelegate, actor: s.owner.ID, chain: audit.SystemChain,
			vars: map[string]any{"u": s.dlg.ID}}
	},
	"submitAccessRequest": func(t *testing.T, s *auditScene) auditCall {
		return auditCall{token: s.tokB, query: fulSubmitMutation, actor: s.b.ID,
			vars: map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.paper.ID)}}}}
	},
	"decideReviewTask": func(t *testing.T, s *auditScene) auditCall {
		_, _, task := s.auditRequest(t, enum.FulfillmentManual)
		return auditCall{token: s.tokM, query: decide, actor: s.m.ID, vars: map[string]any{"id": task, "d": "APPROVE"}}
	},
	"decideReviewTasks": func(t *testing.T, s *auditScene) auditCall {
		_, _, task := s.auditRequest(t, enum.FulfillmentManual)
		return auditCall{token: s.tokM, query: rvDecideMany, actor: s.m.ID, vars: map[string]any{"ids": []string{task}, "d": "DENY"}}
	},
	"reassignReviewTask": func(t *testing.T, s *auditScene) auditCall {
		_, _, task := s.auditRequest(t, enum.FulfillmentManual)
		return auditCall{token: s.tokM, query: rvReassign, actor: s.m.ID, vars: map[string]any{"id": task, "to": s.dlg.ID}}
	},
	"cancelAccessRequest": func(t *testing.T, s *auditScene) auditCall {
		req, _, _ := s.auditRequest(t, enum.FulfillmentManual)
		return auditCall{token: s.tokB, query: rvCancel, actor: s.b.ID, vars: map[string]any{"id": req}}
	},
	"retryFulfillment": func(t *testing.T, s *auditScene) auditCall {
		s.receiver.FailNext(1, 400) // permanent: FAILED after one attempt
		_, item, task := s.auditRequest(t, enum.FulfillmentDirect)
		s.env.MustDo(t, s.tokM, decide, map[string]any{"id": task, "d": "APPROVE"}, nil)
		s.fulAwait(t, s.tokB, item, "FAILED")
		return auditCall{token: s.tokAdmin, query: `mutation($id: ID!) { retryFulfillment(itemId: $id) { id } }`,
			actor: s.admin.ID, vars: map[string]any{"id": item}}
	},
	"setLifecyclePolicy": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(lcSetPolicy, map[string]any{"app": s.paper.ApplicationID, "in": map[string]any{"remindEveryHours": 8}})
	},
	"setRequestPolicy": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(rpSet, map[string]any{"app": s.paper.ApplicationID, "in": map[string]any{"justificationRequired": true}})
	},
	"clearRequestPolicy": func(t *testing.T, s *auditScene) auditCall {
		s.env.MustDo(t, s.tokAdmin, rpSet, map[string]any{"app": s.paper.ApplicationID, "in": map[string]any{"justificationRequired": true}}, nil)
		return s.adminCall(rpClear, map[string]any{"app": s.paper.ApplicationID})
	},
	"createReviewPolicy": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(prCreatePolicy, map[string]any{"in": s.prPolicyInput()})
	},
	"updateReviewPolicy": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(`mutation($id: ID!, $in: ReviewPolicyInput!) { updateReviewPolicy(id: $id, input: $in) { id } }`,
			map[string]any{"id": s.prReviewPolicy(t, s.prName("Policy"), "MANAGER"), "in": s.prPolicyInput()})
	},
	"deleteReviewPolicy": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(prDeletePolicy, map[string]any{"id": s.prReviewPolicy(t, s.prName("Policy"), "MANAGER")})
	},
	"createPolicyRule": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(prCreateRule, map[string]any{"in": s.prRuleInput(t)})
	},
	"updatePolicyRule": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(prUpdateRule, map[string]any{"id": s.prRule(t, s.prRuleInput(t)).ID, "in": s.prRuleInput(t)})
	},
	"setPolicyRuleEnabled": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(prEnableRule, map[string]any{"id": s.prRule(t, s.prRuleInput(t)).ID, "on": false})
	},
	"deletePolicyRule": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(prDeleteRule, map[string]any{"id": s.prRule(t, s.prRuleInput(t)).ID})
	},
	"requestExtension": func(t *testing.T, s *auditScene) auditCall {
		s.apps++
		_, e := s.app(t, fmt.Sprintf("App %d", s.apps), enum.FulfillmentDirectAutoApproved, nil)
		r := s.fulSubmit(t, s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT1H"})
		s.fulAwait(t, s.tokB, r.Items[0].ID, "FULFILLED")
		g := s.fulGrants(t, s.tokB, e.ID)[0]
		return auditCall{token: s.tokB, query: lcExtend, actor: s.b.ID,
			vars: map[string]any{"g": g.ID, "d": "PT1H", "j": "longer"}}
	},
	"completeManualFulfillment": func(t *testing.T, s *auditScene) auditCall {
		_, item, task := s.auditRequest(t, enum.FulfillmentManual)
		s.env.MustDo(t, s.tokM, decide, map[string]any{"id": task, "d": "APPROVE"}, nil)
		return auditCall{token: s.tokO, query: `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true) { id } }`,
			actor: s.owner.ID, vars: map[string]any{"id": item}}
	},
	"createWebhookEndpoint": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(`mutation($in: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $in) { secret } }`,
			map[string]any{"in": map[string]any{"url": "https://hooks.example.com/a", "eventTypes": []string{"*"}}})
	},
	"updateWebhookEndpoint": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(`mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {description: "SIEM"}) { id } }`,
			map[string]any{"id": s.webhookEndpoint(t)})
	},
	"deleteWebhookEndpoint": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, map[string]any{"id": s.webhookEndpoint(t)})
	},
	"rotateWebhookSecret": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, map[string]any{"id": s.webhookEndpoint(t)})
	},
	"enableWebhookEndpoint": func(t *testing.T, s *auditScene) auditCall {
		id := s.webhookEndpoint(t)
		require.NoError(t, s.env.Client.WebhookEndpoint.UpdateOneID(id).SetEnabled(false).Exec(apitest.Sys()))
		return s.adminCall(`mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`, map[string]any{"id": id})
	},
	"createSodConflictSet": func(t *testing.T, s *auditScene) auditCall {
		a, b := s.sodEntitlements(t)
		return s.adminCall(sodCreate, map[string]any{"in": map[string]any{"name": "Audited pair", "mode": "WARN",
			"entitlementIds": []string{string(a), string(b)}}})
	},
	"updateSodConflictSet": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(sodUpdate, map[string]any{"id": s.sodSet(t), "in": map[string]any{"mode": "BLOCK"}})
	},
	"deleteSodConflictSet": func(t *testing.T, s *auditScene) auditCall {
		return s.adminCall(sodDelete, map[string]any{"id": s.sodSet(t)})
	},
	"acceptSodConflict": func(t *testing.T, s *auditScene) auditCall {
		risk := s.env.User(t, "risk-accept@example.com", enum.PlatformRoleRiskManager)
		return auditCall{token: s.env.Token(t, risk), query: sodAccept, actor: risk.ID, chain: audit.SystemChain,
			vars: map[string]any{"set": s.sodSet(t), "user": string(s.b.ID), "reason": "audited acceptance"}}
	},
	"revokeSodAcceptance": func(t *testing.T, s *auditScene) auditCall {
		risk := s.env.User(t, "risk-revoke@example.com", enum.PlatformRoleRiskManager)
		a, err := s.env.Client.SodAcceptance.Create().SetConflictSetID(s.sodSet(t)).SetUserID(s.b.ID).
			SetAcceptedByID(risk.ID).SetReason("to revoke").Save(apitest.Sys())
		require.NoError(t, err)
		return auditCall{token: s.env.Token(t, risk), query: `mutation($id: ID!) { revokeSodAcceptance(id: $id) }`,
			actor: risk.ID, chain: audit.SystemChain, vars: map[string]any{"id": string(a.ID)}}
	},
}

// sodEntitlements makes two applications with one entitlement each, for
// the separation-of-duties cases.
func (s *auditScene) sodEntitlements(t *testing.T) (pulid.ID, pulid.ID) {
	t.Helper()
	var ids [2]pulid.ID
	for i := range ids {
		s.apps++
		_, e := s.app(t, fmt.Sprintf("App %d", s.apps), enum.FulfillmentManual, nil)
		ids[i] = e.ID
	}
	return ids[0], ids[1]
}

// sodSet makes a conflict set, for the cases that change one.
func (s *auditScene) sodSet(t *testing.T) pulid.ID {
	t.Helper()
	a, b := s.sodEntitlements(t)
	set, err := s.env.Client.SodConflictSet.Create().SetName(fmt.Sprintf("Set %d", s.apps)).SetMode(enum.SodModeWarn).
		AddEntitlementIDs(a, b).Save(apitest.Sys())
	require.NoError(t, err)
	return set.ID
}

// webhookEndpoint registers an event webhook endpoint, for the cases that
// change one.
func (s *auditScene) webhookEndpoint(t *testing.T) pulid.ID {
	t.Helper()
	ep, err := s.env.Client.WebhookEndpoint.Create().SetURL("https://hooks.example.com/b").
		SetEventTypes([]string{"REQUEST_SUBMITTED"}).SetSecret("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0").Save(apitest.Sys())
	require.NoError(t, err)
	return ep.ID
}

// auditExempt lists the mutations that change nothing durable, or only the
// viewer's own inbox, with why; the test checks that they record nothing
// either.
var auditExempt = map[string]struct {
	why  string
	call func(t *testing.T, s *auditScene) auditCall
}{
	"checkApplicationConnection": {
		why: "runs the connector's health check and answers with its outcome; nothing is stored",
		call: func(t *testing.T, s *auditScene) auditCall {
			return s.adminCall(`mutation($id: ID!) { checkApplicationConnection(id: $id) { ok } }`, map[string]any{"id": s.idp})
		},
	},
	"markNotificationsRead": {
		why: "read marks are the viewer's own inbox state, about no access and visible to nobody else",
		call: func(t *testing.T, s *auditScene) auditCall {
			return auditCall{token: s.tokB, query: `mutation { markNotificationsRead(all: true) }`, actor: s.b.ID}
		},
	},
	"updateNotificationPreferences": {
		why: "the viewer's own channels for notifications, about no access and visible to nobody else",
		call: func(t *testing.T, s *auditScene) auditCall {
			return auditCall{token: s.tokB, query: `mutation { updateNotificationPreferences(input: [{kind: ACCESS_GRANTED, email: true}]) { kind } }`, actor: s.b.ID}
		},
	},
}

// adminCall is a call by the IT admin, recorded on the system chain.
func (s *auditScene) adminCall(query string, vars map[string]any) auditCall {
	return auditCall{token: s.tokAdmin, query: query, vars: vars, actor: s.admin.ID, chain: audit.SystemChain}
}

// eventsBy returns the chains of the audit events by actor, by event ID.
func eventsBy(t *testing.T, env *apitest.Env, actor pulid.ID) map[pulid.ID]string {
	t.Helper()
	evs, err := env.Client.AuditEvent.Query().Where(auditevent.Actor(string(actor))).All(apitest.Sys())
	require.NoError(t, err)
	out := make(map[pulid.ID]string, len(evs))
	for _, ev := range evs {
		out[ev.ID] = ev.Chain
	}
	return out
}

// TestEveryMutationIsAudited makes every mutation of the GraphQL schema
// once, successfully, and checks that it appended an audit event by its
// caller: to the system chain for changes outside requests, to the
// request's own trail otherwise. The mutations are read from the schema, so
// one without a case fails the test; the exempt ones must record nothing.
func TestEveryMutationIsAudited(t *testing.T) {
	t.Parallel()
	var mutations []string
	for _, f := range graph.NewExecutableSchema(graph.Config{}).Schema().Mutation.Fields {
		if !strings.HasPrefix(f.Name, "__") {
			mutations = append(mutations, f.Name)
		}
	}
	for _, name := range mutations {
		_, audited := auditCases[name]
		_, exempt := auditExempt[name]
		require.True(t, audited != exempt, "mutation %s needs exactly one entry, in auditCases or auditExempt", name)
	}
	require.Len(t, mutations, len(auditCases)+len(auditExempt), "every case names a mutation of the schema")

	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newAuditScene(t, db)
		for _, name := range mutations {
			prepare, audited := auditCases[name]
			if !audited {
				prepare = auditExempt[name].call
			}
			c := prepare(t, s)
			before := eventsBy(t, s.env, c.actor)
			res := s.env.Do(t, c.token, c.query, c.vars)
			require.Emptyf(t, res.Errors, "%s: %+v", name, res.Errors)
			var added []string
			for id, chain := range eventsBy(t, s.env, c.actor) {
				if _, ok := before[id]; !ok {
					added = append(added, chain)
				}
			}
			if !audited {
				require.Empty(t, added, "%s (%s) records nothing", name, auditExempt[name].why)
				continue
			}
			require.NotEmpty(t, added, "%s appends an audit event by its caller", name)
			for _, chain := range added {
				if c.chain == audit.SystemChain {
					require.Equal(t, audit.SystemChain, chain, name)
				} else {
					require.NotEqual(t, audit.SystemChain, chain, "%s records in the request's trail", name)
				}
			}
		}
		evs := systemEvents(t, s.env)
		require.True(t, audit.Verify(audit.SystemChain, evs).Valid)
	})
}

func newAuditScene(t *testing.T, db *dbtest.DB) *auditScene {
	t.Helper()
	const idpToken = "idp-token-audit-0123456789"
	rcv := apitest.NewReceiver(t)
	env := apitest.NewWith(t, db, apitest.Options{Env: map[string]string{
		apitest.ReceiverSecretEnv: rcv.Env()[apitest.ReceiverSecretEnv], "GATEHOUSE_SECRET_IDP_TOKEN": idpToken}})
	o := &org{env: env, receiver: rcv, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)}
	s := &auditScene{org: o}
	s.m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	s.owner = env.User(t, "o@example.com", enum.PlatformRoleUser)
	s.dlg = env.User(t, "dlg@example.com", enum.PlatformRoleUser)
	s.b = subPerson(t, env, "b@example.com", s.m, nil)
	s.tokAdmin, s.tokM, s.tokB, s.tokO = env.Token(t, o.admin), env.Token(t, s.m), env.Token(t, s.b), env.Token(t, s.owner)
	_, s.paper = o.app(t, "Paper", enum.FulfillmentManual, []*ent.User{s.owner}, enum.ReviewerKindManager)

	idp := newSCIMService(t, idpToken)
	idp.createGroup("Analysts")
	s.idp = cnNewApp(t, env, s.tokAdmin, map[string]any{"name": "IdP", "fulfillment": "DIRECT", "connectorKind": "SCIM",
		"connectorConfig": map[string]any{"baseUrl": idp.base, "tokenEnv": "GATEHOUSE_SECRET_IDP_TOKEN"}})
	return s
}

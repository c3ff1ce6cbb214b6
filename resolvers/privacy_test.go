package resolvers_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// privacyWorld is one access request R1 (alice for herself, reviewed by bob)
// with everything hanging off it, plus identities, grants and API tokens of
// several users.
type privacyWorld struct {
	alice, bob, mallory, rita, ivan *ent.User

	app         *ent.Application
	entitlement *ent.Entitlement

	request *ent.AccessRequest
	item    *ent.RequestItem
	stage   *ent.ReviewStage
	task    *ent.ReviewTask
	event   *ent.AuditEvent

	aliceIdentity, malloryIdentity *ent.Identity
	aliceGrant, malloryGrant       *ent.Grant

	aliceToken, malloryToken, ritaToken, ivanToken *ent.ApiToken
}

func seedPrivacyWorld(t *testing.T, env *apitest.Env) *privacyWorld {
	t.Helper()
	ctx, c := apitest.Sys(), env.Client
	w := &privacyWorld{
		alice:   env.User(t, "alice@x.example", enum.PlatformRoleUser),
		bob:     env.User(t, "bob@x.example", enum.PlatformRoleUser),
		mallory: env.User(t, "mallory@x.example", enum.PlatformRoleUser),
		rita:    env.User(t, "rita@x.example", enum.PlatformRoleRiskManager),
		ivan:    env.User(t, "ivan@x.example", enum.PlatformRoleITAdmin),
	}
	var err error
	w.app, err = c.Application.Create().SetName("Ledger").
		SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(ctx)
	require.NoError(t, err)
	w.entitlement, err = c.Entitlement.Create().SetApplicationID(w.app.ID).
		SetExternalID("ledger-admins").SetName("Ledger admins").Save(ctx)
	require.NoError(t, err)

	w.request, err = c.AccessRequest.Create().SetAction(enum.RequestActionGrant).
		SetRequesterID(w.alice.ID).SetBeneficiaryID(w.alice.ID).
		SetJustification("secret project").Save(ctx)
	require.NoError(t, err)
	w.item, err = c.RequestItem.Create().SetRequestID(w.request.ID).SetEntitlementID(w.entitlement.ID).
		SetApplicationID(w.app.ID).SetAction(enum.RequestActionGrant).Save(ctx)
	require.NoError(t, err)
	w.stage, err = c.ReviewStage.Create().SetItemID(w.item.ID).SetLevel(1).
		SetReviewerKind(enum.ReviewerKindManager).SetRule(enum.StageRuleAny).
		SetStatus(enum.StageStatusActive).Save(ctx)
	require.NoError(t, err)
	w.task, err = c.ReviewTask.Create().SetStageID(w.stage.ID).SetRequestID(w.request.ID).
		SetReviewerID(w.bob.ID).SetStatus(enum.TaskStatusPending).Save(ctx)
	require.NoError(t, err)
	w.event, err = c.AuditEvent.Create().SetChain(string(w.request.ID)).SetSeq(1).
		SetAt(time.Now().UTC().Truncate(time.Microsecond)).SetAction("REQUEST_SUBMITTED").
		SetActor(string(w.alice.ID)).SetPrevHash(fmt.Sprintf("%064d", 0)).
		SetHash(fmt.Sprintf("%064x", 1)).SetRequestID(w.request.ID).Save(ctx)
	require.NoError(t, err)

	// alice already holds the entitlement through an account created by R1
	// (what a fulfilled item would leave behind); mallory holds it too.
	w.aliceIdentity, err = c.Identity.Create().SetUserID(w.alice.ID).SetApplicationID(w.app.ID).
		SetLogin("alice").SetCreatedByRequestID(w.request.ID).Save(ctx)
	require.NoError(t, err)
	w.aliceGrant, err = c.Grant.Create().SetIdentityID(w.aliceIdentity.ID).
		SetEntitlementID(w.entitlement.ID).SetSourceItemID(w.item.ID).Save(ctx)
	require.NoError(t, err)
	w.malloryIdentity, err = c.Identity.Create().SetUserID(w.mallory.ID).SetApplicationID(w.app.ID).
		SetLogin("mallory").Save(ctx)
	require.NoError(t, err)
	w.malloryGrant, err = c.Grant.Create().SetIdentityID(w.malloryIdentity.ID).
		SetEntitlementID(w.entitlement.ID).Save(ctx)
	require.NoError(t, err)

	token := func(u *ent.User) *ent.ApiToken {
		tok, err := c.ApiToken.Create().SetName("ci").SetPrefix("ght_seed").
			SetHash("seed-" + string(u.ID)).SetScope(enum.TokenScopeWrite).SetOwnerID(u.ID).Save(ctx)
		require.NoError(t, err)
		return tok
	}
	w.aliceToken, w.malloryToken, w.ritaToken, w.ivanToken = token(w.alice), token(w.mallory), token(w.rita), token(w.ivan)
	return w
}

const privacyQuery = `query($r: ID!, $alice: ID!, $bob: ID!, $ent: ID!, $item: ID!, $stage: ID!, $task: ID!, $event: ID!, $aliceToken: ID!) {
  visible: accessRequests(scope: VISIBLE) { totalCount edges { node { id } } }
  mine: accessRequests(scope: MINE) { totalCount edges { node { id } } }
  forMe: accessRequests(scope: FOR_ME) { totalCount edges { node { id } } }
  toReview: accessRequests(scope: TO_REVIEW) { totalCount edges { node { id } } }
  request: node(id: $r) {
    id
    ... on AccessRequest { items { id stages { id tasks { id } } } tasks { id } auditEvents { id } }
  }
  item: node(id: $item) { id }
  stage: node(id: $stage) { id }
  task: node(id: $task) { id }
  event: node(id: $event) { id }
  aliceToken: node(id: $aliceToken) { id }
  alice: node(id: $alice) {
    id
    ... on User { requests { id } beneficiaryRequests { id } reviewTasks { id } identities { id } apiTokens { id } }
  }
  bob: node(id: $bob) { id ... on User { reviewTasks { id request { id } } } }
  entitlements { edges { node { id grants { id sourceItem { id request { id } } } } } }
  entitlement: node(id: $ent) { id ... on Entitlement { grants { id } } }
  identities { totalCount edges { node { id createdByRequest { id } } } }
  grants { totalCount edges { node { id } } }
  apiTokens { totalCount edges { node { id } } }
}`

type idObj struct {
	ID string `json:"id"`
}

type conn struct {
	TotalCount int `json:"totalCount"`
	Edges      []struct {
		Node json.RawMessage `json:"node"`
	} `json:"edges"`
}

// ids returns the IDs of the connection's nodes, sorted.
func (c conn) ids(t *testing.T) []string {
	t.Helper()
	out := []string{}
	for _, e := range c.Edges {
		var n idObj
		require.NoError(t, json.Unmarshal(e.Node, &n))
		out = append(out, n.ID)
	}
	sort.Strings(out)
	return out
}

func listIDs(l []idObj) []string {
	out := []string{}
	for _, o := range l {
		out = append(out, o.ID)
	}
	sort.Strings(out)
	return out
}

func sorted[T ~string](v ...T) []string {
	out := []string{}
	for _, s := range v {
		out = append(out, string(s))
	}
	sort.Strings(out)
	return out
}

type privacyResult struct {
	Visible  conn `json:"visible"`
	Mine     conn `json:"mine"`
	ForMe    conn `json:"forMe"`
	ToReview conn `json:"toReview"`
	Request  *struct {
		ID    string `json:"id"`
		Items []struct {
			ID     string `json:"id"`
			Stages []struct {
				ID    string  `json:"id"`
				Tasks []idObj `json:"tasks"`
			} `json:"stages"`
		} `json:"items"`
		Tasks       []idObj `json:"tasks"`
		AuditEvents []idObj `json:"auditEvents"`
	} `json:"request"`
	Item       *idObj `json:"item"`
	Stage      *idObj `json:"stage"`
	Task       *idObj `json:"task"`
	Event      *idObj `json:"event"`
	AliceToken *idObj `json:"aliceToken"`
	Alice      struct {
		ID                  string  `json:"id"`
		Requests            []idObj `json:"requests"`
		BeneficiaryRequests []idObj `json:"beneficiaryRequests"`
		ReviewTasks         []idObj `json:"reviewTasks"`
		Identities          []idObj `json:"identities"`
		APITokens           []idObj `json:"apiTokens"`
	} `json:"alice"`
	Bob struct {
		ID          string `json:"id"`
		ReviewTasks []struct {
			ID      string `json:"id"`
			Request idObj  `json:"request"`
		} `json:"reviewTasks"`
	} `json:"bob"`
	Entitlements struct {
		Edges []struct {
			Node struct {
				ID     string `json:"id"`
				Grants []struct {
					ID         string `json:"id"`
					SourceItem *struct {
						ID      string `json:"id"`
						Request idObj  `json:"request"`
					} `json:"sourceItem"`
				} `json:"grants"`
			} `json:"node"`
		} `json:"edges"`
	} `json:"entitlements"`
	Entitlement struct {
		ID     string  `json:"id"`
		Grants []idObj `json:"grants"`
	} `json:"entitlement"`
	Identities struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Node struct {
				ID               string `json:"id"`
				CreatedByRequest *idObj `json:"createdByRequest"`
			} `json:"node"`
		} `json:"edges"`
	} `json:"identities"`
	Grants    conn `json:"grants"`
	APITokens conn `json:"apiTokens"`
}

// TestPrivacyAccessRequests checks DESIGN §5 end to end: a USER sees the
// requests they requested, are the beneficiary of or review (with their
// items, stages, tasks and audit events), their own identities, grants and
// API tokens, and nothing else — not in lists, not through node(id:) or
// nodes(ids:), not through the edges of visible objects. Risk managers and IT
// admins read every request, identity and grant; API tokens are for their
// owner and IT admins only.
func TestPrivacyAccessRequests(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		w := seedPrivacyWorld(t, env)
		r1 := string(w.request.ID)
		none := []string{}
		one := []string{r1}

		tests := []struct {
			name   string
			viewer *ent.User
			// why the expectations hold
			why string
			// seesR1: R1 and its items, stages, tasks and audit events.
			seesR1                    bool
			visible, mine, forMe, rev []string
			identities                []*ent.Identity
			grants                    []*ent.Grant
			tokens                    []*ent.ApiToken
		}{
			{
				name: "mallory", viewer: w.mallory,
				why:     "an unrelated USER sees no request and only her own account, grant and token",
				visible: none, mine: none, forMe: none, rev: none,
				identities: []*ent.Identity{w.malloryIdentity}, grants: []*ent.Grant{w.malloryGrant},
				tokens: []*ent.ApiToken{w.malloryToken},
			},
			{
				name: "alice", viewer: w.alice,
				why:    "the requester and beneficiary sees R1 under MINE and FOR_ME but has nothing to review",
				seesR1: true, visible: one, mine: one, forMe: one, rev: none,
				identities: []*ent.Identity{w.aliceIdentity}, grants: []*ent.Grant{w.aliceGrant},
				tokens: []*ent.ApiToken{w.aliceToken},
			},
			{
				name: "bob", viewer: w.bob,
				why:    "the reviewer sees R1 under TO_REVIEW only and holds no access",
				seesR1: true, visible: one, mine: none, forMe: none, rev: one,
				identities: nil, grants: nil, tokens: nil,
			},
			{
				name: "rita", viewer: w.rita,
				why:    "a RISK_MANAGER reads every request, identity and grant, but only her own token",
				seesR1: true, visible: one, mine: none, forMe: none, rev: none,
				identities: []*ent.Identity{w.aliceIdentity, w.malloryIdentity},
				grants:     []*ent.Grant{w.aliceGrant, w.malloryGrant},
				tokens:     []*ent.ApiToken{w.ritaToken},
			},
			{
				name: "ivan", viewer: w.ivan,
				why:    "an IT_ADMIN reads everything, every token included",
				seesR1: true, visible: one, mine: none, forMe: none, rev: none,
				identities: []*ent.Identity{w.aliceIdentity, w.malloryIdentity},
				grants:     []*ent.Grant{w.aliceGrant, w.malloryGrant},
				tokens:     []*ent.ApiToken{w.aliceToken, w.malloryToken, w.ritaToken, w.ivanToken},
			},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tok := env.Token(t, tc.viewer)
				var out privacyResult
				env.MustDo(t, tok, privacyQuery, map[string]any{
					"r": r1, "alice": w.alice.ID, "bob": w.bob.ID, "ent": w.entitlement.ID,
					"item": w.item.ID, "stage": w.stage.ID, "task": w.task.ID, "event": w.event.ID,
					"aliceToken": w.aliceToken.ID,
				}, &out)

				// Lists, by scope.
				for _, s := range []struct {
					scope string
					got   conn
					want  []string
				}{
					{"VISIBLE", out.Visible, tc.visible},
					{"MINE", out.Mine, tc.mine},
					{"FOR_ME", out.ForMe, tc.forMe},
					{"TO_REVIEW", out.ToReview, tc.rev},
				} {
					require.Equalf(t, s.want, s.got.ids(t), "%s: %s", s.scope, tc.why)
					require.Equalf(t, len(s.want), s.got.TotalCount, "%s totalCount: %s", s.scope, tc.why)
				}

				// R1 and everything under it, through node(id:) and edges.
				var aliceTokenIDs []string
				for _, tk := range tc.tokens {
					if tk.OwnerID == w.alice.ID {
						aliceTokenIDs = append(aliceTokenIDs, string(tk.ID))
					}
				}
				require.Equal(t, string(w.alice.ID), out.Alice.ID, "users are visible to everyone")
				require.Equal(t, string(w.bob.ID), out.Bob.ID, "users are visible to everyone")
				require.Equal(t, string(w.entitlement.ID), out.Entitlement.ID, "the catalog is visible to everyone")
				require.Len(t, out.Entitlements.Edges, 1, "the catalog is visible to everyone")
				require.Empty(t, out.Alice.ReviewTasks, "alice reviews nothing")
				if tc.seesR1 {
					require.NotNil(t, out.Request, tc.why)
					require.Equal(t, r1, out.Request.ID)
					require.Len(t, out.Request.Items, 1)
					require.Equal(t, string(w.item.ID), out.Request.Items[0].ID)
					require.Len(t, out.Request.Items[0].Stages, 1)
					require.Equal(t, string(w.stage.ID), out.Request.Items[0].Stages[0].ID)
					require.Equal(t, sorted(w.task.ID), listIDs(out.Request.Items[0].Stages[0].Tasks))
					require.Equal(t, sorted(w.task.ID), listIDs(out.Request.Tasks))
					require.Equal(t, sorted(w.event.ID), listIDs(out.Request.AuditEvents))
					for name, n := range map[string]*idObj{
						"item": out.Item, "stage": out.Stage, "task": out.Task, "event": out.Event,
					} {
						require.NotNilf(t, n, "node(%s): %s", name, tc.why)
					}
					require.Equal(t, string(w.item.ID), out.Item.ID)
					require.Equal(t, string(w.stage.ID), out.Stage.ID)
					require.Equal(t, string(w.task.ID), out.Task.ID)
					require.Equal(t, string(w.event.ID), out.Event.ID)
					require.Equal(t, one, listIDs(out.Alice.Requests))
					require.Equal(t, one, listIDs(out.Alice.BeneficiaryRequests))
					require.Len(t, out.Bob.ReviewTasks, 1)
					require.Equal(t, string(w.task.ID), out.Bob.ReviewTasks[0].ID)
					require.Equal(t, r1, out.Bob.ReviewTasks[0].Request.ID)
				} else {
					require.Nil(t, out.Request, "node(R1): %s", tc.why)
					for name, n := range map[string]*idObj{
						"item": out.Item, "stage": out.Stage, "task": out.Task, "event": out.Event,
					} {
						require.Nilf(t, n, "node(%s): %s", name, tc.why)
					}
					require.Empty(t, out.Alice.Requests, "alice.requests: %s", tc.why)
					require.Empty(t, out.Alice.BeneficiaryRequests, "alice.beneficiaryRequests: %s", tc.why)
					require.Empty(t, out.Bob.ReviewTasks, "bob.reviewTasks: %s", tc.why)
				}

				// Identities and grants: lists and edges.
				wantIdentities, wantAliceIdentities := []string{}, []string{}
				for _, id := range tc.identities {
					wantIdentities = append(wantIdentities, string(id.ID))
					if id.UserID == w.alice.ID {
						wantAliceIdentities = append(wantAliceIdentities, string(id.ID))
					}
				}
				sort.Strings(wantIdentities)
				wantGrants := []string{}
				for _, g := range tc.grants {
					wantGrants = append(wantGrants, string(g.ID))
				}
				sort.Strings(wantGrants)
				gotIdentities := []string{}
				for _, e := range out.Identities.Edges {
					gotIdentities = append(gotIdentities, e.Node.ID)
					if e.Node.ID == string(w.aliceIdentity.ID) {
						require.NotNil(t, e.Node.CreatedByRequest, "identity.createdByRequest")
						require.Equal(t, r1, e.Node.CreatedByRequest.ID)
					} else {
						require.Nil(t, e.Node.CreatedByRequest)
					}
				}
				sort.Strings(gotIdentities)
				require.Equal(t, wantIdentities, gotIdentities, "identities: %s", tc.why)
				require.Equal(t, len(wantIdentities), out.Identities.TotalCount, "identities totalCount")
				require.Equal(t, wantAliceIdentities, listIDs(out.Alice.Identities), "alice.identities: %s", tc.why)
				require.Equal(t, wantGrants, out.Grants.ids(t), "grants: %s", tc.why)
				require.Equal(t, len(wantGrants), out.Grants.TotalCount, "grants totalCount")
				require.Equal(t, wantGrants, listIDs(out.Entitlement.Grants), "node(entitlement).grants: %s", tc.why)
				gotEdgeGrants := []string{}
				for _, g := range out.Entitlements.Edges[0].Node.Grants {
					gotEdgeGrants = append(gotEdgeGrants, g.ID)
					if g.ID == string(w.aliceGrant.ID) {
						require.NotNil(t, g.SourceItem, "grant.sourceItem")
						require.Equal(t, string(w.item.ID), g.SourceItem.ID)
						require.Equal(t, r1, g.SourceItem.Request.ID)
					} else {
						require.Nil(t, g.SourceItem)
					}
				}
				sort.Strings(gotEdgeGrants)
				require.Equal(t, wantGrants, gotEdgeGrants, "entitlements.grants: %s", tc.why)

				// API tokens: lists, edges and node(id:).
				wantTokens := []string{}
				for _, tk := range tc.tokens {
					wantTokens = append(wantTokens, string(tk.ID))
				}
				sort.Strings(wantTokens)
				require.Equal(t, wantTokens, out.APITokens.ids(t), "apiTokens: %s", tc.why)
				require.Equal(t, len(wantTokens), out.APITokens.TotalCount, "apiTokens totalCount")
				sort.Strings(aliceTokenIDs)
				if aliceTokenIDs == nil {
					aliceTokenIDs = []string{}
				}
				require.Equal(t, aliceTokenIDs, listIDs(out.Alice.APITokens), "alice.apiTokens: %s", tc.why)
				if len(aliceTokenIDs) == 0 {
					require.Nil(t, out.AliceToken, "node(alice's token): %s", tc.why)
				} else {
					require.NotNil(t, out.AliceToken, "node(alice's token): %s", tc.why)
				}

				// nodes(ids:): hidden objects are null entries with NOT_FOUND.
				nodeIDs := []string{r1, string(w.item.ID), string(w.task.ID)}
				res := env.Do(t, tok, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": nodeIDs})
				require.Equal(t, 200, res.Status)
				var nodes struct{ Nodes []*idObj }
				require.NoError(t, json.Unmarshal(res.Data, &nodes))
				require.Len(t, nodes.Nodes, 3)
				if tc.seesR1 {
					require.Empty(t, res.Errors)
					for i, id := range nodeIDs {
						require.NotNil(t, nodes.Nodes[i])
						require.Equal(t, id, nodes.Nodes[i].ID)
					}
				} else {
					require.Len(t, res.Errors, 3, "one error per hidden node")
					for i := range nodeIDs {
						require.Nilf(t, nodes.Nodes[i], "nodes[%d]: %s", i, tc.why)
					}
					indexes := []float64{}
					for _, e := range res.Errors {
						require.Equal(t, "NOT_FOUND", e.Extensions.Code, e.Message)
						require.Len(t, e.Path, 2)
						require.Equal(t, "nodes", e.Path[0])
						indexes = append(indexes, e.Path[1].(float64))
						require.NotContains(t, e.Message, "secret project")
					}
					require.ElementsMatch(t, []float64{0, 1, 2}, indexes)
				}
			})
		}
	})
}

// TestPrivacyAdminMutationForbidden checks that catalog and user
// administration is for IT admins: a USER or RISK_MANAGER gets FORBIDDEN and
// nothing is written — in particular nobody can make themselves IT_ADMIN.
func TestPrivacyAdminMutationForbidden(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		ivan := env.User(t, "ivan@x.example", enum.PlatformRoleITAdmin)

		const (
			createApplication = `mutation { createApplication(input: {name: "Payroll", fulfillment: MANUAL, connectorKind: MANUAL}) { id } }`
			createUser        = `mutation { createUser(input: {email: "new@x.example", name: "New", platformRole: IT_ADMIN}) { id } }`
			updateUser        = `mutation($id: ID!) { updateUser(id: $id, input: {platformRole: IT_ADMIN}) { id platformRole } }`
			terminate         = `mutation($id: ID!) { updateUser(id: $id, input: {status: TERMINATED}) { id status } }`
		)
		for _, role := range []enum.PlatformRole{enum.PlatformRoleUser, enum.PlatformRoleRiskManager} {
			u := env.User(t, "someone-"+string(role)+"@x.example", role)
			tok := env.Token(t, u)
			for _, m := range []struct {
				name, query string
				vars        map[string]any
			}{
				{"createApplication", createApplication, nil},
				{"createUser (an IT_ADMIN)", createUser, nil},
				{"updateUser (self to IT_ADMIN)", updateUser, map[string]any{"id": u.ID}},
				{"updateUser (terminate the admin)", terminate, map[string]any{"id": ivan.ID}},
			} {
				apps, err := env.Client.Application.Query().Count(apitest.Sys())
				require.NoError(t, err)
				users, err := env.Client.User.Query().Count(apitest.Sys())
				require.NoError(t, err)

				res := env.Do(t, tok, m.query, m.vars)
				require.Equalf(t, "FORBIDDEN", res.Code(), "%s by %s: %+v", m.name, role, res.Errors)
				require.JSONEq(t, "null", string(res.Data), "%s by %s returns no data", m.name, role)

				apps2, err := env.Client.Application.Query().Count(apitest.Sys())
				require.NoError(t, err)
				users2, err := env.Client.User.Query().Count(apitest.Sys())
				require.NoError(t, err)
				require.Equal(t, apps, apps2, "%s by %s wrote an application", m.name, role)
				require.Equal(t, users, users2, "%s by %s wrote a user", m.name, role)
				self, err := env.Client.User.Get(apitest.Sys(), u.ID)
				require.NoError(t, err)
				require.Equal(t, role, self.PlatformRole, "%s by %s changed their role", m.name, role)
				admin, err := env.Client.User.Get(apitest.Sys(), ivan.ID)
				require.NoError(t, err)
				require.Equal(t, enum.UserStatusActive, admin.Status, "%s by %s changed the admin", m.name, role)
			}
			var out struct{ Viewer struct{ PlatformRole string } }
			env.MustDo(t, tok, `{ viewer { platformRole } }`, nil, &out)
			require.Equal(t, string(role), out.Viewer.PlatformRole)
		}

		// The same mutations succeed for an IT admin, so the refusals above
		// are about the caller, not the input.
		admin := env.Token(t, ivan)
		env.MustDo(t, admin, createApplication, nil, nil)
		env.MustDo(t, admin, createUser, nil, nil)
		n, err := env.Client.Application.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

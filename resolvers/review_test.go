package resolvers_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// The review tests (DESIGN §4.2, §4.3, §4.4) drive stages, reviewer
// resolution, decisions, delegation, reassignment, cancellation and
// termination through GraphQL. They use the helpers of submit_test.go.

// rvTemplate adds a review stage template to an application.
func rvTemplate(t *testing.T, env *apitest.Env, app *ent.Application, level int, kind enum.ReviewerKind, rule enum.StageRule, quorum int, designated ...*ent.User) {
	t.Helper()
	_, err := env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(level).SetReviewerKind(kind).
		SetRule(rule).SetQuorum(quorum).AddDesignatedReviewers(designated...).Save(apitest.Sys())
	require.NoError(t, err)
}

// rvDecide decides one task as the viewer of token.
func rvDecide(t *testing.T, env *apitest.Env, token, id, d string) *apitest.Response {
	t.Helper()
	return env.Do(t, token, decide, map[string]any{"id": id, "d": d})
}

const rvDecideMany = `mutation($ids: [ID!]!, $d: Decision!) { decideReviewTasks(ids: $ids, decision: $d) { id status } }`

const rvReassign = `mutation($id: ID!, $to: ID!) { reassignReviewTask(id: $id, toUserId: $to, comment: "over to you") {
  id status reviewer { email } } }`

const rvSetDelegate = `mutation($u: ID, $from: Time, $until: Time) { setDelegate(userId: $u, from: $from, until: $until) {
  email delegate { email } delegateFrom delegateUntil } }`

const rvCancel = `mutation($id: ID!) { cancelAccessRequest(id: $id, reason: "no longer needed") { id status } }`

// rvTasks returns the status of every review task, by ID, read from the
// database.
func rvTasks(t *testing.T, env *apitest.Env) map[pulid.ID]enum.TaskStatus {
	t.Helper()
	tasks, err := env.Client.ReviewTask.Query().All(apitest.Sys())
	require.NoError(t, err)
	out := make(map[pulid.ID]enum.TaskStatus, len(tasks))
	for _, task := range tasks {
		out[task.ID] = task.Status
	}
	return out
}

// rvSnapshot is what a refused operation must leave as it was.
type rvSnapshot struct {
	Tasks  map[pulid.ID]enum.TaskStatus
	Counts subCount
}

func rvSnap(t *testing.T, env *apitest.Env) rvSnapshot {
	t.Helper()
	return rvSnapshot{Tasks: rvTasks(t, env), Counts: subCounts(t, env)}
}

// rvDelegate sets (userID "" clears) the delegate of the viewer of token.
func rvDelegate(t *testing.T, env *apitest.Env, token string, userID pulid.ID, from, until *time.Time) (delegate *subUser) {
	t.Helper()
	vars := map[string]any{"u": nil}
	if userID != "" {
		vars["u"] = userID
	}
	if from != nil {
		vars["from"] = from.UTC().Format(time.RFC3339)
	}
	if until != nil {
		vars["until"] = until.UTC().Format(time.RFC3339)
	}
	var out struct {
		SetDelegate struct {
			Email    string
			Delegate *subUser
		}
	}
	env.MustDo(t, token, rvSetDelegate, vars, &out)
	return out.SetDelegate.Delegate
}

func rvTime(d time.Duration) *time.Time {
	at := time.Now().Add(d)
	return &at
}

// TestReviewStageRules plays the stage rules through GraphQL with three
// designated reviewers d1, d2, d3 per stage. Each row is one request on its
// own MANUAL application (so an approved item stays APPROVED).
func TestReviewStageRules(t *testing.T) {
	t.Parallel()
	type step struct {
		who  int    // index of the reviewer: 0, 1, 2
		d    string // APPROVE or DENY
		item string // the item status after the decision
	}
	rows := []struct {
		name   string
		rule   enum.StageRule
		quorum int
		steps  []step
		tasks  [3]string // final task status of d1, d2, d3
		why    string
	}{
		{"ANY approve", enum.StageRuleAny, 1, []step{{0, "APPROVE", "APPROVED"}},
			[3]string{"APPROVED", "SKIPPED", "SKIPPED"}, "the first decision decides; the others are skipped"},
		{"ANY deny", enum.StageRuleAny, 1, []step{{1, "DENY", "DENIED"}},
			[3]string{"SKIPPED", "DENIED", "SKIPPED"}, "a first deny decides too"},
		{"ALL approve approve deny", enum.StageRuleAll, 1, []step{{0, "APPROVE", "PENDING_REVIEW"}, {1, "APPROVE", "PENDING_REVIEW"}, {2, "DENY", "DENIED"}},
			[3]string{"APPROVED", "APPROVED", "DENIED"}, "every task must approve"},
		{"ALL approve x3", enum.StageRuleAll, 1, []step{{2, "APPROVE", "PENDING_REVIEW"}, {0, "APPROVE", "PENDING_REVIEW"}, {1, "APPROVE", "APPROVED"}},
			[3]string{"APPROVED", "APPROVED", "APPROVED"}, "approved once all three approved"},
		{"ALL first deny", enum.StageRuleAll, 1, []step{{1, "DENY", "DENIED"}},
			[3]string{"SKIPPED", "DENIED", "SKIPPED"}, "the first deny denies at once"},
		{"QUORUM 2 of 3 approve approve", enum.StageRuleQuorum, 2, []step{{0, "APPROVE", "PENDING_REVIEW"}, {2, "APPROVE", "APPROVED"}},
			[3]string{"APPROVED", "SKIPPED", "APPROVED"}, "two approvals approve; the third task is skipped"},
		{"QUORUM 2 of 3 deny deny", enum.StageRuleQuorum, 2, []step{{0, "DENY", "PENDING_REVIEW"}, {1, "DENY", "DENIED"}},
			[3]string{"DENIED", "DENIED", "SKIPPED"}, "after two denials 2 approvals cannot be reached"},
		{"QUORUM 2 of 3 deny approve approve", enum.StageRuleQuorum, 2, []step{{0, "DENY", "PENDING_REVIEW"}, {1, "APPROVE", "PENDING_REVIEW"}, {2, "APPROVE", "APPROVED"}},
			[3]string{"DENIED", "APPROVED", "APPROVED"}, "one denial leaves the quorum reachable"},
		{"QUORUM 3 of 3", enum.StageRuleQuorum, 3, []step{{0, "APPROVE", "PENDING_REVIEW"}, {1, "APPROVE", "PENDING_REVIEW"}, {2, "APPROVE", "APPROVED"}},
			[3]string{"APPROVED", "APPROVED", "APPROVED"}, "a quorum of every reviewer needs every approval"},
	}
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		ds := []*ent.User{
			env.User(t, "d1@example.com", enum.PlatformRoleUser),
			env.User(t, "d2@example.com", enum.PlatformRoleUser),
			env.User(t, "d3@example.com", enum.PlatformRoleUser),
		}
		tok := []string{env.Token(t, ds[0]), env.Token(t, ds[1]), env.Token(t, ds[2])}
		r := subPerson(t, env, "r@example.com", nil, nil)
		rTok := env.Token(t, r)
		for i, row := range rows {
			t.Run(row.name, func(t *testing.T) {
				app, e := o.app(t, "Rules"+string(rune('A'+i)), enum.FulfillmentManual, nil)
				rvTemplate(t, env, app, 1, enum.ReviewerKindDesignated, row.rule, row.quorum, ds...)
				req := subSubmit(t, env, rTok, subGrantIn(e))
				st := req.Items[0].Stages[0]
				require.Equal(t, "DESIGNATED", st.ReviewerKind)
				require.Equal(t, string(row.rule), st.Rule)
				require.Equal(t, []string{"d1@example.com", "d2@example.com", "d3@example.com"}, st.reviewers("PENDING"))
				if row.rule == enum.StageRuleQuorum {
					require.Equal(t, min(row.quorum, 3), st.Quorum)
				}
				for n, s := range row.steps {
					task := st.task(t, ds[s.who].Email, "")
					res := rvDecide(t, env, tok[s.who], task.ID, s.d)
					require.Empty(t, res.Errors, "step %d: %+v", n+1, res.Errors)
					got := subGet(t, env, rTok, req.ID)
					require.Equal(t, s.item, got.Items[0].Status, "after step %d (%s): %s", n+1, s.d, row.why)
				}
				got := subGet(t, env, rTok, req.ID)
				final := got.Items[0].Stages[0]
				for k, want := range row.tasks {
					require.Equal(t, want, final.task(t, ds[k].Email, "").Status, "task of %s: %s", ds[k].Email, row.why)
				}
				wantStage, wantRequest := "APPROVED", "FULFILLING"
				if got.Items[0].Status == "DENIED" {
					wantStage, wantRequest = "DENIED", "DENIED"
				}
				require.Equal(t, wantStage, final.Status)
				require.Equal(t, wantRequest, got.Status)
				require.Equal(t, completion{3, 3, 100}, got.Completion, "every task is done or skipped")
			})
		}
	})
}

// TestReviewReviewerResolution checks, on real submissions, which users each
// reviewer kind resolves to, who is never a reviewer, and the fallbacks.
func TestReviewReviewerResolution(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m, o1, r, b := o.cast(t)
		o2 := env.User(t, "o2@example.com", enum.PlatformRoleUser)
		eo := env.User(t, "eo@example.com", enum.PlatformRoleUser)
		d1 := env.User(t, "d1@example.com", enum.PlatformRoleUser)
		d2 := env.User(t, "d2@example.com", enum.PlatformRoleUser)
		rTok := env.Token(t, r)

		// Before any risk manager exists: the chains end with the IT admin.
		_, orphan := o.app(t, "Orphan", enum.FulfillmentDirect, nil, enum.ReviewerKindEntitlementOwner)
		_, lone := o.app(t, "Lone", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		nomgr := subPerson(t, env, "nomgr@example.com", nil, nil)
		req := subSubmit(t, env, rTok, subGrantIn(orphan))
		st := req.Items[0].Stages[0]
		require.Equal(t, "IT_ADMIN", st.ReviewerKind, "ENTITLEMENT_OWNER → APPLICATION_OWNER → RISK_MANAGER → IT_ADMIN")
		require.Equal(t, []string{"it@example.com"}, st.reviewers("PENDING"))
		req = subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": nomgr.ID, "entitlementIds": subIDs(lone)})
		require.Equal(t, "IT_ADMIN", req.Items[0].Stages[0].ReviewerKind, "MANAGER → APPLICATION_OWNER → RISK_MANAGER → IT_ADMIN")
		require.Equal(t, []string{"it@example.com"}, req.Items[0].Stages[0].reviewers("PENDING"))

		env.User(t, "rm1@example.com", enum.PlatformRoleRiskManager)
		env.User(t, "rm2@example.com", enum.PlatformRoleRiskManager)
		rmGone := env.User(t, "rm3@example.com", enum.PlatformRoleRiskManager)
		subSetStatus(t, env, rmGone, enum.UserStatusTerminated)

		_, eMgr := o.app(t, "ByManager", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager)
		_, eOwners := o.app(t, "ByOwners", enum.FulfillmentDirect, []*ent.User{o1, o2}, enum.ReviewerKindApplicationOwner)
		_, eEnt := o.app(t, "ByEntOwner", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindEntitlementOwner)
		require.NoError(t, env.Client.Entitlement.UpdateOne(eEnt).SetOwner(eo).Exec(ctx))
		desApp, eDes := o.app(t, "ByDesignated", enum.FulfillmentDirect, []*ent.User{o1})
		rvTemplate(t, env, desApp, 1, enum.ReviewerKindDesignated, enum.StageRuleAny, 1, d1, d2)
		desSelf, eDesSelf := o.app(t, "DesignatedSelf", enum.FulfillmentDirect, []*ent.User{o2})
		rvTemplate(t, env, desSelf, 1, enum.ReviewerKindDesignated, enum.StageRuleAny, 1, r)
		_, eRisk := o.app(t, "ByRisk", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindRiskManager)
		_, eOwnSelf := o.app(t, "OwnedByRequester", enum.FulfillmentDirect, []*ent.User{r, o1}, enum.ReviewerKindApplicationOwner)
		_, eTwice := o.app(t, "Twice", enum.FulfillmentDirect, []*ent.User{m, o2}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		_, eOnce := o.app(t, "Once", enum.FulfillmentDirect, []*ent.User{m}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)

		req = subSubmit(t, env, rTok, subGrantIn(eMgr, eOwners, eEnt, eDes, eDesSelf, eRisk, eOwnSelf, eTwice, eOnce))
		for _, tc := range []struct {
			entitlement string
			level       int
			kind        string
			reviewers   []string
			why         string
		}{
			{"ByManager users", 1, "MANAGER", []string{"m@example.com"}, "the beneficiary's manager"},
			{"ByOwners users", 1, "APPLICATION_OWNER", []string{"o1@example.com", "o2@example.com"}, "every owner"},
			{"ByEntOwner users", 1, "ENTITLEMENT_OWNER", []string{"eo@example.com"}, "the entitlement's owner"},
			{"ByDesignated users", 1, "DESIGNATED", []string{"d1@example.com", "d2@example.com"}, "the template's users"},
			{"DesignatedSelf users", 1, "APPLICATION_OWNER", []string{"o2@example.com"}, "the only designated user is the requester: fall back to the owners"},
			{"ByRisk users", 1, "RISK_MANAGER", []string{"rm1@example.com", "rm2@example.com"}, "active risk managers; rm3 is TERMINATED"},
			{"OwnedByRequester users", 1, "APPLICATION_OWNER", []string{"o1@example.com"}, "the requester is an owner but never a reviewer"},
			{"Twice users", 1, "MANAGER", []string{"m@example.com"}, "stage 1: the manager"},
			{"Twice users", 2, "APPLICATION_OWNER", []string{"o2@example.com"}, "m reviewed stage 1, so only o2 of the owners"},
			{"Once users", 2, "RISK_MANAGER", []string{"rm1@example.com", "rm2@example.com"}, "the only owner reviewed stage 1: fall back"},
		} {
			stages := req.item(t, tc.entitlement).Stages
			require.GreaterOrEqual(t, len(stages), tc.level, tc.entitlement)
			st := stages[tc.level-1]
			require.Equal(t, tc.level, st.Level)
			require.Equal(t, tc.kind, st.ReviewerKind, "%s stage %d: %s", tc.entitlement, tc.level, tc.why)
			require.Equal(t, tc.reviewers, st.reviewers(""), "%s stage %d: %s", tc.entitlement, tc.level, tc.why)
			wantStatus := "PENDING"
			if tc.level > 1 {
				wantStatus = "WAITING"
			}
			require.Equal(t, tc.reviewers, st.reviewers(wantStatus), "%s stage %d tasks are %s", tc.entitlement, tc.level, wantStatus)
		}

		// The beneficiary is never a reviewer, even as an owner.
		_, eOwnedByB := o.app(t, "OwnedByBeneficiary", enum.FulfillmentDirect, []*ent.User{b, o2}, enum.ReviewerKindApplicationOwner)
		req = subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(eOwnedByB)})
		require.Equal(t, []string{"o2@example.com"}, req.Items[0].Stages[0].reviewers(""))

		// A TERMINATED manager falls back to the application owners.
		gone := env.User(t, "gone@example.com", enum.PlatformRoleUser)
		c := subPerson(t, env, "c@example.com", gone, nil)
		subSetStatus(t, env, gone, enum.UserStatusTerminated)
		_, eFall := o.app(t, "Fallback", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager)
		req = subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": c.ID, "entitlementIds": subIDs(eFall)})
		require.Equal(t, "APPLICATION_OWNER", req.Items[0].Stages[0].ReviewerKind)
		require.Equal(t, []string{"o1@example.com"}, req.Items[0].Stages[0].reviewers(""))
	})
}

// TestReviewSelfApproval checks that neither the requester nor the
// beneficiary can decide a task of their own request, also through a
// delegation or a task that (against the rules) sits on them.
func TestReviewSelfApproval(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m, o1, r, b := o.cast(t)
		rTok, bTok, mTok, o1Tok := env.Token(t, r), env.Token(t, b), env.Token(t, m), env.Token(t, o1)
		_, x := o.app(t, "X", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		_, y := o.app(t, "Y", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		_, w := o.app(t, "W", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindApplicationOwner, enum.ReviewerKindManager)

		// m delegates to r: r's own request stays with m.
		require.Equal(t, &subUser{"r@example.com"}, rvDelegate(t, env, mTok, r.ID, rvTime(-time.Hour), rvTime(time.Hour)))
		own := subSubmit(t, env, rTok, subGrantIn(x, w))
		mTask := own.item(t, "X users").Stages[0].task(t, "m@example.com", "PENDING")
		require.Nil(t, mTask.OnBehalfOf, "the requester is no delegate for their own request")
		snap := rvSnap(t, env)
		require.Equal(t, "FORBIDDEN", rvDecide(t, env, rTok, mTask.ID, "APPROVE").Code())
		require.Equal(t, snap, rvSnap(t, env))

		// Stage 2 becoming PENDING under the delegation also stays with m.
		wTask := own.item(t, "W users").Stages[0].task(t, "o1@example.com", "PENDING")
		require.Empty(t, rvDecide(t, env, o1Tok, wTask.ID, "APPROVE").Errors)
		st2 := subGet(t, env, rTok, own.ID).item(t, "W users").Stages[1]
		require.Equal(t, []string{"m@example.com"}, st2.reviewers("PENDING"))
		require.Nil(t, st2.task(t, "m@example.com", "PENDING").OnBehalfOf)
		require.Equal(t, []string{"m@example.com"}, st2.reviewers(""), "no task for the requester")

		// The beneficiary of a request by r cannot decide it.
		forB := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(y)})
		bTask := forB.Items[0].Stages[0].task(t, "m@example.com", "PENDING")
		snap = rvSnap(t, env)
		require.Equal(t, "FORBIDDEN", rvDecide(t, env, bTok, bTask.ID, "APPROVE").Code())
		require.Equal(t, "FORBIDDEN", rvDecide(t, env, rTok, bTask.ID, "APPROVE").Code())
		require.Equal(t, snap, rvSnap(t, env))

		// A task placed on the requester or the beneficiary (no workflow
		// path does that) still cannot be decided by them.
		seed := func(req subRequest, item string, reviewer *ent.User) string {
			st, err := env.Client.ReviewStage.Query().Where(reviewstage.ItemID(pulid.ID(req.item(t, item).ID)), reviewstage.Level(1)).Only(ctx)
			require.NoError(t, err)
			task, err := env.Client.ReviewTask.Create().SetStageID(st.ID).SetRequestID(pulid.ID(req.ID)).
				SetReviewerID(reviewer.ID).SetStatus(enum.TaskStatusPending).Save(ctx)
			require.NoError(t, err)
			return string(task.ID)
		}
		onR := seed(own, "X users", r)
		onB := seed(forB, "Y users", b)
		snap = rvSnap(t, env)
		require.Equal(t, "FORBIDDEN", rvDecide(t, env, rTok, onR, "APPROVE").Code(), "the requester's own task")
		require.Equal(t, "FORBIDDEN", rvDecide(t, env, bTok, onB, "APPROVE").Code(), "the beneficiary's own task")
		res := env.Do(t, rTok, rvDecideMany, map[string]any{"ids": []string{onR}, "d": "DENY"})
		require.Equal(t, "FORBIDDEN", res.Code())
		require.Equal(t, snap, rvSnap(t, env), "nothing changed")
		require.Equal(t, "PENDING_REVIEW", subGet(t, env, rTok, own.ID).item(t, "X users").Status)
	})
}

// TestReviewDecisionErrors checks the errors of decideReviewTask(s) and that
// nothing changes on any of them.
func TestReviewDecisionErrors(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		o1 := env.User(t, "o1@example.com", enum.PlatformRoleUser)
		mallory := env.User(t, "mallory@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		rTok, mTok, o1Tok, malTok := env.Token(t, r), env.Token(t, m), env.Token(t, o1), env.Token(t, mallory)
		_, x := o.app(t, "X", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		_, w := o.app(t, "W", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindApplicationOwner, enum.ReviewerKindManager)
		_, y := o.app(t, "Y", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)

		req := subSubmit(t, env, rTok, subGrantIn(x, w))
		xm := req.item(t, "X users").Stages[0].task(t, "m@example.com", "PENDING").ID
		wo := req.item(t, "W users").Stages[0].task(t, "o1@example.com", "PENDING").ID
		wm := req.item(t, "W users").Stages[1].task(t, "m@example.com", "WAITING").ID
		nobody := string(pulid.MustNew("tsk"))

		snap := rvSnap(t, env)
		for _, tc := range []struct {
			name  string
			token string
			ids   []string
			code  string
		}{
			{"a task the viewer cannot see", malTok, []string{xm}, "NOT_FOUND"},
			{"no such task", mTok, []string{nobody}, "NOT_FOUND"},
			{"the requester on the manager's task", rTok, []string{xm}, "FORBIDDEN"},
			{"a reviewer of the request on another's task", o1Tok, []string{xm}, "FORBIDDEN"},
			{"a WAITING task", mTok, []string{wm}, "CONFLICT"},
			{"bulk: one valid, one WAITING", mTok, []string{xm, wm}, "CONFLICT"},
			{"bulk: one valid, one unknown", mTok, []string{xm, nobody}, "NOT_FOUND"},
			{"bulk: one valid, one not the viewer's", mTok, []string{xm, wo}, "FORBIDDEN"},
		} {
			for _, d := range []string{"APPROVE", "DENY"} {
				var res *apitest.Response
				if len(tc.ids) == 1 {
					res = rvDecide(t, env, tc.token, tc.ids[0], d)
				} else {
					res = env.Do(t, tc.token, rvDecideMany, map[string]any{"ids": tc.ids, "d": d})
				}
				require.Equal(t, tc.code, res.Code(), "%s (%s): %+v", tc.name, d, res.Errors)
				require.Equal(t, snap, rvSnap(t, env), "%s (%s): nothing changed", tc.name, d)
			}
		}
		got := subGet(t, env, rTok, req.ID)
		require.Equal(t, "PENDING", got.item(t, "X users").Stages[0].task(t, "m@example.com", "").Status, "the valid task of the refused bulk stays PENDING")
		require.Equal(t, completion{0, 3, 0}, got.Completion)

		require.Empty(t, rvDecide(t, env, mTok, xm, "APPROVE").Errors)
		snap = rvSnap(t, env)
		for _, d := range []string{"APPROVE", "DENY"} {
			require.Equal(t, "CONFLICT", rvDecide(t, env, mTok, xm, d).Code(), "a decided task is final")
			require.Equal(t, snap, rvSnap(t, env))
		}
		require.Equal(t, "APPROVED", subGet(t, env, rTok, req.ID).item(t, "X users").Status)

		// A bulk decision over two requests, each task the viewer's.
		require.Empty(t, rvDecide(t, env, o1Tok, wo, "APPROVE").Errors)
		other := subSubmit(t, env, rTok, subGrantIn(y))
		ym := other.Items[0].Stages[0].task(t, "m@example.com", "PENDING").ID
		var out struct{ DecideReviewTasks []struct{ ID, Status string } }
		env.MustDo(t, mTok, rvDecideMany, map[string]any{"ids": []string{wm, ym}, "d": "APPROVE"}, &out)
		require.Len(t, out.DecideReviewTasks, 2)
		for _, task := range out.DecideReviewTasks {
			require.Equal(t, "APPROVED", task.Status)
		}
		require.Equal(t, "APPROVED", subGet(t, env, rTok, req.ID).item(t, "W users").Status)
		require.Equal(t, "APPROVED", subGet(t, env, rTok, other.ID).Items[0].Status)
	})
}

// TestReviewDelegation checks setDelegate: a task that becomes PENDING while
// the delegation is in force goes to the delegate on behalf of the reviewer;
// an expired or future delegation does not apply; null clears it.
func TestReviewDelegation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		dlg := env.User(t, "dlg@example.com", enum.PlatformRoleUser)
		o1 := env.User(t, "o1@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		rTok, mTok, dTok, o1Tok := env.Token(t, r), env.Token(t, m), env.Token(t, dlg), env.Token(t, o1)
		mgrApp := func(name string) *ent.Entitlement {
			_, e := o.app(t, name, enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
			return e
		}

		// In force at submission: stage 1 goes to the delegate.
		require.Equal(t, &subUser{"dlg@example.com"}, rvDelegate(t, env, mTok, dlg.ID, rvTime(-time.Hour), rvTime(time.Hour)))
		req := subSubmit(t, env, rTok, subGrantIn(mgrApp("A")))
		st := req.Items[0].Stages[0]
		require.Equal(t, []string{"dlg@example.com"}, st.reviewers(""))
		task := st.task(t, "dlg@example.com", "PENDING")
		require.Equal(t, &subUser{"m@example.com"}, task.OnBehalfOf)
		require.Contains(t, subTrail(t, env, rTok, req.ID), "TASK_DELEGATED")
		// m has no task on the request, so cannot even see it (§5).
		require.Equal(t, "NOT_FOUND", rvDecide(t, env, mTok, task.ID, "APPROVE").Code(), "the task is the delegate's now")
		require.Empty(t, rvDecide(t, env, dTok, task.ID, "APPROVE").Errors)
		var mine struct {
			Node struct{ MyCompletion completion }
		}
		env.MustDo(t, dTok, `query($id: ID!) { node(id: $id) { ... on AccessRequest { myCompletion { done total percent } } } }`, map[string]any{"id": req.ID}, &mine)
		require.Equal(t, completion{1, 1, 100}, mine.Node.MyCompletion, "a delegated task counts for the delegate")

		// Cleared, then set while a request waits: stage 2 is delegated
		// when it becomes PENDING.
		require.Nil(t, rvDelegate(t, env, mTok, "", nil, nil))
		_, w := o.app(t, "W", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindApplicationOwner, enum.ReviewerKindManager)
		req = subSubmit(t, env, rTok, subGrantIn(w))
		require.Equal(t, []string{"m@example.com"}, req.Items[0].Stages[1].reviewers("WAITING"))
		rvDelegate(t, env, mTok, dlg.ID, nil, rvTime(time.Hour))
		wo := req.Items[0].Stages[0].task(t, "o1@example.com", "PENDING").ID
		require.Empty(t, rvDecide(t, env, o1Tok, wo, "APPROVE").Errors)
		got := subGet(t, env, rTok, req.ID)
		st2 := got.Items[0].Stages[1]
		require.Equal(t, []string{"m@example.com"}, st2.reviewers("REASSIGNED"))
		require.Equal(t, []string{"dlg@example.com"}, st2.reviewers("PENDING"))
		require.Equal(t, &subUser{"m@example.com"}, st2.task(t, "dlg@example.com", "PENDING").OnBehalfOf)
		require.Equal(t, completion{1, 2, 50}, got.Completion, "the REASSIGNED task counts nowhere: totals unchanged")

		// Expired and future delegations do not apply.
		rvDelegate(t, env, mTok, dlg.ID, rvTime(-2*time.Hour), rvTime(-time.Hour))
		req = subSubmit(t, env, rTok, subGrantIn(mgrApp("B")))
		require.Equal(t, []string{"m@example.com"}, req.Items[0].Stages[0].reviewers("PENDING"), "expired delegation")
		require.Nil(t, req.Items[0].Stages[0].Tasks[0].OnBehalfOf)
		rvDelegate(t, env, mTok, dlg.ID, rvTime(time.Hour), nil)
		req = subSubmit(t, env, rTok, subGrantIn(mgrApp("C")))
		require.Equal(t, []string{"m@example.com"}, req.Items[0].Stages[0].reviewers("PENDING"), "delegation not yet in force")

		// null clears.
		rvDelegate(t, env, mTok, dlg.ID, nil, nil)
		require.Nil(t, rvDelegate(t, env, mTok, "", nil, nil))
		fresh, err := env.Client.User.Get(apitest.Sys(), m.ID)
		require.NoError(t, err)
		require.Nil(t, fresh.DelegateID)
		require.Nil(t, fresh.DelegateFrom)
		require.Nil(t, fresh.DelegateUntil)
		req = subSubmit(t, env, rTok, subGrantIn(mgrApp("D")))
		require.Equal(t, []string{"m@example.com"}, req.Items[0].Stages[0].reviewers("PENDING"), "cleared delegation")

		// Refused delegations.
		for _, tc := range []struct {
			vars map[string]any
			code string
		}{
			{map[string]any{"u": m.ID}, "INVALID_INPUT"},
			{map[string]any{"u": dlg.ID, "from": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "until": time.Now().UTC().Format(time.RFC3339)}, "INVALID_INPUT"},
			{map[string]any{"u": string(pulid.MustNew("usr"))}, "NOT_FOUND"},
		} {
			require.Equal(t, tc.code, env.Do(t, mTok, rvSetDelegate, tc.vars).Code(), "%v", tc.vars)
		}

		// Every kind of reviewer delegates, a risk manager included.
		rm := env.User(t, "rm@example.com", enum.PlatformRoleRiskManager)
		stand := env.User(t, "standin@example.com", enum.PlatformRoleUser)
		rvDelegate(t, env, env.Token(t, rm), stand.ID, nil, nil)
		_, risky := o.app(t, "Risky", enum.FulfillmentManual, nil, enum.ReviewerKindRiskManager)
		req = subSubmit(t, env, rTok, subGrantIn(risky))
		st = req.Items[0].Stages[0]
		require.Equal(t, []string{"standin@example.com"}, st.reviewers("PENDING"), "the risk manager's delegate gets the task")
		require.Equal(t, &subUser{"rm@example.com"}, st.task(t, "standin@example.com", "PENDING").OnBehalfOf)
	})
}

// TestReviewReassign checks reassignReviewTask by the assignee and by an IT
// admin, its refusals, and that completion totals do not move.
func TestReviewReassign(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		x := env.User(t, "x@example.com", enum.PlatformRoleUser)
		y := env.User(t, "y@example.com", enum.PlatformRoleUser)
		r := subPerson(t, env, "r@example.com", m, nil)
		rTok, mTok, xTok, yTok, aTok := env.Token(t, r), env.Token(t, m), env.Token(t, x), env.Token(t, y), env.Token(t, o.admin)
		_, e := o.app(t, "X", enum.FulfillmentManual, nil, enum.ReviewerKindManager)

		ow := env.User(t, "ow@example.com", enum.PlatformRoleUser)
		_, later := o.app(t, "Later", enum.FulfillmentManual, []*ent.User{ow}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		waiting := subSubmit(t, env, rTok, subGrantIn(later)).Items[0].Stages[1].task(t, "ow@example.com", "WAITING").ID

		req := subSubmit(t, env, rTok, subGrantIn(e))
		t0 := req.Items[0].Stages[0].task(t, "m@example.com", "PENDING").ID
		require.Equal(t, completion{0, 1, 0}, req.Completion)

		type moved struct {
			ReassignReviewTask struct {
				ID, Status string
				Reviewer   subUser
			}
		}
		var mv moved
		env.MustDo(t, mTok, rvReassign, map[string]any{"id": t0, "to": x.ID}, &mv)
		require.Equal(t, "PENDING", mv.ReassignReviewTask.Status)
		require.Equal(t, "x@example.com", mv.ReassignReviewTask.Reviewer.Email)
		t1 := mv.ReassignReviewTask.ID
		require.NotEqual(t, t0, t1)
		got := subGet(t, env, rTok, req.ID)
		st := got.Items[0].Stages[0]
		require.Equal(t, "REASSIGNED", st.task(t, "m@example.com", "").Status)
		require.Equal(t, completion{0, 1, 0}, got.Completion, "totals unchanged")
		require.Equal(t, completion{0, 0, 100}, subGet(t, env, mTok, req.ID).MyCompletion, "a REASSIGNED task counts nowhere")
		require.Equal(t, completion{0, 1, 0}, subGet(t, env, xTok, req.ID).MyCompletion)

		snap := rvSnap(t, env)
		for _, tc := range []struct {
			name, token, id string
			to              pulid.ID
			code            string
		}{
			{"by the requester", rTok, t1, y.ID, "FORBIDDEN"},
			{"by the former assignee", mTok, t1, y.ID, "FORBIDDEN"},
			{"by someone who cannot see it", yTok, t1, y.ID, "NOT_FOUND"},
			{"to the requester", aTok, t1, r.ID, "INVALID_INPUT"},
			{"to someone already on the item", aTok, t1, m.ID, "INVALID_INPUT"},
			{"to an unknown user", aTok, t1, pulid.MustNew("usr"), "NOT_FOUND"},
			{"a REASSIGNED task", aTok, t0, y.ID, "CONFLICT"},
			{"a WAITING task", aTok, waiting, y.ID, "CONFLICT"},
		} {
			res := env.Do(t, tc.token, rvReassign, map[string]any{"id": tc.id, "to": tc.to})
			require.Equal(t, tc.code, res.Code(), "%s: %+v", tc.name, res.Errors)
			require.Equal(t, snap, rvSnap(t, env), "%s: nothing changed", tc.name)
		}

		env.MustDo(t, aTok, rvReassign, map[string]any{"id": t1, "to": y.ID}, &mv)
		require.Equal(t, "y@example.com", mv.ReassignReviewTask.Reviewer.Email)
		t2 := mv.ReassignReviewTask.ID
		got = subGet(t, env, rTok, req.ID)
		require.Equal(t, "REASSIGNED", got.Items[0].Stages[0].task(t, "x@example.com", "").Status)
		require.Equal(t, completion{0, 1, 0}, got.Completion, "totals unchanged")

		require.Equal(t, "CONFLICT", rvDecide(t, env, xTok, t1, "APPROVE").Code(), "x's task was REASSIGNED to y")
		require.Empty(t, rvDecide(t, env, yTok, t2, "APPROVE").Errors)
		got = subGet(t, env, rTok, req.ID)
		require.Equal(t, "APPROVED", got.Items[0].Status)
		require.Equal(t, completion{1, 1, 100}, got.Completion)
		trail := subTrail(t, env, rTok, req.ID)
		n := 0
		for _, a := range trail {
			if a == "TASK_REASSIGNED" {
				n++
			}
		}
		require.Equal(t, 2, n, "one TASK_REASSIGNED per reassignment: %v", trail)
	})
}

// TestReviewCancel checks cancelAccessRequest: only the requester, only the
// pending items (their tasks SKIPPED), and the request status of §4.4.
func TestReviewCancel(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, o1, r, b := o.cast(t)
		stranger := env.User(t, "stranger@example.com", enum.PlatformRoleUser)
		rTok, bTok, mTok, o1Tok := env.Token(t, r), env.Token(t, b), env.Token(t, m), env.Token(t, o1)
		_, desk := o.app(t, "Desk", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		_, net := o.app(t, "Net", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		_, other := o.app(t, "Other", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager)

		req := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(desk, net)})
		dm := req.item(t, "Desk users").Stages[0].task(t, "m@example.com", "PENDING").ID
		require.Empty(t, rvDecide(t, env, mTok, dm, "APPROVE").Errors)
		got := subGet(t, env, rTok, req.ID)
		require.Equal(t, "APPROVED", got.item(t, "Desk users").Status, "MANUAL: waits for people")
		require.Equal(t, "PENDING_REVIEW", got.Status)

		snap := rvSnap(t, env)
		for _, tc := range []struct {
			name, token, code string
		}{
			{"the reviewer", mTok, "FORBIDDEN"},
			{"the beneficiary", bTok, "FORBIDDEN"},
			{"the IT admin", env.Token(t, o.admin), "FORBIDDEN"},
			{"someone who cannot see it", env.Token(t, stranger), "NOT_FOUND"},
		} {
			res := env.Do(t, tc.token, rvCancel, map[string]any{"id": req.ID})
			require.Equal(t, tc.code, res.Code(), "%s: %+v", tc.name, res.Errors)
			require.Equal(t, snap, rvSnap(t, env), "%s: nothing changed", tc.name)
		}

		var out struct{ CancelAccessRequest struct{ ID, Status string } }
		env.MustDo(t, rTok, rvCancel, map[string]any{"id": req.ID}, &out)
		require.Equal(t, "FULFILLING", out.CancelAccessRequest.Status, "APPROVED and CANCELLED items: any APPROVED → FULFILLING")
		got = subGet(t, env, rTok, req.ID)
		require.Equal(t, "APPROVED", got.item(t, "Desk users").Status, "approved items go on")
		netItem := got.item(t, "Net users")
		require.Equal(t, "CANCELLED", netItem.Status)
		for _, st := range netItem.Stages {
			require.Equal(t, "SKIPPED", st.Status)
			for _, task := range st.Tasks {
				require.Equal(t, "SKIPPED", task.Status, "stage %d task of %s", st.Level, task.Reviewer.Email)
			}
		}
		require.Equal(t, completion{3, 3, 100}, got.Completion, "skipped tasks are done")
		trail := subTrail(t, env, rTok, req.ID)
		require.Contains(t, trail, "REQUEST_CANCELLED")
		require.Contains(t, trail, "ITEM_CANCELLED")
		require.Contains(t, trail, "TASK_SKIPPED")
		require.Equal(t, "CONFLICT", env.Do(t, rTok, rvCancel, map[string]any{"id": req.ID}).Code(), "nothing left pending")

		// The approved item is fulfilled by people; the request then completes partially.
		var done struct{ CompleteManualFulfillment struct{ Status string } }
		env.MustDo(t, o1Tok, `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true, note: "done") { status } }`,
			map[string]any{"id": got.item(t, "Desk users").ID}, &done)
		require.Equal(t, "FULFILLED", done.CompleteManualFulfillment.Status)
		require.Equal(t, "PARTIALLY_COMPLETED", subGet(t, env, rTok, req.ID).Status)

		// Everything pending: the request is CANCELLED.
		all := subSubmit(t, env, rTok, subGrantIn(other))
		env.MustDo(t, rTok, rvCancel, map[string]any{"id": all.ID}, &out)
		require.Equal(t, "CANCELLED", out.CancelAccessRequest.Status)
		got = subGet(t, env, rTok, all.ID)
		require.Equal(t, "CANCELLED", got.Items[0].Status)
		require.Equal(t, "SKIPPED", got.Items[0].Stages[0].Tasks[0].Status)
		var completed struct {
			Node struct{ CompletedAt *time.Time }
		}
		env.MustDo(t, rTok, `query($id: ID!) { node(id: $id) { ... on AccessRequest { completedAt } } }`, map[string]any{"id": all.ID}, &completed)
		require.NotNil(t, completed.Node.CompletedAt, "a cancelled request is completed")
	})
}

// TestReviewTermination checks updateUser(status: TERMINATED): the user's
// open tasks are reassigned by the same resolution and the open requests
// for them are cancelled.
func TestReviewTermination(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, o1, r, b := o.cast(t)
		rTok, aTok := env.Token(t, r), env.Token(t, o.admin)
		_, a := o.app(t, "A", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		_, w := o.app(t, "W", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindApplicationOwner, enum.ReviewerKindManager)
		_, c := o.app(t, "C", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)

		r1 := subSubmit(t, env, rTok, subGrantIn(a, w))
		r2 := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(c)})
		before := subGet(t, env, rTok, r1.ID).Completion

		terminate(t, env, aTok, m)
		got := subGet(t, env, rTok, r1.ID)
		st := got.item(t, "A users").Stages[0]
		require.Equal(t, []string{"m@example.com"}, st.reviewers("REASSIGNED"))
		require.Equal(t, []string{"o1@example.com"}, st.reviewers("PENDING"), "MANAGER → APPLICATION_OWNER")
		st2 := got.item(t, "W users").Stages[1]
		require.Equal(t, []string{"m@example.com"}, st2.reviewers("REASSIGNED"), "WAITING tasks are reassigned too")
		require.Equal(t, []string{"it@example.com"}, st2.reviewers("WAITING"), "o1 reviews stage 1 of W, so the chain goes on to the IT admin")
		require.Equal(t, before, got.Completion, "totals unchanged")
		trail := subTrail(t, env, rTok, r1.ID)
		require.Contains(t, trail, "TASK_REASSIGNED")
		require.Equal(t, "PENDING_REVIEW", got.Status)

		terminate(t, env, aTok, b)
		got = subGet(t, env, rTok, r2.ID)
		require.Equal(t, "CANCELLED", got.Status, "the open request for the terminated user is cancelled")
		require.Equal(t, "CANCELLED", got.Items[0].Status)
		for _, task := range got.Items[0].Stages[0].Tasks {
			require.Contains(t, []string{"SKIPPED", "REASSIGNED"}, task.Status, "task of %s", task.Reviewer.Email)
		}
		require.Contains(t, subTrail(t, env, rTok, r2.ID), "REQUEST_CANCELLED")
		require.Equal(t, "PENDING_REVIEW", subGet(t, env, rTok, r1.ID).Status, "r's own request goes on")
	})
}

// TestReviewLists checks accessRequests by scope and state and myTasks by
// status, and the completions the requester sees.
func TestReviewLists(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, o1, r, b := o.cast(t)
		rTok, bTok, mTok, o1Tok := env.Token(t, r), env.Token(t, b), env.Token(t, m), env.Token(t, o1)
		ents := map[string]*ent.Entitlement{}
		for _, n := range []string{"A", "B", "C", "D"} {
			_, ents[n] = o.app(t, n, enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		}
		r1 := subSubmit(t, env, rTok, subGrantIn(ents["A"]))                                                                         // r for r, open
		r2 := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(ents["B"])}) // r for b, denied
		r3 := subSubmit(t, env, bTok, subGrantIn(ents["C"]))                                                                         // b for b, open
		r4 := subSubmit(t, env, bTok, map[string]any{"action": "GRANT", "beneficiaryId": r.ID, "entitlementIds": subIDs(ents["D"])}) // b for r, open
		require.Empty(t, rvDecide(t, env, mTok, r2.Items[0].Stages[0].Tasks[0].ID, "DENY").Errors)

		requests := func(token, scope, state string) []string {
			t.Helper()
			vars := map[string]any{"scope": scope}
			q := `query($scope: RequestScope!) { accessRequests(first: 50, scope: $scope) { totalCount edges { node { id } } } }`
			if state != "" {
				vars["state"] = state
				q = `query($scope: RequestScope!, $state: RequestState!) { accessRequests(first: 50, scope: $scope, state: $state) { totalCount edges { node { id } } } }`
			}
			var out struct {
				AccessRequests struct {
					TotalCount int
					Edges      []struct{ Node struct{ ID string } }
				}
			}
			env.MustDo(t, token, q, vars, &out)
			ids := []string{}
			for _, e := range out.AccessRequests.Edges {
				ids = append(ids, e.Node.ID)
			}
			require.Equal(t, len(ids), out.AccessRequests.TotalCount)
			slices.Sort(ids)
			return ids
		}
		set := func(rs ...subRequest) []string {
			ids := []string{}
			for _, x := range rs {
				ids = append(ids, x.ID)
			}
			slices.Sort(ids)
			return ids
		}
		for _, tc := range []struct {
			who, token, scope, state string
			want                     []string
		}{
			{"r", rTok, "MINE", "", set(r1, r2)},
			{"r", rTok, "MINE", "OPEN", set(r1)},
			{"r", rTok, "MINE", "COMPLETED", set(r2)},
			{"r", rTok, "FOR_ME", "", set(r1, r4)},
			{"r", rTok, "TO_REVIEW", "", set()},
			{"r", rTok, "VISIBLE", "", set(r1, r2, r4)},
			{"b", bTok, "MINE", "", set(r3, r4)},
			{"b", bTok, "FOR_ME", "", set(r2, r3)},
			{"b", bTok, "FOR_ME", "COMPLETED", set(r2)},
			{"m", mTok, "TO_REVIEW", "OPEN", set(r1, r3, r4)},
			{"m", mTok, "TO_REVIEW", "COMPLETED", set(r2)},
			{"m", mTok, "MINE", "", set()},
			{"o1", o1Tok, "TO_REVIEW", "", set()},
		} {
			require.Equal(t, tc.want, requests(tc.token, tc.scope, tc.state), "%s: scope %s state %q", tc.who, tc.scope, tc.state)
		}

		// m hands r4's task to o1.
		env.MustDo(t, mTok, rvReassign, map[string]any{"id": r4.Items[0].Stages[0].Tasks[0].ID, "to": o1.ID}, nil)
		require.Equal(t, set(r4), requests(o1Tok, "TO_REVIEW", "OPEN"))

		tasks := func(token, status string) []string {
			t.Helper()
			var out struct {
				MyTasks struct {
					TotalCount int
					Edges      []struct {
						Node struct{ RequestID, Status string }
					}
				}
			}
			env.MustDo(t, token, `query($s: TaskFilter!) { myTasks(first: 50, status: $s) { totalCount edges { node { requestID status } } } }`,
				map[string]any{"s": status}, &out)
			got := []string{}
			for _, e := range out.MyTasks.Edges {
				got = append(got, e.Node.RequestID+" "+e.Node.Status)
			}
			require.Equal(t, len(got), out.MyTasks.TotalCount)
			slices.Sort(got)
			return got
		}
		sortStrs := func(s ...string) []string { slices.Sort(s); return s }
		require.Equal(t, sortStrs(r1.ID+" PENDING", r3.ID+" PENDING"), tasks(mTok, "OPEN"))
		require.Equal(t, sortStrs(r2.ID+" DENIED"), tasks(mTok, "DONE"))
		require.Equal(t, sortStrs(r1.ID+" PENDING", r2.ID+" DENIED", r3.ID+" PENDING", r4.ID+" REASSIGNED"), tasks(mTok, "ALL"))
		require.Equal(t, sortStrs(r4.ID+" PENDING"), tasks(o1Tok, "OPEN"))
		require.Empty(t, tasks(rTok, "ALL"), "the requester has no tasks")

		for _, x := range []subRequest{r1, r2} {
			got := subGet(t, env, rTok, x.ID)
			require.Equal(t, completion{0, 0, 100}, got.MyCompletion, "the requester's myCompletion")
		}
		require.Equal(t, completion{1, 1, 100}, subGet(t, env, rTok, r2.ID).Completion)
		require.Equal(t, completion{0, 1, 0}, subGet(t, env, mTok, r1.ID).MyCompletion)
	})
}

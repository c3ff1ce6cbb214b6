package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/reviewstagetemplate"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// rvEvent is an audit event with its data, as auditTrail shows it.
type rvEvent struct {
	Action string
	Data   map[string]any
}

// rvEvents returns the request's audit events with the given action.
func rvEvents(t *testing.T, env *apitest.Env, token, id, action string) []rvEvent {
	t.Helper()
	var out struct{ AuditTrail []rvEvent }
	env.MustDo(t, token, `query($id: ID!) { auditTrail(requestId: $id) { action data } }`, map[string]any{"id": id}, &out)
	var found []rvEvent
	for _, e := range out.AuditTrail {
		if e.Action == action {
			found = append(found, e)
		}
	}
	return found
}

// TestReviewTerminationDesignated checks that a terminated reviewer of a
// DESIGNATED stage is replaced from the designated reviewers of the policy
// that applies to the item — the application's own, or the global default
// policy for an application without one — before the chain falls back to
// the application's owners.
func TestReviewTerminationDesignated(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		_, o1, r, _ := o.cast(t)
		rTok, aTok := env.Token(t, r), env.Token(t, o.admin)
		d1, d2 := env.User(t, "d1@example.com", enum.PlatformRoleUser), env.User(t, "d2@example.com", enum.PlatformRoleUser)
		g1, g2 := env.User(t, "g1@example.com", enum.PlatformRoleUser), env.User(t, "g2@example.com", enum.PlatformRoleUser)
		ctx := apitest.Sys()

		own, ownEnt := o.app(t, "Own", enum.FulfillmentManual, []*ent.User{o1})
		rvTemplate(t, env, own, 1, enum.ReviewerKindDesignated, enum.StageRuleAny, 1, d1)
		_, globalEnt := o.app(t, "Global", enum.FulfillmentManual, []*ent.User{o1})
		global, err := env.Client.ReviewStageTemplate.Create().SetLevel(1).SetReviewerKind(enum.ReviewerKindDesignated).
			SetRule(enum.StageRuleAny).SetQuorum(1).AddDesignatedReviewers(g1).Save(ctx)
		require.NoError(t, err)

		req := subSubmit(t, env, rTok, subGrantIn(ownEnt, globalEnt))
		require.Equal(t, []string{"d1@example.com"}, req.item(t, "Own users").Stages[0].reviewers("PENDING"))
		require.Equal(t, []string{"g1@example.com"}, req.item(t, "Global users").Stages[0].reviewers("PENDING"),
			"an application without templates is reviewed by the global policy")

		// The policies name a second designated reviewer, then the first
		// ones leave.
		ownTpl, err := env.Client.ReviewStageTemplate.Query().Where(reviewstagetemplate.ApplicationID(own.ID)).Only(ctx)
		require.NoError(t, err)
		require.NoError(t, ownTpl.Update().AddDesignatedReviewers(d2).Exec(ctx))
		require.NoError(t, global.Update().AddDesignatedReviewers(g2).Exec(ctx))
		terminate(t, env, aTok, d1)
		terminate(t, env, aTok, g1)

		got := subGet(t, env, rTok, req.ID)
		for _, tc := range []struct{ item, gone, next, why string }{
			{"Own users", "d1@example.com", "d2@example.com",
				"the application's own DESIGNATED stage takes its other designated reviewer, not the owner o1"},
			{"Global users", "g1@example.com", "g2@example.com",
				"the global DESIGNATED stage takes the global policy's other designated reviewer, not the owner o1"},
		} {
			st := got.item(t, tc.item).Stages[0]
			require.Equal(t, "DESIGNATED", st.ReviewerKind, tc.why)
			require.Equal(t, []string{tc.gone}, st.reviewers("REASSIGNED"), tc.why)
			require.Equal(t, []string{tc.next}, st.reviewers("PENDING"), tc.why)
		}
		require.Len(t, rvEvents(t, env, rTok, req.ID, "TASK_REASSIGNED"), 2)
	})
}

// TestReviewDelegationPassedOver checks that when a waiting stage becomes
// active and the reviewer's delegation is in force but the delegate may not
// review the item, the reviewer keeps the task and the trail says so: a
// TASK_ASSIGNED event naming the delegate and why they were passed over.
func TestReviewDelegationPassedOver(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, o1, r, b := o.cast(t)
		dlg := env.User(t, "dlg@example.com", enum.PlatformRoleUser)
		rTok, mTok, o1Tok, aTok := env.Token(t, r), env.Token(t, m), env.Token(t, o1), env.Token(t, o.admin)

		for _, tc := range []struct {
			name     string
			delegate *ent.User
			after    func() // runs once the request waits at stage 2
			why      string
		}{
			{"terminated delegate", dlg, func() { terminate(t, env, aTok, dlg) }, "not an active user"},
			{"the beneficiary", b, func() {}, "the beneficiary"},
		} {
			_, e := o.app(t, tc.name, enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindApplicationOwner, enum.ReviewerKindManager)
			req := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(e)})
			require.Equal(t, []string{"m@example.com"}, req.Items[0].Stages[1].reviewers("WAITING"), tc.name)
			rvDelegate(t, env, mTok, tc.delegate.ID, nil, nil)
			tc.after()

			first := req.Items[0].Stages[0].task(t, "o1@example.com", "PENDING").ID
			require.Empty(t, rvDecide(t, env, o1Tok, first, "APPROVE").Errors, tc.name)
			st := subGet(t, env, rTok, req.ID).Items[0].Stages[1]
			require.Equal(t, "ACTIVE", st.Status, tc.name)
			require.Len(t, st.Tasks, 1, "%s: nothing is handed over", tc.name)
			require.Equal(t, []string{"m@example.com"}, st.reviewers("PENDING"), "%s: m keeps the task", tc.name)
			require.Nil(t, st.Tasks[0].OnBehalfOf, tc.name)

			var assigned []rvEvent
			for _, ev := range rvEvents(t, env, rTok, req.ID, "TASK_ASSIGNED") {
				if ev.Data["stage"] == float64(2) {
					assigned = append(assigned, ev)
				}
			}
			require.Len(t, assigned, 1, "%s: the stage-2 task becoming PENDING is in the trail", tc.name)
			require.Equal(t, string(m.ID), assigned[0].Data["reviewer"], tc.name)
			require.Equal(t, string(tc.delegate.ID), assigned[0].Data["delegate"], "%s: the trail names the delegate passed over", tc.name)
			require.Equal(t, tc.why, assigned[0].Data["notDelegated"], "%s: and why", tc.name)
		}
	})
}

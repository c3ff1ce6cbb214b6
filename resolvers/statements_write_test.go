package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// The statement budgets of the writes (issue 12): everything one mutation
// sends, from authentication to the answer, its transaction included (the
// request lock, the rules' reads, the rows, the audit rows, the jobs and the
// notification).
const (
	// The rules' reads of submission share one statement (loadRuleSet):
	// the enabled policy rules, the review policies they and the request
	// policies name, the stage templates, and which requested entitlements
	// a separation-of-duties conflict set lists. The conflict sets
	// themselves, with what the beneficiary holds and has pending, are read
	// only when one lists a requested entitlement, which is not the case
	// here (issue 15 added both reads; issue 12's budget is 15).
	maxSubmitStatements = 15
	maxDecideStatements = 12
)

const (
	stmtSubmit = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id status } }`
	stmtDecide = `mutation($id: ID!, $d: Decision!) { decideReviewTask(id: $id, decision: $d) { id status } }`
)

// writeScene is an API over a pool whose every statement is logged.
type writeScene struct {
	*org
	log *dbtest.StatementLog
}

func newWriteScene(t *testing.T, db *dbtest.DB) *writeScene {
	t.Helper()
	log := &dbtest.StatementLog{}
	rcv := apitest.NewReceiver(t)
	env := apitest.NewWith(t, dbtest.Counted(t, db, log), apitest.Options{Env: rcv.Env(), NoJobs: true})
	return &writeScene{
		org: &org{env: env, receiver: rcv, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)},
		log: log,
	}
}

// measure runs one operation, logs its statements and returns their number
// and the response's data.
func (s *writeScene) measure(t *testing.T, name, token, query string, vars map[string]any, out any) int {
	t.Helper()
	s.log.Reset()
	s.env.MustDo(t, token, query, vars, out)
	stmts := s.log.Statements()
	t.Logf("%s: %d statements", name, len(stmts))
	for i, q := range stmts {
		if len(q) > 160 {
			q = q[:160] + "…"
		}
		t.Logf("  %2d %s", i+1, q)
	}
	return len(stmts)
}

func (s *writeScene) submit(t *testing.T, name, token string, e *ent.Entitlement) (string, int) {
	t.Helper()
	var out struct{ SubmitAccessRequest struct{ ID, Status string } }
	n := s.measure(t, name, token, stmtSubmit,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}}}, &out)
	require.Equal(t, "PENDING_REVIEW", out.SubmitAccessRequest.Status)
	return out.SubmitAccessRequest.ID, n
}

func (s *writeScene) decide(t *testing.T, name, token, task, d, want string) int {
	t.Helper()
	var out struct{ DecideReviewTask struct{ ID, Status string } }
	n := s.measure(t, name, token, stmtDecide, map[string]any{"id": task, "d": d}, &out)
	require.Equal(t, want, out.DecideReviewTask.Status)
	return n
}

// TestWriteStatements bounds the SQL statements of submitAccessRequest with
// one entitlement (≤ 15) and of decideReviewTask (≤ 12) on every path a
// decision takes: a stage approved with a next stage to activate, the last
// stage approved (the item approved and its fulfilment job enqueued, or left
// to people on a MANUAL application), and a denial that skips the later
// stages and completes the request. Each step's outcome is checked too, so
// that a cheaper write cannot be a wrong one.
func TestWriteStatements(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newWriteScene(t, db)
		m, o1, _, b := s.cast(t)
		tokM, tokO1, tokB := s.env.Token(t, m), s.env.Token(t, o1), s.env.Token(t, b)
		_, hook := s.app(t, "Hook", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		_, manual := s.app(t, "Desk", enum.FulfillmentManual, []*ent.User{o1}, enum.ReviewerKindManager)
		_, denied := s.app(t, "Vault", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)

		// River reads the server's version on its first insert: a decision
		// that enqueues a job before the measured ones leaves that out.
		_, warm := s.app(t, "Warm", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager)
		reqWarm, _ := s.submit(t, "submit (warm-up)", tokB, warm)
		p := s.progress(t, tokM, reqWarm)
		s.decide(t, "approve (warm-up)", tokM, p.task(t, "Warm users", m.Email), "APPROVE", "APPROVED")

		counts := map[string]int{}
		reqHook, n := s.submit(t, "submit (two stages, webhook)", tokB, hook)
		counts["submit two stages"] = n
		reqManual, n := s.submit(t, "submit (one stage, manual)", tokB, manual)
		counts["submit one stage"] = n
		reqDenied, _ := s.submit(t, "submit (two stages, to deny)", tokB, denied)

		p = s.progress(t, tokM, reqHook)
		counts["decide: stage 1 approved, stage 2 activated"] = s.decide(t, "approve stage 1 of 2", tokM,
			p.task(t, "Hook users", m.Email), "APPROVE", "APPROVED")
		p = s.progress(t, tokO1, reqHook)
		require.Equal(t, "PENDING", p.taskStatus(t, p.task(t, "Hook users", o1.Email)))
		counts["decide: last stage approved, job enqueued"] = s.decide(t, "approve stage 2 of 2", tokO1,
			p.task(t, "Hook users", o1.Email), "APPROVE", "APPROVED")
		p = s.progress(t, tokB, reqHook)
		require.Equal(t, "FULFILLING", p.Node.Status)
		require.Equal(t, "APPROVED", p.item(t, "Hook users"))
		require.Len(t, concJobsOf(t, db, []pulid.ID{pulid.ID(p.Node.Items[0].ID)}), 1, "one fulfilment job, enqueued with the decision")

		p = s.progress(t, tokM, reqManual)
		counts["decide: only stage approved, manual"] = s.decide(t, "approve the only stage (manual)", tokM,
			p.task(t, "Desk users", m.Email), "APPROVE", "APPROVED")
		p = s.progress(t, tokB, reqManual)
		require.Equal(t, "FULFILLING", p.Node.Status)

		p = s.progress(t, tokM, reqDenied)
		counts["decide: denied, request completed"] = s.decide(t, "deny stage 1 of 2", tokM,
			p.task(t, "Vault users", m.Email), "DENY", "DENIED")
		p = s.progress(t, tokB, reqDenied)
		require.Equal(t, "DENIED", p.Node.Status)
		require.Equal(t, "SKIPPED", p.Node.Items[0].Stages[1].Tasks[0].Status)

		for name, n := range counts {
			limit := maxDecideStatements
			if name[:6] == "submit" {
				limit = maxSubmitStatements
			}
			require.LessOrEqual(t, n, limit, "%s: %d statements", name, n)
		}
	})
}

package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// vault adds an application owned by owner, with one entitlement and the
// stage template stage describes, and returns the application and the
// entitlement.
func (s *reviewScene) vault(t *testing.T, owner *ent.User, stage func(*ent.ReviewStageTemplateCreate)) (*ent.Application, *ent.Entitlement) {
	t.Helper()
	env, ctx := s.env, apitest.Sys()
	app, err := env.Client.Application.Create().SetName("Vault").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).AddOwners(owner).Save(ctx)
	require.NoError(t, err)
	e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("vault-read").SetName("Read secrets").Save(ctx)
	require.NoError(t, err)
	tpl := env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1)
	stage(tpl)
	require.NoError(t, tpl.Exec(ctx))
	return app, e
}

// askFor makes Ben ask for the entitlement and returns the request's ID.
func (s *reviewScene) askFor(t *testing.T, e *ent.Entitlement) string {
	t.Helper()
	var sub struct{ SubmitAccessRequest struct{ ID string } }
	s.env.MustDo(t, s.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": "rotation"}}, &sub)
	return sub.SubmitAccessRequest.ID
}

// exportedReviews reads the bulk export as token and returns the reviews
// column by request ID.
func (s *reviewScene) exportedReviews(t *testing.T, token string) map[string]string {
	t.Helper()
	res, body := s.get(t, token, "/reports/access-requests.csv")
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, reports.ExportHeader, recs[0])
	col, id := slices.Index(recs[0], "reviews"), slices.Index(recs[0], "request_id")
	reviews := map[string]string{}
	for _, r := range recs[1:] {
		reviews[r[id]] = r[col]
	}
	return reviews
}

// reportRoles reads the request's own report as token and returns the
// roles of its first item's reviews.
func (s *reviewScene) reportRoles(t *testing.T, token, requestID string) []string {
	t.Helper()
	res, body := s.get(t, token, "/reports/access-requests/"+requestID+"/audit.json")
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	var report reports.Report
	require.NoError(t, json.Unmarshal(body, &report))
	var roles []string
	for _, rv := range report.Items[0].Reviews {
		roles = append(roles, rv.Role)
	}
	return roles
}

// TestExportReviewerRoles: the bulk export names the role of every review
// as the per-request report does — manager, reassigned, delegate of X — and
// a reviewer a QUORUM stage took from its fallback chain (here the
// application owner, whose delegate holds the task) as a fallback.
func TestExportReviewerRoles(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)

		// A QUORUM 2 stage of Ben and Xavier: Ben asks for himself, so the
		// stage takes the owner Olga, whose delegate Dan holds her task.
		_, e := s.vault(t, s.o, func(c *ent.ReviewStageTemplateCreate) {
			c.SetReviewerKind(enum.ReviewerKindDesignated).SetRule(enum.StageRuleQuorum).SetQuorum(2).AddDesignatedReviewers(s.b, s.x)
		})
		req := s.askFor(t, e)

		reviews := s.exportedReviews(t, s.tokRM)
		require.Len(t, reviews, 2)
		first := reviews[s.reqID]
		require.Contains(t, first, "L1 maria@example.com REASSIGNED as manager")
		require.Contains(t, first, "L1 xavier@example.com APPROVED as reassigned (manager stage)")
		require.Contains(t, first, "L2 dan@example.com APPROVED for olga@example.com as delegate of Olga Owner (application owner)")
		second := reviews[req]
		require.Contains(t, second, "L1 xavier@example.com PENDING as designated reviewer")
		require.Contains(t, second, "L1 dan@example.com PENDING for olga@example.com as delegate of Olga Owner (fallback, designated reviewer stage)")

		require.ElementsMatch(t, []string{"designated reviewer", "delegate of Olga Owner (fallback, designated reviewer stage)"},
			s.reportRoles(t, s.tokRM, req), "the request's own report says the same")
	})
}

// TestExportEscalatedRole: a task that an escalation moved reads in the
// bulk export as the per-request report has it: the old assignee's task
// REASSIGNED in its stage's role, the new one "escalated (manager stage)".
func TestExportEscalatedRole(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)
		env := s.env

		// Maria, Ben's manager, has no manager herself: the escalation
		// goes to the application's owner Xavier.
		app, e := s.vault(t, s.x, func(c *ent.ReviewStageTemplateCreate) { c.SetReviewerKind(enum.ReviewerKindManager) })
		admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		env.MustDo(t, env.Token(t, admin), `mutation($app: ID, $in: LifecyclePolicyInput!) {
		  setLifecyclePolicy(applicationId: $app, input: $in) { application { name } } }`,
			map[string]any{"app": string(app.ID), "in": map[string]any{"escalateAfterHours": 2}}, nil)
		req := s.askFor(t, e)

		env.Clock.Advance(2*time.Hour + time.Minute)
		_, err := env.Workflow.SweepLifecycle(apitest.Sys())
		require.NoError(t, err)

		// Tokens are minted at the clock's time: a fresh one after the advance.
		tok := env.Token(t, s.rm)
		reviews := s.exportedReviews(t, tok)[req]
		require.Contains(t, reviews, "L1 maria@example.com REASSIGNED as manager", "the escalated task keeps its stage's role")
		require.Contains(t, reviews, "L1 xavier@example.com PENDING as escalated (manager stage)", "the task the escalation created")
		require.ElementsMatch(t, []string{"manager", "escalated (manager stage)"}, s.reportRoles(t, tok, req),
			"the request's own report says the same")
	})
}

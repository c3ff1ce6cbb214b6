package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// TestExportReviewerRoles: the bulk export names the role of every review
// as the per-request report does — manager, reassigned, delegate of X — and
// a reviewer a QUORUM stage took from its fallback chain (here the
// application owner, whose delegate holds the task) as a fallback.
func TestExportReviewerRoles(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)
		env, ctx := s.env, apitest.Sys()

		// A QUORUM 2 stage of Ben and Xavier: Ben asks for himself, so the
		// stage takes the owner Olga, whose delegate Dan holds her task.
		app, err := env.Client.Application.Create().SetName("Vault").SetFulfillment(enum.FulfillmentManual).
			SetConnectorKind(enum.ConnectorKindManual).AddOwners(s.o).Save(ctx)
		require.NoError(t, err)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("vault-read").SetName("Read secrets").Save(ctx)
		require.NoError(t, err)
		_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).
			SetReviewerKind(enum.ReviewerKindDesignated).SetRule(enum.StageRuleQuorum).SetQuorum(2).
			AddDesignatedReviewers(s.b, s.x).Save(ctx)
		require.NoError(t, err)
		var sub struct{ SubmitAccessRequest struct{ ID string } }
		env.MustDo(t, s.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": "rotation"}}, &sub)

		res, body := s.get(t, s.tokRM, "/reports/access-requests.csv")
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, reports.ExportHeader, recs[0])
		col := slices.Index(recs[0], "reviews")
		reviews := map[string]string{}
		for _, r := range recs[1:] {
			reviews[r[slices.Index(recs[0], "request_id")]] = r[col]
		}
		require.Len(t, reviews, 2)

		first := reviews[s.reqID]
		require.Contains(t, first, "L1 maria@example.com REASSIGNED as manager")
		require.Contains(t, first, "L1 xavier@example.com APPROVED as reassigned (manager stage)")
		require.Contains(t, first, "L2 dan@example.com APPROVED for olga@example.com as delegate of Olga Owner (application owner)")

		second := reviews[sub.SubmitAccessRequest.ID]
		require.Contains(t, second, "L1 xavier@example.com PENDING as designated reviewer")
		require.Contains(t, second, "L1 dan@example.com PENDING for olga@example.com as delegate of Olga Owner (fallback, designated reviewer stage)")

		// The request's own report says the same.
		res, body = s.get(t, s.tokRM, "/reports/access-requests/"+sub.SubmitAccessRequest.ID+"/audit.json")
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		var report reports.Report
		require.NoError(t, json.Unmarshal(body, &report))
		var roles []string
		for _, rv := range report.Items[0].Reviews {
			roles = append(roles, rv.Role)
		}
		require.ElementsMatch(t, []string{"designated reviewer", "delegate of Olga Owner (fallback, designated reviewer stage)"}, roles)
	})
}

package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// TestDurationGrantShowsItsEnd: a GRANT for PT8H gets its end when it is
// provisioned; the item shows it (items { endsAt }, equal to the grant's
// end), and so do the request's JSON and CSV reports and the bulk export.
func TestDurationGrantShowsItsEnd(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		rcv := apitest.NewReceiver(t)
		env := apitest.NewWith(t, db, apitest.Options{Env: rcv.Env()})
		rm := env.User(t, "rm@example.com", enum.PlatformRoleRiskManager)
		b := env.User(t, "b@example.com", enum.PlatformRoleUser)
		tokB, tokRM := env.Token(t, b), env.Token(t, rm)
		app, err := env.Client.Application.Create().SetName("Wiki").SetFulfillment(enum.FulfillmentDirectAutoApproved).
			SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(rcv.Config()).Save(apitest.Sys())
		require.NoError(t, err)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("w").SetName("Wiki users").Save(apitest.Sys())
		require.NoError(t, err)

		var sub struct{ SubmitAccessRequest struct{ ID string } }
		env.MustDo(t, tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT8H"}}, &sub)
		type item struct {
			ID, Status  string
			EndsAt      *time.Time
			FulfilledAt *time.Time
		}
		var it item
		var grantEnd *time.Time
		require.Eventually(t, func() bool {
			var out struct {
				Node struct {
					Items []item
				}
				Grants struct {
					Edges []struct{ Node struct{ EndsAt *time.Time } }
				}
			}
			env.MustDo(t, tokB, `query($id: ID!) { node(id: $id) { ... on AccessRequest { items { id status endsAt fulfilledAt } } }
				grants { edges { node { endsAt } } } }`, map[string]any{"id": sub.SubmitAccessRequest.ID}, &out)
			if len(out.Node.Items) != 1 || out.Node.Items[0].Status != "FULFILLED" || len(out.Grants.Edges) != 1 {
				return false
			}
			it, grantEnd = out.Node.Items[0], out.Grants.Edges[0].Node.EndsAt
			return true
		}, 20*time.Second, 20*time.Millisecond)
		require.NotNil(t, it.EndsAt, "the item shows when its access ends")
		require.NotNil(t, grantEnd)
		require.True(t, grantEnd.Equal(*it.EndsAt), "item %s, grant %s", it.EndsAt, grantEnd)
		require.True(t, it.FulfilledAt.Add(8*time.Hour).Equal(*it.EndsAt), "the duration counts from provisioning")
		want := it.EndsAt.UTC().Format(time.RFC3339Nano)

		get := func(path string) []byte {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, env.Base+path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tokRM)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			var buf bytes.Buffer
			_, err = buf.ReadFrom(res.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, res.StatusCode, buf.String())
			return buf.Bytes()
		}
		var rep struct{ Items []struct{ EndsAt *time.Time } }
		require.NoError(t, json.Unmarshal(get("/reports/access-requests/"+sub.SubmitAccessRequest.ID+"/audit.json"), &rep))
		require.Len(t, rep.Items, 1)
		require.NotNil(t, rep.Items[0].EndsAt, "the JSON report shows the end")
		require.True(t, rep.Items[0].EndsAt.Equal(*it.EndsAt))
		rows, err := csv.NewReader(bytes.NewReader(get("/reports/access-requests/" + sub.SubmitAccessRequest.ID + "/audit.csv"))).ReadAll()
		require.NoError(t, err)
		var itemRow []string
		for _, r := range rows {
			if r[0] == "item" {
				itemRow = r
			}
		}
		require.NotNil(t, itemRow)
		found := false
		for _, f := range itemRow {
			found = found || bytes.Contains([]byte(f), []byte(`"endsAt":"`+want+`"`))
		}
		require.True(t, found, "the CSV report shows the end: %q", itemRow)

		recs, err := csv.NewReader(bytes.NewReader(get("/reports/access-requests.csv"))).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, 2)
		col := map[string]int{}
		for i, h := range reports.ExportHeader {
			col[h] = i
		}
		require.Equal(t, want, recs[1][col["ends_at"]], "the export shows the end")
	})
}

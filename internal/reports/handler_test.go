package reports_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// scene is an access request taken through its lifecycle over the real API:
// beneficiary B asks for GitHub admins and Jira users; their manager M
// approves the first (fulfilled through the webhook connector) and denies
// the second with a comment.
type scene struct {
	env                *apitest.Env
	b, m, outsider, rm *ent.User
	tokB, tokM, tokO   string
	tokRM, tokAdmin    string
	reqID              string
	github, jira       *ent.Application
	trail              []string // actions in order
	hashes             []string
}

const justification = `Quarter close, needs "admin" — café`

func newScene(t *testing.T, db *dbtest.DB) *scene {
	t.Helper()
	rcv := apitest.NewReceiver(t)
	env := apitest.NewWith(t, db, apitest.Options{Env: rcv.Env()})
	s := &scene{env: env}
	admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	s.m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	s.outsider = env.User(t, "o@example.com", enum.PlatformRoleUser)
	s.rm = env.User(t, "rm@example.com", enum.PlatformRoleRiskManager)
	var err error
	s.b, err = env.Client.User.Create().SetEmail("b@example.com").SetName("Ben B").SetManager(s.m).Save(apitest.Sys())
	require.NoError(t, err)
	s.tokB, s.tokM, s.tokO = env.Token(t, s.b), env.Token(t, s.m), env.Token(t, s.outsider)
	s.tokRM, s.tokAdmin = env.Token(t, s.rm), env.Token(t, admin)

	var ents []string
	for _, name := range []string{"GitHub", "Jira"} {
		app, err := env.Client.Application.Create().SetName(name).SetFulfillment(enum.FulfillmentDirect).
			SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(rcv.Config()).Save(apitest.Sys())
		require.NoError(t, err)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name + "-x").
			SetName(name + " users").Save(apitest.Sys())
		require.NoError(t, err)
		ents = append(ents, string(e.ID))
		if name == "GitHub" {
			s.github = app
		} else {
			s.jira = app
		}
	}
	var sub struct {
		SubmitAccessRequest struct {
			ID    string
			Items []struct {
				ID          string
				Entitlement struct{ Name string }
				Stages      []struct{ Tasks []struct{ ID string } }
			}
		}
	}
	env.MustDo(t, s.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
		id items { id entitlement { name } stages { tasks { id } } } } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": ents, "justification": justification}}, &sub)
	s.reqID = sub.SubmitAccessRequest.ID
	for _, it := range sub.SubmitAccessRequest.Items {
		d, comment := "APPROVE", "fine"
		if it.Entitlement.Name == "Jira users" {
			d, comment = "DENY", "not for this team, sorry"
		}
		env.MustDo(t, s.tokM, `mutation($id: ID!, $d: Decision!, $c: String) { decideReviewTask(id: $id, decision: $d, comment: $c) { id } }`,
			map[string]any{"id": it.Stages[0].Tasks[0].ID, "d": d, "c": comment}, nil)
	}
	require.Eventually(t, func() bool {
		var out struct{ Node struct{ Status string } }
		env.MustDo(t, s.tokB, `query($id: ID!) { node(id: $id) { ... on AccessRequest { status } } }`, map[string]any{"id": s.reqID}, &out)
		return out.Node.Status == "PARTIALLY_COMPLETED"
	}, 20*time.Second, 20*time.Millisecond)

	var tr struct {
		AuditTrail []struct {
			Seq          int
			Action, Hash string
		}
	}
	env.MustDo(t, s.tokB, `query($id: ID!) { auditTrail(requestId: $id) { seq action hash } }`, map[string]any{"id": s.reqID}, &tr)
	for i, e := range tr.AuditTrail {
		require.Equal(t, i+1, e.Seq)
		s.trail = append(s.trail, e.Action)
		s.hashes = append(s.hashes, e.Hash)
	}
	for _, a := range []audit.Action{audit.RequestSubmitted, audit.TaskDenied, audit.AccessGranted, audit.RequestCompleted} {
		require.Contains(t, s.trail, string(a))
	}
	return s
}

// awaitCheckpoint waits until the checkpoint job has recorded the request's
// head and says how long that took.
func (s *scene) awaitCheckpoint(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	require.Eventually(t, func() bool {
		n, err := s.env.Client.AuditCheckpoint.Query().
			Where(auditcheckpoint.Chain(s.reqID), auditcheckpoint.HeadSeq(int64(len(s.trail)))).Count(apitest.Sys())
		return err == nil && n > 0
	}, 30*time.Second, 50*time.Millisecond, "the checkpoint job records the request's head")
	return time.Since(start)
}

// get downloads path with a bearer token ("" for none).
func (s *scene) get(t *testing.T, token, path string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.env.Base+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, body
}

func requireAttachment(t *testing.T, res *http.Response, contentType, filename string) {
	t.Helper()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, contentType, res.Header.Get("Content-Type"))
	disp, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
	require.NoError(t, err)
	require.Equal(t, "attachment", disp)
	require.Equal(t, filename, params["filename"])
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
}

func requireCode(t *testing.T, res *http.Response, body []byte, status int, code string) {
	t.Helper()
	require.Equal(t, status, res.StatusCode, string(body))
	var e struct {
		Errors []struct {
			Extensions struct{ Code string }
		}
	}
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Len(t, e.Errors, 1)
	require.Equal(t, code, e.Errors[0].Extensions.Code)
}

func TestRequestReports(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newScene(t, db)
		took := s.awaitCheckpoint(t)
		t.Logf("checkpoint recorded %v after the request completed", took.Round(time.Millisecond))
		base := "/reports/access-requests/" + s.reqID + "/audit"

		// CSV: one request record, the items, the timeline, the verification.
		res, body := s.get(t, s.tokB, base+".csv")
		requireAttachment(t, res, "text/csv; charset=utf-8", "gatehouse-audit-"+s.reqID+".csv")
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, reports.CSVHeader, recs[0])
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		require.Len(t, recs, 1+1+2+len(s.trail)+1)
		req := recs[1]
		require.Equal(t, "request", req[0])
		require.Equal(t, s.reqID, req[col["request_id"]])
		require.Equal(t, "PARTIALLY_COMPLETED", req[col["status"]])
		require.Equal(t, "Ben B <b@example.com>", req[col["actor"]])
		require.Contains(t, req[col["details"]], `"justification":"Quarter close, needs \"admin\" — café"`)
		items := map[string][]string{}
		for _, r := range recs[2:4] {
			require.Equal(t, "item", r[0])
			items[r[col["application"]]] = r
		}
		require.Equal(t, "FULFILLED", items["GitHub"][col["status"]])
		require.Equal(t, "DENIED", items["Jira"][col["status"]])
		require.Contains(t, items["Jira"][col["details"]], `L1 m@example.com DENIED`)
		require.Contains(t, items["Jira"][col["details"]], `\"not for this team, sorry\"`)
		for i, r := range recs[4 : 4+len(s.trail)] {
			require.Equal(t, "event", r[0])
			require.Equal(t, strconv.Itoa(i+1), r[col["seq"]])
			require.Equal(t, s.trail[i], r[col["action"]])
			require.Equal(t, s.hashes[i], r[col["hash"]])
			if i > 0 {
				require.Equal(t, s.hashes[i-1], r[col["prev_hash"]])
			}
			_, err := time.Parse(time.RFC3339Nano, r[col["at"]])
			require.NoError(t, err)
		}
		last := recs[len(recs)-1]
		require.Equal(t, "verification", last[0])
		require.Equal(t, "VALID", last[col["status"]])
		require.Equal(t, "VALID: "+strconv.Itoa(len(s.trail))+" events verified, hash chain intact, matches the global checkpoint of seq "+
			strconv.Itoa(len(s.trail)), last[col["details"]])

		// JSON: round-trips, and the events it holds re-verify.
		res, body = s.get(t, s.tokB, base+".json")
		requireAttachment(t, res, "application/json", "gatehouse-audit-"+s.reqID+".json")
		var rep reports.Report
		require.NoError(t, json.Unmarshal(body, &rep))
		var again bytes.Buffer
		require.NoError(t, reports.WriteJSON(&again, &rep))
		require.JSONEq(t, string(body), again.String())
		require.Equal(t, body, again.Bytes(), "decoding and encoding again gives the same bytes")
		require.Equal(t, s.reqID, string(rep.Request.ID))
		require.Equal(t, justification, rep.Request.Justification)
		require.Len(t, rep.Items, 2)
		require.Len(t, rep.Events, len(s.trail))
		var evs []*ent.AuditEvent
		for i, e := range rep.Events {
			require.Equal(t, s.trail[i], e.Action)
			evs = append(evs, &ent.AuditEvent{Chain: e.Chain, Seq: e.Seq, At: e.At, Action: e.Action, Actor: e.Actor,
				RequestID: e.RequestID, ItemID: e.ItemID, Data: e.Data, PrevHash: e.PrevHash, Hash: e.Hash})
		}
		v := audit.Verify(s.reqID, evs)
		require.True(t, v.Valid, "the JSON's events recompute to their hashes: %s", v.Reason)
		require.True(t, rep.Verification.Valid)
		require.Equal(t, int64(len(s.trail)), rep.Verification.Checkpointed)
		for _, it := range rep.Items {
			require.Len(t, it.Reviews, 1)
			require.Equal(t, "m@example.com", it.Reviews[0].Reviewer.Email)
			if it.Application.Name == "GitHub" {
				require.NotNil(t, it.FulfilledAt)
				require.Equal(t, "APPROVED", it.Reviews[0].Status)
			}
		}

		// PDF: valid, and its text holds the request ID and every action.
		res, body = s.get(t, s.tokB, base+".pdf")
		requireAttachment(t, res, "application/pdf", "gatehouse-audit-"+s.reqID+".pdf")
		text := pdfText(t, body)
		require.Contains(t, text, s.reqID)
		for _, a := range s.trail {
			require.Contains(t, text, a)
		}
		require.Contains(t, strings.Join(strings.Fields(text), " "), "Verification: VALID")

		// Who may download: those who see the request (requester and
		// beneficiary B, reviewer M, risk managers); others get 404.
		for _, tok := range []string{s.tokM, s.tokRM, s.tokAdmin} {
			res, _ := s.get(t, tok, base+".json")
			require.Equal(t, http.StatusOK, res.StatusCode)
		}
		for _, ext := range []string{".csv", ".json", ".pdf"} {
			res, body := s.get(t, s.tokO, base+ext)
			requireCode(t, res, body, http.StatusNotFound, "NOT_FOUND")
			res, body = s.get(t, "", base+ext)
			requireCode(t, res, body, http.StatusUnauthorized, "UNAUTHENTICATED")
			require.Equal(t, `Bearer realm="gatehouse"`, res.Header.Get("WWW-Authenticate"))
		}
		res, body = s.get(t, s.tokB, "/reports/access-requests/req_01JNOSUCHREQUEST00000000000/audit.csv")
		requireCode(t, res, body, http.StatusNotFound, "NOT_FOUND")
		res, body = s.get(t, s.tokB, base+".xml")
		requireCode(t, res, body, http.StatusNotFound, "NOT_FOUND")

		// Tampering shows in the reports: cut the tail of the chain.
		db.DisableAuditTriggers(t)
		n := len(s.trail)
		q := `DELETE FROM audit_events WHERE chain = $1 AND seq = $2`
		if db.Name == "sqlite" {
			q = `DELETE FROM audit_events WHERE chain = ? AND seq = ?`
		}
		_, err = db.SQL.Exec(q, s.reqID, n)
		require.NoError(t, err)
		res, body = s.get(t, s.tokB, base+".csv")
		require.Equal(t, http.StatusOK, res.StatusCode)
		recs, err = csv.NewReader(bytes.NewReader(body)).ReadAll()
		require.NoError(t, err)
		last = recs[len(recs)-1]
		require.Equal(t, "BROKEN", last[col["status"]])
		require.Equal(t, strconv.Itoa(n), last[col["seq"]])
		require.Contains(t, last[col["details"]], "(tail cut)")
	})
}

func TestBulkExport(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newScene(t, db)
		path := "/reports/access-requests.csv"

		res, body := s.get(t, s.tokB, path)
		requireCode(t, res, body, http.StatusForbidden, "FORBIDDEN")
		res, body = s.get(t, "", path)
		requireCode(t, res, body, http.StatusUnauthorized, "UNAUTHENTICATED")

		rows := func(token string, params url.Values) [][]string {
			t.Helper()
			res, body := s.get(t, token, path+"?"+params.Encode())
			requireAttachment(t, res, "text/csv; charset=utf-8", "gatehouse-access-requests.csv")
			recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			require.NoError(t, err)
			require.Equal(t, reports.ExportHeader, recs[0])
			return recs[1:]
		}
		col := map[string]int{}
		for i, h := range reports.ExportHeader {
			col[h] = i
		}
		all := rows(s.tokRM, nil)
		require.Len(t, all, 2, "one row per item")
		byApp := map[string][]string{}
		for _, r := range all {
			require.Equal(t, s.reqID, r[col["request_id"]])
			require.Equal(t, "PARTIALLY_COMPLETED", r[col["request_status"]])
			require.Equal(t, "b@example.com", r[col["requester"]])
			require.Equal(t, "b@example.com", r[col["beneficiary"]])
			require.Equal(t, "GRANT", r[col["action"]])
			require.NotEmpty(t, r[col["submitted_at"]])
			require.NotEmpty(t, r[col["decided_at"]])
			byApp[r[col["application"]]] = r
		}
		gh, jira := byApp["GitHub"], byApp["Jira"]
		require.Equal(t, "GitHub users", gh[col["entitlement"]])
		require.Equal(t, "FULFILLED", gh[col["item_status"]])
		require.NotEmpty(t, gh[col["fulfilled_at"]])
		require.Regexp(t, `^L1 m@example.com APPROVED as manager \S+ "fine"$`, gh[col["reviews"]])
		require.Equal(t, "DENIED", jira[col["item_status"]])
		require.Empty(t, jira[col["fulfilled_at"]])
		require.Regexp(t, `^L1 m@example.com DENIED as manager \S+ "not for this team, sorry"$`, jira[col["reviews"]])

		// Filters.
		require.Len(t, rows(s.tokAdmin, url.Values{"status": {"PARTIALLY_COMPLETED"}}), 2)
		require.Empty(t, rows(s.tokRM, url.Values{"status": {"PENDING_REVIEW"}}))
		only := rows(s.tokRM, url.Values{"application": {string(s.jira.ID)}})
		require.Len(t, only, 1)
		require.Equal(t, "Jira", only[0][col["application"]])
		today := time.Now().UTC().Format(time.DateOnly)
		require.Len(t, rows(s.tokRM, url.Values{"from": {today}, "to": {today}}), 2, "a date as to includes that day")
		require.Empty(t, rows(s.tokRM, url.Values{"from": {time.Now().Add(time.Hour).Format(time.RFC3339)}}))
		require.Empty(t, rows(s.tokRM, url.Values{"to": {time.Now().Add(-time.Hour).Format(time.RFC3339)}}))
		for _, bad := range []url.Values{
			{"status": {"NOPE"}}, {"from": {"yesterday"}}, {"application": {"usr_1"}},
			{"from": {today}, "to": {"2000-01-01"}},
			// Unknown and malformed application IDs.
			{"application": {"app_01JNOSUCHAPPLICATION0000000"}}, {"application": {"app_"}}, {"application": {"app_'; --"}},
		} {
			res, body := s.get(t, s.tokRM, path+"?"+bad.Encode())
			requireCode(t, res, body, http.StatusBadRequest, "INVALID_INPUT")
		}
	})
}

// TestBulkExportPages checks the export across several read batches: every
// item once, in order.
func TestBulkExportPages(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		const n = 1234
		seed := seedItems(t, db, n, 7, "ok")
		var out bytes.Buffer
		res := exportTo(t, seed, db, &out)
		require.Equal(t, http.StatusOK, res.StatusCode)
		recs, err := csv.NewReader(&out).ReadAll()
		require.NoError(t, err)
		require.Len(t, recs, n+1)
		prev := ""
		for _, r := range recs[1:] {
			assert.Greater(t, r[6], prev, "items in ID order, each once")
			prev = r[6]
			require.Regexp(t, `^L1 rev@example.com APPROVED as manager \S+ "ok"$`, r[15])
		}
	})
}

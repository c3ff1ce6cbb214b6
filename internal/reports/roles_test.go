package reports_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// reviewScene is a request reviewed in two stages: the beneficiary's
// manager Maria (who hands her task over to Xavier), then the application's
// owner Olga, whose delegate Dan holds her task.
type reviewScene struct {
	env                *apitest.Env
	b, m, x, o, d, rm  *ent.User
	tokB, tokM, tokX   string
	tokD, tokRM, reqID string
	stage1Task, itemID string
}

func person(t *testing.T, env *apitest.Env, name, email string, manager *ent.User) *ent.User {
	t.Helper()
	c := env.Client.User.Create().SetName(name).SetEmail(email)
	if manager != nil {
		c.SetManager(manager)
	}
	u, err := c.Save(apitest.Sys())
	require.NoError(t, err)
	return u
}

func newReviewScene(t *testing.T, db *dbtest.DB) *reviewScene {
	t.Helper()
	env := apitest.New(t, db)
	s := &reviewScene{env: env}
	s.m = person(t, env, "Maria Manager", "maria@example.com", nil)
	s.b = person(t, env, "Ben Beneficiary", "ben@example.com", s.m)
	s.x = person(t, env, "Xavier Peer", "xavier@example.com", nil)
	s.o = person(t, env, "Olga Owner", "olga@example.com", nil)
	s.d = person(t, env, "Dan Deputy", "dan@example.com", nil)
	s.rm = env.User(t, "rm@example.com", enum.PlatformRoleRiskManager)
	s.tokB, s.tokM, s.tokX = env.Token(t, s.b), env.Token(t, s.m), env.Token(t, s.x)
	s.tokD, s.tokRM = env.Token(t, s.d), env.Token(t, s.rm)

	ctx := apitest.Sys()
	app, err := env.Client.Application.Create().SetName("Ledger").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).AddOwners(s.o).Save(ctx)
	require.NoError(t, err)
	e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("ledger-post").SetName("Post entries").Save(ctx)
	require.NoError(t, err)
	for i, k := range []enum.ReviewerKind{enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner} {
		_, err := env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(i + 1).SetReviewerKind(k).Save(ctx)
		require.NoError(t, err)
	}
	env.MustDo(t, env.Token(t, s.o), `mutation($u: ID) { setDelegate(userId: $u) { id } }`, map[string]any{"u": string(s.d.ID)}, nil)

	var sub struct {
		SubmitAccessRequest struct {
			ID    string
			Items []struct {
				ID     string
				Stages []struct{ Tasks []struct{ ID string } }
			}
		}
	}
	env.MustDo(t, s.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
		id items { id stages { tasks { id } } } } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": "month-end close"}}, &sub)
	s.reqID = sub.SubmitAccessRequest.ID
	s.itemID = sub.SubmitAccessRequest.Items[0].ID
	s.stage1Task = sub.SubmitAccessRequest.Items[0].Stages[0].Tasks[0].ID

	var moved struct{ ReassignReviewTask struct{ ID string } }
	env.MustDo(t, s.tokM, `mutation($id: ID!, $to: ID!) { reassignReviewTask(id: $id, toUserId: $to, comment: "on leave") { id } }`,
		map[string]any{"id": s.stage1Task, "to": string(s.x.ID)}, &moved)
	env.MustDo(t, s.tokX, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE, comment: "ok") { id } }`,
		map[string]any{"id": moved.ReassignReviewTask.ID}, nil)
	var mine struct {
		MyTasks struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	env.MustDo(t, s.tokD, `{ myTasks { edges { node { id } } } }`, nil, &mine)
	require.Len(t, mine.MyTasks.Edges, 1, "Olga's delegate holds the second stage's task")
	env.MustDo(t, s.tokD, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE, comment: "fine") { id } }`,
		map[string]any{"id": mine.MyTasks.Edges[0].Node.ID}, nil)
	return s
}

func (s *reviewScene) get(t *testing.T, token, path string) (*http.Response, []byte) {
	return (&scene{env: s.env}).get(t, token, path)
}

// publicKey fetches the report signing key from the well-known endpoint,
// without a token.
func (s *reviewScene) publicKey(t *testing.T) (ed25519.PublicKey, []byte) {
	t.Helper()
	res, body := s.get(t, "", reports.KeyPath)
	require.Equal(t, http.StatusOK, res.StatusCode, "the public key needs no token")
	blk, _ := pem.Decode(body)
	require.NotNil(t, blk, "PEM: %s", body)
	require.Equal(t, "PUBLIC KEY", blk.Type)
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	require.NoError(t, err)
	pub, ok := k.(ed25519.PublicKey)
	require.True(t, ok, "an Ed25519 key")
	return pub, body
}

func signature(t *testing.T, res *http.Response) []byte {
	t.Helper()
	h := res.Header.Get(reports.SignatureHeader)
	require.True(t, strings.HasPrefix(h, "ed25519="), "signature header %q", h)
	sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "ed25519="))
	require.NoError(t, err)
	require.Len(t, sig, ed25519.SignatureSize)
	return sig
}

func TestReportNamesAndRoles(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)
		base := "/reports/access-requests/" + s.reqID + "/audit"
		maria, xavier := "Maria Manager <maria@example.com>", "Xavier Peer <xavier@example.com>"
		dan := "Dan Deputy <dan@example.com>"

		res, body := s.get(t, s.tokB, base+".csv")
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, reports.CSVHeader, recs[0])
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		events := map[string][][]string{}
		for _, r := range recs[1:] {
			if r[0] != "event" {
				continue
			}
			events[r[col["action"]]] = append(events[r[col["action"]]], r)
			require.NotContains(t, r[col["details"]], "usr_", "details name people, IDs go to their column: %v", r)
			require.NotContains(t, r[col["details"]], "tsk_", "details name tasks: %v", r)
			require.NotContains(t, r[col["actor"]], "usr_", "the actor is named: %v", r)
		}
		one := func(action string) []string {
			t.Helper()
			require.Len(t, events[action], 1, action)
			return events[action][0]
		}

		require.Len(t, events["TASK_ASSIGNED"], 2, "one per stage")
		assigned := events["TASK_ASSIGNED"][0]
		require.Equal(t, "manager", assigned[col["role"]], "the first stage is the manager's")
		require.Contains(t, assigned[col["details"]], "reviewer: "+maria)
		require.Contains(t, assigned[col["ids"]], "reviewer="+string(s.m.ID))
		require.Contains(t, assigned[col["ids"]], "task="+s.stage1Task)

		moved := one("TASK_REASSIGNED")
		require.Equal(t, maria, moved[col["actor"]])
		require.Equal(t, string(s.m.ID), moved[col["actor_id"]])
		require.Equal(t, "reassigned (manager stage)", moved[col["role"]])
		require.Contains(t, moved[col["details"]], "from: "+maria)
		require.Contains(t, moved[col["details"]], "to: "+xavier)
		require.Contains(t, moved[col["details"]], "comment: on leave")
		require.Contains(t, moved[col["ids"]], "from="+string(s.m.ID))
		require.Contains(t, moved[col["ids"]], "to="+string(s.x.ID))
		var data map[string]any
		require.NoError(t, json.Unmarshal([]byte(moved[col["data"]]), &data))
		require.Equal(t, string(s.x.ID), data["to"], "the recorded data is kept as it is")

		// Olga's task went to her delegate when the request was submitted;
		// it became pending when the first stage approved.
		delegated := events["TASK_ASSIGNED"][1]
		require.Equal(t, "delegate of Olga Owner (application owner)", delegated[col["role"]])
		require.Contains(t, delegated[col["details"]], "reviewer: "+dan)
		require.Contains(t, delegated[col["ids"]], "reviewer="+string(s.d.ID))

		approvals := events["TASK_APPROVED"]
		require.Len(t, approvals, 2)
		require.Equal(t, xavier, approvals[0][col["actor"]])
		require.Equal(t, "reassigned (manager stage)", approvals[0][col["role"]])
		require.Equal(t, dan, approvals[1][col["actor"]])
		require.Equal(t, "delegate of Olga Owner (application owner)", approvals[1][col["role"]])
		require.Contains(t, approvals[1][col["details"]], "role: delegate of Olga Owner (application owner)")
		require.Contains(t, approvals[1][col["details"]], "task: task of "+dan+", delegate of Olga Owner (application owner)")

		// JSON: the same names and roles, on the events and the reviews.
		res, body = s.get(t, s.tokB, base+".json")
		require.Equal(t, http.StatusOK, res.StatusCode)
		var rep reports.Report
		require.NoError(t, json.Unmarshal(body, &rep))
		roles := map[string]string{}
		for _, rv := range rep.Items[0].Reviews {
			roles[rv.Reviewer.Email+" "+rv.Status] = rv.Role
		}
		require.Equal(t, map[string]string{
			"maria@example.com REASSIGNED": "manager",
			"xavier@example.com APPROVED":  "reassigned (manager stage)",
			"dan@example.com APPROVED":     "delegate of Olga Owner (application owner)",
		}, roles)
		for _, e := range rep.Events {
			if e.Action != "TASK_REASSIGNED" {
				continue
			}
			require.Equal(t, "reassigned (manager stage)", e.Role)
			require.Contains(t, e.Details, reports.Detail{Key: "to", Value: xavier, ID: string(s.x.ID)})
		}

		// PDF: readable lines, every ID whole on one line.
		res, body = s.get(t, s.tokB, base+".pdf")
		require.Equal(t, http.StatusOK, res.StatusCode)
		text := pdfText(t, body)
		require.Contains(t, text, "role: delegate of Olga Owner (application owner)")
		require.Contains(t, text, "to: "+xavier)
		require.NotContains(t, text, `{"`, "no raw JSON")
		for _, id := range []string{string(s.m.ID), string(s.x.ID), string(s.d.ID), s.stage1Task, s.itemID} {
			require.Contains(t, text, id, "the ID is shown whole, never cut by a line break")
		}
	})
}

// TestReportStatements checks that a report's reads do not grow with its
// events, reviewers or the people its events name: the users are loaded in
// one query.
func TestReportStatements(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)
		ctx := apitest.Sys()
		app, err := s.env.Client.Application.Query().Only(ctx)
		require.NoError(t, err)
		e, err := s.env.Client.Entitlement.Create().SetApplication(app).SetExternalID("ledger-read").SetName("Read entries").Save(ctx)
		require.NoError(t, err)
		var sub struct{ SubmitAccessRequest struct{ ID string } }
		s.env.MustDo(t, s.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}}}, &sub)

		counter := &dbtest.Counter{}
		client := ent.NewClient(ent.Driver(counter.Wrap(entsql.OpenDB(db.Dialect, db.SQL))))
		svc := reports.New(client, time.Now)
		viewer := authz.NewContext(context.Background(), &authz.Viewer{UserID: s.rm.ID, Role: enum.PlatformRoleRiskManager})
		cost := func(id string) (int64, int) {
			counter.Reset()
			rep, err := svc.Request(viewer, pulid.ID(id))
			require.NoError(t, err)
			return counter.Count(), len(rep.Events)
		}
		small, fewEvents := cost(sub.SubmitAccessRequest.ID)
		large, manyEvents := cost(s.reqID)
		require.Greater(t, manyEvents, 2*fewEvents, "the reviewed request has many more events and people")
		require.Equal(t, small, large, "statements per report")
	})
}

func TestReportSignature(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)
		base := "/reports/access-requests/" + s.reqID + "/audit"
		pub, pemKey := s.publicKey(t)

		for _, ext := range []string{".pdf", ".csv", ".json"} {
			res, body := s.get(t, s.tokRM, base+ext)
			require.Equal(t, http.StatusOK, res.StatusCode)
			sig := signature(t, res)
			require.True(t, ed25519.Verify(pub, body, sig), "%s: the signature verifies with the published key", ext)
			for _, i := range []int{0, len(body) / 2, len(body) - 1} {
				changed := bytes.Clone(body)
				changed[i] ^= 0x01
				require.False(t, ed25519.Verify(pub, changed, sig), "%s: one changed byte (%d) fails", ext, i)
			}
		}

		// The README's offline check, with the openssl of this machine.
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Log("openssl not installed: the command-line check is skipped")
			return
		}
		res, body := s.get(t, s.tokRM, base+".pdf")
		dir := t.TempDir()
		write := func(name string, b []byte) string {
			p := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(p, b, 0o600))
			return p
		}
		key, pdf, sig := write("key.pem", pemKey), write("report.pdf", body), write("report.pdf.sig", signature(t, res))
		verify := func() ([]byte, error) {
			return exec.Command(openssl, "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin", "-in", pdf, "-sigfile", sig).CombinedOutput()
		}
		out, err := verify()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "Signature Verified Successfully")
		body[len(body)/2] ^= 0x01
		write("report.pdf", body)
		out, err = verify()
		require.Error(t, err, "openssl refuses the changed file: %s", out)
	})
}

package reports_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	_ "gatehouse/ent/runtime"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// seeded is a database holding many request items.
type seeded struct {
	client *ent.Client
}

// seedItems writes n approved items, perRequest to a request, each with one
// stage and one approved task, straight through ent (no workflow, no audit).
func seedItems(t testing.TB, db *dbtest.DB, n, perRequest int) *seeded {
	t.Helper()
	ctx := authz.SystemContext(context.Background())
	client := ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
	requester := client.User.Create().SetEmail("req@example.com").SetName("Req").SaveX(ctx)
	ben := client.User.Create().SetEmail("ben@example.com").SetName("Ben").SaveX(ctx)
	rev := client.User.Create().SetEmail("rev@example.com").SetName("Rev").SaveX(ctx)
	app := client.Application.Create().SetName("App").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).SaveX(ctx)
	ent1 := client.Entitlement.Create().SetApplication(app).SetExternalID("e").SetName("Ent").SaveX(ctx)
	now := time.Now().UTC()
	const batch = 1000
	for done := 0; done < n; {
		size := min(batch, n-done)
		tx, err := client.Tx(ctx)
		require.NoError(t, err)
		c := tx.Client()
		var reqs []*ent.AccessRequestCreate
		for range (size + perRequest - 1) / perRequest {
			reqs = append(reqs, c.AccessRequest.Create().SetAction(enum.RequestActionGrant).
				SetRequester(requester).SetBeneficiary(ben).SetStatus(enum.RequestStatusFulfilling).SetSubmittedAt(now))
		}
		rs := c.AccessRequest.CreateBulk(reqs...).SaveX(ctx)
		items := make([]*ent.RequestItemCreate, size)
		for i := range items {
			items[i] = c.RequestItem.Create().SetRequest(rs[i/perRequest]).SetEntitlement(ent1).SetApplication(app).
				SetAction(enum.RequestActionGrant).SetStatus(enum.ItemStatusApproved).SetDecidedAt(now)
		}
		its := c.RequestItem.CreateBulk(items...).SaveX(ctx)
		stages := make([]*ent.ReviewStageCreate, size)
		for i, it := range its {
			stages[i] = c.ReviewStage.Create().SetItem(it).SetLevel(1).SetReviewerKind(enum.ReviewerKindManager).
				SetRule(enum.StageRuleAny).SetStatus(enum.StageStatusApproved)
		}
		sts := c.ReviewStage.CreateBulk(stages...).SaveX(ctx)
		tasks := make([]*ent.ReviewTaskCreate, size)
		for i, st := range sts {
			tasks[i] = c.ReviewTask.Create().SetStage(st).SetRequestID(its[i].RequestID).SetReviewer(rev).
				SetStatus(enum.TaskStatusApproved).SetDecidedAt(now).SetComment("ok")
		}
		c.ReviewTask.CreateBulk(tasks...).ExecX(ctx)
		require.NoError(t, tx.Commit())
		done += size
	}
	return &seeded{client: client}
}

// staticAuth authenticates every request as one viewer.
type staticAuth struct{ v *authz.Viewer }

func (a staticAuth) Authenticate(context.Context, string) (*authz.Viewer, error) { return a.v, nil }

// exportTo downloads the whole bulk export, as a risk manager, into w.
func exportTo(t testing.TB, s *seeded, _ *dbtest.DB, w io.Writer) *http.Response {
	t.Helper()
	h := reports.Handler(reports.HandlerConfig{
		Reports: reports.New(s.client, time.Now),
		Auth:    staticAuth{&authz.Viewer{UserID: "usr_rm", Role: enum.PlatformRoleRiskManager}},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/reports/access-requests.csv")
	require.NoError(t, err)
	defer res.Body.Close()
	_, err = io.Copy(w, res.Body)
	require.NoError(t, err)
	return res
}

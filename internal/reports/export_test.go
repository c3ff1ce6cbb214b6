package reports_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/migrate"
	_ "gatehouse/ent/runtime"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/reports"
)

// seeded is a database holding many request items.
type seeded struct {
	client *ent.Client
}

// seedItems writes n approved items, perRequest to a request, each with one
// stage and one task approved with comment (no workflow, no audit): ent writes one
// request of each kind of row, and SQL copies it n times in four
// statements (thousands of ent round trips made the 100,000-item seed take
// most of a minute), then the originals go.
func seedItems(t testing.TB, db *dbtest.DB, n, perRequest int, comment string) *seeded {
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
	req := client.AccessRequest.Create().SetAction(enum.RequestActionGrant).
		SetRequester(requester).SetBeneficiary(ben).SetStatus(enum.RequestStatusFulfilling).SetSubmittedAt(now).SaveX(ctx)
	item := client.RequestItem.Create().SetRequest(req).SetEntitlement(ent1).SetApplication(app).
		SetAction(enum.RequestActionGrant).SetStatus(enum.ItemStatusApproved).SetDecidedAt(now).SaveX(ctx)
	stage := client.ReviewStage.Create().SetItem(item).SetLevel(1).SetReviewerKind(enum.ReviewerKindManager).
		SetRule(enum.StageRuleAny).SetStatus(enum.StageStatusApproved).SaveX(ctx)
	task := client.ReviewTask.Create().SetStage(stage).SetRequestID(req.ID).SetReviewer(rev).
		SetStatus(enum.TaskStatusApproved).SetDecidedAt(now).SetComment(comment).SaveX(ctx)

	// Copy i of a row gets the ID prefix_<i, zero-padded>, so that the
	// copies sort as they are numbered; item i belongs to request
	// i/perRequest and has stage i and task i.
	id := func(of pulid.ID, i string) string {
		if db.Dialect == dialect.Postgres {
			return fmt.Sprintf("'%s_' || lpad((%s)::text, 26, '0')", of.Prefix(), i)
		}
		return fmt.Sprintf("'%s_' || printf('%%026d', %s)", of.Prefix(), i)
	}
	reqOf := id(req.ID, fmt.Sprintf("i / %d", perRequest))
	copies := []struct {
		table    *schema.Table
		template pulid.ID
		count    int
		set      map[string]string
	}{
		{migrate.AccessRequestsTable, req.ID, (n + perRequest - 1) / perRequest, map[string]string{"id": id(req.ID, "i")}},
		{migrate.RequestItemsTable, item.ID, n, map[string]string{"id": id(item.ID, "i"), "request_id": reqOf}},
		{migrate.ReviewStagesTable, stage.ID, n, map[string]string{"id": id(stage.ID, "i"), "item_id": id(item.ID, "i")}},
		{migrate.ReviewTasksTable, task.ID, n, map[string]string{"id": id(task.ID, "i"), "stage_id": id(stage.ID, "i"), "request_id": reqOf}},
	}
	for _, c := range copies {
		var cols, vals []string
		for _, col := range c.table.Columns {
			cols = append(cols, `"`+col.Name+`"`)
			v, ok := c.set[col.Name]
			if !ok {
				v = `t."` + col.Name + `"`
			}
			vals = append(vals, v)
		}
		_, err := db.SQL.ExecContext(ctx, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
INSERT INTO %s (%s) SELECT %s FROM n, %s t WHERE t.id = '%s'`,
			c.count-1, c.table.Name, strings.Join(cols, ", "), strings.Join(vals, ", "), c.table.Name, c.template))
		require.NoError(t, err, "copy %s", c.table.Name)
	}
	client.ReviewTask.DeleteOne(task).ExecX(ctx)
	client.ReviewStage.DeleteOne(stage).ExecX(ctx)
	client.RequestItem.DeleteOne(item).ExecX(ctx)
	client.AccessRequest.DeleteOne(req).ExecX(ctx)
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

package progress

import (
	"context"
	"fmt"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	_ "gatehouse/ent/runtime" // privacy policies, hooks and defaults
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow/rules"
)

// seedRequest writes a request of requester for beneficiary with one item
// per application (of status item) and, on each item, one task per
// reviewer with the given status.
func seedRequest(t *testing.T, c *ent.Client, requester, beneficiary *ent.User, item enum.ItemStatus,
	apps []*ent.Application, tasks map[*ent.User]enum.TaskStatus) *ent.AccessRequest {
	t.Helper()
	ctx := authz.SystemContext(context.Background())
	req, err := c.AccessRequest.Create().SetAction(enum.RequestActionGrant).
		SetRequesterID(requester.ID).SetBeneficiaryID(beneficiary.ID).Save(ctx)
	require.NoError(t, err)
	for _, app := range apps {
		e, err := c.Entitlement.Create().SetApplicationID(app.ID).SetExternalID(string(req.ID)).SetName(string(req.ID)).Save(ctx)
		require.NoError(t, err)
		it, err := c.RequestItem.Create().SetRequestID(req.ID).SetEntitlementID(e.ID).SetApplicationID(app.ID).
			SetAction(enum.RequestActionGrant).SetStatus(item).Save(ctx)
		require.NoError(t, err)
		st, err := c.ReviewStage.Create().SetItemID(it.ID).SetLevel(1).SetReviewerKind(enum.ReviewerKindManager).
			SetRule(enum.StageRuleAny).SetStatus(enum.StageStatusActive).Save(ctx)
		require.NoError(t, err)
		for u, s := range tasks {
			_, err := c.ReviewTask.Create().SetStageID(st.ID).SetRequestID(req.ID).SetReviewerID(u.ID).SetStatus(s).Save(ctx)
			require.NoError(t, err)
		}
	}
	return req
}

// TestComputeEvents checks what an event says and who receives it, and that
// a batch of requests costs the same number of statements as one request.
func TestComputeEvents(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		counter := &dbtest.Counter{}
		c := ent.NewClient(ent.Driver(counter.Wrap(entsql.OpenDB(db.Dialect, db.SQL))))
		ctx := authz.SystemContext(context.Background())
		user := func(name string) *ent.User {
			u, err := c.User.Create().SetEmail(name + "@example.com").SetName(name).Save(ctx)
			require.NoError(t, err)
			return u
		}
		app := func(name string, f enum.Fulfillment, owners ...*ent.User) *ent.Application {
			a, err := c.Application.Create().SetName(name).SetFulfillment(f).
				SetConnectorKind(enum.ConnectorKindManual).AddOwners(owners...).Save(ctx)
			require.NoError(t, err)
			return a
		}
		r, b, m, x, y, owner, other := user("r"), user("b"), user("m"), user("x"), user("y"), user("owner"), user("other")
		manual, direct := app("manual", enum.FulfillmentManual, owner), app("direct", enum.FulfillmentDirect, other)
		tasks := map[*ent.User]enum.TaskStatus{m: enum.TaskStatusApproved, x: enum.TaskStatusReassigned, y: enum.TaskStatusPending}

		var ids []pulid.ID
		for range 6 {
			ids = append(ids, seedRequest(t, c, r, b, enum.ItemStatusApproved, []*ent.Application{manual, direct}, tasks).ID)
		}
		waiting := seedRequest(t, c, r, b, enum.ItemStatusPendingReview, []*ent.Application{manual}, tasks)

		f := New(Config{Client: c, Dialect: db.Dialect})
		counter.Reset()
		one, err := f.compute(ctx, ids[:1])
		require.NoError(t, err)
		oneStatements := counter.Count()
		counter.Reset()
		all, err := f.compute(ctx, append(ids, waiting.ID))
		require.NoError(t, err)
		require.Equal(t, oneStatements, counter.Count(), "statements for 1 and for %d requests", len(ids)+1)
		t.Logf("statements per batch: %d", oneStatements)

		ev := one[ids[0]]
		require.Equal(t, rules.NewCompletion(2, 4), ev.Overall, "M's two APPROVED tasks are done, Y's two PENDING are not; X's REASSIGNED count nowhere")
		require.Equal(t, rules.NewCompletion(0, 2), ev.Mine(y.ID))
		require.Equal(t, rules.NewCompletion(0, 0), ev.Mine(x.ID))
		reviewers := []string{}
		for _, rc := range ev.Reviewers {
			reviewers = append(reviewers, fmt.Sprintf("%s %d/%d", rc.Reviewer.Name, rc.Completion.Done, rc.Completion.Total))
		}
		require.ElementsMatch(t, []string{"m 2/2", "y 0/2"}, reviewers, "only reviewers with counted tasks have a completion")
		require.True(t, ev.Assigned(y.ID))
		require.False(t, ev.Assigned(x.ID), "a REASSIGNED task is no task of one's own")

		for _, tc := range []struct {
			why            string
			user           *ent.User
			approved, wait bool
		}{
			{"the requester", r, true, true},
			{"the beneficiary", b, true, true},
			{"a reviewer with a done task", m, true, true},
			{"a reviewer whose task was reassigned", x, true, true},
			{"a reviewer with a pending task", y, true, true},
			{"the owner of the MANUAL application, once its item waits for them", owner, true, false},
			{"the owner of a DIRECT application: nothing waits for people", other, false, false},
		} {
			v := &authz.Viewer{UserID: tc.user.ID, Role: enum.PlatformRoleUser}
			require.Equal(t, tc.approved, all[ids[0]].VisibleTo(v), "approved items: %s", tc.why)
			require.Equal(t, tc.wait, all[waiting.ID].VisibleTo(v), "items in review: %s", tc.why)
			require.Equal(t, tc.approved, ev.VisibleTo(v), "one request alone: %s", tc.why)
		}
		require.True(t, ev.VisibleTo(&authz.Viewer{UserID: other.ID, Role: enum.PlatformRoleRiskManager}), "risk managers read everything")
	})
}

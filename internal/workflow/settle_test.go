package workflow_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// submitted is a request as submitted in the settle test: one item of a
// MANUAL application under review by the beneficiary's manager.
type submitted struct {
	ID    pulid.ID
	Items []struct {
		ID     pulid.ID
		Stages []struct {
			ID    pulid.ID
			Tasks []struct{ ID pulid.ID }
		}
	}
}

// underReview makes a requester r whose manager is m, and a MANUAL
// application whose items m reviews.
func underReview(t *testing.T, env *apitest.Env) (m, r *ent.User, app *ent.Application) {
	t.Helper()
	sys := apitest.Sys()
	m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	r = env.User(t, "r@example.com", enum.PlatformRoleUser)
	require.NoError(t, r.Update().SetManagerID(m.ID).Exec(sys))
	app, err := env.Client.Application.Create().SetName("App").
		SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(sys)
	require.NoError(t, err)
	return m, r, app
}

// TestStatusDerivedOnEveryChange checks that a request's status is derived
// in the transaction that writes what it derives from, whatever code writes
// it: each row changes a request item, a review stage or a review task
// through the transaction's client, as a new state change would, and does
// not ask for the derivation. Each row first stores a stale status (FAILED)
// on its request, which the derivation must put right before commit.
func TestStatusDerivedOnEveryChange(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		sys := apitest.Sys()
		m, r, app := underReview(t, env)
		rTok := env.Token(t, r)

		// submit makes a fresh request pending review for an entitlement
		// of its own.
		submit := func(t *testing.T, name string) submitted {
			e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name).SetName(name).Save(sys)
			require.NoError(t, err)
			var out struct{ SubmitAccessRequest submitted }
			env.MustDo(t, rTok, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
				id items { id stages { id tasks { id } } } } }`,
				map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e.ID}}}, &out)
			return out.SubmitAccessRequest
		}

		type change func(ctx context.Context, c *ent.Client, req submitted) error
		tests := []struct {
			name   string
			change change
			want   enum.RequestStatus
			why    string
		}{
			{"item updated", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.RequestItem.UpdateOneID(req.Items[0].ID).SetStatus(enum.ItemStatusCancelled).Exec(ctx)
			}, enum.RequestStatusCancelled, "an item written on its own derives its request"},
			{"items updated in bulk", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.RequestItem.Update().Where(requestitem.RequestID(req.ID)).SetStatus(enum.ItemStatusDenied).Exec(ctx)
			}, enum.RequestStatusDenied, "a bulk update's rows are found by its predicates"},
			{"bulk update out of its own predicate", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.RequestItem.Update().
					Where(requestitem.RequestID(req.ID), requestitem.StatusEQ(enum.ItemStatusPendingReview)).
					SetStatus(enum.ItemStatusApproved).Exec(ctx)
			}, enum.RequestStatusFulfilling, "rows are found before the write, while they still match"},
			{"item added", func(ctx context.Context, c *ent.Client, req submitted) error {
				item, err := c.RequestItem.Get(ctx, req.Items[0].ID)
				if err != nil {
					return err
				}
				if err := item.Update().SetStatus(enum.ItemStatusFulfilled).Exec(ctx); err != nil {
					return err
				}
				return c.RequestItem.Create().SetRequestID(req.ID).SetAction(enum.RequestActionRevoke).
					SetStatus(enum.ItemStatusApproved).SetEntitlementID(item.EntitlementID).SetApplicationID(item.ApplicationID).
					Exec(ctx)
			}, enum.RequestStatusFulfilling, "a new item counts, as the de-provisioning item of an expiry does"},
			{"stage updated", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.ReviewStage.UpdateOneID(req.Items[0].Stages[0].ID).SetStatus(enum.StageStatusActive).Exec(ctx)
			}, enum.RequestStatusPendingReview, "a stage leads to its item's request"},
			{"stages updated in bulk", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.ReviewStage.Update().Where(reviewstage.ItemID(req.Items[0].ID)).SetStatus(enum.StageStatusActive).Exec(ctx)
			}, enum.RequestStatusPendingReview, "a bulk stage update too"},
			{"stage added", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.ReviewStage.Create().SetItemID(req.Items[0].ID).SetLevel(2).SetReviewerKind(enum.ReviewerKindManager).
					SetRule(enum.StageRuleAny).SetQuorum(1).SetStatus(enum.StageStatusWaiting).Exec(ctx)
			}, enum.RequestStatusPendingReview, "a new stage leads to its item's request"},
			{"task updated", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.ReviewTask.UpdateOneID(req.Items[0].Stages[0].Tasks[0].ID).SetComment("noted").Exec(ctx)
			}, enum.RequestStatusPendingReview, "a task leads to its request"},
			{"tasks updated in bulk", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.ReviewTask.Update().Where(reviewtask.RequestID(req.ID)).SetComment("noted").Exec(ctx)
			}, enum.RequestStatusPendingReview, "a bulk task update too"},
			{"task added", func(ctx context.Context, c *ent.Client, req submitted) error {
				return c.ReviewTask.Create().SetStageID(req.Items[0].Stages[0].ID).SetRequestID(req.ID).
					SetReviewerID(m.ID).SetStatus(enum.TaskStatusPending).Exec(ctx)
			}, enum.RequestStatusPendingReview, "a new task leads to its request"},
			{"nothing it derives from", func(context.Context, *ent.Client, submitted) error { return nil },
				enum.RequestStatusFailed, "control: with no item, stage or task written the stale status stays, so the rows above show the derivation ran"},
		}
		for _, tt := range tests {
			req := submit(t, tt.name)
			err := env.Workflow.Change(context.Background(), func(ctx context.Context, c *ent.Client) error {
				if err := c.AccessRequest.UpdateOneID(req.ID).SetStatus(enum.RequestStatusFailed).Exec(ctx); err != nil {
					return err
				}
				return tt.change(ctx, c, req)
			})
			require.NoError(t, err, tt.name)
			got, err := env.Client.AccessRequest.Get(sys, req.ID)
			require.NoError(t, err)
			require.Equal(t, tt.want, got.Status, "%s: %s", tt.name, tt.why)

			completed, err := env.Client.AuditEvent.Query().
				Where(auditevent.RequestID(req.ID), auditevent.Action("REQUEST_COMPLETED")).All(sys)
			require.NoError(t, err)
			if tt.want == enum.RequestStatusCancelled || tt.want == enum.RequestStatusDenied {
				require.NotNil(t, got.CompletedAt, "%s: a completed request records when", tt.name)
				require.Len(t, completed, 1, "%s: and says so in its trail", tt.name)
				require.Equal(t, "system", completed[0].Actor, "%s: a change without a viewer is the system's", tt.name)
			} else {
				require.Nil(t, got.CompletedAt, tt.name)
				require.Empty(t, completed, tt.name)
			}
		}
	})
}

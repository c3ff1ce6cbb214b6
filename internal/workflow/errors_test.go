package workflow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow"
)

// injectFailure makes the database refuse every op (INSERT, UPDATE) on
// table with the error "injected failure" until the returned func runs.
func injectFailure(t *testing.T, db *dbtest.DB, op, table string) (remove func()) {
	t.Helper()
	ctx := context.Background()
	create := []string{fmt.Sprintf(
		`CREATE TRIGGER fail_injected BEFORE %s ON %s BEGIN SELECT RAISE(ABORT, 'injected failure'); END`, op, table)}
	drop := `DROP TRIGGER fail_injected`
	if db.Dialect == dialect.Postgres {
		create = []string{
			`CREATE OR REPLACE FUNCTION fail_injected() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
			fmt.Sprintf(`CREATE TRIGGER fail_injected BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION fail_injected()`, op, table),
		}
		drop += " ON " + table
	}
	for _, q := range create {
		_, err := db.SQL.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	return func() {
		_, err := db.SQL.ExecContext(ctx, drop)
		require.NoError(t, err)
	}
}

// TestInternalFailureNamesStep checks that a failure of the database inside
// a state change comes back naming the operation and the step that failed,
// so that the server's "internal error" log line says where, while the
// GraphQL client sees only INTERNAL and "internal error".
func TestInternalFailureNamesStep(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		sys := apitest.Sys()
		m, r, app := underReview(t, env)
		mTok, rTok := env.Token(t, m), env.Token(t, r)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("e").SetName("E").Save(sys)
		require.NoError(t, err)
		as := func(tok string) context.Context {
			v, err := env.Auth.Authenticate(context.Background(), tok)
			require.NoError(t, err)
			return authz.NewContext(context.Background(), v)
		}
		const submit = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
			id items { stages { tasks { id } } } } }`
		in := map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e.ID}}

		// A request under review, for the decision below.
		var out struct {
			SubmitAccessRequest struct {
				Items []struct {
					Stages []struct{ Tasks []struct{ ID pulid.ID } }
				}
			}
		}
		env.MustDo(t, rTok, submit, map[string]any{"in": in}, &out)
		task := out.SubmitAccessRequest.Items[0].Stages[0].Tasks[0].ID
		// The same entitlement again would be DUPLICATE_PENDING: submit
		// another one.
		e2, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("e2").SetName("E2").Save(sys)
		require.NoError(t, err)
		in2 := map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e2.ID}}

		for _, tc := range []struct {
			name      string
			op, table string
			token     string
			query     string
			vars      map[string]any
			direct    func(ctx context.Context) error
			step      string
		}{
			{
				name: "submit", op: "INSERT", table: "review_tasks", token: rTok,
				query: submit, vars: map[string]any{"in": in2},
				direct: func(ctx context.Context) error {
					_, err := env.Workflow.Submit(ctx, workflow.SubmitInput{Action: enum.RequestActionGrant, EntitlementIDs: []pulid.ID{e2.ID}}, nil)
					return err
				},
				step: "submit: create: tasks: ",
			},
			{
				name: "decide", op: "UPDATE", table: "review_tasks", token: mTok,
				query: `mutation($ids: [ID!]!) { decideReviewTasks(ids: $ids, decision: APPROVE, comment: "ok") { id } }`,
				vars:  map[string]any{"ids": []pulid.ID{task}},
				direct: func(ctx context.Context) error {
					_, err := env.Workflow.DecideTasks(ctx, []pulid.ID{task}, workflow.Approve, "ok")
					return err
				},
				step: fmt.Sprintf("decide: task %s: record decision: ", task),
			},
		} {
			remove := injectFailure(t, db, tc.op, tc.table)

			err := tc.direct(as(tc.token))
			require.Error(t, err, tc.name)
			require.Contains(t, err.Error(), tc.step, "%s: the error names the operation and the step", tc.name)
			require.Contains(t, err.Error(), "injected failure", "%s: and keeps the cause", tc.name)
			require.Equal(t, errcode.Internal, errcode.Of(err), "%s: a database failure has no code of its own", tc.name)

			res := env.Do(t, tc.token, tc.query, tc.vars)
			require.Len(t, res.Errors, 1, tc.name)
			require.Equal(t, string(errcode.Internal), res.Code(), tc.name)
			require.Equal(t, "internal error", res.Errors[0].Message, tc.name)
			body, err := json.Marshal(res)
			require.NoError(t, err)
			require.NotContains(t, string(body), "injected", "%s: the client sees no internal detail", tc.name)
			require.NotContains(t, string(body), tc.table, "%s: nor the table", tc.name)

			remove()
		}
		// Without the failure the same decision goes through.
		res := env.Do(t, mTok, `mutation($ids: [ID!]!) { decideReviewTasks(ids: $ids, decision: APPROVE, comment: "ok") { id } }`,
			map[string]any{"ids": []pulid.ID{task}})
		require.Empty(t, res.Errors)
	})
}

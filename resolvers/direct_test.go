package resolvers_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// directQuery selects items, stages, tasks and their reviewers twice: under
// the edges' own names, which the executor writes straight from the values
// loaded with the page (write_<Type>), and under other names (again), which
// entgql loads as named edges and gqlgen's path resolves field by field.
// Fragments, a field selected twice, aliases, __typename, a nullable edge
// and @skip/@include on variables appear in both.
const directQuery = `query($skip: Boolean!, $inc: Boolean!) {
  accessRequests(first: 2) { edges { node { id items {
    __typename id
    ...itemFields
    entitlement { ... on Node { id } name app: application { __typename name } }
    stages { ...stageFields tasks { ...taskFields } }
    again: stages { ...stageFields again: tasks { ...taskFields } }
  } } } }
}
fragment itemFields on RequestItem { status entitlement { id } }
fragment stageFields on ReviewStage { id level status @skip(if: $skip) }
fragment taskFields on ReviewTask {
  id id __typename status
  who: reviewer { name email @include(if: $inc) }
  decidedBy { name }
  ... on ReviewTask { status requestID }
}`

// TestDirectWrite: what the executor writes straight from loaded values is
// what gqlgen's path writes for the same selection, on both databases and
// for each value of the directives' variables; and the selection is
// honoured (fragments merged, a field twice written once, skipped and
// included fields, a nullable edge null or not).
func TestDirectWrite(t *testing.T) {
	t.Parallel()
	for _, open := range []namedDB{{"sqlite", dbtest.NewSQLite}, {"postgres", dbtest.NewPostgres}} {
		t.Run(open.name, func(t *testing.T) {
			t.Parallel()
			env := apitest.NewWith(t, open.db(t), apitest.Options{NoJobs: true})
			admin := seedRequests(t, env, 2)
			token := env.Token(t, admin)
			decided, err := env.Client.ReviewTask.Query().Where(reviewtask.StatusEQ(enum.TaskStatusApproved)).First(apitest.Sys())
			require.NoError(t, err)
			require.NoError(t, decided.Update().SetDecidedByID(admin.ID).Exec(apitest.Sys()))
			// Names a JSON string must escape, written by jsonstr.Write on
			// the direct path and by graphql.MarshalString on gqlgen's.
			const reviewerName, entitlementName = `Zed "Z" O\Neil <b>`, "Ledger \u2028 \"admin\" \\ ✓\n\t"
			require.NoError(t, env.Client.User.Update().Where(user.IDNEQ(admin.ID)).SetName(reviewerName).Exec(apitest.Sys()))
			require.NoError(t, env.Client.Entitlement.Update().SetName(entitlementName).Exec(apitest.Sys()))

			for _, vars := range []map[string]any{{"skip": false, "inc": true}, {"skip": true, "inc": false}} {
				var out struct {
					Data struct {
						AccessRequests struct {
							Edges []struct {
								Node struct {
									ID    string
									Items []map[string]any
								}
							}
						}
					}
					Errors []any
				}
				body := serve(t, env.Handler, token, directQuery, vars)
				require.NoError(t, json.Unmarshal(body, &out), string(body))
				require.Empty(t, out.Errors, string(body))
				require.Len(t, out.Data.AccessRequests.Edges, 2, string(body))
				var tasks, decidedBy int
				for _, e := range out.Data.AccessRequests.Edges {
					require.Len(t, e.Node.Items, 2)
					for _, item := range e.Node.Items {
						require.Equal(t, "RequestItem", item["__typename"])
						require.Contains(t, item, "status")
						entitlement := item["entitlement"].(map[string]any)
						require.NotEmpty(t, entitlement["id"], "fragment and field merged")
						require.Equal(t, entitlementName, entitlement["name"])
						require.Equal(t, "Application", entitlement["app"].(map[string]any)["__typename"])

						stages := item["stages"].([]any)
						require.Len(t, stages, 2)
						again := item["again"].([]any)
						for _, s := range again {
							s := s.(map[string]any)
							s["tasks"] = s["again"]
							delete(s, "again")
						}
						require.Equal(t, again, stages, "written directly and by gqlgen's path")

						for _, s := range stages {
							s := s.(map[string]any)
							_, status := s["status"]
							require.Equal(t, !vars["skip"].(bool), status, "@skip")
							for _, task := range s["tasks"].([]any) {
								task := task.(map[string]any)
								tasks++
								require.Len(t, task, 6, "id once, __typename, status once, who, decidedBy, requestID: %v", task)
								require.Equal(t, "ReviewTask", task["__typename"])
								who := task["who"].(map[string]any)
								_, email := who["email"]
								require.Equal(t, vars["inc"].(bool), email, "@include")
								require.Equal(t, e.Node.ID, task["requestID"])
								require.Equal(t, reviewerName, who["name"])
								if task["id"] == string(decided.ID) {
									decidedBy++
									require.Equal(t, map[string]any{"name": admin.Name}, task["decidedBy"])
								} else {
									require.Nil(t, task["decidedBy"])
								}
							}
						}
					}
				}
				require.Equal(t, 2*2*2*2, tasks)
				require.Equal(t, 1, decidedBy)
			}
		})
	}
}

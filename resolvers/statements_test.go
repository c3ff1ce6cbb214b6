package resolvers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// TestListStatementsDoNotGrowWithRows checks that a list with two levels of
// nested edges costs the same number of SQL statements for 5 and for 50 rows:
// edges are loaded per level, never per row.
func TestListStatementsDoNotGrowWithRows(t *testing.T) {
	t.Parallel()
	const query = `query($n: Int!) {
	  applications(first: $n, orderBy: {field: NAME}) {
	    totalCount
	    edges { node {
	      name
	      owners { name manager { name jobTitle { name } } }
	      entitlements { name owner { email } roles { name owners { email } } }
	      reviewStages { level designatedReviewers { email } }
	    } }
	  }
	}`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@example.com", enum.PlatformRoleITAdmin)
		token := env.Token(t, admin)
		seedApplications(t, env, 50)

		count := func(n int) (int64, int) {
			env.Statements.Reset()
			var out struct {
				Applications struct {
					Edges []struct {
						Node struct {
							Entitlements []struct{ Roles []struct{ Name string } }
						}
					}
				}
			}
			env.MustDo(t, token, query, map[string]any{"n": n}, &out)
			roles := 0
			for _, e := range out.Applications.Edges {
				for _, ent := range e.Node.Entitlements {
					roles += len(ent.Roles)
				}
			}
			require.Len(t, out.Applications.Edges, n)
			return env.Statements.Count(), roles
		}
		five, rolesOf5 := count(5)
		fifty, rolesOf50 := count(50)
		require.Equal(t, 5*3, rolesOf5, "every entitlement is in one role")
		require.Equal(t, 50*3, rolesOf50)
		t.Logf("SQL statements: %d for 5 rows, %d for 50 rows", five, fifty)
		require.Equal(t, five, fifty, "statements for 5 rows: %d, for 50 rows: %d", five, fifty)
		require.Less(t, fifty, int64(20))
	})
}

// seedApplications creates n applications, each with an owner who has a
// manager with a job title, 3 entitlements with an owner and a role, and a
// designated review stage.
func seedApplications(t *testing.T, env *apitest.Env, n int) {
	t.Helper()
	ctx := apitest.Sys()
	title, err := env.Client.JobTitle.Create().SetName("Manager").Save(ctx)
	require.NoError(t, err)
	boss, err := env.Client.User.Create().SetEmail("boss@example.com").SetName("Boss").SetJobTitle(title).Save(ctx)
	require.NoError(t, err)
	for i := range n {
		owner, err := env.Client.User.Create().
			SetEmail(fmt.Sprintf("owner%02d@example.com", i)).SetName(fmt.Sprintf("Owner %02d", i)).
			SetManager(boss).Save(ctx)
		require.NoError(t, err)
		app, err := env.Client.Application.Create().
			SetName(fmt.Sprintf("App %02d", i)).
			SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).
			AddOwners(owner).Save(ctx)
		require.NoError(t, err)
		for j := range 3 {
			e, err := env.Client.Entitlement.Create().
				SetApplication(app).SetExternalID(fmt.Sprintf("e%d", j)).SetName(fmt.Sprintf("Entitlement %d", j)).
				SetOwner(owner).Save(ctx)
			require.NoError(t, err)
			_, err = env.Client.Role.Create().SetName(fmt.Sprintf("Role %02d-%d", i, j)).AddEntitlements(e).AddOwners(owner).Save(ctx)
			require.NoError(t, err)
		}
		_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).
			SetReviewerKind(enum.ReviewerKindDesignated).AddDesignatedReviewers(boss).Save(ctx)
		require.NoError(t, err)
	}
}

// TestNestedRequestsStatements checks the page of access requests with their
// requester, items, entitlements, applications, stages, tasks, reviewers and
// completion: the same number of statements for 5 and for 50 rows, at most
// 11 (the issue "Read and write paths" measured 11), and the data complete.
func TestNestedRequestsStatements(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		token := env.Token(t, seedRequests(t, env, 60))
		count := func(n int) int64 {
			env.Statements.Reset()
			var out nestedResult
			env.MustDo(t, token, nestedQuery, map[string]any{"n": n}, &out)
			require.Len(t, out.AccessRequests.Edges, n)
			require.Equal(t, 60, out.AccessRequests.TotalCount)
			for _, e := range out.AccessRequests.Edges {
				node := e.Node
				require.NotEmpty(t, node.Requester.Email)
				require.Len(t, node.Items, 2)
				require.Equal(t, 4, node.Completion.Done, "the first stage's tasks of both items are approved")
				require.Equal(t, 8, node.Completion.Total)
				for _, it := range node.Items {
					require.NotEmpty(t, it.Entitlement.Application.Name)
					require.Len(t, it.Stages, 2)
					for _, st := range it.Stages {
						require.Len(t, st.Tasks, 2)
						for _, task := range st.Tasks {
							require.NotEmpty(t, task.Reviewer.Name)
						}
					}
				}
			}
			return env.Statements.Count()
		}
		five, fifty := count(5), count(50)
		t.Logf("SQL statements: %d for 5 rows, %d for 50 rows", five, fifty)
		require.Equal(t, five, fifty)
		require.LessOrEqual(t, fifty, int64(11))
	})
}

// TestAliasedListEdges checks the two ways CollectFields loads a list edge
// (ent/entc.go): under its own name into the edge's field, under an alias
// by that alias. The same edge asked both ways, with different fields, gives
// the same elements each way and costs one statement more than asked once
// (each is loaded once per level), for 5 rows as for 50.
func TestAliasedListEdges(t *testing.T) {
	t.Parallel()
	const once = `query($n: Int!) { accessRequests(first: $n) { edges { node { id items { id stages { level } } } } } }`
	const both = `query($n: Int!) { accessRequests(first: $n) { edges { node { id
	  items { id stages { level } }
	  again: items { id status stages { level tasks { id } } } } } } }`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		token := env.Token(t, seedRequests(t, env, 60))
		var (
			mu    sync.Mutex
			pages [][]*ent.AccessRequest
		)
		env.Client.AccessRequest.Intercept(ent.InterceptFunc(func(next ent.Querier) ent.Querier {
			return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
				v, err := next.Query(ctx, q)
				if rs, ok := v.([]*ent.AccessRequest); ok {
					mu.Lock()
					pages = append(pages, rs)
					mu.Unlock()
				}
				return v, err
			})
		}))
		loaded := func(n int, alias string) {
			mu.Lock()
			defer mu.Unlock()
			var page []*ent.AccessRequest
			for _, rs := range pages {
				if len(rs) > n { // the page and its "has next page" row
					page = rs[:n]
				}
			}
			require.NotNil(t, page, "the page's query")
			for _, r := range page {
				require.Len(t, r.Edges.Items, 2, "unaliased: in the edge's field")
				_, err := r.NamedItems("items")
				require.True(t, ent.IsNotLoaded(err), "unaliased: not by name")
				named, err := r.NamedItems(alias)
				if alias == "" {
					require.True(t, ent.IsNotLoaded(err))
				} else {
					require.NoError(t, err)
					require.Len(t, named, 2)
				}
			}
			pages = nil
		}
		type item struct {
			ID     string
			Status string
			Stages []struct {
				Level int
				Tasks []struct{ ID string }
			}
		}
		count := func(query string, n int) int64 {
			env.Statements.Reset()
			var out struct {
				AccessRequests struct {
					Edges []struct {
						Node struct {
							ID    string
							Items []item
							Again []item
						}
					}
				}
			}
			env.MustDo(t, token, query, map[string]any{"n": n}, &out)
			require.Len(t, out.AccessRequests.Edges, n)
			for _, e := range out.AccessRequests.Edges {
				require.Len(t, e.Node.Items, 2)
				for _, it := range e.Node.Items {
					require.Len(t, it.Stages, 2)
				}
				if query == both {
					require.Len(t, e.Node.Again, 2)
					for i, it := range e.Node.Again {
						require.Equal(t, e.Node.Items[i].ID, it.ID)
						require.NotEmpty(t, it.Status)
						require.Len(t, it.Stages, 2)
						require.Len(t, it.Stages[0].Tasks, 2)
					}
				}
			}
			return env.Statements.Count()
		}
		for _, n := range []int{5, 50} {
			nOnce := count(once, n)
			loaded(n, "")
			require.Equal(t, nOnce+3, count(both, n), "%d rows", n)
			loaded(n, "again")
		}
	})
}

// TestViewerStatements checks that { viewer } reads the user once: the
// authentication's read serves the field.
func TestViewerStatements(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		u := env.User(t, "someone@example.com", enum.PlatformRoleUser)
		token := env.Token(t, u)
		env.Statements.Reset()
		var out struct{ Viewer struct{ ID, Email string } }
		env.MustDo(t, token, `{ viewer { id email } }`, nil, &out)
		require.Equal(t, string(u.ID), out.Viewer.ID)
		require.Equal(t, "someone@example.com", out.Viewer.Email)
		require.Equal(t, int64(1), env.Statements.Count())
	})
}

// TestMyTasksCompletionStatements checks that a list whose elements ask a
// data loader that nothing primed still batches: myTasks with each task's
// request and its completion, where the completion loader is asked once per
// request. The elements of such a list are marshalled concurrently
// (gqlexec.MarshalList), so that the loader gets their keys in a few
// batches; marshalled one after the other, every request would cost a
// statement of its own (18 more for 40 tasks than for 4).
func TestMyTasksCompletionStatements(t *testing.T) {
	t.Parallel()
	const query = `query($n: Int!) { myTasks(first: $n) { edges { node {
	  id status request { id completion { done total } } } } } }`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		seedRequests(t, env, 60)
		reviewer, err := env.Client.User.Query().Where(user.Email("user0@example.com")).Only(apitest.Sys())
		require.NoError(t, err)
		token := env.Token(t, reviewer)
		count := func(n int) (stmts int64, requests int) {
			var out struct {
				MyTasks struct {
					Edges []struct {
						Node struct {
							Status  string
							Request struct {
								ID         string
								Completion struct{ Done, Total int }
							}
						}
					}
				}
			}
			env.Statements.Reset()
			env.MustDo(t, token, query, map[string]any{"n": n}, &out)
			stmts = env.Statements.Count()
			require.Len(t, out.MyTasks.Edges, n)
			seen := map[string]bool{}
			for _, e := range out.MyTasks.Edges {
				require.Equal(t, "PENDING", e.Node.Status)
				require.Equal(t, struct{ Done, Total int }{4, 8}, e.Node.Request.Completion,
					"the first stage's tasks of both items are approved")
				seen[e.Node.Request.ID] = true
			}
			return stmts, len(seen)
		}
		// user0 reviews the second stage of 20 of the 60 requests, both
		// items: 40 pending tasks.
		four, fewRequests := count(4)
		forty, allRequests := count(40)
		t.Logf("SQL statements: %d for 4 tasks of %d requests, %d for 40 tasks of %d requests",
			four, fewRequests, forty, allRequests)
		require.Equal(t, 20, allRequests)
		require.Less(t, forty-four, int64(allRequests-fewRequests)/2,
			"the completions of the requests are loaded in batches, not one statement per request")
	})
}

// TestPageCountsOnlyForTotalCount checks that a page of requests whose query
// selects pageInfo but not totalCount sends no count (its cost must not
// grow with the number of visible requests): one statement fewer than with
// totalCount, and hasNextPage and the cursor still right.
func TestPageCountsOnlyForTotalCount(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		token := env.Token(t, seedRequests(t, env, 12))
		type page struct {
			AccessRequests struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node struct{ ID string } }
			}
		}
		const fields = `pageInfo { hasNextPage endCursor } edges { node { id } }`
		do := func(extra string, vars map[string]any) (page, int64) {
			env.Statements.Reset()
			var out page
			env.MustDo(t, token, `query($n: Int!, $after: Cursor) { accessRequests(first: $n, after: $after) { `+extra+fields+` } }`, vars, &out)
			return out, env.Statements.Count()
		}
		first, without := do("", map[string]any{"n": 5})
		require.Len(t, first.AccessRequests.Edges, 5)
		require.True(t, first.AccessRequests.PageInfo.HasNextPage)
		require.Zero(t, first.AccessRequests.TotalCount, "not selected")

		counted, with := do("totalCount ", map[string]any{"n": 5})
		require.Equal(t, 12, counted.AccessRequests.TotalCount)
		require.Equal(t, first.AccessRequests.Edges, counted.AccessRequests.Edges)
		require.Equal(t, without+1, with, "totalCount costs one statement, pageInfo none")

		// The count is of the rows the where input narrows to.
		var narrowed page
		ids := []string{first.AccessRequests.Edges[0].Node.ID, first.AccessRequests.Edges[3].Node.ID, first.AccessRequests.Edges[4].Node.ID}
		env.MustDo(t, token, `query($ids: [ID!]) { accessRequests(first: 1, where: {idIn: $ids}) { totalCount `+fields+` } }`,
			map[string]any{"ids": ids}, &narrowed)
		require.Equal(t, 3, narrowed.AccessRequests.TotalCount)
		require.Len(t, narrowed.AccessRequests.Edges, 1)

		rest, _ := do("", map[string]any{"n": 10, "after": first.AccessRequests.PageInfo.EndCursor})
		require.Len(t, rest.AccessRequests.Edges, 7)
		require.False(t, rest.AccessRequests.PageInfo.HasNextPage)
		seen := map[string]bool{}
		for _, e := range append(first.AccessRequests.Edges, rest.AccessRequests.Edges...) {
			require.False(t, seen[e.Node.ID], "%s on both pages", e.Node.ID)
			seen[e.Node.ID] = true
		}
	})
}

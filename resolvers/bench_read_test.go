package resolvers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/server"
)

// nestedQuery is the read the issue "Read and write paths" measures: a page
// of requests with their requester, items with entitlement and application,
// stages with tasks and reviewers, and the overall completion.
const nestedQuery = `query($n: Int!) {
  accessRequests(first: $n) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id status submittedAt
      requester { id name email }
      items {
        id status
        entitlement { id name application { id name } }
        stages { id level status tasks { id status reviewer { id name } } }
      }
      completion { done total percent }
    } }
  }
}`

// nestedResult is what nestedQuery answers, as far as the tests look.
type nestedResult struct {
	AccessRequests struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				Requester struct{ Email string }
				Items     []struct {
					Entitlement struct{ Application struct{ Name string } }
					Stages      []struct {
						Tasks []struct{ Reviewer struct{ Name string } }
					}
				}
				Completion struct{ Done, Total int }
			}
		}
	}
}

// seedRequests writes n access requests (directly, bypassing the workflow)
// each with 2 items of different applications, 2 stages per item and 2
// tasks per stage, the first stage's tasks approved and the second's
// pending. It returns an IT admin who reads them all.
func seedRequests(t testing.TB, env *apitest.Env, n int) *ent.User {
	t.Helper()
	ctx := apitest.Sys()
	c := env.Client
	admin := env.User(t, "admin@example.com", enum.PlatformRoleITAdmin)
	var users []*ent.User
	for i := range 6 {
		users = append(users, env.User(t, fmt.Sprintf("user%d@example.com", i), enum.PlatformRoleUser))
	}
	var ents []*ent.Entitlement
	for i := range 4 {
		app, err := c.Application.Create().SetName(fmt.Sprintf("App %d", i)).
			SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(ctx)
		require.NoError(t, err)
		e, err := c.Entitlement.Create().SetApplication(app).SetExternalID("e").SetName(fmt.Sprintf("Entitlement %d", i)).Save(ctx)
		require.NoError(t, err)
		ents = append(ents, e)
	}
	for r := range n {
		requester := users[r%len(users)]
		req, err := c.AccessRequest.Create().SetAction(enum.RequestActionGrant).
			SetRequester(requester).SetBeneficiary(requester).Save(ctx)
		require.NoError(t, err)
		for i := range 2 {
			e := ents[(r+i)%len(ents)]
			item, err := c.RequestItem.Create().SetRequest(req).SetEntitlement(e).SetApplicationID(e.ApplicationID).
				SetAction(enum.RequestActionGrant).SetStatus(enum.ItemStatusPendingReview).Save(ctx)
			require.NoError(t, err)
			for level := 1; level <= 2; level++ {
				stage, task := enum.StageStatusApproved, enum.TaskStatusApproved
				if level == 2 {
					stage, task = enum.StageStatusActive, enum.TaskStatusPending
				}
				st, err := c.ReviewStage.Create().SetItem(item).SetLevel(level).SetReviewerKind(enum.ReviewerKindDesignated).
					SetRule(enum.StageRuleAll).SetStatus(stage).Save(ctx)
				require.NoError(t, err)
				bulk := make([]*ent.ReviewTaskCreate, 2)
				for k := range bulk {
					reviewer := users[(r+level*2+k+1)%len(users)]
					bulk[k] = c.ReviewTask.Create().SetStage(st).SetRequest(req).SetReviewer(reviewer).SetStatus(task)
				}
				_, err = c.ReviewTask.CreateBulk(bulk...).Save(ctx)
				require.NoError(t, err)
			}
		}
	}
	return admin
}

// benchDB is the database of a benchmark: SQLite, or PostgreSQL when
// TEST_DATABASE_URL is set and the benchmark runs as …/postgres.
func benchEach(b *testing.B, fn func(b *testing.B, db *dbtest.DB)) {
	for _, open := range inTurn() {
		b.Run(open.name, func(b *testing.B) { fn(b, open.db(b)) })
	}
}

// inTurn lists the databases that the measuring tests and benchmarks run
// on one after the other (not in parallel, so that the process's figures
// are one database's): SQLite, and PostgreSQL when TEST_DATABASE_URL is set.
func inTurn() []namedDB {
	dbs := []namedDB{{"sqlite", dbtest.NewSQLite}}
	if os.Getenv(dbtest.EnvPostgresURL) != "" {
		dbs = append(dbs, namedDB{"postgres", dbtest.NewPostgres})
	}
	return dbs
}

type namedDB struct {
	name string
	db   func(testing.TB) *dbtest.DB
}

// serve runs one operation through the server's handler in process (no
// network) and returns the response body.
func serve(tb testing.TB, h http.Handler, token, query string, vars map[string]any) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, request(tb, token, query, vars))
	require.Equal(tb, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Body.Bytes()
}

func request(tb testing.TB, token, query string, vars map[string]any) *http.Request {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(tb, err)
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// discard is a ResponseWriter that drops the body, as a network connection
// takes it, so that the benchmarks count what the server allocates rather
// than a recorder's buffer.
type discard struct {
	header http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) WriteHeader(status int)      { d.status = status }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// benchOperation runs one operation b.N times and reports, besides
// -benchmem's figures, the goroutines started per operation.
func benchOperation(b *testing.B, env *apitest.Env, token, query string, vars map[string]any, check func([]byte)) {
	check(serve(b, env.Handler, token, query, vars))
	tuneGC.Do(func() {
		if os.Getenv("BENCH_TUNE_GC") != "" {
			server.TuneGC(func(string) string { return "" }, server.GCFloor)
		}
	})
	sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(sample)
	goroutines, cycles := sample[0].Value.Uint64(), sample[1].Value.Uint64()
	b.ReportAllocs()
	b.ResetTimer()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(b, err)
	w := &discard{header: http.Header{}}
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		clear(w.header)
		env.Handler.ServeHTTP(w, req)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.StopTimer()
	metrics.Read(sample)
	b.ReportMetric(float64(sample[0].Value.Uint64()-goroutines)/float64(b.N), "goroutines/op")
	b.ReportMetric(float64(sample[1].Value.Uint64()-cycles)/float64(b.N), "gc/op")
}

// tuneGC applies the server's GC tuning (server.TuneGC) to the benchmark
// process when BENCH_TUNE_GC is set, as main does for the server.
var tuneGC sync.Once

// BenchmarkNestedQuery executes nestedQuery for the first 50 of 60 requests
// through the production handler.
func BenchmarkNestedQuery(b *testing.B) {
	benchNested(b, func(_ *testing.B, _ *apitest.Env, admin *ent.User) *ent.User { return admin }, 50)
}

// BenchmarkNestedQueryAsReviewer executes nestedQuery as a USER, who sees
// the requests they stand to (authz.VisibleRequest) and whose every
// statement carries that filter: user0 of seedRequests asked for 10 of the
// 60 requests and has tasks on 30 more.
func BenchmarkNestedQueryAsReviewer(b *testing.B) {
	benchNested(b, func(b *testing.B, env *apitest.Env, _ *ent.User) *ent.User {
		reviewer, err := env.Client.User.Query().Where(user.Email("user0@example.com")).Only(apitest.Sys())
		require.NoError(b, err)
		return reviewer
	}, 40)
}

// benchNested seeds 60 requests (seedRequests) and executes nestedQuery for
// the first 50 as the user who picks (given the admin seedRequests returns),
// requiring the page to hold the visible edges.
func benchNested(b *testing.B, who func(b *testing.B, env *apitest.Env, admin *ent.User) *ent.User, visible int) {
	benchEach(b, func(b *testing.B, db *dbtest.DB) {
		env := apitest.NewWith(b, db, apitest.Options{NoJobs: true})
		token := env.Token(b, who(b, env, seedRequests(b, env, 60)))
		benchOperation(b, env, token, nestedQuery, map[string]any{"n": 50}, func(body []byte) {
			var out struct{ Data nestedResult }
			require.NoError(b, json.Unmarshal(body, &out), string(body))
			require.Len(b, out.Data.AccessRequests.Edges, visible, string(body))
		})
	})
}

// BenchmarkViewer executes { viewer { email } }.
func BenchmarkViewer(b *testing.B) {
	benchEach(b, func(b *testing.B, db *dbtest.DB) {
		env := apitest.NewWith(b, db, apitest.Options{NoJobs: true})
		token := env.Token(b, env.User(b, "someone@example.com", enum.PlatformRoleUser))
		benchOperation(b, env, token, `{ viewer { email } }`, nil, func(body []byte) {
			require.JSONEq(b, `{"data":{"viewer":{"email":"someone@example.com"}}}`, string(body))
		})
	})
}

// TestNestedQueryExecutionCost bounds what executing nestedQuery for 50
// requests costs the server beyond its statements: goroutines started,
// allocations and bytes allocated per request, averaged over five. Today it
// starts none (the page's completions are primed, so its edges are
// marshalled in turn: gqlexec.Loaded) and allocates about 13,000 times and
// 0.87–1.2 MB on either database, with or without the race detector (items,
// stages, tasks and their reviewers are written straight from the loaded
// values: the executor's write_<Type>). The bounds fail on a return to a
// field context, closures and an object of values per field of those
// (34,900 allocations, 1.78 MB), on edges marshalled concurrently again (a
// goroutine per edge: 50) and on an executor that starts a goroutine per
// list element and field (750 goroutines, 94,838 allocations, 5.3 MB). It
// is not parallel, and runs each database in turn: the figures are the
// process's.
func TestNestedQueryExecutionCost(t *testing.T) {
	for _, open := range inTurn() {
		t.Run(open.name, func(t *testing.T) {
			env := apitest.NewWith(t, open.db(t), apitest.Options{NoJobs: true})
			token := env.Token(t, seedRequests(t, env, 60))
			vars := map[string]any{"n": 50}
			var out struct{ Data nestedResult }
			require.NoError(t, json.Unmarshal(serve(t, env.Handler, token, nestedQuery, vars), &out))
			require.Len(t, out.Data.AccessRequests.Edges, 50)

			const runs = 5
			goroutines := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
			var before, after runtime.MemStats
			metrics.Read(goroutines)
			started := goroutines[0].Value.Uint64()
			runtime.ReadMemStats(&before)
			for range runs {
				w := &discard{header: http.Header{}}
				env.Handler.ServeHTTP(w, request(t, token, nestedQuery, vars))
				require.Contains(t, []int{0, http.StatusOK}, w.status)
				require.Positive(t, w.n)
			}
			runtime.ReadMemStats(&after)
			metrics.Read(goroutines)
			perGoroutines := (goroutines[0].Value.Uint64() - started) / runs
			perAllocs := (after.Mallocs - before.Mallocs) / runs
			perBytes := (after.TotalAlloc - before.TotalAlloc) / runs
			t.Logf("per request: %d goroutines, %d allocations, %d bytes", perGoroutines, perAllocs, perBytes)
			require.LessOrEqual(t, perGoroutines, uint64(10), "goroutines started per request")
			require.LessOrEqual(t, perAllocs, uint64(30_000), "allocations per request")
			require.LessOrEqual(t, perBytes, uint64(1_700_000), "bytes allocated per request")
		})
	}
}

// writes is a ResponseWriter that keeps where each write's bytes lie.
type writes struct {
	discard
	at []*byte
}

func (w *writes) Write(p []byte) (int, error) {
	w.at = append(w.at, &p[0])
	return w.discard.Write(p)
}

// TestResponseDataReused: the handler writes a query's data from a
// buffer that an earlier response gave back (gqlexec.Marshal and Release,
// wired by the generated executor and the POST transport), not from a new
// one per response. The pool may drop a buffer, so a reuse is looked for
// over several requests.
func TestResponseDataReused(t *testing.T) {
	t.Parallel()
	env := apitest.NewWith(t, dbtest.NewSQLite(t), apitest.Options{NoJobs: true})
	token := env.Token(t, env.User(t, "u@example.com", enum.PlatformRoleUser))
	seen := map[*byte]bool{}
	for range 20 {
		w := &writes{discard: discard{header: http.Header{}}}
		env.Handler.ServeHTTP(w, request(t, token, `{ viewer { email } }`, nil))
		require.Contains(t, []int{0, http.StatusOK}, w.status)
		require.Len(t, w.at, 3, "what goes before the data, the data, what goes after")
		data := w.at[1]
		if seen[data] {
			return
		}
		seen[data] = true
	}
	t.Fatal("no response's data was written from a reused buffer")
}

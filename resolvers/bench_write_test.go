package resolvers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow"
)

// Benchmarks of the writes, served in process by the production handler
// (GraphQL included): submitAccessRequest with one entitlement, and
// decideReviewTask approving the only stage of an item (the item approved,
// its fulfilment job enqueued on a webhook application, left to people on a
// manual one). Run with -benchmem; allocs/op do not depend on the machine's
// load, ns/op do. The set-up submits the requests to decide outside the
// timer, so use a fixed count: -benchtime=200x.
//
// BenchmarkDecideConcurrent has 32 reviewers decide at once (b.RunParallel)
// on PostgreSQL and reports decisions/s.

// benchScene is an API without job workers (jobs are inserted, never run),
// a manager M and an application whose items M reviews in one stage.
type benchScene struct {
	env  *apitest.Env
	m    *ent.User
	tokM string
	app  *ent.Application
}

func newBenchScene(b *testing.B, db *dbtest.DB, f enum.Fulfillment) *benchScene {
	b.Helper()
	rcv := apitest.NewReceiver(b)
	env := apitest.NewWith(b, db, apitest.Options{Env: rcv.Env(), NoJobs: true})
	ctx := apitest.Sys()
	m := env.User(b, "m@example.com", enum.PlatformRoleUser)
	c := env.Client.Application.Create().SetName("Bench").SetFulfillment(f)
	if f == enum.FulfillmentManual {
		c.SetConnectorKind(enum.ConnectorKindManual)
	} else {
		c.SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(rcv.Config())
	}
	app, err := c.Save(ctx)
	require.NoError(b, err)
	_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).SetReviewerKind(enum.ReviewerKindManager).Save(ctx)
	require.NoError(b, err)
	return &benchScene{env: env, m: m, tokM: env.Token(b, m), app: app}
}

// benchSeq numbers the entitlements the benchmarks create.
var benchSeq atomic.Int64

// entitlements creates n entitlements of the application.
func (s *benchScene) entitlements(b *testing.B, n int) []*ent.Entitlement {
	b.Helper()
	builders := make([]*ent.EntitlementCreate, n)
	for i := range builders {
		k := benchSeq.Add(1)
		builders[i] = s.env.Client.Entitlement.Create().SetApplication(s.app).
			SetExternalID(fmt.Sprintf("e%07d", k)).SetName(fmt.Sprintf("E%07d", k))
	}
	var out []*ent.Entitlement
	for lo := 0; lo < n; lo += 500 {
		part, err := s.env.Client.Entitlement.CreateBulk(builders[lo:min(lo+500, n)]...).Save(apitest.Sys())
		require.NoError(b, err)
		out = append(out, part...)
	}
	return out
}

// beneficiary creates a user who reports to M and returns their token and a
// context that acts as them.
func (s *benchScene) beneficiary(b *testing.B, email string) (string, context.Context) {
	b.Helper()
	u, err := s.env.Client.User.Create().SetEmail(email).SetName(email).SetManager(s.m).Save(apitest.Sys())
	require.NoError(b, err)
	tok := s.env.Token(b, u)
	v, err := s.env.Auth.Authenticate(context.Background(), tok)
	require.NoError(b, err)
	return tok, authz.NewContext(context.Background(), v)
}

// pendingTasks submits n requests of the beneficiary, one entitlement each,
// through the workflow, and returns M's task on each.
func (s *benchScene) pendingTasks(b *testing.B, n int, as context.Context) []pulid.ID {
	b.Helper()
	out := make([]pulid.ID, 0, n)
	for _, e := range s.entitlements(b, n) {
		req, err := s.env.Workflow.Submit(as, workflow.SubmitInput{Action: enum.RequestActionGrant, EntitlementIDs: []pulid.ID{e.ID}}, nil)
		require.NoError(b, err)
		id, err := s.env.Client.ReviewTask.Query().Where(reviewtask.RequestID(req.ID)).OnlyID(apitest.Sys())
		require.NoError(b, err)
		out = append(out, id)
	}
	return out
}

// post posts one operation to the handler in process and returns an error
// for a failed one.
func post(h http.Handler, token, query string, vars map[string]any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
		return fmt.Errorf("status %d: %s", rec.Code, rec.Body.String())
	}
	return nil
}

func BenchmarkSubmit(b *testing.B) {
	benchEach(b, func(b *testing.B, db *dbtest.DB) {
		s := newBenchScene(b, db, enum.FulfillmentDirect)
		tok, _ := s.beneficiary(b, "b@example.com")
		b.ResetTimer()
		for range b.N {
			// A fresh set of entitlements per loop, outside the timer: the
			// same one twice would be DUPLICATE_PENDING.
			b.StopTimer()
			ents := s.entitlements(b, 1)
			b.StartTimer()
			if err := post(s.env.Handler, tok, stmtSubmit,
				map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(ents[0].ID)}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	for _, f := range []enum.Fulfillment{enum.FulfillmentDirect, enum.FulfillmentManual} {
		b.Run(string(f), func(b *testing.B) {
			benchEach(b, func(b *testing.B, db *dbtest.DB) {
				s := newBenchScene(b, db, f)
				_, as := s.beneficiary(b, "b@example.com")
				tasks := s.pendingTasks(b, b.N, as)
				b.ResetTimer()
				for i := range b.N {
					if err := post(s.env.Handler, s.tokM, stmtDecide, map[string]any{"id": string(tasks[i]), "d": "APPROVE"}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkDecideConcurrent: 32 reviewers, each the manager of their own
// beneficiary, approve their tasks at the same time, each task the only
// stage of its request; it reports decisions/s.
func BenchmarkDecideConcurrent(b *testing.B) {
	const reviewers = 32
	for _, f := range []enum.Fulfillment{enum.FulfillmentDirect, enum.FulfillmentManual} {
		b.Run(string(f), func(b *testing.B) {
			benchEach(b, func(b *testing.B, db *dbtest.DB) {
				if db.Name == "sqlite" {
					b.Skip("SQLite serialises every writer: 32 of them at once wait past its busy timeout")
				}
				s := newBenchScene(b, db, f)
				// Tasks interleaved across the reviewers; each goroutine
				// takes the next one.
				type decision struct {
					token string
					task  pulid.ID
				}
				per := (b.N + reviewers - 1) / reviewers
				lists := make([][]decision, reviewers)
				for i := range reviewers {
					m := s.env.User(b, fmt.Sprintf("m%02d@example.com", i), enum.PlatformRoleUser)
					u, err := s.env.Client.User.Create().SetEmail(fmt.Sprintf("b%02d@example.com", i)).SetName("B").SetManager(m).Save(apitest.Sys())
					require.NoError(b, err)
					v, err := s.env.Auth.Authenticate(context.Background(), s.env.Token(b, u))
					require.NoError(b, err)
					tok := s.env.Token(b, m)
					for _, task := range s.pendingTasks(b, per, authz.NewContext(context.Background(), v)) {
						lists[i] = append(lists[i], decision{token: tok, task: task})
					}
				}
				var all []decision
				for j := range per {
					for i := range reviewers {
						all = append(all, lists[i][j])
					}
				}
				var next, done atomic.Int64
				b.SetParallelism((reviewers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						d := all[next.Add(1)-1]
						if err := post(s.env.Handler, d.token, stmtDecide, map[string]any{"id": string(d.task), "d": "APPROVE"}); err != nil {
							b.Error(err)
							return
						}
						done.Add(1)
					}
				})
				b.ReportMetric(float64(done.Load())/time.Since(start).Seconds(), "decisions/s")
			})
		})
	}
}

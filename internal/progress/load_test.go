package progress_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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

// loadClients is the number of concurrent writers of the commit benchmarks.
const loadClients = 32

// BenchmarkCommitsUnderLoad measures how state changes commit side by side
// on PostgreSQL: loadClients goroutines submit b.N requests (one MANUAL or
// WEBHOOK entitlement each, for b.N beneficiaries), then one reviewer's
// loadClients goroutines approve their b.N tasks. While each phase runs, a
// sampler reads pg_stat_activity every few milliseconds; the benchmark
// reports the phase's rate and the share of active backends waiting on
// Lock:object (PostgreSQL's notify lock, taken at COMMIT by a transaction
// that called pg_notify) and on any lock. Run it with a fixed count, e.g.
//
//	TEST_DATABASE_URL=… go test -run '^$' -bench CommitsUnderLoad -benchtime 2000x ./internal/progress/
func BenchmarkCommitsUnderLoad(b *testing.B) {
	for _, kind := range []enum.ConnectorKind{enum.ConnectorKindManual, enum.ConnectorKindWebhook} {
		b.Run(string(kind), func(b *testing.B) {
			db := dbtest.NewPostgres(b)
			rcv := apitest.NewReceiver(b)
			env := apitest.NewWith(b, db, apitest.Options{Env: rcv.Env(), OwnPool: true})
			ctx := apitest.Sys()
			m := env.User(b, "m@example.com", enum.PlatformRoleUser)
			app := env.Client.Application.Create().SetName("load").AddOwners(m)
			if kind == enum.ConnectorKindManual {
				app.SetFulfillment(enum.FulfillmentManual).SetConnectorKind(kind)
			} else {
				app.SetFulfillment(enum.FulfillmentDirect).SetConnectorKind(kind).SetConnectorConfig(rcv.Config())
			}
			a, err := app.Save(ctx)
			require.NoError(b, err)
			e, err := env.Client.Entitlement.Create().SetApplication(a).SetExternalID("load").SetName("load").Save(ctx)
			require.NoError(b, err)
			_, err = env.Client.ReviewStageTemplate.Create().SetApplication(a).SetLevel(1).
				SetReviewerKind(enum.ReviewerKindManager).Save(ctx)
			require.NoError(b, err)
			var users []*ent.User
			for i := 0; i < b.N; i += 500 {
				bulk := make([]*ent.UserCreate, 0, 500)
				for j := i; j < min(b.N, i+500); j++ {
					email := fmt.Sprintf("b%05d@example.com", j)
					bulk = append(bulk, env.Client.User.Create().SetEmail(email).SetName(email).SetManager(m))
				}
				us, err := env.Client.User.CreateBulk(bulk...).Save(ctx)
				require.NoError(b, err)
				users = append(users, us...)
			}
			as := func(u *ent.User) context.Context {
				return authz.NewContext(context.Background(), &authz.Viewer{UserID: u.ID, Role: u.PlatformRole})
			}

			b.ResetTimer()
			submits := loadPhase(b, db.SQL, b.N, func(i int) error {
				_, err := env.Workflow.Submit(as(users[i]), workflow.SubmitInput{
					Action: enum.RequestActionGrant, EntitlementIDs: []pulid.ID{e.ID},
				}, nil)
				return err
			})
			b.StopTimer()
			tasks, err := env.Client.ReviewTask.Query().Where(reviewtask.ReviewerID(m.ID)).IDs(ctx)
			require.NoError(b, err)
			require.Len(b, tasks, b.N)
			b.StartTimer()
			decisions := loadPhase(b, db.SQL, b.N, func(i int) error {
				_, err := env.Workflow.DecideTasks(as(m), []pulid.ID{tasks[i]}, workflow.Approve, "")
				return err
			})
			b.StopTimer()
			submits.report(b, "submit")
			decisions.report(b, "decide")
		})
	}
}

// loadFigures is what one phase of the load measured.
type loadFigures struct {
	ops     int
	elapsed time.Duration
	// active counts active backends over all samples; lockObject those
	// waiting on Lock:object; locks those waiting on any lock.
	active, lockObject, locks int
}

func (f loadFigures) report(b *testing.B, phase string) {
	b.ReportMetric(float64(f.ops)/f.elapsed.Seconds(), phase+"s/s")
	if f.active > 0 {
		b.ReportMetric(100*float64(f.lockObject)/float64(f.active), phase+"-lockobj-%")
		b.ReportMetric(100*float64(f.locks)/float64(f.active), phase+"-lock-%")
	}
	b.Logf("%s: %d in %s, %d active backend samples, %d waiting on Lock:object, %d on any lock",
		phase, f.ops, f.elapsed.Round(time.Millisecond), f.active, f.lockObject, f.locks)
}

// loadPhase runs op(0..n-1) on loadClients goroutines while sampling
// pg_stat_activity of db's database.
func loadPhase(b *testing.B, db *sql.DB, n int, op func(i int) error) loadFigures {
	b.Helper()
	var (
		f    loadFigures
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, loadClients)
	)
	ctx, cancel := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		conn, err := db.Conn(ctx)
		if err != nil {
			return
		}
		defer conn.Close()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for ; ctx.Err() == nil; <-tick.C {
			var active, lockObject, locks int
			err := conn.QueryRowContext(ctx, `SELECT count(*),
				count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'object'),
				count(*) FILTER (WHERE wait_event_type = 'Lock')
				FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'
				AND pid <> pg_backend_pid()`).Scan(&active, &lockObject, &locks)
			if err != nil {
				return
			}
			f.active, f.lockObject, f.locks = f.active+active, f.lockObject+lockObject, f.locks+locks
		}
	}()
	start := time.Now()
	for range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := op(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	f.ops, f.elapsed = n, time.Since(start)
	cancel()
	<-sampled
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	return f
}

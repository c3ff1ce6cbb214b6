package audit_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/errcode"
)

// logFixture is a small audit log: two request chains (a: 5 events, b: 3)
// and the system chain (4 events: the creations of the four users, which
// the users' schema hook records), checkpointed once.
type logFixture struct {
	db     *dbtest.DB
	client *ent.Client
	log    *audit.Log
	a, b   string
	// cp maps a chain to the seq of its checkpoint.
	cp map[string]int64
}

func auditor(ctx context.Context) context.Context {
	return authz.NewContext(ctx, &authz.Viewer{UserID: "usr_auditor", Role: enum.PlatformRoleRiskManager})
}

func newLogFixture(t *testing.T, db *dbtest.DB) *logFixture {
	t.Helper()
	ctx := context.Background()
	client := newClient(t, db)
	rec := audit.NewRecorder(db.Dialect)
	ra, requester := newRequest(t, client)
	rb, other := newRequest2(t, client)
	f := &logFixture{db: db, client: client, log: audit.NewLog(client, db.Dialect), a: string(ra.ID), b: string(rb.ID)}
	appendN := func(chain, actor string, n int, action audit.Action) {
		events := make([]audit.Event, n)
		for i := range events {
			events[i] = audit.Event{Action: action, Data: map[string]any{"i": i + 1}}
		}
		_, err := appendTx(ctx, client, rec, chain, actor, time.Now(), events...)
		require.NoError(t, err)
	}
	appendN(f.a, string(requester.ID), 5, audit.TaskApproved)
	appendN(f.b, string(other.ID), 3, audit.ItemAdded)

	n, err := f.log.Checkpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n, "one checkpoint per chain")
	f.cp = map[string]int64{}
	for _, c := range client.AuditCheckpoint.Query().AllX(authz.SystemContext(ctx)) {
		f.cp[c.Chain] = c.Seq
	}
	v := f.verify(t)
	require.True(t, v.Valid, "%+v", v.Problems)
	require.Equal(t, 3, v.Chains)
	require.Equal(t, 12, v.Events)
	require.Equal(t, 3, v.Checkpoints)
	return f
}

func (f *logFixture) verify(t *testing.T) *audit.LogVerification {
	t.Helper()
	v, err := f.log.Verify(auditor(context.Background()), nil, nil)
	require.NoError(t, err)
	return v
}

// TestLogTamperBattery tampers with the stored log (the triggers disabled
// first, as a superuser could) in every way an auditor worries about, and
// checks that verification names the first broken place.
func TestLogTamperBattery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, f *logFixture)
		// chain of the problem: "a", "b", or a literal chain name
		chain  string
		seq    int64
		reason func(f *logFixture) string
	}{
		{
			name: "event data changed",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `UPDATE audit_events SET data = ? WHERE chain = ? AND seq = 3`, `{"i":99}`, f.a)
			},
			chain: "a", seq: 3, reason: fixed("seq 3: hash mismatch (event data or fields changed)"),
		},
		{
			name: "event deleted",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `DELETE FROM audit_events WHERE chain = ? AND seq = 3`, f.a)
			},
			chain: "a", seq: 3, reason: fixed("seq 3 missing"),
		},
		{
			name: "two events swapped",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `UPDATE audit_events SET seq = 1000 WHERE chain = ? AND seq = 2`, f.a)
				rawExec(t, f.db, `UPDATE audit_events SET seq = 2 WHERE chain = ? AND seq = 4`, f.a)
				rawExec(t, f.db, `UPDATE audit_events SET seq = 4 WHERE chain = ? AND seq = 1000`, f.a)
			},
			chain: "a", seq: 2, reason: fixed("seq 2: prev_hash does not match seq 1's hash"),
		},
		{
			name: "tail cut",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `DELETE FROM audit_events WHERE chain = ? AND seq >= 4`, f.a)
			},
			chain: "a", seq: 4, reason: func(f *logFixture) string {
				return "seq 4 missing: checkpoint " + itoa(f.cp[f.a]) + " recorded head seq 5, the chain ends at seq 3 (tail cut)"
			},
		},
		{
			name: "stored hash altered",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `UPDATE audit_events SET hash = ? WHERE chain = ? AND seq = 3`, strings.Repeat("ab", 32), f.a)
			},
			chain: "a", seq: 3, reason: fixed("seq 3: hash mismatch (event data or fields changed)"),
		},
		{
			name: "whole request deleted, events and row",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `DELETE FROM audit_events WHERE chain = ?`, f.b)
				rawExec(t, f.db, `DELETE FROM access_requests WHERE id = ?`, f.b)
			},
			chain: "b", seq: 1, reason: func(f *logFixture) string {
				return "no events: checkpoint " + itoa(f.cp[f.b]) + " recorded head seq 3 (chain deleted)"
			},
		},
		{
			name: "system chain broken",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `UPDATE audit_events SET actor = ? WHERE chain = ? AND seq = 2`, "usr_mallory", audit.SystemChain)
			},
			chain: audit.SystemChain, seq: 2, reason: fixed("seq 2: hash mismatch (event data or fields changed)"),
		},
		{
			name: "tail rewritten with consistent hashes",
			tamper: func(t *testing.T, f *logFixture) {
				// A forger who rehashes seq 4 and 5 keeps the chain itself
				// sound; the checkpoint of seq 5 does not match any more.
				rows := readChain(t, f.client, f.a)
				prev := rows[2].Hash
				for _, r := range rows[3:] {
					r.Data = map[string]any{"i": 0.0}
					r.PrevHash = prev
					r.Hash = audit.Hash(prev, []byte(canon(t, r)))
					rawExec(t, f.db, `UPDATE audit_events SET data = ?, prev_hash = ?, hash = ? WHERE chain = ? AND seq = ?`,
						`{"i":0}`, r.PrevHash, r.Hash, f.a, r.Seq)
					prev = r.Hash
				}
				require.True(t, audit.Verify(f.a, readChain(t, f.client, f.a)).Valid)
			},
			chain: "a", seq: 5, reason: func(f *logFixture) string {
				return "seq 5: hash differs from the one checkpoint " + itoa(f.cp[f.a]) + " recorded"
			},
		},
		{
			name: "checkpoint altered",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `UPDATE audit_checkpoints SET head_seq = 2 WHERE seq = 2`)
			},
			chain: audit.CheckpointChain, seq: 2, reason: fixed("checkpoint 2: hash mismatch (checkpoint fields changed)"),
		},
		{
			name: "checkpoint deleted",
			tamper: func(t *testing.T, f *logFixture) {
				rawExec(t, f.db, `DELETE FROM audit_checkpoints WHERE seq = 2`)
			},
			chain: audit.CheckpointChain, seq: 2, reason: fixed("checkpoint 2 missing"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
				f := newLogFixture(t, db)
				db.DisableAuditTriggers(t)
				tc.tamper(t, f)

				v := f.verify(t)
				require.False(t, v.Valid)
				if tc.chain != audit.CheckpointChain {
					require.Len(t, v.Problems, 1, "%+v", v.Problems)
				}
				p := v.Problems[0]
				chain := map[string]string{"a": f.a, "b": f.b}[tc.chain]
				if chain == "" {
					chain = tc.chain
				}
				require.Equal(t, chain, p.Chain, p.Reason)
				require.NotNil(t, p.Seq, p.Reason)
				require.Equal(t, tc.seq, *p.Seq, p.Reason)
				require.Equal(t, tc.reason(f), p.Reason)
			})
		})
	}
}

func fixed(s string) func(*logFixture) string { return func(*logFixture) string { return s } }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestLogFindsRequestWithoutEvents: a request whose events are deleted
// before any checkpoint is still found, by the request's row.
func TestLogFindsRequestWithoutEvents(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		f := newLogFixture(t, db)
		ctx := authz.SystemContext(context.Background())
		u := f.client.User.Create().SetEmail("c@example.com").SetName("C").SaveX(ctx)
		rc := f.client.AccessRequest.Create().SetAction(enum.RequestActionGrant).SetRequester(u).SetBeneficiary(u).SaveX(ctx)
		_, err := appendTx(context.Background(), f.client, audit.NewRecorder(db.Dialect), string(rc.ID), string(u.ID), time.Now(),
			audit.Event{Action: audit.RequestSubmitted})
		require.NoError(t, err)
		db.DisableAuditTriggers(t)
		rawExec(t, db, `DELETE FROM audit_events WHERE chain = ?`, string(rc.ID))

		v := f.verify(t)
		require.False(t, v.Valid)
		require.Len(t, v.Problems, 1)
		require.Equal(t, string(rc.ID), v.Problems[0].Chain)
		require.Equal(t, "no events: the request exists but its audit chain is empty", v.Problems[0].Reason)
	})
}

// TestCheckpointFoldsOnlyNewHeads checks the checkpoint sequence as it
// grows: nothing to do without changes, one checkpoint per changed chain,
// linked to the previous checkpoint.
func TestCheckpointFoldsOnlyNewHeads(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		f := newLogFixture(t, db)
		n, err := f.log.Checkpoint(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "no chain changed")
		// Another process (a fresh Log sweeps every chain) agrees.
		n, err = audit.NewLog(f.client, db.Dialect).Checkpoint(ctx)
		require.NoError(t, err)
		require.Zero(t, n)

		_, err = appendTx(ctx, f.client, audit.NewRecorder(db.Dialect), f.a, "system", time.Now(), audit.Event{Action: audit.RequestCompleted})
		require.NoError(t, err)
		n, err = f.log.Checkpoint(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		cps := f.client.AuditCheckpoint.Query().Order(auditcheckpoint.BySeq()).AllX(authz.SystemContext(ctx))
		require.Len(t, cps, 4)
		last := cps[3]
		require.Equal(t, int64(4), last.Seq)
		require.Equal(t, f.a, last.Chain)
		require.Equal(t, int64(6), last.HeadSeq)
		require.Equal(t, readChain(t, f.client, f.a)[5].Hash, last.HeadHash)
		require.Equal(t, cps[2].Hash, last.PrevHash)
		require.Equal(t, audit.Hash(last.PrevHash, audit.CheckpointCanonical(last.Seq, last.At, last.Chain, last.HeadSeq, last.HeadHash)), last.Hash)
		prev := audit.GenesisHash
		for _, c := range cps {
			require.Equal(t, prev, c.PrevHash)
			prev = c.Hash
		}
		v := f.verify(t)
		require.True(t, v.Valid, "%+v", v.Problems)
		require.Equal(t, 4, v.Checkpoints)
		require.Equal(t, 13, v.Events)
	})
}

// TestCheckpointLooksSinceThePreviousRun checks which chains an
// incremental run folds: those with events since a minute before the
// previous run started, however long ago the previous ones were. An event
// taken earlier than that (a transaction that long, or a replica's clock
// that far behind) waits for the hourly full sweep, which folds it.
func TestCheckpointLooksSinceThePreviousRun(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		f := newLogFixture(t, db)
		rec := audit.NewRecorder(db.Dialect)
		// Later than the fixture's events by more than the lookback.
		clock := time.Now().UTC().Truncate(time.Microsecond).Add(10 * time.Minute)
		lg := audit.NewLog(f.client, db.Dialect, audit.WithClock(func() time.Time { return clock }))
		run := func() []string {
			t.Helper()
			before := f.client.AuditCheckpoint.Query().CountX(authz.SystemContext(ctx))
			n, err := lg.Checkpoint(ctx)
			require.NoError(t, err)
			var chains []string
			for _, c := range f.client.AuditCheckpoint.Query().Order(auditcheckpoint.BySeq()).Offset(before).AllX(authz.SystemContext(ctx)) {
				chains = append(chains, c.Chain)
			}
			require.Len(t, chains, n)
			return chains
		}
		event := func(chain string, at time.Time) {
			t.Helper()
			_, err := appendTx(ctx, f.client, rec, chain, "system", at, audit.Event{Action: audit.CatalogChanged})
			require.NoError(t, err)
		}
		require.Empty(t, run(), "the first run sweeps every chain: the fixture folded them all")

		clock = clock.Add(5 * time.Second)
		event(f.a, clock.Add(-time.Second))
		require.Equal(t, []string{f.a}, run())
		previous := clock

		clock = clock.Add(5 * time.Second)
		event(f.a, clock.Add(-time.Second))
		event(f.b, previous.Add(-59*time.Second))
		event(audit.SystemChain, previous.Add(-2*time.Minute))
		require.ElementsMatch(t, []string{f.a, f.b}, run(), "the system chain's event is older than a minute before the previous run")

		clock = clock.Add(5 * time.Second)
		require.Empty(t, run())
		clock = clock.Add(time.Hour)
		require.Equal(t, []string{audit.SystemChain}, run(), "the hourly full sweep")
		v := f.verify(t)
		require.True(t, v.Valid, "%+v", v.Problems)
	})
}

// TestCheckpointManyChains folds more chains than one statement reads
// (chunks of 200): every chain's checkpoint holds its head's seq and hash,
// read with one statement per chunk; a full sweep reads them before the
// lock and those that moved again under it, an incremental run only under
// it; and a later run folds only the chain that moved.
func TestCheckpointManyChains(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		f := newLogFixture(t, db)
		rec := audit.NewRecorder(db.Dialect)
		sctx := authz.SystemContext(ctx)
		u := f.client.User.Query().FirstX(sctx) // a new user would move the system chain too
		builders := make([]*ent.AccessRequestCreate, 250)
		for i := range builders {
			builders[i] = f.client.AccessRequest.Create().SetAction(enum.RequestActionGrant).SetRequester(u).SetBeneficiary(u)
		}
		reqs := f.client.AccessRequest.CreateBulk(builders...).SaveX(sctx)
		heads := map[string]*ent.AuditEvent{}
		for i, r := range reqs {
			chain := string(r.ID)
			events := make([]audit.Event, 1+i%3)
			for j := range events {
				events[j] = audit.Event{Action: audit.CatalogChanged}
			}
			rows, err := appendTx(ctx, f.client, rec, chain, "system", time.Now(), events...)
			require.NoError(t, err)
			heads[chain] = rows[len(rows)-1]
		}
		stmts := &dbtest.StatementLog{}
		lg := audit.NewLog(newClient(t, dbtest.Counted(t, db, stmts)), db.Dialect)
		// A run's statements: the changed chains; their heads by chunks of
		// 200 (before the lock on a full sweep, then under it); the last
		// checkpoint; an insert per chunk; on PostgreSQL the advisory lock.
		checkpoint := func(reads, inserts int) {
			t.Helper()
			stmts.Reset()
			n, err := lg.Checkpoint(dbtest.Counting(ctx))
			require.NoError(t, err)
			require.Equal(t, 250, n)
			want := 1 + reads + 1 + inserts
			if db.Dialect == dialect.Postgres {
				want++
			}
			var sent []string
			for _, q := range stmts.Statements() {
				sent = append(sent, q[:min(len(q), 80)])
			}
			require.Len(t, sent, want, "%q", sent)
			cps := f.client.AuditCheckpoint.Query().Order(auditcheckpoint.BySeq(entsql.OrderDesc())).Limit(250).AllX(sctx)
			for _, c := range cps {
				require.Equal(t, heads[c.Chain].Seq, c.HeadSeq, c.Chain)
				require.Equal(t, heads[c.Chain].Hash, c.HeadHash, c.Chain)
			}
		}
		// The first run of a process sweeps all 253 chains (the fixture's
		// too), 2 chunks, then the 250 that moved, 2 again.
		checkpoint(2+2, 2)
		require.Equal(t, 253, f.client.AuditCheckpoint.Query().CountX(sctx), "the fixture's 3 and 250")

		for _, r := range reqs {
			rows, err := appendTx(ctx, f.client, rec, string(r.ID), "system", time.Now(), audit.Event{Action: audit.CatalogChanged})
			require.NoError(t, err)
			heads[string(r.ID)] = rows[0]
		}
		checkpoint(2, 2) // incremental: 250 chains, read once

		moved := string(reqs[201].ID)
		_, err := appendTx(ctx, f.client, rec, moved, "system", time.Now(), audit.Event{Action: audit.CatalogChanged})
		require.NoError(t, err)
		n, err := f.log.Checkpoint(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		last := f.client.AuditCheckpoint.Query().Order(auditcheckpoint.BySeq()).Offset(503).OnlyX(sctx)
		require.Equal(t, moved, last.Chain)
		require.Equal(t, heads[moved].Seq+1, last.HeadSeq)
	})
}

// TestConcurrentCheckpointsStayLinked runs checkpointers of two "processes"
// while events are appended: the sequence stays gapless and linked.
func TestConcurrentCheckpointsStayLinked(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		f := newLogFixture(t, db)
		rec := audit.NewRecorder(db.Dialect)
		logs := []*audit.Log{f.log, audit.NewLog(f.client, db.Dialect)}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 8 {
			wg.Go(func() {
				chain := []string{f.a, f.b, audit.SystemChain}[i%3]
				_, err := appendTx(ctx, f.client, rec, chain, "system", time.Now(), audit.Event{Action: audit.CatalogChanged})
				errs <- err
				_, err = logs[i%2].Checkpoint(ctx)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		_, err := f.log.Checkpoint(ctx)
		require.NoError(t, err)
		v := f.verify(t)
		require.True(t, v.Valid, "%+v", v.Problems)
		require.Equal(t, 20, v.Events)
		// Every chain's head is checkpointed.
		for _, chain := range []string{f.a, f.b, audit.SystemChain} {
			events := readChain(t, f.client, chain)
			top := f.client.AuditCheckpoint.Query().Where(auditcheckpoint.Chain(chain)).
				Order(auditcheckpoint.ByHeadSeq()).AllX(authz.SystemContext(ctx))
			require.Equal(t, events[len(events)-1].Seq, top[len(top)-1].HeadSeq, chain)
		}
	})
}

// TestLogVerifyPeriodAndAccess checks who may verify and read the whole log,
// and that a period selects the chains it covers.
func TestLogVerifyPeriodAndAccess(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		f := newLogFixture(t, db)
		_, err := f.log.Verify(ctx, nil, nil)
		require.Equal(t, errcode.Unauthenticated, errcode.Of(err))
		user := authz.NewContext(ctx, &authz.Viewer{UserID: "usr_x", Role: enum.PlatformRoleUser})
		_, err = f.log.Verify(user, nil, nil)
		require.Equal(t, errcode.Forbidden, errcode.Of(err))
		_, err = f.log.Events(user, audit.EventFilter{})
		require.Equal(t, errcode.Forbidden, errcode.Of(err))
		admin := authz.NewContext(ctx, &authz.Viewer{UserID: "usr_y", Role: enum.PlatformRoleITAdmin})
		q, err := f.log.Events(admin, audit.EventFilter{Chain: &f.b})
		require.NoError(t, err)
		require.Equal(t, 3, q.CountX(admin))

		// A period after everything covers nothing, and is valid.
		later := time.Now().Add(time.Hour)
		v, err := f.log.Verify(auditor(ctx), &later, nil)
		require.NoError(t, err)
		require.True(t, v.Valid)
		require.Zero(t, v.Chains)
		// A period around everything covers every chain.
		earlier := time.Now().Add(-time.Hour)
		v, err = f.log.Verify(auditor(ctx), &earlier, &later)
		require.NoError(t, err)
		require.True(t, v.Valid, "%+v", v.Problems)
		require.Equal(t, 3, v.Chains)
		require.Equal(t, 3, v.Checkpoints)
		require.Equal(t, 12, v.Events)
	})
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Targets of a round.
const (
	gatehouse    = "gatehouse"
	postgraphile = "postgraphile"
	pgbenchSQL   = "pgbench"
)

// sample is one measured run of one operation on one target.
type sample struct {
	rps, p50, p99 float64 // requests (pgbench: transactions) per second; ms
	cpuMs         float64 // server CPU per request, ms (not for pgbench)
	allocKB       float64 // Go allocations per request (Gatehouse only)
	allocObjects  float64
	errors        int
	exhausted     bool
}

// rounds starts the servers and runs the interleaved rounds.
func (b *bench) rounds(ctx context.Context, counts map[string]opCount, scripts map[string]string) error {
	gh, err := b.startGatehouse(ctx)
	if err != nil {
		return err
	}
	defer gh.stop()
	var pg *process
	if b.cfg.compare {
		if pg, err = startPostGraphile(ctx, b.root, b.dir, b.cfg.dsn); err != nil {
			return err
		}
		defer pg.stop()
		if err := b.sameRows(ctx, gh, pg); err != nil {
			return err
		}
	}

	if err := b.drain(ctx, gh, "left by the seed"); err != nil {
		return err
	}
	if err := b.idle(ctx, gh); err != nil {
		return err
	}
	done0, _, err := b.jobQueue(ctx)
	if err != nil {
		return err
	}
	start := time.Now()

	results := map[string]map[string][]sample{} // op → target → rounds
	record := func(op, target string, s sample) {
		if results[op] == nil {
			results[op] = map[string][]sample{}
		}
		results[op][target] = append(results[op][target], s)
	}
	for r := 0; r <= b.cfg.rounds; r++ {
		warm := r == 0
		d := b.cfg.dur
		if warm {
			if b.cfg.warmup <= 0 {
				continue
			}
			d = b.cfg.warmup
			fmt.Fprintf(b.out, "warm-up (%s per run), load %s\n", d, loadAverage())
		} else {
			fmt.Fprintf(b.out, "round %d/%d, load %s\n", r, b.cfg.rounds, loadAverage())
		}
		for _, op := range b.cfg.ops {
			s, err := b.runGatehouse(ctx, gh, op, d)
			if err != nil {
				return err
			}
			if !warm {
				record(op, gatehouse, s)
				b.printSample(op, gatehouse, s)
			}
			if !b.cfg.compare || operations[op].postgraphile == "" {
				continue
			}
			if s, err = b.runPostGraphile(ctx, pg, op, d); err != nil {
				return err
			}
			if !warm {
				record(op, postgraphile, s)
				b.printSample(op, postgraphile, s)
			}
			if s, err = b.runPgbench(ctx, scripts[op], d); err != nil {
				return err
			}
			if !warm {
				record(op, pgbenchSQL, s)
				b.printSample(op, pgbenchSQL, s)
			}
		}
	}
	done, waiting, err := b.jobQueue(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.out, "background jobs: %d completed during the rounds (%.1f/s), %d waiting at the end\n",
		done-done0, float64(done-done0)/time.Since(start).Seconds(), waiting)
	if err := b.drain(ctx, gh, "left by the rounds"); err != nil {
		return err
	}
	return b.summary(results, counts)
}

// drainLimit bounds how long drain waits.
const drainLimit = 5 * time.Minute

// drain waits, with nobody calling the server, until it has worked every
// background job ready to run (available or running), and prints how many
// it worked, how fast, and its CPU per job: what the jobs each write
// leaves cost, and whether the runner keeps up with a write rate. It
// prints nothing when no job is ready.
func (b *bench) drain(ctx context.Context, gh *process, what string) error {
	ready := func() (n int64, err error) {
		err = b.db.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'running')`).Scan(&n)
		return n, err
	}
	n, err := ready()
	if err != nil || n == 0 {
		return err
	}
	done0, _, err := b.jobQueue(ctx)
	if err != nil {
		return err
	}
	cpu0, err := cpuTime(gh.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	for n > 0 && time.Since(start) < drainLimit {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		if n, err = ready(); err != nil {
			return err
		}
	}
	took := time.Since(start)
	cpu1, err := cpuTime(gh.pid())
	if err != nil {
		return err
	}
	done, _, err := b.jobQueue(ctx)
	if err != nil {
		return err
	}
	worked := done - done0
	fmt.Fprintf(b.out, "background jobs %s: %d worked in %.1f s with nobody calling (%.1f/s, %.2f ms of server CPU each)",
		what, worked, took.Seconds(), float64(worked)/took.Seconds(), float64(cpu1-cpu0)/float64(time.Millisecond)/float64(max(worked, 1)))
	if n > 0 {
		fmt.Fprintf(b.out, ", %d still ready after %s", n, drainLimit)
	}
	fmt.Fprintln(b.out)
	return nil
}

// jobQueue counts the server's background jobs (River's table) completed
// and still waiting to run. Each write leaves its notification and webhook
// jobs: a write rate the job runner does not keep up with shows as jobs
// waiting at the end.
func (b *bench) jobQueue(ctx context.Context) (done, waiting int64, err error) {
	err = b.db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE state = 'completed'),
		count(*) FILTER (WHERE state IN ('available', 'scheduled', 'retryable', 'pending')) FROM river_job`).Scan(&done, &waiting)
	if err != nil {
		err = fmt.Errorf("count background jobs: %w", err)
	}
	return done, waiting, err
}

// idleWindow is how long the idle server is watched.
const idleWindow = 5 * time.Second

// idle prints what the server costs when nobody calls it: its CPU, and the
// transactions on its database per second (pg_stat_database; every
// statement outside a transaction is one), PostGraphile being silent.
func (b *bench) idle(ctx context.Context, gh *process) error {
	xacts := func() (int64, error) {
		var n int64
		err := b.db.QueryRowContext(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
		return n, err
	}
	// The statistics are flushed by each backend at most once a second
	// and read in a snapshot per transaction: both ends are read alike.
	cpu0, err := cpuTime(gh.pid())
	if err != nil {
		return err
	}
	x0, err := xacts()
	if err != nil {
		return err
	}
	select {
	case <-time.After(idleWindow):
	case <-ctx.Done():
		return ctx.Err()
	}
	cpu1, err := cpuTime(gh.pid())
	if err != nil {
		return err
	}
	x1, err := xacts()
	if err != nil {
		return err
	}
	// The harness's own two reads are one transaction each.
	fmt.Fprintf(b.out, "idle server: %.1f%% of a core, about %.1f transactions/s on the database\n",
		100*float64(cpu1-cpu0)/float64(idleWindow), float64(x1-x0-1)/idleWindow.Seconds())
	return nil
}

func (b *bench) startGatehouse(ctx context.Context) (*process, error) {
	bin := b.cfg.server
	if bin == "" {
		bin = filepath.Join(b.dir, "gatehouse")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		cmd.Dir = b.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build: %w\n%s", err, out)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+b.cfg.dsn, "GATEHOUSE_JWT_SECRET="+b.secret,
		"GATEHOUSE_DEMO=false", "GATEHOUSE_LOG_FORMAT=json")
	return startProcess(ctx, "gatehouse", b.dir, cmd, "http://"+addr, "/query", "/readyz")
}

// runGatehouse measures one operation on the server binary.
func (b *bench) runGatehouse(ctx context.Context, p *process, op string, d time.Duration) (sample, error) {
	conc := b.conc(op)
	if op == "decide" {
		if err := b.refillTasks(ctx); err != nil {
			return sample{}, err
		}
	}
	metrics := p.base + "/metrics"
	cpu0, err := cpuTime(p.pid())
	if err != nil {
		return sample{}, err
	}
	objs0, bytes0, err := goAllocs(ctx, b.hc, metrics)
	if err != nil {
		return sample{}, fmt.Errorf("read %s: %w", metrics, err)
	}
	res := runLoad(ctx, b.hc, p.url, conc, d, b.next(op))
	cpu1, err := cpuTime(p.pid())
	if err != nil {
		return sample{}, err
	}
	objs1, bytes1, err := goAllocs(ctx, b.hc, metrics)
	if err != nil {
		return sample{}, fmt.Errorf("read %s: %w", metrics, err)
	}
	s := fromLoad(res)
	if n := float64(res.ok + res.errors); n > 0 {
		s.cpuMs = float64(cpu1-cpu0) / float64(time.Millisecond) / n
		s.allocKB = (bytes1 - bytes0) / 1024 / n
		s.allocObjects = (objs1 - objs0) / n
	}
	if res.errors > 0 {
		fmt.Fprintf(b.out, "  %s on gatehouse: %d errors, first: %s\n", op, res.errors, res.firstError)
	}
	return s, nil
}

func (b *bench) conc(op string) int {
	if op == "submit" || op == "decide" {
		return b.cfg.writeC
	}
	return b.cfg.conc
}

func fromLoad(res loadResult) sample {
	return sample{
		rps: res.rps(), p50: ms(res.percentile(0.5)), p99: ms(res.percentile(0.99)),
		errors: res.errors, exhausted: res.exhausted,
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runPostGraphile measures PostGraphile's equivalent of op.
func (b *bench) runPostGraphile(ctx context.Context, p *process, op string, d time.Duration) (sample, error) {
	q := operations[op].postgraphile
	var next func() (call, bool)
	switch op {
	case "nested":
		c := call{body: gqlBody(q, nil)}
		next = func() (call, bool) { return c, true }
	case "viewer":
		calls := make([]call, len(b.ds.members))
		for i, m := range b.ds.members {
			calls[i] = call{body: gqlBody(q, map[string]any{"id": m.ID})}
		}
		var mu sync.Mutex
		i := 0
		next = func() (call, bool) {
			mu.Lock()
			defer mu.Unlock()
			i++
			return calls[i%len(calls)], true
		}
	}
	cpu0, err := cpuTime(p.pid())
	if err != nil {
		return sample{}, err
	}
	res := runLoad(ctx, b.hc, p.url, b.conc(op), d, next)
	cpu1, err := cpuTime(p.pid())
	if err != nil {
		return sample{}, err
	}
	s := fromLoad(res)
	if n := float64(res.ok + res.errors); n > 0 {
		s.cpuMs = float64(cpu1-cpu0) / float64(time.Millisecond) / n
	}
	if res.errors > 0 {
		fmt.Fprintf(b.out, "  %s on postgraphile: %d errors, first: %s\n", op, res.errors, res.firstError)
	}
	return s, nil
}

func (b *bench) runPgbench(ctx context.Context, script string, d time.Duration) (sample, error) {
	res, err := runPgbench(ctx, b.dir, b.cfg.dsn, script, b.cfg.conc, d)
	if err != nil {
		return sample{}, err
	}
	return sample{rps: res.tps, p50: ms(res.percentile(0.5)), p99: ms(res.percentile(0.99))}, nil
}

// sameRows checks that PostGraphile's nested query reads the objects
// Gatehouse's does: the same IDs of requests, users, items, entitlements,
// applications, stages and tasks.
func (b *bench) sameRows(ctx context.Context, gh, pg *process) error {
	ghBody, err := post(ctx, b.hc, gh.url, call{body: gqlBody(operations["nested"].gatehouse, nil), token: b.token(string(b.ds.auditor.ID))})
	if err != nil {
		return fmt.Errorf("nested on gatehouse: %w", err)
	}
	pgBody, err := post(ctx, b.hc, pg.url, call{body: gqlBody(operations["nested"].postgraphile, nil)})
	if err != nil {
		return fmt.Errorf("nested on postgraphile: %w", err)
	}
	a, err := idsOf(ghBody)
	if err != nil {
		return err
	}
	c, err := idsOf(pgBody)
	if err != nil {
		return err
	}
	if !slices.Equal(a, c) {
		return fmt.Errorf("the nested queries read different rows: %d objects on gatehouse, %d on postgraphile", len(a), len(c))
	}
	fmt.Fprintf(b.out, "nested query: Gatehouse and PostGraphile read the same %d objects\n", len(a))
	return nil
}

// idsOf returns the distinct "id" values of a JSON document, sorted.
func idsOf(body []byte) ([]string, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "id" {
					seen[s] = true
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	if len(seen) == 0 {
		return nil, errors.New("no ids in the response")
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (b *bench) printSample(op, target string, s sample) {
	line := fmt.Sprintf("  %-7s %-13s %8.1f %s  p50 %7.1f ms  p99 %7.1f ms", op, target, s.rps, unit(target), s.p50, s.p99)
	if target != pgbenchSQL {
		line += fmt.Sprintf("  cpu %6.2f ms/req", s.cpuMs)
	}
	if target == gatehouse {
		line += fmt.Sprintf("  alloc %7.1f KB %6.0f objects/req", s.allocKB, s.allocObjects)
	}
	if s.errors > 0 {
		line += fmt.Sprintf("  %d errors", s.errors)
	}
	if s.exhausted {
		line += "  (ran out of work)"
	}
	fmt.Fprintln(b.out, line)
}

func unit(target string) string {
	if target == pgbenchSQL {
		return "tps"
	}
	return "rps"
}

// summary prints the medians over rounds and the ratios (the median of the
// rounds' ratios), and fails when an operation failed or did nothing.
func (b *bench) summary(results map[string]map[string][]sample, counts map[string]opCount) error {
	col := func(ss []sample, f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		return median(v)
	}
	ratio := func(a, c []sample) string {
		if len(a) == 0 || len(c) == 0 {
			return "—"
		}
		v := make([]float64, 0, len(a))
		for i := range min(len(a), len(c)) {
			if c[i].rps > 0 {
				v = append(v, a[i].rps/c[i].rps)
			}
		}
		return fmt.Sprintf("%.2f×", median(v))
	}
	fmt.Fprintf(b.out, "\nmedians of %d rounds of %s (reads at %d clients, writes at %d); load at the end %s\n\n",
		b.cfg.rounds, b.cfg.dur, b.cfg.conc, b.cfg.writeC, loadAverage())
	fmt.Fprintln(b.out, "| operation | statements | Gatehouse rps | p50 / p99 ms | server CPU ms/req | alloc KB (objects)/req | PostGraphile rps (CPU ms/req) | ratio | pgbench replay tps | ratio |")
	fmt.Fprintln(b.out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var failed []string
	for _, op := range b.cfg.ops {
		g := results[op][gatehouse]
		if len(g) == 0 {
			continue
		}
		for _, s := range g {
			if s.errors > 0 || s.rps == 0 {
				failed = append(failed, op)
				break
			}
		}
		pgs, pb := results[op][postgraphile], results[op][pgbenchSQL]
		peer, bench := "—", "—"
		if len(pgs) > 0 {
			peer = fmt.Sprintf("%.1f (%.2f)", col(pgs, func(s sample) float64 { return s.rps }), col(pgs, func(s sample) float64 { return s.cpuMs }))
		}
		if len(pb) > 0 {
			bench = fmt.Sprintf("%.1f", col(pb, func(s sample) float64 { return s.rps }))
		}
		fmt.Fprintf(b.out, "| %s | %g | %.1f | %.0f / %.0f | %.2f | %.0f (%.0f) | %s | %s | %s | %s |\n", op, counts[op].statements,
			col(g, func(s sample) float64 { return s.rps }),
			col(g, func(s sample) float64 { return s.p50 }), col(g, func(s sample) float64 { return s.p99 }),
			col(g, func(s sample) float64 { return s.cpuMs }),
			col(g, func(s sample) float64 { return s.allocKB }), col(g, func(s sample) float64 { return s.allocObjects }),
			peer, ratio(g, pgs), bench, ratio(g, pb))
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed or idle operations: %s", strings.Join(failed, ", "))
	}
	return nil
}

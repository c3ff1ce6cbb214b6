package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/database"
	"gatehouse/internal/errcode"
)

// CheckpointChain names the checkpoint sequence in a Problem.
const CheckpointChain = "checkpoints"

const (
	// lookback is how far before the start of the previous run an
	// incremental checkpoint run looks for changed chains: far more than a
	// transaction that appends events lasts between taking its time and
	// committing (milliseconds: side effects run after commit), and than
	// the clocks of replicas differ. Events it misses, of a longer
	// transaction or a clock further behind, wait for the next full sweep.
	lookback = time.Minute
	// fullSweepEvery is how often a run looks at every chain instead (and
	// the first run of each process does), so that events the incremental
	// runs missed (written while no checkpointer ran) are folded too.
	fullSweepEvery = time.Hour
	// chunk bounds the chains of one query (IN lists) and page the rows.
	chunk = 200
	page  = 2000
	// maxProblems bounds the problems one verification reports.
	maxProblems = 100
)

// Log is the audit log as a whole (DESIGN §4.5): it folds the heads of
// changed chains into the global, hash-chained checkpoint sequence, verifies
// the chains and checkpoints of a period, and lists events for risk managers
// and IT admins. It is safe for concurrent use.
type Log struct {
	client  *ent.Client
	dialect string
	now     func() time.Time

	mu       sync.Mutex // serialises checkpoint runs of this process
	lastFull time.Time
	lastRun  time.Time // start of the last run that succeeded
}

// NewLog returns the Log over client, a database of the given dialect
// (dialect.Postgres or dialect.SQLite).
func NewLog(client *ent.Client, dialect string, opts ...LogOption) *Log {
	l := &Log{client: client, dialect: dialect, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// LogOption tunes a Log.
type LogOption func(*Log)

// WithClock makes the Log read the time from now instead of time.Now.
func WithClock(now func() time.Time) LogOption {
	return func(l *Log) { l.now = now }
}

// head is the last event of a chain.
type head struct {
	Chain string
	Seq   int64
	Hash  string
}

// Checkpoint appends to the checkpoint sequence one checkpoint for each
// chain whose head moved past its last checkpoint, in one transaction of its
// own, and returns how many it wrote. Each checkpoint records the chain, its
// head seq and head hash, and is linked to the previous checkpoint like
// events are: hash = Hash(prev_hash, CheckpointCanonical(…)).
//
// A run looks at the chains with events since a minute before the start of
// the previous run (lookback), so that its cost grows with what changed
// since, not with the rate of changes over a fixed period; and at every
// chain on the first run of the process and hourly after. The heads of the
// chains it looks at are read under the lock (another run may have folded
// them meanwhile), once: most chains an incremental run finds have moved.
// A full sweep first reads them without the lock and takes it only for
// those that moved; a run that finds no chain takes no lock.
// Concurrent runs serialise (an advisory lock on PostgreSQL, the write lock
// on SQLite).
// It runs in the system context: the River job calls it, never a viewer.
// Errors are database failures.
func (l *Log) Checkpoint(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now().UTC().Truncate(time.Microsecond)
	sctx := authz.SystemContext(ctx)
	full := l.lastFull.IsZero() || now.Sub(l.lastFull) >= fullSweepEvery
	q := l.client.AuditEvent.Query()
	if !full {
		q.Where(auditevent.AtGTE(l.lastRun.Add(-lookback)))
	}
	chains, err := q.Unique(true).Select(auditevent.FieldChain).Strings(sctx)
	if err != nil {
		return 0, fmt.Errorf("audit: checkpoint: changed chains: %w", err)
	}
	if full && len(chains) > 0 {
		// Most chains have not moved since the last sweep: find those that
		// did without holding the lock, which on SQLite stops every writer.
		heads, err := pendingHeads(sctx, l.client, l.dialect, chains)
		if err != nil {
			return 0, err
		}
		chains = chains[:0]
		for _, h := range heads {
			chains = append(chains, h.Chain)
		}
	}
	n := 0
	if len(chains) > 0 {
		if n, err = l.fold(sctx, now, chains); err != nil {
			return 0, err
		}
	}
	if full {
		l.lastFull = now
	}
	l.lastRun = now
	return n, nil
}

// fold writes the checkpoints of chains' pending heads, read under the
// lock, in a transaction.
func (l *Log) fold(ctx context.Context, at time.Time, chains []string) (int, error) {
	tx, err := l.client.Tx(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: checkpoint: begin: %w", err)
	}
	n, err := func() (int, error) {
		c := tx.Client()
		if l.dialect == dialect.Postgres {
			if _, err := c.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext('gatehouse:audit-checkpoints'))"); err != nil {
				return 0, fmt.Errorf("lock: %w", err)
			}
		}
		heads, err := pendingHeads(ctx, c, l.dialect, chains)
		if err != nil || len(heads) == 0 {
			return 0, err
		}
		seq, prev := int64(0), GenesisHash
		last, err := c.AuditCheckpoint.Query().Order(auditcheckpoint.BySeq(entsql.OrderDesc())).First(ctx)
		switch {
		case err == nil:
			seq, prev = last.Seq, last.Hash
		case !ent.IsNotFound(err):
			return 0, fmt.Errorf("read last checkpoint: %w", err)
		}
		for part := range slices.Chunk(heads, chunk) {
			builders := make([]*ent.AuditCheckpointCreate, len(part))
			for i, h := range part {
				seq++
				hash := Hash(prev, CheckpointCanonical(seq, at, h.Chain, h.Seq, h.Hash))
				builders[i] = c.AuditCheckpoint.Create().
					SetSeq(seq).SetAt(at).SetChain(h.Chain).
					SetHeadSeq(h.Seq).SetHeadHash(h.Hash).
					SetPrevHash(prev).SetHash(hash)
				prev = hash
			}
			if err := c.AuditCheckpoint.CreateBulk(builders...).Exec(ctx); err != nil {
				return 0, fmt.Errorf("write: %w", err)
			}
		}
		return len(heads), nil
	}()
	if err != nil {
		_ = tx.Rollback()
		return 0, fmt.Errorf("audit: checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("audit: checkpoint: commit: %w", err)
	}
	return n, nil
}

// pendingHeads returns, sorted by chain, the heads of those chains that
// moved past their last checkpoint, with one statement per chunk of chains
// (headsOf).
func pendingHeads(ctx context.Context, c *ent.Client, dialectName string, chains []string) ([]head, error) {
	var out []head
	for part := range slices.Chunk(chains, chunk) {
		heads, err := headsOf(ctx, c, dialectName, part)
		if err != nil {
			return nil, fmt.Errorf("audit: checkpoint: chain heads: %w", err)
		}
		out = append(out, heads...)
	}
	slices.SortFunc(out, func(a, b head) int { return cmp.Compare(a.Chain, b.Chain) })
	return out, nil
}

// headsOf returns the heads of those of chains that moved past their last
// checkpoint. Its statement finds each chain's head (HeadsQuery) and last
// checkpoint through their indexes, (chain, seq) and (chain, head_seq), so
// that the cost follows the chains, not how long their histories are.
func headsOf(ctx context.Context, c *ent.Client, dialectName string, chains []string) ([]head, error) {
	args := make([]any, len(chains))
	for i, chain := range chains {
		args[i] = chain
	}
	query := `SELECT h.chain, h.seq, h.hash,
  COALESCE((SELECT MAX(k.head_seq) FROM audit_checkpoints k WHERE k.chain = h.chain), 0)
FROM (` + HeadsQuery(dialectName, len(chains)) + `) h`
	rows, err := c.QueryContext(ctx, database.Bind(dialectName, query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []head
	for rows.Next() {
		var h head
		var folded int64
		if err := rows.Scan(&h.Chain, &h.Seq, &h.Hash, &folded); err != nil {
			return nil, err
		}
		if h.Seq > folded {
			out = append(out, h)
		}
	}
	return out, rows.Err()
}

// HeadsQuery returns a statement, with n placeholders (?) for n chains,
// whose rows are the heads of those of the chains that have events: chain,
// seq, hash. It reads each chain's head through the (chain, seq) index:
// on PostgreSQL by one backward probe, on SQLite by grouping the chain's
// events (the bare column hash is then the one of the row holding
// MAX(seq)). Callers embed it (a subquery or a CTE) to read heads with the
// rest of what they need in one statement.
func HeadsQuery(dialectName string, n int) string {
	if dialectName == dialect.Postgres {
		return `SELECT c.chain, e.seq, e.hash FROM unnest(ARRAY[` + database.Placeholders(n) + `]::text[]) AS c(chain)
CROSS JOIN LATERAL (SELECT seq, hash FROM audit_events WHERE chain = c.chain ORDER BY seq DESC LIMIT 1) e`
	}
	return `SELECT chain, MAX(seq) AS seq, hash FROM audit_events WHERE chain IN (` + database.Placeholders(n) + `) GROUP BY chain`
}

// Problem is a place where the audit log is broken.
type Problem struct {
	// Chain is a request's ID, SystemChain, or CheckpointChain.
	Chain string
	// Seq is the first broken seq of the chain (of the checkpoint sequence
	// for CheckpointChain), nil when no seq can be named.
	Seq *int64
	// Reason says what is wrong there.
	Reason string
}

// LogVerification is the outcome of Log.Verify.
type LogVerification struct {
	// Valid is true when no problem was found.
	Valid bool
	// From and To are the period verified; nil is unbounded.
	From, To *time.Time
	// Checkpoints is the number of checkpoints found sound.
	Checkpoints int
	// Chains is the number of chains verified, Events the number of their
	// events found sound.
	Chains int
	Events int
	// Problems holds the first problem of the checkpoint sequence and of
	// each broken chain, the checkpoint sequence first and then by chain;
	// at most 100.
	Problems []Problem
}

func (v *LogVerification) problem(chain string, seq *int64, format string, args ...any) {
	if len(v.Problems) < maxProblems {
		v.Problems = append(v.Problems, Problem{Chain: chain, Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
}

// readWholeLog is what reading the whole audit log needs of the viewer: a
// risk manager or an IT admin.
var readWholeLog = authz.Need{Role: authz.Auditor, To: "read the whole audit log"}

// Verify checks the audit log of the period [from, to] (nil: unbounded) and
// says where it is broken:
//
//   - the checkpoint sequence from the first checkpoint of the period (linked
//     to its predecessor) to the first one after it: seqs without gaps, each
//     linked to its predecessor's hash and carrying its recomputed hash;
//   - every chain with events or checkpoints in the period, and the chain of
//     every request submitted in it: the chain itself (as Verify does), and
//     against its latest checkpoint and those of the period: the event at
//     each recorded head seq must exist and carry the recorded hash. So a
//     chain whose events were all deleted, or whose tail was cut, is found
//     once a checkpoint recorded it; a request without any event is found
//     even before.
//
// Events written after the last checkpoint of their chain are checked as a
// chain only. Chains are read in pages, so memory does not grow with the
// log. Risk managers and IT admins may call it. Errors: UNAUTHENTICATED,
// FORBIDDEN; others are database failures.
func (l *Log) Verify(ctx context.Context, from, to *time.Time) (*LogVerification, error) {
	if _, err := authz.Require(ctx, readWholeLog); err != nil {
		return nil, err
	}
	ctx = authz.SystemContext(ctx)
	out := &LogVerification{From: from, To: to}
	chains := map[string]bool{}
	if err := l.verifyCheckpoints(ctx, out, from, to, chains); err != nil {
		return nil, fmt.Errorf("audit: verify checkpoints: %w", err)
	}
	q := l.client.AuditEvent.Query()
	if from != nil {
		q.Where(auditevent.AtGTE(*from))
	}
	if to != nil {
		q.Where(auditevent.AtLTE(*to))
	}
	names, err := q.Unique(true).Select(auditevent.FieldChain).Strings(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: chains: %w", err)
	}
	rq := l.client.AccessRequest.Query()
	if from != nil {
		rq.Where(accessrequest.SubmittedAtGTE(*from))
	}
	if to != nil {
		rq.Where(accessrequest.SubmittedAtLTE(*to))
	}
	reqIDs, err := rq.IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: requests: %w", err)
	}
	requests := make(map[string]bool, len(reqIDs))
	for _, id := range reqIDs {
		requests[string(id)] = true
		chains[string(id)] = true
	}
	for _, n := range names {
		chains[n] = true
	}
	sorted := make([]string, 0, len(chains))
	for c := range chains {
		sorted = append(sorted, c)
	}
	slices.Sort(sorted)
	for part := range slices.Chunk(sorted, chunk) {
		if err := l.verifyChains(ctx, out, part, requests, from, to); err != nil {
			return nil, fmt.Errorf("audit: verify chains: %w", err)
		}
	}
	out.Valid = len(out.Problems) == 0
	return out, nil
}

func inPeriod(at time.Time, from, to *time.Time) bool {
	return (from == nil || !at.Before(*from)) && (to == nil || !at.After(*to))
}

// verifyCheckpoints checks the checkpoint sequence of the period and adds
// the chains checkpointed in it to chains.
func (l *Log) verifyCheckpoints(ctx context.Context, out *LogVerification, from, to *time.Time, chains map[string]bool) error {
	next, prev := int64(1), GenesisHash
	if from != nil {
		first, err := l.client.AuditCheckpoint.Query().Where(auditcheckpoint.AtGTE(*from)).
			Order(auditcheckpoint.BySeq()).First(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if first.Seq > 1 {
			anchor, err := l.client.AuditCheckpoint.Query().Where(auditcheckpoint.SeqLT(first.Seq)).
				Order(auditcheckpoint.BySeq(entsql.OrderDesc())).First(ctx)
			switch {
			case ent.IsNotFound(err):
			case err != nil:
				return err
			default:
				next, prev = anchor.Seq+1, anchor.Hash
			}
		}
	}
	broken := false
	for after := next - 1; ; {
		rows, err := l.client.AuditCheckpoint.Query().Where(auditcheckpoint.SeqGT(after)).
			Order(auditcheckpoint.BySeq()).Limit(page).All(ctx)
		if err != nil {
			return err
		}
		for _, c := range rows {
			after = c.Seq
			if inPeriod(c.At, from, to) {
				chains[c.Chain] = true
			}
			if !broken {
				switch {
				case c.Seq != next:
					out.problem(CheckpointChain, &next, "checkpoint %d missing", next)
					broken = true
				case c.PrevHash != prev:
					if c.Seq == 1 {
						out.problem(CheckpointChain, &c.Seq, "checkpoint 1: prev_hash is not the genesis hash")
					} else {
						out.problem(CheckpointChain, &c.Seq, "checkpoint %d: prev_hash does not match checkpoint %d's hash", c.Seq, c.Seq-1)
					}
					broken = true
				case Hash(c.PrevHash, CheckpointCanonical(c.Seq, c.At, c.Chain, c.HeadSeq, c.HeadHash)) != c.Hash:
					out.problem(CheckpointChain, &c.Seq, "checkpoint %d: hash mismatch (checkpoint fields changed)", c.Seq)
					broken = true
				default:
					next, prev = c.Seq+1, c.Hash
					out.Checkpoints++
				}
			}
			if to != nil && c.At.After(*to) {
				// The first checkpoint after the period links its last one.
				return nil
			}
		}
		if len(rows) < page {
			return nil
		}
	}
}

// chainCheck verifies one chain, its events given in seq order, and compares
// it with its checkpoints (sorted by head seq).
type chainCheck struct {
	chain   string
	v       *verifier
	cps     []*ent.AuditCheckpoint
	next    int // first checkpoint not yet matched
	last    int64
	problem *Problem
}

func (c *chainCheck) add(e *ent.AuditEvent) {
	if c.problem != nil {
		return
	}
	if !c.v.add(e) {
		r := c.v.result()
		c.problem = &Problem{Chain: c.chain, Seq: r.FirstBrokenSeq, Reason: r.Reason}
		return
	}
	c.last = e.Seq
	for ; c.next < len(c.cps) && c.cps[c.next].HeadSeq <= e.Seq; c.next++ {
		cp := c.cps[c.next]
		if cp.HeadSeq == e.Seq && cp.HeadHash != e.Hash {
			seq := e.Seq
			c.problem = &Problem{Chain: c.chain, Seq: &seq,
				Reason: fmt.Sprintf("seq %d: hash differs from the one checkpoint %d recorded", seq, cp.Seq)}
			return
		}
	}
}

// finish returns the chain's first problem, nil when it is sound.
func (c *chainCheck) finish(isRequest bool) *Problem {
	if c.problem != nil || c.next >= len(c.cps) {
		if c.problem == nil && c.last == 0 && isRequest {
			one := int64(1)
			return &Problem{Chain: c.chain, Seq: &one, Reason: "no events: the request exists but its audit chain is empty"}
		}
		return c.problem
	}
	cp := c.cps[len(c.cps)-1]
	missing := c.last + 1
	if c.last == 0 {
		return &Problem{Chain: c.chain, Seq: &missing,
			Reason: fmt.Sprintf("no events: checkpoint %d recorded head seq %d (chain deleted)", cp.Seq, cp.HeadSeq)}
	}
	return &Problem{Chain: c.chain, Seq: &missing,
		Reason: fmt.Sprintf("seq %d missing: checkpoint %d recorded head seq %d, the chain ends at seq %d (tail cut)", missing, cp.Seq, cp.HeadSeq, c.last)}
}

// verifyChains verifies a few chains (sorted) against their checkpoints.
func (l *Log) verifyChains(ctx context.Context, out *LogVerification, chains []string, requests map[string]bool, from, to *time.Time) error {
	// The checkpoints to compare with: those of the period and the latest of
	// each chain.
	q := l.client.AuditCheckpoint.Query().Where(auditcheckpoint.ChainIn(chains...))
	if from != nil {
		q.Where(auditcheckpoint.AtGTE(*from))
	}
	if to != nil {
		q.Where(auditcheckpoint.AtLTE(*to))
	}
	cps, err := q.All(ctx)
	if err != nil {
		return err
	}
	var latest []struct {
		Chain string `json:"chain"`
		Max   int64  `json:"max"`
	}
	err = l.client.AuditCheckpoint.Query().Where(auditcheckpoint.ChainIn(chains...)).
		GroupBy(auditcheckpoint.FieldChain).Aggregate(ent.Max(auditcheckpoint.FieldSeq)).Scan(ctx, &latest)
	if err != nil {
		return err
	}
	seqs := make([]int64, len(latest))
	for i, m := range latest {
		seqs[i] = m.Max
	}
	more, err := l.client.AuditCheckpoint.Query().Where(auditcheckpoint.SeqIn(seqs...)).All(ctx)
	if err != nil {
		return err
	}
	byChain := map[string][]*ent.AuditCheckpoint{}
	seen := map[int64]bool{}
	for _, c := range append(cps, more...) {
		if !seen[c.Seq] {
			seen[c.Seq] = true
			byChain[c.Chain] = append(byChain[c.Chain], c)
		}
	}
	for _, list := range byChain {
		slices.SortFunc(list, func(a, b *ent.AuditCheckpoint) int {
			return cmp.Or(cmp.Compare(a.HeadSeq, b.HeadSeq), cmp.Compare(a.Seq, b.Seq))
		})
	}

	newCheck := func(chain string) *chainCheck {
		return &chainCheck{chain: chain, v: newVerifier(chain), cps: byChain[chain]}
	}
	done := map[string]bool{}
	finish := func(c *chainCheck) {
		done[c.chain] = true
		out.Chains++
		out.Events += c.v.checked
		if p := c.finish(requests[c.chain]); p != nil {
			out.problem(p.Chain, p.Seq, "%s", p.Reason)
		}
	}
	var cur *chainCheck
	lastChain, lastSeq := "", int64(0)
	for {
		q := l.client.AuditEvent.Query().Where(auditevent.ChainIn(chains...))
		if lastChain != "" {
			q.Where(auditevent.Or(
				auditevent.ChainGT(lastChain),
				auditevent.And(auditevent.Chain(lastChain), auditevent.SeqGT(lastSeq)),
			))
		}
		rows, err := q.Order(auditevent.ByChain(), auditevent.BySeq()).Limit(page).All(ctx)
		if err != nil {
			return err
		}
		for _, e := range rows {
			if cur == nil || cur.chain != e.Chain {
				if cur != nil {
					finish(cur)
				}
				cur = newCheck(e.Chain)
			}
			cur.add(e)
			lastChain, lastSeq = e.Chain, e.Seq
		}
		if len(rows) < page {
			break
		}
	}
	if cur != nil {
		finish(cur)
	}
	// Chains without any event left.
	for _, chain := range chains {
		if !done[chain] {
			finish(newCheck(chain))
		}
	}
	return nil
}

// EventFilter narrows Log.Events. Zero fields do not filter.
type EventFilter struct {
	// From and To bound the events' time, inclusive.
	From, To *time.Time
	// Actions keeps events with one of these actions.
	Actions []string
	// Actor keeps events by this actor: a user ID, an API token ID or
	// "system".
	Actor *string
	// ApplicationID keeps events concerning an item of the application, and
	// the request-wide events (without an item) of requests with such an
	// item.
	ApplicationID *pulid.ID
	// RequestID keeps the events of one request.
	RequestID *pulid.ID
	// Chain keeps the events of one chain (a request's ID or "system").
	Chain *string
}

// Events returns the query of the audit events that match f, across all
// chains, for the caller to paginate and order. Risk managers and IT admins
// may call it. Errors: UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT (From after
// To).
func (l *Log) Events(ctx context.Context, f EventFilter) (*ent.AuditEventQuery, error) {
	if _, err := authz.Require(ctx, readWholeLog); err != nil {
		return nil, err
	}
	q := l.client.AuditEvent.Query()
	if f.From != nil && f.To != nil && f.From.After(*f.To) {
		return nil, errcode.Invalid("from", "is after to")
	}
	if f.From != nil {
		q.Where(auditevent.AtGTE(*f.From))
	}
	if f.To != nil {
		q.Where(auditevent.AtLTE(*f.To))
	}
	if len(f.Actions) > 0 {
		q.Where(auditevent.ActionIn(f.Actions...))
	}
	if f.Actor != nil {
		q.Where(auditevent.Actor(*f.Actor))
	}
	if f.RequestID != nil {
		q.Where(auditevent.RequestID(*f.RequestID))
	}
	if f.Chain != nil {
		q.Where(auditevent.Chain(*f.Chain))
	}
	if f.ApplicationID != nil {
		app := *f.ApplicationID
		q.Where(auditevent.Or(
			auditevent.HasItemWith(requestitem.ApplicationID(app)),
			auditevent.And(
				auditevent.ItemIDIsNil(),
				auditevent.HasRequestWith(accessrequest.HasItemsWith(requestitem.ApplicationID(app))),
			),
		))
	}
	return q, nil
}

// CheckChain verifies one whole chain as Verify does and, in addition,
// against its checkpoints: the event at each checkpoint's head seq must
// exist and carry the recorded hash, so a cut tail, a deleted chain, or a
// tail rewritten with consistent hashes is found too. events and
// checkpoints may come in any order. Any caller may use it; it never fails.
func CheckChain(chain string, events []*ent.AuditEvent, checkpoints []*ent.AuditCheckpoint) Verification {
	evs := slices.Clone(events)
	slices.SortStableFunc(evs, func(a, b *ent.AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	cps := slices.Clone(checkpoints)
	slices.SortFunc(cps, func(a, b *ent.AuditCheckpoint) int {
		return cmp.Or(cmp.Compare(a.HeadSeq, b.HeadSeq), cmp.Compare(a.Seq, b.Seq))
	})
	c := &chainCheck{chain: chain, v: newVerifier(chain), cps: cps}
	for _, e := range evs {
		c.add(e)
	}
	p := c.finish(false)
	if p == nil {
		return Verification{Valid: true, Checked: c.v.checked}
	}
	return Verification{Checked: c.v.checked, FirstBrokenSeq: p.Seq, Reason: p.Reason}
}

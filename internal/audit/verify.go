package audit

import (
	"cmp"
	"fmt"
	"slices"

	"gatehouse/ent"
)

// Verification is the outcome of Verify.
type Verification struct {
	// Valid is true when every event checked out.
	Valid bool
	// Checked is the number of events found sound before the first break
	// (all of them when Valid).
	Checked int
	// FirstBrokenSeq is the seq at which the chain first breaks, nil when
	// Valid.
	FirstBrokenSeq *int64
	// Reason says what is wrong at FirstBrokenSeq, empty when Valid.
	Reason string
}

// Verify checks that events, in any order, are the whole of chain from seq 1:
// sorted by seq they must number 1, 2, … without gaps or repeats, each must
// belong to chain, link to its predecessor's stored hash through prev_hash
// (GenesisHash for seq 1) and carry the hash recomputed from its fields. It
// stops at the first break and names it in Reason, e.g. "seq 3 missing" or
// "seq 4: hash mismatch (event data or fields changed)". Events cut from the
// end of a chain leave a valid chain; the global checkpoints find those.
//
// Any caller may use it; it does not modify events and never fails: an
// empty chain is valid.
func Verify(chain string, events []*ent.AuditEvent) Verification {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b *ent.AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	v := newVerifier(chain)
	for _, e := range sorted {
		if !v.add(e) {
			break
		}
	}
	return v.result()
}

// verifier checks one chain incrementally, its events given in seq order;
// Verify and the log's verification share it.
type verifier struct {
	chain   string
	prev    string // hash of the last sound event
	checked int    // sound events so far
	broken  *Verification
}

func newVerifier(chain string) *verifier {
	return &verifier{chain: chain, prev: GenesisHash}
}

// add checks the next event and reports whether the chain is still sound.
// Once broken, it ignores further events.
func (v *verifier) add(e *ent.AuditEvent) bool {
	if v.broken != nil {
		return false
	}
	fail := func(seq int64, format string, args ...any) bool {
		v.broken = &Verification{Checked: v.checked, FirstBrokenSeq: &seq, Reason: fmt.Sprintf(format, args...)}
		return false
	}
	want := int64(v.checked) + 1
	switch {
	case e.Seq > want:
		return fail(want, "seq %d missing", want)
	case e.Seq < want && e.Seq < 1:
		return fail(e.Seq, "seq %d: out of range (seqs start at 1)", e.Seq)
	case e.Seq < want:
		return fail(e.Seq, "seq %d: duplicated", e.Seq)
	}
	if e.Chain != v.chain {
		return fail(e.Seq, "seq %d: belongs to chain %q, not %q", e.Seq, e.Chain, v.chain)
	}
	if e.PrevHash != v.prev {
		if e.Seq == 1 {
			return fail(e.Seq, "seq 1: prev_hash is not the genesis hash")
		}
		return fail(e.Seq, "seq %d: prev_hash does not match seq %d's hash", e.Seq, e.Seq-1)
	}
	canon, err := canonicalOf(e)
	if err != nil {
		return fail(e.Seq, "seq %d: %v", e.Seq, err)
	}
	if Hash(e.PrevHash, canon) != e.Hash {
		return fail(e.Seq, "seq %d: hash mismatch (event data or fields changed)", e.Seq)
	}
	v.prev = e.Hash
	v.checked++
	return true
}

// result is the verification of the events added so far.
func (v *verifier) result() Verification {
	if v.broken != nil {
		return *v.broken
	}
	return Verification{Valid: true, Checked: v.checked}
}

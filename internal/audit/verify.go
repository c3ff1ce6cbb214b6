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
	broken := func(checked int, seq int64, format string, args ...any) Verification {
		return Verification{Checked: checked, FirstBrokenSeq: &seq, Reason: fmt.Sprintf(format, args...)}
	}
	prev := GenesisHash
	for i, e := range sorted {
		want := int64(i) + 1
		switch {
		case e.Seq > want:
			return broken(i, want, "seq %d missing", want)
		case e.Seq < want && e.Seq < 1:
			return broken(i, e.Seq, "seq %d: out of range (seqs start at 1)", e.Seq)
		case e.Seq < want:
			return broken(i, e.Seq, "seq %d: duplicated", e.Seq)
		}
		if e.Chain != chain {
			return broken(i, e.Seq, "seq %d: belongs to chain %q, not %q", e.Seq, e.Chain, chain)
		}
		if e.PrevHash != prev {
			if e.Seq == 1 {
				return broken(i, e.Seq, "seq 1: prev_hash is not the genesis hash")
			}
			return broken(i, e.Seq, "seq %d: prev_hash does not match seq %d's hash", e.Seq, e.Seq-1)
		}
		canon, err := canonicalOf(e)
		if err != nil {
			return broken(i, e.Seq, "seq %d: %v", e.Seq, err)
		}
		if Hash(e.PrevHash, canon) != e.Hash {
			return broken(i, e.Seq, "seq %d: hash mismatch (event data or fields changed)", e.Seq)
		}
		prev = e.Hash
	}
	return Verification{Valid: true, Checked: len(sorted)}
}

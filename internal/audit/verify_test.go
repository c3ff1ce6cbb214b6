package audit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/internal/audit"
)

// chainOf builds n linked in-memory events of chain, as Append would.
func chainOf(t *testing.T, chain string, n int) []*ent.AuditEvent {
	t.Helper()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := audit.GenesisHash
	var out []*ent.AuditEvent
	for i := range n {
		e := &ent.AuditEvent{Chain: chain, Seq: int64(i + 1), At: at, Action: string(audit.CatalogChanged), Actor: "system", PrevHash: prev}
		c, err := audit.Canonical(e.Chain, e.Seq, e.At, e.Action, e.Actor, nil, nil, nil)
		require.NoError(t, err)
		e.Hash = audit.Hash(prev, c)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestVerifyInMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		edit   func(evs []*ent.AuditEvent) []*ent.AuditEvent
		broken int64 // 0: valid
		reason string
	}{
		{"intact chain", func(evs []*ent.AuditEvent) []*ent.AuditEvent { return evs }, 0, ""},
		{"empty chain is valid", func([]*ent.AuditEvent) []*ent.AuditEvent { return nil }, 0, ""},
		{"order of the input does not matter", func(evs []*ent.AuditEvent) []*ent.AuditEvent {
			return []*ent.AuditEvent{evs[2], evs[0], evs[3], evs[1]}
		}, 0, ""},
		{"cut tail is not visible to Verify (checkpoints find it)", func(evs []*ent.AuditEvent) []*ent.AuditEvent { return evs[:2] }, 0, ""},
		{"first row missing", func(evs []*ent.AuditEvent) []*ent.AuditEvent { return evs[1:] }, 1, "seq 1 missing"},
		{"row repeated", func(evs []*ent.AuditEvent) []*ent.AuditEvent { return append(evs, evs[1]) }, 2, "seq 2: duplicated"},
		{"row of another chain", func(evs []*ent.AuditEvent) []*ent.AuditEvent {
			cp := *evs[2]
			cp.Chain = "req_x"
			evs[2] = &cp
			return evs
		}, 3, `seq 3: belongs to chain "req_x", not "system"`},
		{"first prev_hash is not genesis", func(evs []*ent.AuditEvent) []*ent.AuditEvent {
			cp := *evs[0]
			cp.PrevHash = cp.Hash
			evs[0] = &cp
			return evs
		}, 1, "seq 1: prev_hash is not the genesis hash"},
		{"actor changed", func(evs []*ent.AuditEvent) []*ent.AuditEvent {
			cp := *evs[3]
			cp.Actor = "usr_mallory"
			evs[3] = &cp
			return evs
		}, 4, "seq 4: hash mismatch (event data or fields changed)"},
		{"seq zero", func(evs []*ent.AuditEvent) []*ent.AuditEvent {
			cp := *evs[0]
			cp.Seq = 0
			return append([]*ent.AuditEvent{&cp}, evs...)
		}, 0, "seq 0: out of range (seqs start at 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evs := tc.edit(chainOf(t, audit.SystemChain, 4))
			v := audit.Verify(audit.SystemChain, evs)
			if tc.reason == "" {
				require.True(t, v.Valid, v.Reason)
				require.Equal(t, len(evs), v.Checked)
				require.Nil(t, v.FirstBrokenSeq)
				return
			}
			require.False(t, v.Valid)
			require.Equal(t, tc.reason, v.Reason)
			require.NotNil(t, v.FirstBrokenSeq)
			require.Equal(t, tc.broken, *v.FirstBrokenSeq)
		})
	}
}

func TestCheckChainAgainstCheckpoints(t *testing.T) {
	t.Parallel()
	cp := func(seq, head int64, hash string) *ent.AuditCheckpoint {
		return &ent.AuditCheckpoint{Seq: seq, Chain: audit.SystemChain, HeadSeq: head, HeadHash: hash}
	}
	evs := chainOf(t, audit.SystemChain, 4)
	for _, tc := range []struct {
		name   string
		events []*ent.AuditEvent
		cps    []*ent.AuditCheckpoint
		broken int64 // 0: valid
		reason string
	}{
		{"no checkpoints", evs, nil, 0, ""},
		{"matching checkpoints, events after the last", evs, []*ent.AuditCheckpoint{cp(7, 3, evs[2].Hash), cp(2, 1, evs[0].Hash)}, 0, ""},
		{"tail cut", evs[:2], []*ent.AuditCheckpoint{cp(2, 1, evs[0].Hash), cp(7, 4, evs[3].Hash)}, 3,
			"seq 3 missing: checkpoint 7 recorded head seq 4, the chain ends at seq 2 (tail cut)"},
		{"chain deleted", nil, []*ent.AuditCheckpoint{cp(5, 2, evs[1].Hash)}, 1,
			"no events: checkpoint 5 recorded head seq 2 (chain deleted)"},
		{"head hash differs", evs, []*ent.AuditCheckpoint{cp(5, 2, evs[2].Hash)}, 2,
			"seq 2: hash differs from the one checkpoint 5 recorded"},
		{"chain broken before the checkpoint check", evs[1:], []*ent.AuditCheckpoint{cp(5, 4, evs[3].Hash)}, 1, "seq 1 missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := audit.CheckChain(audit.SystemChain, tc.events, tc.cps)
			if tc.reason == "" {
				require.True(t, v.Valid, v.Reason)
				require.Equal(t, len(tc.events), v.Checked)
				return
			}
			require.False(t, v.Valid)
			require.Equal(t, tc.reason, v.Reason)
			require.Equal(t, tc.broken, *v.FirstBrokenSeq)
		})
	}
}

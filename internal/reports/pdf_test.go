package reports_test

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/reports"
)

var (
	streamRe = regexp.MustCompile(`<<([^<>]*?)/Length (\d+)([^<>]*?)>>\s*stream\r?\n`)
	tjRe     = regexp.MustCompile(`\(((?:\\.|[^\\)])*)\)\s*Tj`)
	objRe    = regexp.MustCompile(`^(\d+) 0 obj`)
)

// pdfText checks that b is a well-formed PDF (header, trailer, a cross
// reference table whose every entry points at its object) and returns the
// text its pages show, one string per text operator, joined by newlines:
// content streams are inflated when compressed.
func pdfText(t *testing.T, b []byte) string {
	t.Helper()
	require.True(t, bytes.HasPrefix(b, []byte("%PDF-1.")), "PDF header")
	require.True(t, bytes.HasSuffix(bytes.TrimSpace(b), []byte("%%EOF")), "PDF trailer")
	sx := bytes.LastIndex(b, []byte("startxref"))
	require.Positive(t, sx, "startxref")
	fields := strings.Fields(string(b[sx+len("startxref"):]))
	require.NotEmpty(t, fields)
	xref, err := strconv.Atoi(fields[0])
	require.NoError(t, err)
	require.Less(t, xref, len(b))
	lines := strings.Split(strings.ReplaceAll(string(b[xref:]), "\r\n", "\n"), "\n")
	require.Equal(t, "xref", strings.TrimSpace(lines[0]), "startxref points at the xref table")
	hdr := strings.Fields(lines[1])
	require.Len(t, hdr, 2)
	first, _ := strconv.Atoi(hdr[0])
	n, err := strconv.Atoi(hdr[1])
	require.NoError(t, err)
	require.Greater(t, n, 3)
	for i := range n {
		e := strings.Fields(lines[2+i])
		require.Len(t, e, 3, "xref entry %d", i)
		if e[2] != "n" {
			continue
		}
		off, err := strconv.Atoi(e[0])
		require.NoError(t, err)
		m := objRe.FindSubmatch(b[off:min(off+20, len(b))])
		require.NotNil(t, m, "xref entry %d points at an object", first+i)
		require.Equal(t, strconv.Itoa(first+i), string(m[1]), "xref entry %d points at its object", first+i)
	}
	require.Contains(t, string(b[xref:]), "trailer")

	var text []string
	for _, m := range streamRe.FindAllSubmatchIndex(b, -1) {
		dict := string(b[m[2]:m[3]]) + string(b[m[6]:m[7]])
		length, err := strconv.Atoi(string(b[m[4]:m[5]]))
		require.NoError(t, err)
		data := b[m[1] : m[1]+length]
		require.True(t, bytes.HasPrefix(bytes.TrimLeft(b[m[1]+length:], "\r\n"), []byte("endstream")), "stream length")
		if strings.Contains(dict, "/FlateDecode") {
			zr, err := zlib.NewReader(bytes.NewReader(data))
			require.NoError(t, err)
			data, err = io.ReadAll(zr)
			require.NoError(t, err)
		}
		for _, tj := range tjRe.FindAllSubmatch(data, -1) {
			text = append(text, unescapePDF(string(tj[1])))
		}
	}
	require.NotEmpty(t, text, "the PDF shows text")
	return strings.Join(text, "\n")
}

func unescapePDF(s string) string {
	r := strings.NewReplacer(`\\`, `\`, `\(`, `(`, `\)`, `)`, `\r`, "\r", `\n`, "\n")
	return r.Replace(s)
}

// sampleReport is a report with every kind of content, over several pages.
func sampleReport(events int) *reports.Report {
	at := time.Date(2025, 5, 6, 7, 8, 9, 123456000, time.UTC)
	id := pulid.ID("req_01JTESTREPORT0000000000000")
	item := pulid.ID("itm_01JTESTITEM00000000000000")
	done := at.Add(time.Hour)
	r := &reports.Report{
		GeneratedAt: at.Add(2 * time.Hour),
		Request: reports.Summary{
			ID: id, Action: "GRANT", Mode: "ENTITLEMENTS", Status: "COMPLETED",
			Justification: `Quarterly close (needs "admin"), café — urgent \ now`,
			Requester:     reports.Person{ID: "usr_1", Name: "Rita Requester", Email: "rita@example.com"},
			Beneficiary:   reports.Person{ID: "usr_2", Name: "Ben Beneficiary", Email: "ben@example.com"},
			SubmittedAt:   at, CompletedAt: &done,
		},
		Items: []reports.Item{{
			ID: item, Action: "GRANT", Status: "FULFILLED",
			Application: reports.Named{ID: "app_1", Name: "GitHub"}, Entitlement: reports.Named{ID: "ent_1", Name: "GitHub admins of the very long organisation name"},
			DecidedAt: &done, FulfilledAt: &done,
			Reviews: []reports.Review{{Level: 1, Reviewer: reports.Person{Email: "mia@example.com"}, Status: "APPROVED", DecidedAt: &done, Comment: "ok (checked)"}},
		}},
		Verification: reports.Verification{Valid: true, Checked: events, Checkpointed: int64(events)},
	}
	actions := []audit.Action{audit.RequestSubmitted, audit.ItemAdded, audit.TaskAssigned, audit.TaskApproved,
		audit.StageApproved, audit.ItemApproved, audit.FulfillmentStarted, audit.IdentityCreated, audit.AccessGranted,
		audit.ManualFulfillmentCompleted, audit.RequestCompleted}
	prev := audit.GenesisHash
	for i := range events {
		e := reports.Event{Chain: string(id), Seq: int64(i + 1), At: at.Add(time.Duration(i) * time.Second),
			Action: string(actions[i%len(actions)]), Actor: "usr_1", ActorName: "Rita Requester <rita@example.com>",
			RequestID: &id, Data: map[string]any{"n": i, "comment": "(parenthesised) text"}, PrevHash: prev,
			Hash: fmt.Sprintf("%064x", i+1)}
		if i%2 == 1 {
			e.ItemID, e.Item = &item, "GitHub / GitHub admins"
		}
		prev = e.Hash
		r.Events = append(r.Events, e)
	}
	return r
}

func TestPDFShowsTheWholeReport(t *testing.T) {
	t.Parallel()
	r := sampleReport(60)
	var buf bytes.Buffer
	require.NoError(t, reports.WritePDF(&buf, r))
	text := pdfText(t, buf.Bytes())

	require.Contains(t, text, "Access request audit report")
	require.Contains(t, text, string(r.Request.ID))
	require.Contains(t, text, "Rita Requester <rita@example.com>")
	// Windows-1252 text comes out as such (é is 0xE9), parentheses escaped.
	require.Contains(t, text, "Quarterly close (needs \"admin\"), caf\xe9")
	require.Contains(t, text, "GitHub")
	for _, e := range r.Events {
		require.Contains(t, text, e.Action)
		require.Contains(t, text, e.Hash)
		require.Contains(t, text, "#"+strconv.FormatInt(e.Seq, 10))
	}
	require.Contains(t, text, "Verification: VALID: 60 events verified")
	require.Contains(t, text, "page 1/")
	require.Regexp(t, `page 3/\d`, text, "60 events take several pages")
	// A4 portrait, in points.
	require.Contains(t, buf.String(), "/MediaBox [0 0 595.28 841.89]")
}

func TestPDFShowsABrokenChain(t *testing.T) {
	t.Parallel()
	r := sampleReport(3)
	seq := int64(2)
	r.Verification = reports.Verification{Checked: 1, FirstBrokenSeq: &seq, Reason: "seq 2: hash mismatch (event data or fields changed)"}
	var buf bytes.Buffer
	require.NoError(t, reports.WritePDF(&buf, r))
	// The line wraps; compare words.
	words := strings.Join(strings.Fields(pdfText(t, buf.Bytes())), " ")
	require.Contains(t, words,
		"Verification: BROKEN at seq 2: seq 2: hash mismatch (event data or fields changed) (1 events verified before it)")
}

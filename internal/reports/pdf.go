package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
)

// PDF layout, in millimetres on A4 portrait.
const (
	pdfMargin = 15.0
	pdfWidth  = 210.0 - 2*pdfMargin
	pdfBottom = 297.0 - 18.0 // where content stops; the footer is below
)

// WritePDF writes the report as a PDF for A4 paper: a title, the request's
// summary, a table of its items with their reviews, the audit timeline (one
// block per event: seq, time, action, then readable lines — actor, item
// and a "key: value" line per detail, people and tasks named, the reviewer
// role of a task event first — then the IDs they name, prev_hash and
// hash), and the verification line. Text outside Windows-1252 is replaced,
// as the PDF's standard fonts cannot show it.
func WritePDF(w io.Writer, r *Report) error {
	id := string(r.Request.ID)
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	pdf.SetAutoPageBreak(true, 297.0-pdfBottom)
	pdf.SetTitle("Audit report "+id, true)
	pdf.SetSubject("Access request audit trail", true)
	pdf.SetCreator("Gatehouse", true)
	pdf.SetCreationDate(r.GeneratedAt)
	pdf.SetModificationDate(r.GeneratedAt)
	pdf.AliasNbPages("{nb}")
	tr := pdf.UnicodeTranslatorFromDescriptor("")
	generated := r.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC")
	pdf.SetFooterFunc(func() {
		pdf.SetY(-12)
		pdf.SetFont("Helvetica", "I", 7)
		pdf.SetTextColor(110, 110, 110)
		pdf.CellFormat(0, 4, tr(fmt.Sprintf("Gatehouse audit report %s - generated %s - page %d/{nb}", id, generated, pdf.PageNo())),
			"", 0, "C", false, 0, "")
		pdf.SetTextColor(0, 0, 0)
	})
	pdf.AddPage()

	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(0, 9, "Access request audit report", "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 9)
	pdf.CellFormat(0, 5, tr("Generated "+generated+" by Gatehouse"), "", 1, "L", false, 0, "")
	pdf.Ln(3)

	section := func(title string) {
		if pdf.GetY()+16 > pdfBottom {
			pdf.AddPage()
		}
		pdf.Ln(2)
		pdf.SetFont("Helvetica", "B", 12)
		pdf.SetFillColor(230, 234, 240)
		pdf.CellFormat(0, 7, tr(title), "", 1, "L", true, 0, "")
		pdf.Ln(1)
	}

	// Summary.
	section("Request summary")
	s := r.Request
	kv := func(k, v string) {
		if v == "" {
			return
		}
		pdf.SetFont("Helvetica", "B", 9)
		pdf.CellFormat(32, 5, tr(k), "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 9)
		pdf.MultiCell(pdfWidth-32, 5, tr(v), "", "L", false)
	}
	kv("Request", id)
	kv("Action", s.Action+" ("+s.Mode+")")
	kv("Status", s.Status)
	kv("Requester", s.Requester.String())
	kv("Beneficiary", s.Beneficiary.String())
	kv("Submitted", stamp(&s.SubmittedAt))
	kv("Completed", stamp(s.CompletedAt))
	kv("Access until", stamp(s.EndsAt))
	if s.Duration != nil {
		kv("Duration", *s.Duration+" from provisioning")
	}
	kv("Justification", s.Justification)
	kv("Items", strconv.Itoa(len(r.Items)))
	kv("Audit events", strconv.Itoa(len(r.Events)))

	// Items.
	section("Items")
	widths := []float64{52, 17, 27, 28, 28, 28}
	header := []string{"Application / entitlement", "Action", "Status", "Decided", "Fulfilled", "Ends / ended"}
	drawHeader := func() {
		pdf.SetFont("Helvetica", "B", 8)
		pdf.SetFillColor(245, 245, 245)
		for i, h := range header {
			pdf.CellFormat(widths[i], 6, h, "1", 0, "L", true, 0, "")
		}
		pdf.Ln(-1)
	}
	drawHeader()
	for _, it := range r.Items {
		ends := short(it.EndsAt)
		if it.AccessEndedAt != nil {
			ends = strings.TrimSpace(ends + "\nended " + short(it.AccessEndedAt))
		}
		cells := []string{it.Application.Name + " / " + it.Entitlement.Name, it.Action, it.Status,
			short(it.DecidedAt), short(it.FulfilledAt), ends}
		if tableRow(pdf, tr, widths, cells, 4) {
			drawHeader()
			tableRow(pdf, tr, widths, cells, 4)
		}
		var notes []string
		for _, rv := range it.Reviews {
			notes = append(notes, rv.String())
		}
		if it.Note != "" {
			notes = append(notes, "Note: "+it.Note)
		}
		if it.LastError != "" {
			notes = append(notes, "Last error: "+it.LastError)
		}
		notes = append(notes, "Item "+string(it.ID))
		pdf.SetFont("Helvetica", "", 7)
		pdf.SetTextColor(60, 60, 60)
		pdf.MultiCell(pdfWidth, 3.5, tr(strings.Join(notes, "\n")), "LRB", "L", false)
		pdf.SetTextColor(0, 0, 0)
	}

	// Timeline.
	section("Audit timeline")
	for _, e := range r.Events {
		lines := 4 + len(e.Details)
		if e.Item != "" {
			lines++
		}
		if pdf.GetY()+float64(lines)*4 > pdfBottom {
			pdf.AddPage()
		}
		pdf.SetFont("Helvetica", "B", 9)
		pdf.CellFormat(12, 5, "#"+strconv.FormatInt(e.Seq, 10), "", 0, "L", false, 0, "")
		pdf.CellFormat(58, 5, e.At.UTC().Format(time.RFC3339Nano), "", 0, "L", false, 0, "")
		pdf.CellFormat(0, 5, tr(e.Action), "", 1, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 8)
		actor := e.Actor
		if e.ActorName != "" {
			actor = e.ActorName
		}
		body := []string{"Actor: " + actor}
		if e.Item != "" {
			body = append(body, "Item: "+e.Item)
		}
		for _, d := range e.Details {
			body = append(body, d.String())
		}
		pdf.SetX(pdfMargin + 12)
		pdf.MultiCell(pdfWidth-12, 4, tr(strings.Join(body, "\n")), "", "L", false)
		// The IDs apart, one "key=ID" after another, wrapping between them.
		ids := []string{"actor=" + e.Actor}
		if e.ItemID != nil {
			ids = append(ids, "item="+string(*e.ItemID))
		}
		if s := idsText(e.Details, "   "); s != "" {
			ids = append(ids, s)
		}
		pdf.SetFont("Courier", "", 6)
		pdf.SetTextColor(90, 90, 90)
		pdf.SetX(pdfMargin + 12)
		pdf.MultiCell(pdfWidth-12, 3, tr("ids       "+strings.Join(ids, "   ")), "", "L", false)
		pdf.SetX(pdfMargin + 12)
		pdf.MultiCell(pdfWidth-12, 3, "prev_hash "+e.PrevHash+"\nhash      "+e.Hash, "", "L", false)
		pdf.SetTextColor(0, 0, 0)
		pdf.Ln(1.5)
	}
	if len(r.Events) == 0 {
		pdf.SetFont("Helvetica", "I", 9)
		pdf.CellFormat(0, 5, "No audit events.", "", 1, "L", false, 0, "")
	}

	// Verification.
	section("Verification")
	pdf.SetFont("Helvetica", "B", 10)
	if r.Verification.Valid {
		pdf.SetTextColor(0, 110, 40)
	} else {
		pdf.SetTextColor(170, 0, 0)
	}
	pdf.MultiCell(pdfWidth, 5, tr("Verification: "+r.Verification.String()), "", "L", false)
	pdf.SetTextColor(0, 0, 0)
	pdf.SetFont("Helvetica", "", 7)
	pdf.MultiCell(pdfWidth, 3.5, "Each event's hash is hex(sha256(prev_hash || canonical JSON of the event)); the first prev_hash is 64 zeros. "+
		"The chain's head is recorded in Gatehouse's hash-chained global checkpoints.", "", "L", false)
	if err := pdf.Error(); err != nil {
		return fmt.Errorf("reports: pdf: %w", err)
	}
	return pdf.Output(w)
}

// tableRow draws one row of bordered cells whose text wraps; all cells take
// the height of the tallest. It reports true, drawing nothing, when the row
// does not fit on the page: it then starts a new page for the caller to
// redraw the header and the row.
func tableRow(pdf *fpdf.Fpdf, tr func(string) string, widths []float64, cells []string, lineH float64) bool {
	pdf.SetFont("Helvetica", "", 8)
	n := 1
	for i, c := range cells {
		n = max(n, len(pdf.SplitText(tr(c), widths[i]-2)))
	}
	h := float64(n) * lineH
	if pdf.GetY()+h > pdfBottom {
		pdf.AddPage()
		return true
	}
	x, y := pdf.GetXY()
	for i, c := range cells {
		pdf.Rect(x, y, widths[i], h, "D")
		pdf.SetXY(x, y)
		pdf.MultiCell(widths[i], lineH, tr(c), "", "L", false)
		x += widths[i]
	}
	pdf.SetXY(pdfMargin, y+h)
	return false
}

// short formats an optional time to the minute, in UTC.
func short(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the header of a request's CSV report. Every record has these
// columns; the first says what the record is: "request" (one, first),
// "item" (one per item), "event" (the timeline, in seq order) and
// "verification" (one, last). actor names the actor, actor_id is its ID.
// On an event, role is the reviewer role of the task it is about, details
// reads "key: value; …" with people, tasks and catalog objects named, ids
// lists the IDs those values name ("key=ID; …"), and data is the event's
// data as recorded (JSON; the hash covers it). On the request and item
// records, details holds JSON.
var CSVHeader = []string{
	"record", "request_id", "seq", "at", "actor", "actor_id", "action", "item_id",
	"application", "entitlement", "status", "role", "details", "ids", "data", "prev_hash", "hash",
}

// WriteCSV writes the report as CSV (see CSVHeader).
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	id := string(r.Request.ID)
	rec := func(fields ...string) { _ = cw.Write(fields) } // errors stick in cw.Error
	rec(CSVHeader...)
	rs := r.Request
	rec("request", id, "", rs.SubmittedAt.Format(time.RFC3339Nano), rs.Requester.String(), string(rs.Requester.ID), rs.Action, "", "", "", rs.Status, "",
		compact(map[string]any{
			"mode": rs.Mode, "beneficiary": rs.Beneficiary.String(), "justification": rs.Justification,
			"completedAt": rs.CompletedAt, "endsAt": rs.EndsAt, "duration": rs.Duration, "generatedAt": r.GeneratedAt,
		}), "beneficiary="+string(rs.Beneficiary.ID), "", "", "")
	for _, it := range r.Items {
		var ids []string
		for _, rv := range it.Reviews {
			ids = append(ids, "task="+string(rv.TaskID)+" reviewer="+string(rv.Reviewer.ID))
		}
		rec("item", id, "", stamp(it.DecidedAt), "", "", it.Action, string(it.ID), it.Application.Name, it.Entitlement.Name, it.Status, "",
			compact(map[string]any{
				"decidedAt": it.DecidedAt, "fulfilledAt": it.FulfilledAt, "endsAt": it.EndsAt, "accessEndedAt": it.AccessEndedAt,
				"note": it.Note, "lastError": it.LastError, "reviews": reviewsText(it.Reviews),
			}), strings.Join(ids, "; "), "", "", "")
	}
	apps := map[string][2]string{}
	for _, it := range r.Items {
		apps[string(it.ID)] = [2]string{it.Application.Name, it.Entitlement.Name}
	}
	for _, e := range r.Events {
		actor := e.Actor
		if e.ActorName != "" {
			actor = e.ActorName
		}
		item, app := "", [2]string{}
		if e.ItemID != nil {
			item, app = string(*e.ItemID), apps[string(*e.ItemID)]
		}
		data, err := json.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("reports: csv: data of event %d: %w", e.Seq, err)
		}
		rec("event", id, strconv.FormatInt(e.Seq, 10), e.At.Format(time.RFC3339Nano), actor, e.Actor, e.Action, item, app[0], app[1], "",
			e.Role, detailsText(e.Details, "; "), idsText(e.Details, "; "), string(data), e.PrevHash, e.Hash)
	}
	v := r.Verification
	status, seq := "VALID", ""
	if !v.Valid {
		status = "BROKEN"
	}
	if v.FirstBrokenSeq != nil {
		seq = strconv.FormatInt(*v.FirstBrokenSeq, 10)
	}
	rec("verification", id, seq, r.GeneratedAt.Format(time.RFC3339Nano), "", "", "", "", "", "", status, "", v.String(), "", "", "", "")
	cw.Flush()
	return cw.Error()
}

// compact is v as compact JSON with nil and empty values left out of maps.
func compact(v any) string {
	if m, ok := v.(map[string]any); ok {
		out := make(map[string]any, len(m))
		for k, x := range m {
			switch x := x.(type) {
			case nil:
				continue
			case string:
				if x == "" {
					continue
				}
			case *time.Time:
				if x == nil {
					continue
				}
			case *string:
				if x == nil {
					continue
				}
			}
			out[k] = x
		}
		v = out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ExportHeader is the header of the bulk export: one row per item.
var ExportHeader = []string{
	"request_id", "request_status", "submitted_at", "completed_at", "requester", "beneficiary",
	"item_id", "action", "item_status", "application", "entitlement",
	"decided_at", "fulfilled_at", "ends_at", "access_ended_at", "reviews",
}

// exportRecord is the CSV record of a row (see ExportHeader). reviews lists
// "L<level> <reviewer email> <status> [for <delegator>] [as <role>]
// [<decided at>] ["comment"]" joined by "; ".
func exportRecord(r *ExportRow, buf []string) []string {
	return append(buf[:0],
		string(r.RequestID), r.RequestStatus, r.SubmittedAt.Format(time.RFC3339Nano), stamp(r.CompletedAt),
		r.Requester.Email, r.Beneficiary.Email,
		string(r.ID), r.Action, r.Status, r.Application.Name, r.Entitlement.Name,
		stamp(r.DecidedAt), stamp(r.FulfilledAt), stamp(r.EndsAt), stamp(r.AccessEndedAt), reviewsText(r.Reviews),
	)
}

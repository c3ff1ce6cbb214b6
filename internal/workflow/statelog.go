package workflow

import (
	"context"
	"log/slog"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
)

// loggedEvent is an audit event a transaction wrote, kept for the log line
// written after commit.
type loggedEvent struct {
	action  string
	actor   string
	request pulid.ID
	item    pulid.ID
	data    map[string]any
}

// noteEvent keeps an audit event the transaction is writing.
func (t *txn) noteEvent(m *ent.AuditEventMutation) {
	if !m.Op().Is(ent.OpCreate) {
		return
	}
	e := loggedEvent{}
	e.action, _ = m.Action()
	e.actor, _ = m.Actor()
	e.request, _ = m.RequestID()
	e.item, _ = m.ItemID()
	e.data, _ = m.Data()
	t.logged = append(t.logged, e)
}

// stateMessages are the audit actions an operator follows, with the message
// of their INFO line. Other actions are logged at DEBUG under their name.
var stateMessages = map[audit.Action]string{
	audit.RequestSubmitted:           "request submitted",
	audit.TaskApproved:               "review task approved",
	audit.TaskDenied:                 "review task denied",
	audit.ItemApproved:               "item approved",
	audit.ItemAutoApproved:           "item auto-approved",
	audit.ItemDenied:                 "item denied",
	audit.ItemCancelled:              "item cancelled",
	audit.RequestCancelled:           "request cancelled",
	audit.AccessGranted:              "item fulfilled: access granted",
	audit.AccessRevoked:              "item fulfilled: access revoked",
	audit.ManualFulfillmentCompleted: "manual fulfilment recorded",
	audit.FulfillmentFailed:          "item failed",
	audit.FulfillmentRetried:         "fulfilment retried",
	audit.AccessExpired:              "access expired",
	audit.RequestCompleted:           "request completed",
}

// loggedData are the keys of an event's data that its line carries: IDs,
// statuses and counts, never free text (comments, notes, reasons).
var loggedData = []string{"task", "stage", "status", "grant", "entitlement", "identity", "attempts", "success"}

// logCommitted writes one line per audit event of a committed change: the
// state changes of stateMessages at INFO (FULFILLMENT_FAILED at ERROR), the
// rest at DEBUG. It is the one place state changes are logged.
func (s *Service) logCommitted(ctx context.Context, events []loggedEvent) {
	ctx = context.WithoutCancel(ctx)
	for _, e := range events {
		msg, ok := stateMessages[audit.Action(e.action)]
		level := slog.LevelInfo
		switch {
		case !ok:
			msg, level = "audit event", slog.LevelDebug
		case e.action == string(audit.FulfillmentFailed):
			level = slog.LevelError
		}
		if !s.log.Enabled(ctx, level) {
			continue
		}
		attrs := []slog.Attr{slog.String("action", e.action)}
		if e.request != "" {
			attrs = append(attrs, slog.String("request", string(e.request)))
		}
		if e.item != "" {
			attrs = append(attrs, slog.String("item", string(e.item)))
		}
		attrs = append(attrs, slog.String("actor", e.actor))
		for _, k := range loggedData {
			if v, ok := e.data[k]; ok {
				attrs = append(attrs, slog.Any(k, v))
			}
		}
		s.log.LogAttrs(ctx, level, msg, attrs...)
	}
}

// logConnectorFailure writes a failed connector call: at WARN when the job
// tries again, at ERROR when the item fails. class is connectors.Reason's
// fixed description (e.g. "unexpected status 404", "timeout").
func (s *Service) logConnectorFailure(ctx context.Context, f *fulfillment, cause error, attempt, maxAttempts int, final bool) {
	level := slog.LevelWarn
	if final {
		level = slog.LevelError
	}
	s.log.LogAttrs(context.WithoutCancel(ctx), level, "connector call failed",
		slog.String("request", string(f.item.RequestID)),
		slog.String("item", string(f.item.ID)),
		slog.String("application", string(f.app.ID)),
		slog.String("kind", string(f.app.ConnectorKind)),
		slog.String("class", connectors.Class(cause)),
		slog.String("reason", connectors.Reason(cause)),
		slog.Bool("transient", connectors.IsTransient(cause)),
		slog.Int("attempt", attempt),
		slog.Int("max_attempts", maxAttempts),
		slog.Bool("item_failed", final),
		slog.String("error", cause.Error()),
	)
}

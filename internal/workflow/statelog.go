package workflow

import (
	"context"
	"log/slog"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/internal/audit"
)

// noteEvent keeps an audit event the transaction is writing, for the
// outboxes before commit and the log line after.
func (t *txn) noteEvent(m *ent.AuditEventMutation) {
	if !m.Op().Is(ent.OpCreate) {
		return
	}
	var e Event
	e.ID, _ = m.ID()
	action, _ := m.Action()
	e.Action = audit.Action(action)
	e.Chain, _ = m.Chain()
	e.Actor, _ = m.Actor()
	e.At, _ = m.At()
	e.Request, _ = m.RequestID()
	e.Item, _ = m.ItemID()
	e.Data, _ = m.Data()
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
	audit.ManualFulfillmentWaiting:   "item waiting for its owners",
	audit.AccessExpired:              "access expired",
	audit.RequestCompleted:           "request completed",
	audit.TaskReminded:               "review task reminded",
	audit.TaskEscalated:              "review task escalated",
	audit.RequestExpired:             "request expired pending review",
	audit.GrantExpiring:              "access ending soon",
	audit.AccessExtended:             "access extended",
	audit.SodConflictWarned:          "separation-of-duties conflict recorded",
	audit.SodConflictBlocked:         "separation-of-duties conflict stopped fulfilment",
}

// loggedData are the keys of an event's data that its line carries: IDs,
// statuses and counts, never free text (comments, notes, reasons).
var loggedData = []string{"task", "stage", "status", "grant", "entitlement", "identity", "attempts", "success"}

// logCommitted writes one line per audit event of a committed change: the
// state changes of stateMessages at INFO (FULFILLMENT_FAILED at ERROR), the
// rest at DEBUG. It is the one place state changes are logged.
func (s *Service) logCommitted(ctx context.Context, events []Event) {
	ctx = context.WithoutCancel(ctx)
	for _, e := range events {
		msg, ok := stateMessages[e.Action]
		level := slog.LevelInfo
		switch {
		case !ok:
			msg, level = "audit event", slog.LevelDebug
		case e.Action == audit.FulfillmentFailed:
			level = slog.LevelError
		}
		if !s.log.Enabled(ctx, level) {
			continue
		}
		attrs := []slog.Attr{slog.String("action", string(e.Action))}
		if e.Request != "" {
			attrs = append(attrs, slog.String("request", string(e.Request)))
		}
		if e.Item != "" {
			attrs = append(attrs, slog.String("item", string(e.Item)))
		}
		attrs = append(attrs, slog.String("actor", e.Actor))
		for _, k := range loggedData {
			if v, ok := e.Data[k]; ok {
				attrs = append(attrs, slog.Any(k, v))
			}
		}
		s.log.LogAttrs(ctx, level, msg, attrs...)
	}
}

// logConnectorFailure writes a failed connector call: at WARN when the job
// tries again, at ERROR when the item fails. class is connectors.Class's
// error class (e.g. "http_4xx"), reason connectors.Reason's fixed
// description (e.g. "unexpected status 404").
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

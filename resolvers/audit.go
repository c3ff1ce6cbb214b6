package resolvers

import (
	"entgo.io/contrib/entgql"

	"gatehouse/ent"
	"gatehouse/graph"
	"gatehouse/internal/audit"
)

// auditFilter maps the auditEvents filter.
func auditFilter(f *graph.AuditLogFilter) audit.EventFilter {
	if f == nil {
		return audit.EventFilter{}
	}
	return audit.EventFilter{
		From: f.From, To: f.To, Actions: f.Actions, Actor: f.Actor,
		ApplicationID: f.ApplicationID, RequestID: f.RequestID, Chain: f.Chain,
	}
}

// auditEventOrder is the order of auditEvents: newest first by default.
func auditEventOrder(order []*ent.AuditEventOrder) []*ent.AuditEventOrder {
	if len(order) > 0 {
		return order
	}
	return []*ent.AuditEventOrder{{Field: ent.AuditEventOrderFieldAt, Direction: entgql.OrderDirectionDesc}}
}

// logVerification maps a verification of the whole audit log.
func logVerification(v *audit.LogVerification) *graph.AuditLogVerification {
	out := &graph.AuditLogVerification{
		Valid: v.Valid, From: v.From, To: v.To,
		Checkpoints: v.Checkpoints, Chains: v.Chains, Events: v.Events,
		Problems: make([]*graph.AuditLogProblem, len(v.Problems)),
	}
	for i, p := range v.Problems {
		gp := &graph.AuditLogProblem{Chain: p.Chain, Reason: p.Reason}
		if p.Seq != nil {
			n := int(*p.Seq)
			gp.Seq = &n
		}
		out.Problems[i] = gp
	}
	return out
}

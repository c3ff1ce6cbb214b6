package reports

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
)

// originsOf says which tasks an escalation or a reassignment created: the
// newTask of the TASK_ESCALATED and TASK_REASSIGNED events among events.
func originsOf(events []*ent.AuditEvent) map[pulid.ID]audit.Action {
	out := map[pulid.ID]audit.Action{}
	for _, e := range events {
		if a := audit.Action(e.Action); a == audit.TaskReassigned || a == audit.TaskEscalated {
			if id, ok := e.Data["newTask"].(string); ok {
				out[pulid.ID(id)] = a
			}
		}
	}
	return out
}

// taskOrigins reads, with one query, which tasks of the requests an
// escalation or a reassignment created (originsOf their trails' moves).
// The caller has checked that the viewer may read the requests.
func taskOrigins(ctx context.Context, client *ent.Client, requestIDs []pulid.ID) (map[pulid.ID]audit.Action, error) {
	if len(requestIDs) == 0 {
		return map[pulid.ID]audit.Action{}, nil
	}
	chains := make([]string, len(requestIDs))
	for i, id := range requestIDs {
		chains[i] = string(id)
	}
	events, err := client.AuditEvent.Query().
		Where(auditevent.ChainIn(chains...), auditevent.ActionIn(string(audit.TaskReassigned), string(audit.TaskEscalated))).
		All(ctx)
	if err != nil {
		return nil, err
	}
	return originsOf(events), nil
}

// setRoles sets the Role of every review of the items (taskRole), the
// per-request report's and the bulk export's alike.
func setRoles(items []loadedItem, origins map[pulid.ID]audit.Action) {
	for i := range items {
		it := &items[i]
		for j := range it.Reviews {
			rv := &it.Reviews[j]
			rv.Role = taskRole(enum.ReviewerKind(rv.Kind), origins[rv.TaskID], rv.OnBehalfOf, it.fallbacks[rv.TaskID])
		}
	}
}

// exportRoles sets the reviewer roles of a page of the bulk export, reading
// the moves of the page's requests with one query.
func (s *Service) exportRoles(ctx context.Context, items []loadedItem) error {
	var ids []pulid.ID
	seen := map[pulid.ID]bool{}
	for _, it := range items {
		if it.request != nil && !seen[it.request.ID] {
			seen[it.request.ID] = true
			ids = append(ids, it.request.ID)
		}
	}
	origins, err := taskOrigins(ctx, s.client, ids)
	if err != nil {
		return err
	}
	setRoles(items, origins)
	return nil
}

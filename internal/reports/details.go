package reports

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
)

// Detail is one field of an event's data in readable form: the data's key,
// its value with users, tasks, items and catalog objects named, and, apart,
// the internal ID the value names ("" when it names none).
type Detail struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	ID    string `json:"id,omitempty"`
}

func (d Detail) String() string { return d.Key + ": " + d.Value }

// detailsText is the readable details of an event, "key: value" joined by
// sep.
func detailsText(ds []Detail, sep string) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, sep)
}

// idsText lists the IDs the details name, "key=ID" joined by sep.
func idsText(ds []Detail, sep string) string {
	var parts []string
	for _, d := range ds {
		if d.ID != "" {
			parts = append(parts, d.Key+"="+d.ID)
		}
	}
	return strings.Join(parts, sep)
}

// kindRoles names the reviewer role of a stage by the reviewer kind that
// yielded its reviewers (after fallback, so IT_ADMIN is always a fallback).
var kindRoles = map[enum.ReviewerKind]string{
	enum.ReviewerKindManager:          "manager",
	enum.ReviewerKindApplicationOwner: "application owner",
	enum.ReviewerKindEntitlementOwner: "entitlement owner",
	enum.ReviewerKindDesignated:       "designated reviewer",
	enum.ReviewerKindRiskManager:      "risk manager",
	enum.ReviewerKindITAdmin:          "fallback (IT admin)",
}

// taskRole says in which capacity a task's assignee reviews: the role of
// the stage's reviewer kind; "escalated" or "reassigned" for a task that an
// escalation or a reassignment created; "delegate of X" for a task held on
// behalf of X; "fallback (designated reviewer stage)" for a reviewer the
// stage took from its fallback chain to keep its quorum (issue 15), or
// "delegate of X (fallback, designated reviewer stage)" for a delegate
// holding such a task. A move names a task before the fallback does.
func taskRole(kind enum.ReviewerKind, origin audit.Action, onBehalfOf *Person, fallback bool) string {
	role := kindRoles[kind]
	if role == "" {
		role = strings.ToLower(strings.ReplaceAll(string(kind), "_", " "))
	}
	how := ""
	switch {
	case origin == audit.TaskEscalated:
		how = "escalated"
	case origin == audit.TaskReassigned:
		how = "reassigned"
	case fallback && kindRoles[kind] != "" && kind != enum.ReviewerKindITAdmin: // an IT admin stage is named a fallback already
		how = "fallback"
	}
	switch {
	case onBehalfOf != nil && how != "":
		return "delegate of " + onBehalfOf.Name + " (" + how + ", " + role + " stage)"
	case onBehalfOf != nil:
		return "delegate of " + onBehalfOf.Name + " (" + role + ")"
	case how != "":
		return how + " (" + role + " stage)"
	}
	return role
}

// namer names the objects an event's data refers to.
type namer struct {
	users map[pulid.ID]Person
	// names holds the labels of the request's items, entitlements and
	// applications.
	names map[pulid.ID]string
	tasks map[pulid.ID]*Review
}

// referencedUsers loads, in one query, the users the events name: their
// actors and every user ID in their data.
func referencedUsers(ctx context.Context, client *ent.Client, events []*ent.AuditEvent) (map[pulid.ID]Person, error) {
	var ids []pulid.ID
	add := func(s string) {
		if id := pulid.ID(s); id.Prefix() == "usr" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, e := range events {
		add(e.Actor)
		for _, v := range e.Data {
			switch v := v.(type) {
			case string:
				add(v)
			case []any:
				for _, x := range v {
					if s, ok := x.(string); ok {
						add(s)
					}
				}
			}
		}
	}
	out := map[pulid.ID]Person{}
	if len(ids) == 0 {
		return out, nil
	}
	users, err := client.User.Query().Where(user.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		out[u.ID] = person(u)
	}
	return out, nil
}

// name gives the readable value of an ID and whether it named anything.
func (n *namer) name(s string) (string, bool) {
	id := pulid.ID(s)
	if p, ok := n.users[id]; ok {
		return p.String(), true
	}
	if t, ok := n.tasks[id]; ok {
		return "task of " + t.Reviewer.String() + ", " + t.Role, true
	}
	if l, ok := n.names[id]; ok {
		return l, true
	}
	return s, false
}

// details turns an event's data into readable details, in key order, the
// reviewer role of a task event first; empty values are left out.
func (n *namer) details(action string, data map[string]any) (role string, ds []Detail) {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := Detail{Key: k}
		switch v := data[k].(type) {
		case nil:
			continue
		case string:
			if v == "" {
				continue
			}
			d.Value = v
			if named, ok := n.name(v); ok {
				d.Value, d.ID = named, v
			} else if isID(v) {
				d.ID = v
			}
		case bool:
			d.Value = strconv.FormatBool(v)
		case float64:
			d.Value = strconv.FormatFloat(v, 'f', -1, 64)
		case []any:
			var vals, ids []string
			for _, x := range v {
				s := fmt.Sprint(x)
				if named, ok := n.name(s); ok {
					vals, ids = append(vals, named), append(ids, s)
				} else {
					vals = append(vals, s)
				}
			}
			d.Value, d.ID = strings.Join(vals, ", "), strings.Join(ids, " ")
		default:
			b, err := json.Marshal(v)
			if err != nil {
				d.Value = fmt.Sprint(v)
			} else {
				d.Value = string(b)
			}
		}
		ds = append(ds, d)
	}
	// The task an event is about: the new one of a move.
	key := "task"
	if action == string(audit.TaskReassigned) || action == string(audit.TaskEscalated) {
		key = "newTask"
	}
	if id, ok := data[key].(string); ok {
		if t, ok := n.tasks[pulid.ID(id)]; ok && t.Role != "" {
			role = t.Role
			ds = append([]Detail{{Key: "role", Value: role}}, ds...)
		}
	}
	return role, ds
}

// isID says whether s looks like one of our IDs (prefix_ULID).
func isID(s string) bool {
	i := strings.IndexByte(s, '_')
	return i == 3 && len(s) == 30
}

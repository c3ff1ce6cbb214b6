package apitest

import (
	"testing"

	"gatehouse/ent/schema/pulid"
)

// Notification is one in-app notification as the notifications query
// lists it.
type Notification struct {
	ID      pulid.ID
	Kind    string
	Action  string
	Title   string
	Link    string
	ReadAt  *string
	Request *struct{ ID pulid.ID }
	Task    *struct{ ID pulid.ID }
}

// Notifications returns the in-app notifications of the token's user,
// newest first; only the unread ones when unreadOnly.
func (e *Env) Notifications(t testing.TB, token string, unreadOnly bool) []Notification {
	t.Helper()
	var out struct {
		Notifications struct{ Edges []struct{ Node Notification } }
	}
	e.MustDo(t, token, `query($u: Boolean) { notifications(first: 100, unreadOnly: $u) {
		edges { node { id kind action title link readAt request { id } task { id } } } } }`,
		map[string]any{"u": unreadOnly}, &out)
	var ns []Notification
	for _, edge := range out.Notifications.Edges {
		ns = append(ns, edge.Node)
	}
	return ns
}

// Kinds returns the kinds of the notifications, in their order.
func Kinds(ns []Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Kind)
	}
	return out
}

package resolvers

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/progress"
)

// subscription returns the viewer and the feed of a subscription.
func (r *Resolver) subscription(ctx context.Context) (*authz.Viewer, *progress.Feed, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, nil, err
	}
	if r.progress == nil {
		return nil, nil, errcode.New(errcode.Internal, "subscriptions are not configured")
	}
	return v, r.progress, nil
}

// scopeRelation returns the relation of the viewer to the requests of
// scope; none for VISIBLE. The accessRequests query and the
// accessRequestChanged subscription read scopes through it alike.
func scopeRelation(scope graph.RequestScope) (authz.Relation, bool) {
	switch scope {
	case graph.RequestScopeMine:
		return authz.Requester, true
	case graph.RequestScopeForMe:
		return authz.Beneficiary, true
	case graph.RequestScopeToReview:
		return authz.Reviewer, true
	}
	return 0, false
}

// requestProgress subscribes v to one request.
func (r *Resolver) requestProgress(ctx context.Context, id pulid.ID) (<-chan *graph.RequestProgress, error) {
	v, f, err := r.subscription(ctx)
	if err != nil {
		return nil, err
	}
	sent := newSentEvents(ctx, v)
	return progress.SubscribeRequest(ctx, f, v, id, func(ev *progress.Event) (*graph.RequestProgress, bool) {
		if !sent.changed(ev) {
			return nil, false
		}
		mine, overall := ev.Mine(v.UserID), ev.Overall
		reviewers := make([]*graph.ReviewerCompletion, len(ev.Reviewers))
		for i, rc := range ev.Reviewers {
			reviewers[i] = &graph.ReviewerCompletion{Reviewer: rc.Reviewer, Completion: &rc.Completion}
		}
		return &graph.RequestProgress{Request: ev.Request, Status: ev.Request.Status, Overall: &overall, Mine: &mine, Reviewers: reviewers}, true
	})
}

// myTaskProgress subscribes v to the requests on which v has tasks.
func (r *Resolver) myTaskProgress(ctx context.Context) (<-chan *graph.TaskProgressEvent, error) {
	v, f, err := r.subscription(ctx)
	if err != nil {
		return nil, err
	}
	sent := newSentEvents(ctx, v)
	return progress.SubscribeTasks(ctx, f, v, func(ev *progress.Event) (*graph.TaskProgressEvent, bool) {
		if !sent.changed(ev) {
			return nil, false
		}
		mine, overall := ev.Mine(v.UserID), ev.Overall
		return &graph.TaskProgressEvent{Request: ev.Request, Mine: &mine, Overall: &overall}, true
	}), nil
}

// accessRequestChanged subscribes v to the changes of the requests of scope.
func (r *Resolver) accessRequestChanged(ctx context.Context, scope graph.RequestScope) (<-chan *ent.AccessRequest, error) {
	v, f, err := r.subscription(ctx)
	if err != nil {
		return nil, err
	}
	sent := newSentEvents(ctx, v)
	request := func(ev *progress.Event) (*ent.AccessRequest, bool) { return ev.Request, sent.changed(ev) }
	if rel, ok := scopeRelation(scope); ok {
		return progress.SubscribeRelated(ctx, f, v, rel, request), nil
	}
	return progress.SubscribeVisible(ctx, f, v, request), nil
}

// sentEvents remembers what one subscription last sent of each request, as
// far as it selected it, so that an event that changes nothing the
// subscriber selected is not sent (a fulfilment moves an item's status, not
// a completion). Events re-sent on purpose (progress.Event.Resent) go out
// anyway.
type sentEvents struct {
	sel    eventSelection
	viewer *authz.Viewer

	mu   sync.Mutex
	last map[pulid.ID]string
}

// sentEventsMax bounds the requests one subscription remembers; past it the
// memory starts again (at worst an unchanged event is sent once more).
const sentEventsMax = 1000

func newSentEvents(ctx context.Context, v *authz.Viewer) *sentEvents {
	return &sentEvents{sel: selectionOf(ctx), viewer: v, last: map[pulid.ID]string{}}
}

// changed reports whether ev shows the subscriber something it has not
// been sent, and remembers it.
func (s *sentEvents) changed(ev *progress.Event) bool {
	key := s.sel.key(ev, s.viewer.UserID)
	s.mu.Lock()
	defer s.mu.Unlock()
	id := ev.Request.ID
	if last, ok := s.last[id]; ok && last == key && !ev.Resent() {
		return false
	}
	if len(s.last) >= sentEventsMax {
		clear(s.last)
	}
	s.last[id] = key
	return true
}

// eventSelection is what a subscription selected: the fields of its payload
// (for accessRequestChanged, the request's) and how much of the request.
type eventSelection struct {
	fields  map[string]bool
	request requestSelection
}

// requestSelection says which of a request's fields an event's key covers.
type requestSelection int

const (
	requestID     requestSelection = iota // id only: the same for every event of the request
	requestStatus                         // id and status
	requestAny                            // anything else: the event's fingerprint and the row's update time
)

// selectionOf reads the subscription field's selection from ctx; without
// one, everything counts.
func selectionOf(ctx context.Context) eventSelection {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return eventSelection{fields: map[string]bool{"status": true, "overall": true, "mine": true, "reviewers": true}, request: requestAny}
	}
	op := graphql.GetOperationContext(ctx)
	sel := eventSelection{fields: map[string]bool{}}
	var request []graphql.CollectedField
	if fc.Field.Name == "accessRequestChanged" {
		request = graphql.CollectFields(op, fc.Field.Selections, nil)
	} else {
		for _, f := range graphql.CollectFields(op, fc.Field.Selections, nil) {
			sel.fields[f.Name] = true
			if f.Name == "request" {
				request = append(request, graphql.CollectFields(op, f.Selections, nil)...)
			}
		}
	}
	for _, f := range request {
		switch f.Name {
		case "id", "__typename":
		case "status":
			sel.request = max(sel.request, requestStatus)
		default:
			sel.request = requestAny
		}
	}
	return sel
}

// key sums up what the subscriber sees of ev.
func (s eventSelection) key(ev *progress.Event, viewer pulid.ID) string {
	var b strings.Builder
	if s.fields["status"] {
		b.WriteString(string(ev.Request.Status))
	}
	b.WriteByte('|')
	if s.fields["overall"] {
		fmt.Fprint(&b, ev.Overall)
	}
	b.WriteByte('|')
	if s.fields["mine"] {
		fmt.Fprint(&b, ev.Mine(viewer))
	}
	b.WriteByte('|')
	if s.fields["reviewers"] {
		for _, rc := range ev.Reviewers {
			fmt.Fprintf(&b, "%s:%v;", rc.Reviewer.ID, rc.Completion)
		}
	}
	b.WriteByte('|')
	switch s.request {
	case requestStatus:
		b.WriteString(string(ev.Request.Status))
	case requestAny:
		fmt.Fprintf(&b, "%s|%d", ev.Fingerprint(), ev.Request.UpdatedAt.UnixNano())
	}
	return b.String()
}

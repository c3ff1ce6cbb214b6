package resolvers

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/progress"
	"gatehouse/internal/workflow/rules"
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
		// The event's own numbers are shared by every subscriber (they only
		// read them); the viewer's are its own. Reviewers are built only when
		// selected.
		mine := ev.Mine(v.UserID)
		var reviewers []*graph.ReviewerCompletion
		if sent.sel.fields["reviewers"] {
			reviewers = make([]*graph.ReviewerCompletion, len(ev.Reviewers))
			for i := range ev.Reviewers {
				rc := &ev.Reviewers[i]
				reviewers[i] = &graph.ReviewerCompletion{Reviewer: rc.Reviewer, Completion: &rc.Completion}
			}
		}
		return &graph.RequestProgress{Request: ev.Request, Status: ev.Request.Status, Overall: &ev.Overall, Mine: &mine, Reviewers: reviewers}, true
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
		mine := ev.Mine(v.UserID)
		return &graph.TaskProgressEvent{Request: ev.Request, Mine: &mine, Overall: &ev.Overall}, true
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
// anyway. What was sent is remembered as a 64-bit hash (eventSelection.key),
// which costs no allocation per event.
type sentEvents struct {
	sel    eventSelection
	viewer *authz.Viewer

	mu   sync.Mutex
	last map[pulid.ID]uint64
}

// sentEventsMax bounds the requests one subscription remembers; past it the
// memory starts again (at worst an unchanged event is sent once more).
const sentEventsMax = 1000

func newSentEvents(ctx context.Context, v *authz.Viewer) *sentEvents {
	return &sentEvents{sel: selectionOf(ctx), viewer: v, last: map[pulid.ID]uint64{}}
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

// keySeed seeds the hashes of eventSelection.key; they are compared only
// within this process.
var keySeed = maphash.MakeSeed()

// key sums up what the subscriber sees of ev, as a hash of the selected
// parts (each followed by a separator, so that parts cannot run into each
// other).
func (s eventSelection) key(ev *progress.Event, viewer pulid.ID) uint64 {
	var h maphash.Hash
	h.SetSeed(keySeed)
	if s.fields["status"] {
		h.WriteString(string(ev.Request.Status))
	}
	h.WriteByte('|')
	if s.fields["overall"] {
		writeCompletion(&h, ev.Overall)
	}
	h.WriteByte('|')
	if s.fields["mine"] {
		writeCompletion(&h, ev.Mine(viewer))
	}
	h.WriteByte('|')
	if s.fields["reviewers"] {
		for i := range ev.Reviewers {
			h.WriteString(string(ev.Reviewers[i].Reviewer.ID))
			h.WriteByte(':')
			writeCompletion(&h, ev.Reviewers[i].Completion)
		}
	}
	h.WriteByte('|')
	switch s.request {
	case requestStatus:
		h.WriteString(string(ev.Request.Status))
	case requestAny:
		h.WriteString(ev.Fingerprint())
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(ev.Request.UpdatedAt.UnixNano()))
		h.Write(b[:])
	}
	return h.Sum64()
}

func writeCompletion(h *maphash.Hash, c rules.Completion) {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(c.Done))
	binary.LittleEndian.PutUint64(b[8:], uint64(c.Total))
	binary.LittleEndian.PutUint64(b[16:], math.Float64bits(c.Percent))
	h.Write(b[:])
}

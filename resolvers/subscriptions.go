package resolvers

import (
	"context"
	"sync"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/pubsub"
)

func (r *Resolver) feed() (*ProgressFeed, error) {
	if r.progress == nil {
		return nil, errcode.New(errcode.Internal, "subscriptions are not configured")
	}
	return r.progress, nil
}

// requestProgress subscribes v to one request: the snapshot first, then the
// events computed after it, as long as v is in their audience.
func (r *Resolver) requestProgress(ctx context.Context, id pulid.ID) (<-chan *graph.RequestProgress, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	f, err := r.feed()
	if err != nil {
		return nil, err
	}
	// Privacy filters the query: a request v may not see does not exist.
	ok, err := r.client.AccessRequest.Query().Where(accessrequest.ID(id)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errcode.New(errcode.NotFound, "access request %s not found", id)
	}
	// Subscribe before reading the snapshot, so that no change falls between
	// them; the gate holds events until the snapshot is queued and drops
	// those computed before it. A failed snapshot ends the subscription.
	g := &snapshotGate{}
	sub := pubsub.SubscribeFunc(f.broker, ctx, topicRequestPfx+string(id), func(ev *progressEvent) (*graph.RequestProgress, bool) {
		if !ev.visibleTo(v) || !g.pass(ev) {
			return nil, false
		}
		return requestProgressFor(ev, v), true
	})
	snap, err := f.snapshot(ctx, id)
	if err != nil {
		sub.End()
		if ent.IsNotFound(err) {
			return nil, errcode.New(errcode.NotFound, "access request %s not found", id)
		}
		return nil, err
	}
	g.open(snap, func(ev *progressEvent) { sub.Offer(requestProgressFor(ev, v)) })
	return sub.C, nil
}

// snapshotGate orders a requestProgress subscription: events published
// before the snapshot is queued are held (the newest one only), events
// computed before the snapshot are dropped, as the snapshot is newer, and so
// are events that show what the subscriber already has (a change committed
// just before the snapshot was read), unless re-sent on purpose.
type snapshotGate struct {
	mu    sync.Mutex
	ready bool
	seq   uint64
	print string
	held  *progressEvent
}

func (g *snapshotGate) pass(ev *progressEvent) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ready {
		if g.held == nil || ev.seq > g.held.seq {
			g.held = ev
		}
		return false
	}
	if ev.seq <= g.seq || (ev.print == g.print && !ev.forced) {
		return false
	}
	g.seq, g.print = ev.seq, ev.print
	return true
}

// open queues the snapshot, then the held event when it is newer.
func (g *snapshotGate) open(snap *progressEvent, offer func(*progressEvent)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ready, g.seq, g.print = true, snap.seq, snap.print
	offer(snap)
	if h := g.held; h != nil && h.seq > snap.seq && (h.print != snap.print || h.forced) {
		g.seq, g.print = h.seq, h.print
		offer(h)
	}
	g.held = nil
}

func requestProgressFor(ev *progressEvent, v *authz.Viewer) *graph.RequestProgress {
	mine := ev.counts.Of(v.UserID)
	overall := ev.overall
	return &graph.RequestProgress{
		Request:   ev.request,
		Status:    ev.request.Status,
		Overall:   &overall,
		Mine:      &mine,
		Reviewers: ev.reviewers,
	}
}

// myTaskProgress subscribes v to the requests on which v has tasks.
func (r *Resolver) myTaskProgress(ctx context.Context) (<-chan *graph.TaskProgressEvent, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	f, err := r.feed()
	if err != nil {
		return nil, err
	}
	sub := pubsub.SubscribeFunc(f.broker, ctx, topicUserPfx+string(v.UserID), func(ev *progressEvent) (*graph.TaskProgressEvent, bool) {
		if !ev.assigned(v.UserID) {
			return nil, false
		}
		mine, overall := ev.counts.Of(v.UserID), ev.overall
		return &graph.TaskProgressEvent{Request: ev.request, Mine: &mine, Overall: &overall}, true
	})
	return sub.C, nil
}

// accessRequestChanged subscribes v to the changes of the requests of scope.
func (r *Resolver) accessRequestChanged(ctx context.Context, scope graph.RequestScope) (<-chan *ent.AccessRequest, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	f, err := r.feed()
	if err != nil {
		return nil, err
	}
	me := v.UserID
	var keep func(*progressEvent) bool
	topic := topicUserPfx + string(me)
	switch scope {
	case graph.RequestScopeMine:
		keep = func(ev *progressEvent) bool { return ev.request.RequesterID == me }
	case graph.RequestScopeForMe:
		keep = func(ev *progressEvent) bool { return ev.request.BeneficiaryID == me }
	case graph.RequestScopeToReview:
		keep = func(ev *progressEvent) bool { return ev.assigned(me) }
	default:
		keep = func(*progressEvent) bool { return true }
		if v.ReadsAll() {
			topic = topicAll
		}
	}
	sub := pubsub.SubscribeFunc(f.broker, ctx, topic, func(ev *progressEvent) (*ent.AccessRequest, bool) {
		if !keep(ev) {
			return nil, false
		}
		return ev.request, true
	})
	return sub.C, nil
}

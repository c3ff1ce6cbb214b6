package progress

import (
	"context"
	"sync"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/pubsub"
)

// The subscribe functions hand each event v may receive to fn, which the
// publisher calls: it maps the event to what the subscriber receives, or
// returns false to skip it (nothing the subscriber selected changed), must
// be fast and must not block. Subscriptions end, and their
// channels close, when ctx ends or the feed stops; a subscriber that does
// not keep up is dropped.

// SubscribeRequest subscribes v to one request: its current progress first,
// then the events computed after it, as long as v may see the request. Any
// authenticated viewer may call it. Errors: NOT_FOUND when v may not see the
// request (the privacy policy of ctx's viewer decides).
func SubscribeRequest[U any](ctx context.Context, f *Feed, v *authz.Viewer, id pulid.ID, fn func(*Event) (U, bool)) (<-chan U, error) {
	ok, err := f.client.AccessRequest.Query().Where(accessrequest.ID(id)).Exist(ctx)
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
	sub := pubsub.SubscribeFunc(f.broker, ctx, topicRequestPfx+string(id), func(ev *Event) (U, bool) {
		if !ev.VisibleTo(v) || !g.pass(ev) {
			var zero U
			return zero, false
		}
		return fn(ev)
	})
	snap, err := f.snapshot(ctx, id)
	if err != nil {
		sub.End()
		if ent.IsNotFound(err) {
			return nil, errcode.New(errcode.NotFound, "access request %s not found", id)
		}
		return nil, err
	}
	g.open(snap, func(ev *Event) {
		if u, ok := fn(ev); ok {
			sub.Offer(u)
		}
	})
	return sub.C, nil
}

// SubscribeVisible subscribes v to the events of the requests v may see.
// Any authenticated viewer may call it.
func SubscribeVisible[U any](ctx context.Context, f *Feed, v *authz.Viewer, fn func(*Event) (U, bool)) <-chan U {
	topic := topicUserPfx + string(v.UserID)
	if v.ReadsAll() {
		topic = topicAll
	}
	return subscribe(ctx, f, topic, func(ev *Event) bool { return ev.VisibleTo(v) }, fn)
}

// SubscribeRelated subscribes v to the events of the requests to which v
// stands in relation rel (a scope of the accessRequests query). Any
// authenticated viewer may call it.
func SubscribeRelated[U any](ctx context.Context, f *Feed, v *authz.Viewer, rel authz.Relation, fn func(*Event) (U, bool)) <-chan U {
	return subscribe(ctx, f, topicUserPfx+string(v.UserID), func(ev *Event) bool { return ev.Related(rel, v.UserID) }, fn)
}

// SubscribeTasks subscribes v to the events of the requests on which v has
// counted tasks (Event.Assigned), the requests of their "My Tasks". Any
// authenticated viewer may call it.
func SubscribeTasks[U any](ctx context.Context, f *Feed, v *authz.Viewer, fn func(*Event) (U, bool)) <-chan U {
	return subscribe(ctx, f, topicUserPfx+string(v.UserID), func(ev *Event) bool { return ev.Assigned(v.UserID) }, fn)
}

// subscribe subscribes to the events of topic that keep lets through.
func subscribe[U any](ctx context.Context, f *Feed, topic string, keep func(*Event) bool, fn func(*Event) (U, bool)) <-chan U {
	return pubsub.SubscribeFunc(f.broker, ctx, topic, func(ev *Event) (U, bool) {
		if !keep(ev) {
			var zero U
			return zero, false
		}
		return fn(ev)
	}).C
}

// snapshotGate orders a SubscribeRequest subscription: events published
// before the snapshot is queued are held (the newest one only), events
// computed before the snapshot are dropped, as the snapshot is newer, and so
// are events that show what the subscriber already has (a change committed
// just before the snapshot was read), unless re-sent on purpose.
type snapshotGate struct {
	mu    sync.Mutex
	ready bool
	seq   uint64
	print string
	held  *Event
}

func (g *snapshotGate) pass(ev *Event) bool {
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
func (g *snapshotGate) open(snap *Event, offer func(*Event)) {
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

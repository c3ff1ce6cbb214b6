// Package progress turns committed changes of access requests into progress
// events (DESIGN §4.3, §6): the request's overall and per-reviewer
// completion and who may receive it (authz.RequestFacts), computed once per
// change with a fixed number of queries and fanned out to this process's
// subscribers. It owns the broker, the coalescing worker, the PostgreSQL
// listener that carries changes between replicas and the resync after a
// listener loss; the workflow tells it of changes through its commit hooks
// (NotifyTx, Published). It also holds the task counts that completion is
// computed from, and their per-operation dataloaders.
package progress

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/pubsub"
)

// NotifyChannel is the PostgreSQL NOTIFY channel that carries the IDs of
// changed requests between processes.
const NotifyChannel = "gatehouse_requests"

// ListenerApplicationName names each process's LISTEN connection in
// pg_stat_activity.
const ListenerApplicationName = "gatehouse-listener"

// Broker topics: a request's own subscribers, each user's, and the readers
// of everything (risk managers and IT admins).
const (
	topicAll         = "all"
	topicRequestPfx  = "req:"
	topicUserPfx     = "user:"
	resyncKey        = "\x00resync"
	lastCacheEntries = 10000
)

// Config configures a Feed.
type Config struct {
	// Client reads the requests; the feed reads through it in a system
	// context and decides itself who receives what.
	Client *ent.Client
	// Log receives the listener's and the worker's errors; nil discards.
	Log     *slog.Logger
	Dialect string
	// DSN is where the PostgreSQL listener connects; unused on SQLite.
	DSN string
	// Buffer is the per-subscriber buffer; zero means pubsub.DefaultBuffer.
	Buffer int
	// Channels are more NOTIFY channels carried by the feed's LISTEN
	// connection, the process's only one (credential revocations); unused
	// on SQLite.
	Channels []pubsub.Channel
}

// Feed turns committed changes into progress events. On SQLite
// the workflow tells it after commit (Published); on PostgreSQL the workflow
// sends the request IDs with pg_notify inside its transaction (NotifyTx) and
// every process's single listener hands them to its feed, so that a change
// made by any replica reaches the subscribers of all. Each process computes
// an event once (a fixed number of queries per batch of changed requests,
// whatever the number of subscribers) and fans it out to its local
// subscribers through the broker. Start and Stop bracket its life.
type Feed struct {
	client   *ent.Client
	log      *slog.Logger
	postgres bool
	broker   *pubsub.Broker[*Event]
	queue    *pubsub.Coalescer
	listener *pubsub.Listener
	seq      atomic.Uint64
	// published counts the events published (for metrics).
	published atomic.Uint64

	mu     sync.Mutex
	last   map[pulid.ID]string // fingerprint of the last event per request
	force  map[pulid.ID]bool   // requests to send even when unchanged
	lostAt time.Time           // earliest unsent listener loss
}

// New returns a stopped feed.
func New(cfg Config) *Feed {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Feed{
		client:   cfg.Client,
		log:      log,
		postgres: cfg.Dialect == dialect.Postgres,
		broker:   pubsub.NewBroker[*Event](pubsub.Options{Buffer: cfg.Buffer}),
		last:     map[pulid.ID]string{},
		force:    map[pulid.ID]bool{},
	}
	f.queue = pubsub.NewCoalescer(500, f.handle)
	if f.postgres {
		f.listener = pubsub.NewListener(pubsub.ListenerConfig{
			DSN:             cfg.DSN,
			Channel:         NotifyChannel,
			ApplicationName: ListenerApplicationName,
			OnNotify:        func(ids []string) { f.queue.Add(ids...) },
			OnReconnect:     f.resync,
			OnError: func(err error) {
				log.Warn("subscription listener", "error", err)
			},
			More: cfg.Channels,
		})
	}
	return f
}

// Start runs the feed's worker and, on PostgreSQL, connects its listener.
func (f *Feed) Start(ctx context.Context) error {
	f.queue.Start(context.WithoutCancel(ctx))
	if f.listener != nil {
		if err := f.listener.Start(ctx); err != nil {
			f.queue.Stop()
			return err
		}
	}
	return nil
}

// Stop disconnects the listener, stops the worker and ends every
// subscription. Stopping twice is harmless.
func (f *Feed) Stop() {
	if f.listener != nil {
		f.listener.Stop()
	}
	f.queue.Stop()
	f.broker.Close()
}

// Subscribers returns the number of subscriptions this process serves.
func (f *Feed) Subscribers() int { return f.broker.Total() }

// Dropped returns how many subscriptions were ended for not keeping up.
func (f *Feed) Dropped() int64 { return f.broker.Dropped() }

// EventsPublished returns how many events the feed has published to its
// subscribers (one per request change that moved a number or a status).
func (f *Feed) EventsPublished() uint64 { return f.published.Load() }

// NotifyTx is the workflow's in-transaction hook: on PostgreSQL it sends the
// IDs with pg_notify, which PostgreSQL delivers when the transaction commits
// (never when it rolls back). On SQLite it does nothing.
func (f *Feed) NotifyTx(ctx context.Context, tx *sql.Tx, requestIDs []pulid.ID) error {
	if !f.postgres {
		return nil
	}
	return pubsub.Notify(ctx, tx, NotifyChannel, idStrings(requestIDs))
}

// Published is the workflow's after-commit hook: on SQLite it queues the
// changed requests for the worker. On PostgreSQL the listener does that for
// every replica, this one included. It never blocks.
func (f *Feed) Published(requestIDs ...pulid.ID) {
	if !f.postgres {
		f.queue.Add(idStrings(requestIDs)...)
	}
}

func idStrings(ids []pulid.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// resync runs after the listener reconnects: notifications sent while it
// was away are lost, so the worker re-sends the requests changed since then
// and those with requestProgress subscribers here, changed or not.
func (f *Feed) resync(lostAt time.Time) {
	f.mu.Lock()
	if f.lostAt.IsZero() || lostAt.Before(f.lostAt) {
		f.lostAt = lostAt
	}
	f.mu.Unlock()
	f.log.Info("subscription listener reconnected; re-sending snapshots", "lost_at", lostAt)
	f.queue.Add(resyncKey)
}

// clockSkew widens the window of a resync: updated_at is written by each
// replica's clock.
const clockSkew = 5 * time.Second

// resyncIDs returns the requests to re-send after a listener loss.
func (f *Feed) resyncIDs(ctx context.Context) ([]pulid.ID, error) {
	f.mu.Lock()
	lostAt := f.lostAt
	f.mu.Unlock()
	since := lostAt.Add(-clockSkew)
	var ids []pulid.ID
	for _, t := range f.broker.Topics() {
		if id, ok := strings.CutPrefix(t, topicRequestPfx); ok {
			ids = append(ids, pulid.ID(id))
		}
	}
	if lostAt.IsZero() {
		return ids, nil
	}
	changed, err := f.client.AccessRequest.Query().Where(accessrequest.Or(
		accessrequest.UpdatedAtGTE(since),
		accessrequest.HasTasksWith(reviewtask.UpdatedAtGTE(since)),
		accessrequest.HasItemsWith(requestitem.UpdatedAtGTE(since)),
	)).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("changed requests: %w", err)
	}
	f.mu.Lock()
	if f.lostAt.Equal(lostAt) {
		f.lostAt = time.Time{}
	}
	f.mu.Unlock()
	return append(ids, changed...), nil
}

// handle is the worker: it computes the batch's events with a fixed number
// of queries and publishes those that moved a number or a status.
func (f *Feed) handle(ctx context.Context, keys []string) {
	ctx = authz.SystemContext(ctx)
	ids := make([]pulid.ID, 0, len(keys))
	for _, k := range keys {
		if k != resyncKey {
			ids = append(ids, pulid.ID(k))
			continue
		}
		more, err := f.resyncIDs(ctx)
		if err != nil {
			f.log.Error("subscription resync; retrying in a second", "error", err)
			time.AfterFunc(time.Second, func() { f.queue.Add(resyncKey) })
			continue
		}
		f.mu.Lock()
		for _, id := range more {
			f.force[id] = true
		}
		f.mu.Unlock()
		ids = append(ids, more...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return
	}
	seq := f.seq.Add(1)
	events, err := f.compute(ctx, ids)
	if err != nil {
		if ctx.Err() != nil {
			return // stopping
		}
		// The database may be back in a moment: try these requests again.
		f.log.Error("subscription event; retrying in a second", "error", err, "requests", len(ids))
		retry := idStrings(ids)
		time.AfterFunc(time.Second, func() { f.queue.Add(retry...) })
		return
	}
	for _, id := range ids {
		ev := events[id]
		f.mu.Lock()
		force := f.force[id]
		delete(f.force, id)
		same := ev != nil && f.last[id] == ev.print
		if ev != nil && !same {
			if len(f.last) >= lastCacheEntries {
				clear(f.last)
			}
			f.last[id] = ev.print
		}
		f.mu.Unlock()
		if ev == nil || (same && !force) {
			continue
		}
		ev.seq, ev.forced = seq, force
		f.publish(ev)
	}
}

// publish fans one event out: to the request's subscribers, to each member
// of its audience, and to the readers of everything.
func (f *Feed) publish(ev *Event) {
	f.published.Add(1)
	f.broker.Publish(topicRequestPfx+string(ev.Request.ID), ev)
	for _, id := range ev.audience {
		f.broker.Publish(topicUserPfx+string(id), ev)
	}
	f.broker.Publish(topicAll, ev)
}

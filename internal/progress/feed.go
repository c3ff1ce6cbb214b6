// Package progress turns committed changes of access requests into progress
// events (DESIGN §4.3, §6): the request's overall and per-reviewer
// completion and who may receive it (authz.RequestFacts), computed once per
// change with a fixed number of queries and fanned out to this process's
// subscribers. It owns the broker, the coalescing worker, the PostgreSQL
// notifier and listener that carry changes between replicas, the catch-up
// when a process starts and the resync after a listener loss; the workflow
// tells it of changes through its after-commit hook (Published). It also holds the task counts that completion is
// computed from, and their per-operation dataloaders.
package progress

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
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
	catchUpPfx       = "\x00catchup:"
	lastCacheEntries = 10000
)

// Payload markers: a notification names the process that sent it
// (originPfx + its ID, first), and a process that starts asks the others to
// catch up (catchUpPfx + the start of the window in Unix nanoseconds).
const (
	originPfx     = "@"
	catchUpMarker = "!catchup:"
)

// DefaultCatchUp is how far back the other processes look for changes when
// a process starts (Config.CatchUp).
const DefaultCatchUp = 10 * time.Minute

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
	// DB is the pool the notifier sends through on PostgreSQL (one
	// pg_notify per batch of changed requests, outside the changes'
	// transactions); unused on SQLite.
	DB *sql.DB
	// OnRemoteChange, when set, is called (without blocking) whenever
	// another process tells of a change: the job runner looks for the jobs
	// it may have inserted.
	OnRemoteChange func()
	// CatchUp is how far back the other processes re-read changes when
	// this one starts, for the changes a stopped or crashed process
	// committed but never sent; zero means DefaultCatchUp.
	CatchUp time.Duration
	// Buffer is the per-subscriber buffer; zero means pubsub.DefaultBuffer.
	Buffer int
	// Channels are more NOTIFY channels carried by the feed's LISTEN
	// connection, the process's only one (credential revocations); unused
	// on SQLite.
	Channels []pubsub.Channel
}

// Feed turns committed changes into progress events. The workflow tells it
// after commit (Published) and its worker computes the events for this
// process's subscribers. On PostgreSQL its notifier also sends the request
// IDs to the other processes, batched, with one pg_notify per batch outside
// the changes' transactions: a transaction that calls pg_notify takes
// PostgreSQL's database-wide notify lock at commit, which would make every
// committing change wait for the others. Every process's single listener
// hands the IDs sent by the others to its feed, so that a change made by any
// replica reaches the subscribers of all. What a process commits but never
// sends (it stopped or crashed in between) is caught up when a process
// starts: it asks the others to re-read the requests changed in the last
// Config.CatchUp, and they send the events whose numbers, statuses or
// audience differ from what they last sent. Each process computes an event
// once (a fixed number of queries per batch of changed requests, whatever
// the number of subscribers) and fans it out to its local subscribers
// through the broker. Start and Stop bracket its life.
type Feed struct {
	client   *ent.Client
	log      *slog.Logger
	postgres bool
	broker   *pubsub.Broker[*Event]
	queue    *pubsub.Coalescer
	listener *pubsub.Listener
	db       *sql.DB
	outbox   *pubsub.Coalescer // IDs for the other processes
	origin   string            // this process's ID in its notifications
	catchUp  time.Duration
	onRemote func()
	started  time.Time
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
		db:       cfg.DB,
		origin:   string(pulid.MustNew("prc")),
		catchUp:  cfg.CatchUp,
		onRemote: cfg.OnRemoteChange,
	}
	if f.catchUp <= 0 {
		f.catchUp = DefaultCatchUp
	}
	f.queue = pubsub.NewCoalescer(500, f.handle)
	if f.postgres {
		f.outbox = pubsub.NewCoalescer(1000, f.send)
		f.listener = pubsub.NewListener(pubsub.ListenerConfig{
			DSN:             cfg.DSN,
			Channel:         NotifyChannel,
			ApplicationName: ListenerApplicationName,
			OnNotify:        f.received,
			OnReconnect:     f.resync,
			OnError: func(err error) {
				log.Warn("subscription listener", "error", err)
			},
			More: cfg.Channels,
		})
	}
	return f
}

// Start runs the feed's worker and, on PostgreSQL, connects its listener,
// starts its notifier and asks the other processes to catch up.
func (f *Feed) Start(ctx context.Context) error {
	f.started = time.Now()
	f.queue.Start(context.WithoutCancel(ctx))
	if f.listener != nil {
		if err := f.listener.Start(ctx); err != nil {
			f.queue.Stop()
			return err
		}
		f.outbox.Start(context.WithoutCancel(ctx))
		f.outbox.Add(catchUpMarker + strconv.FormatInt(f.started.Add(-f.catchUp).UnixNano(), 10))
	}
	return nil
}

// Stop disconnects the listener, sends what the notifier holds, stops the
// worker and ends every subscription. Stopping twice is harmless.
func (f *Feed) Stop() {
	if f.listener != nil {
		f.listener.Stop()
		f.outbox.Drain()
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

// NotifyTx is the workflow's in-transaction hook. It does nothing: the
// changes leave after commit (Published), so that no transaction of a
// state change calls pg_notify and waits at commit for PostgreSQL's notify
// lock.
func (f *Feed) NotifyTx(context.Context, *sql.Tx, []pulid.ID) error { return nil }

// Published is the workflow's after-commit hook: it queues the changed
// requests for this process's worker and, on PostgreSQL, for the notifier
// that tells the other processes. It never blocks.
func (f *Feed) Published(requestIDs ...pulid.ID) {
	ids := idStrings(requestIDs)
	f.queue.Add(ids...)
	if f.outbox != nil {
		f.outbox.Add(ids...)
	}
}

// send is the notifier: it sends a batch of changed request IDs (and catch-up
// requests) to the other processes, each notification headed by this
// process's origin, with pg_notify outside any change's transaction. A
// failed send is tried again a second later.
func (f *Feed) send(ctx context.Context, keys []string) {
	err := notifyFrom(ctx, f.db, originPfx+f.origin, keys)
	if err == nil || ctx.Err() != nil {
		return
	}
	f.log.Error("subscription notifier; retrying in a second", "error", err, "requests", len(keys))
	time.AfterFunc(time.Second, func() { f.outbox.Add(keys...) })
}

// notifyFrom sends keys on NotifyChannel in as few notifications as fit
// pubsub.MaxPayload, each starting with head.
func notifyFrom(ctx context.Context, db pubsub.Execer, head string, keys []string) error {
	batch, size := []string{head}, len(head)
	flush := func() error {
		if len(batch) == 1 {
			return nil
		}
		err := pubsub.Notify(ctx, db, NotifyChannel, batch)
		batch, size = batch[:1], len(head)
		return err
	}
	for _, k := range keys {
		if size+1+len(k) > pubsub.MaxPayload {
			if err := flush(); err != nil {
				return err
			}
		}
		batch, size = append(batch, k), size+1+len(k)
	}
	return flush()
}

// received handles a notification of NotifyChannel: the IDs another process
// changed, or its request to catch up. This process's own notifications are
// skipped (Published queued them already).
func (f *Feed) received(keys []string) {
	if len(keys) > 0 && strings.HasPrefix(keys[0], originPfx) {
		if keys[0] == originPfx+f.origin {
			return
		}
		keys = keys[1:]
	}
	if f.onRemote != nil {
		f.onRemote()
	}
	for i, k := range keys {
		if from, ok := strings.CutPrefix(k, catchUpMarker); ok {
			keys[i] = catchUpPfx + from
		}
	}
	f.queue.Add(keys...)
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
	var ids []pulid.ID
	for _, t := range f.broker.Topics() {
		if id, ok := strings.CutPrefix(t, topicRequestPfx); ok {
			ids = append(ids, pulid.ID(id))
		}
	}
	if lostAt.IsZero() {
		return ids, nil
	}
	changed, err := f.changedSince(ctx, lostAt)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.lostAt.Equal(lostAt) {
		f.lostAt = time.Time{}
	}
	f.mu.Unlock()
	return append(ids, changed...), nil
}

// catchUpIDs returns the requests changed since another process's catch-up
// window began, or since this process started if later: this process's
// subscribers saw nothing before that.
func (f *Feed) catchUpIDs(ctx context.Context, key string) ([]pulid.ID, error) {
	nanos, err := strconv.ParseInt(strings.TrimPrefix(key, catchUpPfx), 10, 64)
	if err != nil {
		return nil, nil // not ours to act on
	}
	since := time.Unix(0, nanos)
	if f.started.After(since) {
		since = f.started
	}
	return f.changedSince(ctx, since)
}

// changedSince returns the requests whose row, items or tasks changed since
// t, widened by the clock skew between replicas.
func (f *Feed) changedSince(ctx context.Context, t time.Time) ([]pulid.ID, error) {
	since := t.Add(-clockSkew)
	ids, err := f.client.AccessRequest.Query().Where(accessrequest.Or(
		accessrequest.UpdatedAtGTE(since),
		accessrequest.HasTasksWith(reviewtask.UpdatedAtGTE(since)),
		accessrequest.HasItemsWith(requestitem.UpdatedAtGTE(since)),
	)).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("changed requests: %w", err)
	}
	return ids, nil
}

// handle is the worker: it computes the batch's events with a fixed number
// of queries and publishes those that moved a number or a status.
func (f *Feed) handle(ctx context.Context, keys []string) {
	ctx = authz.SystemContext(ctx)
	ids := make([]pulid.ID, 0, len(keys))
	for _, k := range keys {
		if strings.HasPrefix(k, catchUpPfx) {
			more, err := f.catchUpIDs(ctx, k)
			if err != nil {
				f.log.Error("subscription catch-up; retrying in a second", "error", err)
				time.AfterFunc(time.Second, func() { f.queue.Add(k) })
				continue
			}
			ids = append(ids, more...)
			continue
		}
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
	if f.broker.Total() == 0 {
		// Nobody here subscribes: nothing to compute. What was last sent of
		// these requests is forgotten, so that a subscriber arriving later
		// gets their next change even if it looks like an older one.
		f.mu.Lock()
		for _, id := range ids {
			delete(f.last, id)
			delete(f.force, id)
		}
		f.mu.Unlock()
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

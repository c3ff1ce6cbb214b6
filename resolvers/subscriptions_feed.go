package resolvers

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
	entsql "entgo.io/ent/dialect/sql"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/application"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/graph"
	"gatehouse/internal/authz"
	"gatehouse/internal/pubsub"
	"gatehouse/internal/workflow"
	"gatehouse/internal/workflow/rules"
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

// progressEvent is a request's progress at one moment, computed once per
// change and shared by every local subscriber, which only filters and maps it.
type progressEvent struct {
	// seq orders events and snapshots: a larger seq was computed from data
	// read later.
	seq uint64
	// request is shared by every subscriber of the event: responses only
	// read it (its edges are not loaded, so each subscriber's fields query
	// under its own viewer).
	request   *ent.AccessRequest
	counts    workflow.TaskCounts
	overall   rules.Completion
	reviewers []*graph.ReviewerCompletion
	// audience: the requester, the beneficiary, the current assignees and
	// the owners of the MANUAL applications on which the request has an
	// APPROVED item (waiting for them to fulfil it by hand); the USERs who
	// may read the request (authz.VisibleRequest).
	audience map[pulid.ID]struct{}
	// print sums up what the event shows (statuses and counts); forced
	// events (re-sent after a listener loss) go out even when unchanged.
	print  string
	forced bool
}

// visibleTo reports whether v may receive the event.
func (e *progressEvent) visibleTo(v *authz.Viewer) bool {
	if v.ReadsAll() {
		return true
	}
	_, ok := e.audience[v.UserID]
	return ok
}

// assigned reports whether the user has counted tasks on the request.
func (e *progressEvent) assigned(id pulid.ID) bool {
	return e.counts.Of(id).Total > 0
}

// FeedConfig configures a ProgressFeed.
type FeedConfig struct {
	Client  *ent.Client
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

// ProgressFeed turns committed changes into subscription events. On SQLite
// the workflow tells it after commit (Published); on PostgreSQL the workflow
// sends the request IDs with pg_notify inside its transaction (NotifyTx) and
// every process's single listener hands them to its feed, so that a change
// made by any replica reaches the subscribers of all. Each process computes
// an event once (a fixed number of queries per batch of changed requests,
// whatever the number of subscribers) and fans it out to its local
// subscribers through the broker. Start and Stop bracket its life.
type ProgressFeed struct {
	client   *ent.Client
	log      *slog.Logger
	dialect  string
	postgres bool
	broker   *pubsub.Broker[*progressEvent]
	queue    *pubsub.Coalescer
	listener *pubsub.Listener
	seq      atomic.Uint64

	mu     sync.Mutex
	last   map[pulid.ID]string // fingerprint of the last event per request
	force  map[pulid.ID]bool   // requests to send even when unchanged
	lostAt time.Time           // earliest unsent listener loss
}

// NewProgressFeed returns a stopped feed.
func NewProgressFeed(cfg FeedConfig) *ProgressFeed {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &ProgressFeed{
		client:   cfg.Client,
		log:      log,
		dialect:  cfg.Dialect,
		postgres: cfg.Dialect == dialect.Postgres,
		broker:   pubsub.NewBroker[*progressEvent](pubsub.Options{Buffer: cfg.Buffer}),
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
func (f *ProgressFeed) Start(ctx context.Context) error {
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
func (f *ProgressFeed) Stop() {
	if f.listener != nil {
		f.listener.Stop()
	}
	f.queue.Stop()
	f.broker.Close()
}

// Subscribers returns the number of subscriptions this process serves.
func (f *ProgressFeed) Subscribers() int { return f.broker.Total() }

// Dropped returns how many subscriptions were ended for not keeping up.
func (f *ProgressFeed) Dropped() int64 { return f.broker.Dropped() }

// NotifyTx is the workflow's in-transaction hook: on PostgreSQL it sends the
// IDs with pg_notify, which PostgreSQL delivers when the transaction commits
// (never when it rolls back). On SQLite it does nothing.
func (f *ProgressFeed) NotifyTx(ctx context.Context, tx *sql.Tx, requestIDs []pulid.ID) error {
	if !f.postgres {
		return nil
	}
	return pubsub.Notify(ctx, tx, NotifyChannel, idStrings(requestIDs))
}

// Published is the workflow's after-commit hook: on SQLite it queues the
// changed requests for the worker. On PostgreSQL the listener does that for
// every replica, this one included. It never blocks.
func (f *ProgressFeed) Published(requestIDs ...pulid.ID) {
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
func (f *ProgressFeed) resync(lostAt time.Time) {
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
func (f *ProgressFeed) resyncIDs(ctx context.Context) ([]pulid.ID, error) {
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
func (f *ProgressFeed) handle(ctx context.Context, keys []string) {
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
	events, prints, err := f.compute(ctx, ids)
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
		same := ev != nil && f.last[id] == prints[id]
		if ev != nil && !same {
			if len(f.last) >= lastCacheEntries {
				clear(f.last)
			}
			f.last[id] = prints[id]
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
func (f *ProgressFeed) publish(ev *progressEvent) {
	f.broker.Publish(topicRequestPfx+string(ev.request.ID), ev)
	for id := range ev.audience {
		f.broker.Publish(topicUserPfx+string(id), ev)
	}
	f.broker.Publish(topicAll, ev)
}

// snapshot computes one request's current progress for a new subscriber.
func (f *ProgressFeed) snapshot(ctx context.Context, id pulid.ID) (*progressEvent, error) {
	seq := f.seq.Add(1)
	events, _, err := f.compute(authz.SystemContext(ctx), []pulid.ID{id})
	if err != nil {
		return nil, err
	}
	ev := events[id]
	if ev == nil {
		return nil, &ent.NotFoundError{}
	}
	ev.seq = seq
	return ev, nil
}

// compute reads the progress of the requests with at most five queries,
// whatever their number: the requests, their task counts, their item
// statuses, their reviewers, and the owners waiting on them (manualOwners).
// It returns each event and a fingerprint of what it shows (statuses and
// counts), to skip changes that moved nothing. The item statuses in the
// fingerprint also cover the owners in the audience: they change only when
// an item of a MANUAL application becomes or stops being APPROVED.
func (f *ProgressFeed) compute(ctx context.Context, ids []pulid.ID) (map[pulid.ID]*progressEvent, map[pulid.ID]string, error) {
	reqs, err := f.client.AccessRequest.Query().Where(accessrequest.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("load requests: %w", err)
	}
	counts, err := workflow.CountTasks(ctx, f.client, ids)
	if err != nil {
		return nil, nil, err
	}
	var items []struct {
		RequestID pulid.ID        `json:"request_id"`
		Status    enum.ItemStatus `json:"status"`
		Count     int             `json:"count"`
	}
	err = f.client.RequestItem.Query().Where(requestitem.RequestIDIn(ids...)).
		GroupBy(requestitem.FieldRequestID, requestitem.FieldStatus).
		Aggregate(ent.Count()).Scan(ctx, &items)
	if err != nil {
		return nil, nil, fmt.Errorf("count items: %w", err)
	}
	itemPrint := map[pulid.ID][]string{}
	for _, it := range items {
		itemPrint[it.RequestID] = append(itemPrint[it.RequestID], fmt.Sprintf("%s=%d", it.Status, it.Count))
	}
	owners, err := f.manualOwners(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	var reviewerIDs []pulid.ID
	for _, c := range counts {
		reviewerIDs = append(reviewerIDs, c.Reviewers()...)
	}
	users := map[pulid.ID]*ent.User{}
	if len(reviewerIDs) > 0 {
		us, err := f.client.User.Query().Where(user.IDIn(reviewerIDs...)).All(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("load reviewers: %w", err)
		}
		for _, u := range us {
			users[u.ID] = u
		}
	}

	events := make(map[pulid.ID]*progressEvent, len(reqs))
	prints := make(map[pulid.ID]string, len(reqs))
	for _, r := range reqs {
		c := counts[r.ID]
		ev := &progressEvent{
			request:   r,
			counts:    c,
			overall:   c.Overall(),
			reviewers: []*graph.ReviewerCompletion{},
			audience:  map[pulid.ID]struct{}{r.RequesterID: {}, r.BeneficiaryID: {}},
		}
		var p strings.Builder
		fmt.Fprintf(&p, "%s|", r.Status)
		for _, rid := range c.Reviewers() {
			ev.audience[rid] = struct{}{}
			comp := c.Of(rid)
			if u := users[rid]; u != nil {
				ev.reviewers = append(ev.reviewers, &graph.ReviewerCompletion{Reviewer: u, Completion: &comp})
			}
			statuses := make([]string, 0, len(c[rid]))
			for s, n := range c[rid] {
				statuses = append(statuses, fmt.Sprintf("%s=%d", s, n))
			}
			slices.Sort(statuses)
			fmt.Fprintf(&p, "%s:%s;", rid, strings.Join(statuses, ","))
		}
		for _, oid := range owners[r.ID] {
			ev.audience[oid] = struct{}{}
		}
		ip := itemPrint[r.ID]
		slices.Sort(ip)
		fmt.Fprintf(&p, "|%s", strings.Join(ip, ","))
		ev.print = p.String()
		events[r.ID] = ev
		prints[r.ID] = ev.print
	}
	return events, prints, nil
}

// manualOwners returns, for each of the requests, the owners of the MANUAL
// applications on which it has an APPROVED item, waiting for them to fulfil
// it by hand: those owners may read the request (authz.VisibleRequest). It
// reads with one query for all the requests, their APPROVED items joined to
// the application owners edge table. The query is plain SQL, which privacy
// does not filter: only the feed calls it, for its audiences.
func (f *ProgressFeed) manualOwners(ctx context.Context, ids []pulid.ID) (map[pulid.ID][]pulid.ID, error) {
	b := entsql.Dialect(f.dialect)
	items, owners := b.Table(requestitem.Table), b.Table(application.OwnersTable).As("owners")
	appColumn, userColumn := application.OwnersPrimaryKey[0], application.OwnersPrimaryKey[1]
	q := b.Select(items.C(requestitem.FieldRequestID), owners.C(userColumn)).Distinct().
		From(items).
		Join(owners).On(items.C(requestitem.FieldApplicationID), owners.C(appColumn))
	requestitem.And(
		requestitem.RequestIDIn(ids...),
		requestitem.StatusEQ(enum.ItemStatusApproved),
		requestitem.HasApplicationWith(application.FulfillmentEQ(enum.FulfillmentManual)),
	)(q)
	query, args := q.Query()
	rows, err := f.client.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("load manual owners: %w", err)
	}
	defer rows.Close()
	out := map[pulid.ID][]pulid.ID{}
	for rows.Next() {
		var req, owner pulid.ID
		if err := rows.Scan(&req, &owner); err != nil {
			return nil, fmt.Errorf("load manual owners: %w", err)
		}
		out[req] = append(out[req], owner)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load manual owners: %w", err)
	}
	return out, nil
}

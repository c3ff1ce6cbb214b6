package pubsub

import (
	"context"
	"sync"
	"time"
)

// Relay carries short notices (IDs, without commas) from the transaction
// that causes them to the receivers of every process of a deployment. With
// Shared set (processes sharing a PostgreSQL database), SendTx sends the
// notices with pg_notify inside the sender's transaction, PostgreSQL
// delivers them when it commits, and each process's Listener hands them to
// its Relay (Channel), the sender's included. Without it (one process, as
// on SQLite), Committed delivers them in this process after the commit.
// Either way a notice leaves only once its change is committed.
//
// Receivers run on the caller's goroutine (the Listener's, or the
// committer's) and must not block.
type Relay struct {
	name   string
	shared bool

	mu        sync.RWMutex
	receivers []func(notices []string)
	losses    []func(lostAt time.Time)
}

// NewRelay returns a relay on the NOTIFY channel name; shared says that
// notices cross processes through PostgreSQL.
func NewRelay(name string, shared bool) *Relay {
	return &Relay{name: name, shared: shared}
}

// SendTx sends the notices with pg_notify through tx when the relay is
// shared; PostgreSQL delivers them to every process at commit, never after
// a rollback. Otherwise it does nothing: call Committed after the commit.
func (r *Relay) SendTx(ctx context.Context, tx Execer, notices ...string) error {
	if !r.shared || len(notices) == 0 {
		return nil
	}
	return Notify(ctx, tx, r.name, notices)
}

// Committed delivers the notices to this process's receivers when the
// relay is not shared (the Listener delivers shared ones). Call it after
// the transaction that caused them has committed.
func (r *Relay) Committed(notices ...string) {
	if !r.shared {
		r.deliver(notices)
	}
}

// Receive registers receivers: onNotice gets each batch of notices, and
// onLoss (may be nil) is told when notices may have been lost (the
// Listener's connection was down since lostAt), so that the receiver can
// re-read what it keeps.
func (r *Relay) Receive(onNotice func(notices []string), onLoss func(lostAt time.Time)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.receivers = append(r.receivers, onNotice)
	if onLoss != nil {
		r.losses = append(r.losses, onLoss)
	}
}

// Channel is the relay's channel for the process's Listener
// (ListenerConfig.More).
func (r *Relay) Channel() Channel {
	return Channel{Name: r.name, OnNotify: r.deliver, OnReconnect: r.lost}
}

func (r *Relay) deliver(notices []string) {
	if len(notices) == 0 {
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, fn := range r.receivers {
		fn(notices)
	}
}

func (r *Relay) lost(lostAt time.Time) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, fn := range r.losses {
		fn(lostAt)
	}
}

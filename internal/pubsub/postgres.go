package pubsub

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// MaxPayload is the largest NOTIFY payload Notify sends, in bytes.
// PostgreSQL refuses payloads of 8000 bytes or more.
const MaxPayload = 7999

// Execer runs a statement; *sql.Tx satisfies it.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

var _ Execer = (*sql.Tx)(nil)

// Notify sends ids, comma-separated, on channel through tx with pg_notify,
// splitting them over as many notifications as needed to keep each payload
// at most MaxPayload bytes. Inside a transaction PostgreSQL delivers the
// notifications only when it commits, and not at all when it rolls back.
// IDs must not contain commas and must be shorter than MaxPayload.
func Notify(ctx context.Context, tx Execer, channel string, ids []string) error {
	for _, payload := range payloads(ids) {
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, payload); err != nil {
			return fmt.Errorf("pubsub: notify: %w", err)
		}
	}
	return nil
}

// payloads joins ids with commas into strings of at most MaxPayload bytes.
func payloads(ids []string) []string {
	var out []string
	var b strings.Builder
	for _, id := range ids {
		if id == "" {
			continue
		}
		if b.Len() > 0 && b.Len()+1+len(id) > MaxPayload {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

// ListenerConfig configures a Listener.
type ListenerConfig struct {
	// DSN is the PostgreSQL connection string (a postgres:// URL works).
	DSN string
	// Channel is the NOTIFY channel to listen on.
	Channel string
	// OnNotify receives the IDs of each notification. It runs on the
	// listener's goroutine and must not block.
	OnNotify func(ids []string)
	// OnReconnect is called after the connection was lost and is back, with
	// the time it was lost: notifications sent meanwhile are gone, so the
	// receiver re-sends what may have changed since. It runs on the
	// listener's goroutine.
	OnReconnect func(lostAt time.Time)
	// OnError is told about connection failures; it may be nil.
	OnError func(err error)
	// ApplicationName names the connection in pg_stat_activity unless the
	// DSN already does.
	ApplicationName string
	// MinReconnect and MaxReconnect bound the reconnection back-off;
	// defaults 100ms and 5s.
	MinReconnect, MaxReconnect time.Duration
	// More are further channels listened to on the same connection, each
	// with its own receivers (a process keeps one LISTEN connection).
	More []Channel
}

// Channel is one more NOTIFY channel of a Listener. OnNotify and
// OnReconnect are as in ListenerConfig; either may be nil.
type Channel struct {
	Name        string
	OnNotify    func(ids []string)
	OnReconnect func(lostAt time.Time)
}

// Listener is one LISTEN connection of a process: it receives the
// notifications of one channel and reconnects after the connection is lost.
// Start connects; Stop disconnects.
type Listener struct {
	cfg ListenerConfig

	mu        sync.Mutex
	pq        *pq.Listener
	lostAt    time.Time
	connected chan struct{}
	done      chan struct{}
}

// NewListener returns a Listener; it does not connect until Start.
func NewListener(cfg ListenerConfig) *Listener {
	if cfg.MinReconnect <= 0 {
		cfg.MinReconnect = 100 * time.Millisecond
	}
	if cfg.MaxReconnect <= 0 {
		cfg.MaxReconnect = 5 * time.Second
	}
	return &Listener{cfg: cfg}
}

// Start connects and listens, returning once the channel is listened to or
// ctx ends. Notifications then flow to OnNotify until Stop.
func (l *Listener) Start(ctx context.Context) error {
	l.mu.Lock()
	if l.pq != nil {
		l.mu.Unlock()
		return errors.New("pubsub: listener already started")
	}
	l.connected = make(chan struct{})
	l.done = make(chan struct{})
	var once sync.Once
	l.pq = pq.NewListener(withApplicationName(l.cfg.DSN, l.cfg.ApplicationName), l.cfg.MinReconnect, l.cfg.MaxReconnect, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnected:
			once.Do(func() { close(l.connected) })
		case pq.ListenerEventDisconnected:
			l.mu.Lock()
			if l.lostAt.IsZero() {
				l.lostAt = time.Now()
			}
			l.mu.Unlock()
		}
		if err != nil && l.cfg.OnError != nil {
			l.cfg.OnError(fmt.Errorf("pubsub: listener %s: %w", ev, err))
		}
	})
	pql := l.pq
	l.mu.Unlock()

	select {
	case <-l.connected:
	case <-ctx.Done():
		_ = pql.Close()
		go drain(pql.Notify, l.done)
		return fmt.Errorf("pubsub: listener: connect: %w", ctx.Err())
	}
	for _, name := range l.channels() {
		if err := pql.Listen(name); err != nil && !errors.Is(err, net.ErrClosed) {
			_ = pql.Close()
			go drain(pql.Notify, l.done)
			return fmt.Errorf("pubsub: listen %s: %w", name, err)
		}
	}
	go l.loop(pql)
	return nil
}

// withApplicationName adds application_name to a URL or key=value DSN that
// has none.
func withApplicationName(dsn, name string) string {
	if name == "" || strings.Contains(dsn, "application_name") {
		return dsn
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("application_name", name)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " application_name=" + name
}

// channels returns the names of every channel listened to.
func (l *Listener) channels() []string {
	names := []string{l.cfg.Channel}
	for _, c := range l.cfg.More {
		names = append(names, c.Name)
	}
	return names
}

func drain(c <-chan *pq.Notification, done chan struct{}) {
	for range c {
	}
	close(done)
}

// loop hands notifications to OnNotify until the listener closes. A nil
// notification means the connection came back after a loss.
func (l *Listener) loop(pql *pq.Listener) {
	defer close(l.done)
	ping := time.NewTicker(60 * time.Second)
	defer ping.Stop()
	for {
		select {
		case n, ok := <-pql.Notify:
			if !ok {
				return
			}
			if n == nil {
				l.mu.Lock()
				lostAt := l.lostAt
				l.lostAt = time.Time{}
				l.mu.Unlock()
				if lostAt.IsZero() {
					lostAt = time.Now()
				}
				if l.cfg.OnReconnect != nil {
					l.cfg.OnReconnect(lostAt)
				}
				for _, c := range l.cfg.More {
					if c.OnReconnect != nil {
						c.OnReconnect(lostAt)
					}
				}
				continue
			}
			if n.Extra == "" {
				continue
			}
			if n.Channel == l.cfg.Channel && l.cfg.OnNotify != nil {
				l.cfg.OnNotify(strings.Split(n.Extra, ","))
			}
			for _, c := range l.cfg.More {
				if n.Channel == c.Name && c.OnNotify != nil {
					c.OnNotify(strings.Split(n.Extra, ","))
				}
			}
		case <-ping.C:
			// A ping finds a dead connection that TCP has not reported yet.
			go func() { _ = pql.Ping() }()
		}
	}
}

// Stop closes the connection and waits for the listener's goroutine to end.
// Stopping twice, or before Start, is harmless.
func (l *Listener) Stop() {
	l.mu.Lock()
	pql, done := l.pq, l.done
	l.mu.Unlock()
	if pql == nil {
		return
	}
	_ = pql.Close()
	<-done
}

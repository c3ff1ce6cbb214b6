// Package notify tells the people in an access request what happened to it
// (issue 14): one table of rules (Rules, applied by the pure Plan) turns the
// workflow's events into notifications for the right people; the service
// is an outbox of the workflow (Enqueue): each change's events go into its
// one outbox job inside the change's transaction, and that job (Work)
// writes the notifications once per event and recipient, publishes them live to the recipient's
// notificationAdded subscriptions on every replica, and sends each
// recipient's e-mail once, marking it sent. A recipient is told only of
// requests they may see (authz.RequestFacts) and on the channels they
// chose (notification preferences, with defaults). Service answers the
// recipient's reads and writes: their notifications, unread count, read
// marks and preferences.
package notify

import (
	"cmp"
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/internal/jobs"
	"gatehouse/internal/mail"
	"gatehouse/internal/pubsub"
)

// Observer counts notifications and e-mails, by kind (*metrics.Notifications
// implements it). Its methods must not block.
type Observer interface {
	NotificationCreated(kind string)
	EmailSent(kind string)
	EmailFailed(kind string)
}

type noObserver struct{}

func (noObserver) NotificationCreated(string) {}
func (noObserver) EmailSent(string)           {}
func (noObserver) EmailFailed(string)         {}

// DefaultPublicURL is where links point when Config.PublicURL is empty.
const DefaultPublicURL = "http://localhost:8080"

// RelayChannel is the NOTIFY channel that carries new notifications to
// every replica's subscribers.
const RelayChannel = "gatehouse_notifications"

// Config is what a Service needs.
type Config struct {
	// Client is the server's ent client; the service reads and writes
	// through it in a system context after checking the caller.
	Client *ent.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Mail sends the e-mails; nil sends none.
	Mail mail.Sender
	// PublicURL is the server's address as users reach it, for the links
	// in e-mails; empty means DefaultPublicURL.
	PublicURL string
	// Relay carries new notifications to the subscribers of every process
	// (on the progress feed's LISTEN connection on PostgreSQL).
	Relay *pubsub.Relay
	// Observer counts; nil counts nothing.
	Observer Observer
	Log      *slog.Logger
	// Buffer is the per-subscription buffer; zero means pubsub.DefaultBuffer.
	Buffer int
}

// Service delivers and serves notifications. Start and Stop bracket its
// live delivery.
type Service struct {
	// tx runs the writes (Attach).
	tx        Transactions
	client    *ent.Client
	now       func() time.Time
	mail      mail.Sender
	publicURL string
	relay     *pubsub.Relay
	observer  Observer
	log       *slog.Logger
	live      *live
	// deliveries runs the delivery jobs worked at the same time together.
	deliveries jobs.Group[*delivery]
}

// Transactions runs writes in the workflow's one write path;
// *workflow.Service is one.
type Transactions interface {
	WriteTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, client *ent.Client) error) error
}

// Attach gives the service the workflow whose write path its writes take
// (the workflow is built after it: the service is one of the
// workflow's outboxes). Call it before serving or starting the job runner.
func (s *Service) Attach(tx Transactions) { s.tx = tx }

// New returns a stopped service.
func New(cfg Config) *Service {
	s := &Service{
		client: cfg.Client, now: cfg.Now,
		mail: cfg.Mail, publicURL: strings.TrimRight(cmp.Or(cfg.PublicURL, DefaultPublicURL), "/"),
		relay:    cfg.Relay,
		observer: cmp.Or[Observer](cfg.Observer, noObserver{}),
		log:      cmp.Or(cfg.Log, slog.New(slog.DiscardHandler)),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.relay == nil {
		s.relay = pubsub.NewRelay(RelayChannel, false)
	}
	s.live = newLive(s, cfg.Buffer)
	s.deliveries.Run = s.prepare
	return s
}

// link returns the public URL of a path.
func (s *Service) link(path string) string {
	u, err := url.JoinPath(s.publicURL, path)
	if err != nil {
		return s.publicURL + path
	}
	return u
}

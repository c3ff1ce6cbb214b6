package notify

import (
	"context"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/notification"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/pubsub"
)

// live fans new notifications out to this process's notificationAdded
// subscribers: the relay brings "recipient/notification" notices from the
// process that wrote them (any replica), the worker reads the rows of the
// recipients subscribed here and publishes each to its recipient's topic.
type live struct {
	s      *Service
	broker *pubsub.Broker[*ent.Notification]
	queue  *pubsub.Coalescer
}

func newLive(s *Service, buffer int) *live {
	l := &live{s: s, broker: pubsub.NewBroker[*ent.Notification](pubsub.Options{Buffer: buffer})}
	l.queue = pubsub.NewCoalescer(500, l.handle)
	s.relay.Receive(func(notices []string) { l.queue.Add(notices...) }, nil)
	return l
}

// Start runs the live delivery.
func (s *Service) Start(ctx context.Context) { s.live.queue.Start(context.WithoutCancel(ctx)) }

// Stop ends the live delivery and every subscription. Stopping twice is
// harmless.
func (s *Service) Stop() {
	s.live.queue.Stop()
	s.live.broker.Close()
}

// handle reads and publishes a batch of new notifications.
func (l *live) handle(ctx context.Context, notices []string) {
	var ids []pulid.ID
	for _, n := range notices {
		recipient, id, ok := strings.Cut(n, "/")
		if ok && l.broker.Subscribers(recipient) > 0 {
			ids = append(ids, pulid.ID(id))
		}
	}
	if len(ids) == 0 {
		return
	}
	rows, err := l.s.client.Notification.Query().Where(notification.IDIn(ids...)).
		Order(notification.ByID()).All(authz.SystemContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		l.s.log.Error("live notifications; retrying in a second", "error", err)
		time.AfterFunc(time.Second, func() { l.queue.Add(notices...) })
		return
	}
	for _, n := range rows {
		l.broker.Publish(string(n.RecipientID), n)
	}
}

// Subscribe returns the viewer's new in-app notifications as they are
// written, on any replica; no snapshot. The channel closes when ctx ends,
// the service stops, or the subscriber does not keep up. Any authenticated
// viewer may call it. Errors: UNAUTHENTICATED.
func (s *Service) Subscribe(ctx context.Context) (<-chan *ent.Notification, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	return s.live.broker.Subscribe(ctx, string(v.UserID)).C, nil
}

// Subscribers returns the number of notificationAdded subscriptions this
// process serves.
func (s *Service) Subscribers() int { return s.live.broker.Total() }

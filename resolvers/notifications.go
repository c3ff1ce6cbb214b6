package resolvers

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
	"gatehouse/internal/notify"
)

// Notifications is what the resolvers need of the notification service.
type Notifications interface {
	Mine(ctx context.Context, unreadOnly bool) (*ent.NotificationQuery, error)
	UnreadCount(ctx context.Context) (int, error)
	MarkRead(ctx context.Context, ids []pulid.ID, all bool) (int, error)
	Preferences(ctx context.Context) ([]*notify.Preference, error)
	UpdatePreferences(ctx context.Context, changes []*notify.PreferenceChange) ([]*notify.Preference, error)
	Subscribe(ctx context.Context) (<-chan *ent.Notification, error)
}

var _ Notifications = (*notify.Service)(nil)

// notifications returns the notification service, or an error when the
// server has none.
func (r *Resolver) notifications() (Notifications, error) {
	if r.notify == nil {
		return nil, errcode.New(errcode.Internal, "notifications are not configured")
	}
	return r.notify, nil
}

package authz

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/notification"
	"gatehouse/ent/notificationpreference"
	"gatehouse/ent/privacy"
)

// NotificationPolicy lets every viewer read only their own notifications:
// they are personal, and risk managers and IT admins, who read every
// request, do not read other people's notifications. Only internal/notify
// writes them, in a system context.
func NotificationPolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			requireViewer(),
			privacy.NotificationQueryRuleFunc(func(ctx context.Context, q *ent.NotificationQuery) error {
				q.Where(notification.RecipientID(FromContext(ctx).UserID))
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: systemOnlyWrites(),
	}
}

// NotificationPreferencePolicy lets every viewer read only their own
// notification preferences; internal/notify writes them for their owner.
func NotificationPreferencePolicy() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			requireViewer(),
			privacy.NotificationPreferenceQueryRuleFunc(func(ctx context.Context, q *ent.NotificationPreferenceQuery) error {
				q.Where(notificationpreference.UserID(FromContext(ctx).UserID))
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: systemOnlyWrites(),
	}
}

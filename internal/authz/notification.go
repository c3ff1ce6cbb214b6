package authz

import (
	"context"

	"entgo.io/ent/entql"

	"gatehouse/ent"
	"gatehouse/ent/notification"
	"gatehouse/ent/notificationpreference"
	"gatehouse/ent/privacy"
)

// NotificationPolicy lets every viewer read only their own notifications:
// they are personal, and risk managers and IT admins, who read every
// request, do not read other people's notifications. Only internal/notify
// writes them, in a system context.
func NotificationPolicy() ent.Policy { return ownRows(notification.FieldRecipientID) }

// NotificationPreferencePolicy lets every viewer read only their own
// notification preferences; internal/notify writes them for their owner.
func NotificationPreferencePolicy() ent.Policy { return ownRows(notificationpreference.FieldUserID) }

// ownRows is the policy of personal rows: a viewer reads the rows whose
// field holds their user ID and no others; only the system writes.
func ownRows(field string) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			requireViewer(),
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				f.Where(entql.FieldEQ(field, string(FromContext(ctx).UserID)))
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: systemOnlyWrites(),
	}
}

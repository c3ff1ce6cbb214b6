package notify

import (
	"context"
	"database/sql"
	"fmt"

	"gatehouse/ent"
	"gatehouse/ent/notificationpreference"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// Channels are where a kind of notification reaches a user.
type Channels struct {
	InApp bool
	Email bool
}

// DefaultChannels returns the channels of a kind for a user who has not
// chosen: in-app for every kind; e-mail too for what asks the user to act
// or decides about their own request (tasks assigned, reminded or
// escalated; approvals, denials and failed fulfilment; access about to
// end; manual fulfilment waiting for them; an event webhook endpoint
// disabled, for IT admins; emergency access
// provisioned without review, for risk managers).
func DefaultChannels(kind enum.NotificationKind) Channels {
	switch kind {
	case enum.NotificationKindTaskAssigned, enum.NotificationKindTaskReminded, enum.NotificationKindTaskEscalated,
		enum.NotificationKindRequestApproved, enum.NotificationKindRequestDenied,
		enum.NotificationKindFulfillmentFailed, enum.NotificationKindGrantExpiring,
		enum.NotificationKindManualFulfillmentWaiting, enum.NotificationKindWebhookEndpointDisabled,
		enum.NotificationKindBreakGlassInvoked:
		return Channels{InApp: true, Email: true}
	}
	return Channels{InApp: true}
}

// Preference is a user's channels for one kind; IsDefault is true while
// the user has not set the kind.
type Preference struct {
	Kind enum.NotificationKind
	Channels
	IsDefault bool
}

// PreferenceChange sets a kind's channels; a nil channel keeps its value.
type PreferenceChange struct {
	Kind  enum.NotificationKind
	InApp *bool
	Email *bool
}

// channels are the chosen channels of some users, by user and kind.
type channels map[pulid.ID]map[enum.NotificationKind]Channels

func (c channels) of(u pulid.ID, kind enum.NotificationKind) Channels {
	if ch, ok := c[u][kind]; ok {
		return ch
	}
	return DefaultChannels(kind)
}

// channelsOf reads the chosen channels of the users.
func (s *Service) channelsOf(ctx context.Context, client *ent.Client, users []pulid.ID) (channels, error) {
	rows, err := client.NotificationPreference.Query().
		Where(notificationpreference.UserIDIn(users...)).All(authz.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("load notification preferences: %w", err)
	}
	out := channels{}
	for _, r := range rows {
		if out[r.UserID] == nil {
			out[r.UserID] = map[enum.NotificationKind]Channels{}
		}
		out[r.UserID][r.Kind] = Channels{InApp: r.InApp, Email: r.Email}
	}
	return out, nil
}

// Preferences returns the viewer's channels for every kind, in the order
// of enum.AllNotificationKinds, defaults included. Any authenticated
// viewer may call it. Errors: UNAUTHENTICATED.
func (s *Service) Preferences(ctx context.Context) ([]*Preference, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	return s.preferences(ctx, s.client, v.UserID)
}

func (s *Service) preferences(ctx context.Context, client *ent.Client, userID pulid.ID) ([]*Preference, error) {
	chosen, err := s.channelsOf(ctx, client, []pulid.ID{userID})
	if err != nil {
		return nil, err
	}
	out := make([]*Preference, len(enum.AllNotificationKinds))
	for i, k := range enum.AllNotificationKinds {
		ch, ok := chosen[userID][k]
		if !ok {
			ch = DefaultChannels(k)
		}
		out[i] = &Preference{Kind: k, Channels: ch, IsDefault: !ok}
	}
	return out, nil
}

// UpdatePreferences sets the viewer's channels for the kinds of changes
// and returns all their preferences. Any authenticated viewer with write
// access may call it, for themselves only. Errors: UNAUTHENTICATED,
// FORBIDDEN (a read-only token), INVALID_INPUT (no change, an unknown kind,
// a kind given twice).
func (s *Service) UpdatePreferences(ctx context.Context, changes []*PreferenceChange) ([]*Preference, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true})
	if err != nil {
		return nil, err
	}
	if len(changes) == 0 {
		return nil, errcode.Invalid("input", "give at least one kind")
	}
	seen := map[enum.NotificationKind]bool{}
	for _, c := range changes {
		if !c.Kind.IsValid() {
			return nil, errcode.Invalid("kind", "%q is not a notification kind", c.Kind)
		}
		if seen[c.Kind] {
			return nil, errcode.Invalid("kind", "%s is given twice", c.Kind)
		}
		seen[c.Kind] = true
	}
	var out []*Preference
	err = s.inTx(ctx, func(ctx context.Context, _ *sql.Tx, client *ent.Client) error {
		current, err := s.preferences(ctx, client, v.UserID)
		if err != nil {
			return err
		}
		byKind := map[enum.NotificationKind]Channels{}
		for _, p := range current {
			byKind[p.Kind] = p.Channels
		}
		for _, c := range changes {
			ch := byKind[c.Kind]
			if c.InApp != nil {
				ch.InApp = *c.InApp
			}
			if c.Email != nil {
				ch.Email = *c.Email
			}
			err := client.NotificationPreference.Create().
				SetUserID(v.UserID).SetKind(c.Kind).SetInApp(ch.InApp).SetEmail(ch.Email).
				SetCreatedAt(s.now()).SetUpdatedAt(s.now()).
				OnConflictColumns(notificationpreference.FieldUserID, notificationpreference.FieldKind).
				Update(func(u *ent.NotificationPreferenceUpsert) {
					u.UpdateInApp().UpdateEmail().SetUpdatedAt(s.now())
				}).
				Exec(ctx)
			if err != nil {
				return fmt.Errorf("save preference %s: %w", c.Kind, err)
			}
		}
		out, err = s.preferences(ctx, client, v.UserID)
		return err
	})
	return out, err
}

package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"gatehouse/ent"
	"gatehouse/ent/notification"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// Mine returns the query of the viewer's in-app notifications, unread
// ones only when unreadOnly; the caller orders and pages it. The privacy
// policy (authz.NotificationPolicy) keeps it to the viewer's own. Any
// authenticated viewer may call it. Errors: UNAUTHENTICATED.
func (s *Service) Mine(ctx context.Context, unreadOnly bool) (*ent.NotificationQuery, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, err
	}
	q := s.client.Notification.Query().Where(notification.RecipientID(v.UserID), notification.InApp(true))
	if unreadOnly {
		q.Where(notification.ReadAtIsNil())
	}
	return q, nil
}

// UnreadCount returns how many of the viewer's in-app notifications are
// unread. Any authenticated viewer may call it. Errors: UNAUTHENTICATED.
func (s *Service) UnreadCount(ctx context.Context) (int, error) {
	q, err := s.Mine(ctx, true)
	if err != nil {
		return 0, err
	}
	return q.Count(ctx)
}

// MarkRead marks the viewer's notifications read, those of ids or all of
// them, and returns how many it changed (those already read do not count).
// Any authenticated viewer with write access may call it, for their own
// notifications only. Errors: UNAUTHENTICATED, FORBIDDEN (a read-only
// token), INVALID_INPUT (both ids and all, or neither), NOT_FOUND (an id
// that is not one of the viewer's notifications: another user's reads the
// same as a missing one).
func (s *Service) MarkRead(ctx context.Context, ids []pulid.ID, all bool) (int, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true, To: "mark notifications read"})
	if err != nil {
		return 0, err
	}
	switch {
	case all && ids != nil:
		return 0, errcode.Invalid("ids", "give ids or all, not both")
	case !all && len(ids) == 0:
		return 0, errcode.Invalid("ids", "give the ids of the notifications to mark read, or all: true")
	}
	mine := notification.And(notification.RecipientID(v.UserID), notification.InApp(true))
	var n int
	err = s.inTx(ctx, func(ctx context.Context, _ *sql.Tx, client *ent.Client) error {
		if !all {
			ids = slices.Compact(slices.Sorted(slices.Values(ids)))
			found, err := client.Notification.Query().Where(mine, notification.IDIn(ids...)).Count(ctx)
			if err != nil {
				return fmt.Errorf("find notifications: %w", err)
			}
			if found != len(ids) {
				return errcode.New(errcode.NotFound, "notification not found")
			}
		}
		upd := client.Notification.Update().Where(mine, notification.ReadAtIsNil())
		if !all {
			upd.Where(notification.IDIn(ids...))
		}
		var err error
		n, err = upd.SetReadAt(s.now()).SetUpdatedAt(s.now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("mark notifications read: %w", err)
		}
		return nil
	})
	return n, err
}

// inTx runs fn in a transaction of the workflow's one write path
// (Transactions), with a client over it that bypasses privacy (the caller
// has checked the viewer).
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx, client *ent.Client) error) error {
	if s.tx == nil {
		return errors.New("notify: no workflow attached for writes")
	}
	return s.tx.WriteTx(ctx, fn)
}

package resolvers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/notification"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// Notifications of the lifecycle (issue 14): the sweep's reminders and
// escalations and a leaver's revocation tell the people they concern, and
// nobody else.

// notifiedOf returns the user's notifications, newest first, once the
// notification jobs are done, read with a token minted at the Env's clock.
func notifiedOf(t *testing.T, env *apitest.Env, u *ent.User) []apitest.Notification {
	t.Helper()
	env.AwaitJobs(t, "outbox")
	return env.Notifications(t, env.Token(t, u), false)
}

// TestNotificationsOfRemindersAndEscalation: a pending task reminds its
// assignee (once, as the policy bounds it); its escalation tells the new
// assignee, linked to the new task, and the previous one that it left
// them; the requester and the beneficiary hear of neither.
func TestNotificationsOfRemindersAndEscalation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		boss := env.User(t, "boss@example.com", enum.PlatformRoleUser)
		m := subPerson(t, env, "m@example.com", boss, nil)
		r := subPerson(t, env, "r@example.com", m, nil)
		b := subPerson(t, env, "b@example.com", m, nil)
		app, e := o.app(t, "Wiki", enum.FulfillmentManual, nil, enum.ReviewerKindManager)
		o.lcSet(t, app, map[string]any{"remindEveryHours": 1, "maxReminders": 1, "escalateAfterHours": 2})
		req := o.fulSubmit(t, env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})
		require.Equal(t, []string{"TASK_ASSIGNED"}, apitest.Kinds(notifiedOf(t, env, m)))

		env.Clock.Advance(61 * time.Minute)
		o.lcSweep(t)
		env.Clock.Advance(30 * time.Minute)
		o.lcSweep(t)
		ofM := notifiedOf(t, env, m)
		require.Equal(t, []string{"TASK_REMINDED", "TASK_ASSIGNED"}, apitest.Kinds(ofM), "one reminder, as the policy bounds it")
		require.Equal(t, "Reminder: review Wiki users in Wiki for b@example.com", ofM[0].Title)
		require.Equal(t, ofM[1].Link, ofM[0].Link, "the reminder links to the pending task")

		env.Clock.Advance(30 * time.Minute)
		o.lcSweep(t)
		ofBoss := notifiedOf(t, env, boss)
		require.Equal(t, []string{"TASK_ESCALATED"}, apitest.Kinds(ofBoss), "the assignee's manager has the task")
		require.Equal(t, "Escalated to you: review Wiki users in Wiki for b@example.com", ofBoss[0].Title)
		p := o.progress(t, env.Token(t, boss), req.ID)
		require.Equal(t, "/app/tasks/"+p.task(t, "Wiki users", boss.Email), ofBoss[0].Link, "linked to the new task")

		ofM = notifiedOf(t, env, m)
		require.Equal(t, []string{"TASK_ESCALATED", "TASK_REMINDED", "TASK_ASSIGNED"}, apitest.Kinds(ofM))
		require.Equal(t, "Escalated to boss@example.com: review Wiki users in Wiki for b@example.com", ofM[0].Title,
			"the previous assignee learns the task left them")
		require.Equal(t, "/app/requests/"+req.ID, ofM[0].Link)

		require.Empty(t, notifiedOf(t, env, r), "the requester hears of no reminder nor escalation")
		require.Empty(t, notifiedOf(t, env, b), "nor does the beneficiary")
		require.Empty(t, notifiedOf(t, env, o.admin))
	})
}

// TestNotificationsOfLeaverTellNobodyTerminated: a leaver's revocation —
// through the connector on one application, by the owner's hand on a
// MANUAL one — tells the owner who has to act, and never the leaver, who
// is both the requester and the beneficiary of the system's request.
func TestNotificationsOfLeaverTellNobodyTerminated(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		owner := o.env.User(t, "owner@example.com", enum.PlatformRoleUser)
		_, ledger := o.app(t, "Ledger", enum.FulfillmentManual, []*ent.User{owner}, enum.ReviewerKindManager)
		_, wiki := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		manual := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(ledger.ID)}})
		o.fulApprove(t, c, manual.ID, "Ledger users")
		o.env.MustDo(t, o.env.Token(t, owner), lvComplete, map[string]any{"id": manual.Items[0].ID, "ok": true, "ext": "b-ledger"}, nil)
		direct := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(wiki.ID)}})
		o.fulApprove(t, c, direct.ID, "Wiki users")
		o.fulAwait(t, c.tokB, direct.Items[0].ID, "FULFILLED")

		before := map[string]int{}
		for _, u := range []*ent.User{c.b, c.m, owner, o.admin} {
			before[u.Email] = len(notifiedOf(t, o.env, u))
		}
		terminate(t, o.env, c.tokAdmin, c.b)
		items := lvTerminatedItems(t, o.env, c.b)
		require.Len(t, items, 2)
		for _, it := range items {
			if it.ApplicationID != ledger.ApplicationID {
				o.fulAwait(t, c.tokAdmin, string(it.ID), "FULFILLED")
			}
		}
		o.env.AwaitJobs(t, "outbox")

		n, err := o.env.Client.Notification.Query().Where(notification.RecipientID(c.b.ID)).Count(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, before[c.b.Email], n, "the leaver is told nothing")
		ofOwner := notifiedOf(t, o.env, owner)
		require.Len(t, ofOwner, before[owner.Email]+1)
		require.Equal(t, "MANUAL_FULFILLMENT_WAITING", ofOwner[0].Kind, "the owner removes the access by hand")
		require.Equal(t, "To do by hand: removal of Ledger users in Ledger for B", ofOwner[0].Title)
		require.Len(t, notifiedOf(t, o.env, c.m), before[c.m.Email], "the leaver's manager decided nothing of it")
		require.Len(t, notifiedOf(t, o.env, o.admin), before[o.admin.Email], "the admin who terminated knows")
	})
}

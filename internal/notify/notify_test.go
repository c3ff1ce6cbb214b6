package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"mime"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/notification"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/mail"
	"gatehouse/internal/mail/mailtest"
	"gatehouse/internal/notify"
)

// scene is a small organisation: r asks for access for b, whose manager m
// reviews; o owns the MANUAL application and fulfils by hand; x and the IT
// admin a stand outside every request.
type scene struct {
	env              *apitest.Env
	box              *apitest.Mailbox
	r, b, m, o, x, a *ent.User
	ents             []*ent.Entitlement
	tokR, tokB, tokM string
	tokO, tokX, tokA string
	users            []*ent.User
}

func newScene(t *testing.T, db *dbtest.DB) *scene {
	t.Helper()
	box := &apitest.Mailbox{}
	s := newSceneMailing(t, db, box)
	s.box = box
	return s
}

// newSceneMailing is the scene sending its e-mails through sender.
func newSceneMailing(t *testing.T, db *dbtest.DB, sender mail.Sender) *scene {
	t.Helper()
	env := apitest.NewWith(t, db, apitest.Options{Mail: sender, PublicURL: "https://gatehouse.example.com/"})
	s := &scene{env: env}
	sys := apitest.Sys()
	s.r = env.User(t, "r@example.com", enum.PlatformRoleUser)
	s.m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	s.b = env.User(t, "b@example.com", enum.PlatformRoleUser)
	s.o = env.User(t, "o@example.com", enum.PlatformRoleUser)
	s.x = env.User(t, "x@example.com", enum.PlatformRoleUser)
	s.a = env.User(t, "a@example.com", enum.PlatformRoleITAdmin)
	require.NoError(t, s.b.Update().SetManagerID(s.m.ID).Exec(sys))
	app, err := env.Client.Application.Create().SetName("Ledger").
		SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).AddOwners(s.o).Save(sys)
	require.NoError(t, err)
	for _, name := range []string{"Reader", "Writer", "Auditor"} {
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name).SetName(name).Save(sys)
		require.NoError(t, err)
		s.ents = append(s.ents, e)
	}
	s.tokR, s.tokB, s.tokM = env.Token(t, s.r), env.Token(t, s.b), env.Token(t, s.m)
	s.tokO, s.tokX, s.tokA = env.Token(t, s.o), env.Token(t, s.x), env.Token(t, s.a)
	s.users = []*ent.User{s.r, s.b, s.m, s.o, s.x, s.a}
	return s
}

// submit asks, as r, for entitlement i for b, and returns the request.
func (s *scene) submit(t *testing.T, i int) pulid.ID {
	t.Helper()
	var out struct {
		SubmitAccessRequest struct{ ID pulid.ID }
	}
	s.env.MustDo(t, s.tokR, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "beneficiaryId": s.b.ID, "entitlementIds": []pulid.ID{s.ents[i].ID}}}, &out)
	s.env.AwaitJobs(t, "outbox")
	return out.SubmitAccessRequest.ID
}

// decide decides, as m, the pending task of the request.
func (s *scene) decide(t *testing.T, req pulid.ID, decision string) {
	t.Helper()
	var tasks struct {
		MyTasks struct {
			Edges []struct {
				Node struct {
					ID      pulid.ID
					Request struct{ ID pulid.ID }
				}
			}
		}
	}
	s.env.MustDo(t, s.tokM, `{ myTasks { edges { node { id request { id } } } } }`, nil, &tasks)
	for _, e := range tasks.MyTasks.Edges {
		if e.Node.Request.ID == req {
			s.env.MustDo(t, s.tokM, `mutation($id: ID!, $d: Decision!) { decideReviewTask(id: $id, decision: $d) { id } }`,
				map[string]any{"id": e.Node.ID, "d": decision}, nil)
			s.env.AwaitJobs(t, "outbox")
			return
		}
	}
	t.Fatalf("no pending task of %s for the manager", req)
}

// fulfil closes, as the owner o, the request's waiting item.
func (s *scene) fulfil(t *testing.T, req pulid.ID) {
	t.Helper()
	var q struct {
		Node struct{ Items []struct{ ID pulid.ID } }
	}
	s.env.MustDo(t, s.tokA, `query($id: ID!) { node(id: $id) { ... on AccessRequest { items { id } } } }`, map[string]any{"id": req}, &q)
	s.env.MustDo(t, s.tokO, `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true) { id } }`,
		map[string]any{"id": q.Node.Items[0].ID}, nil)
	s.env.AwaitJobs(t, "outbox")
}

// list returns the viewer's notifications, newest first.
func (s *scene) list(t *testing.T, tok string, unreadOnly bool) []apitest.Notification {
	t.Helper()
	return s.env.Notifications(t, tok, unreadOnly)
}

// kinds returns the notifications' kinds, sorted.
func kinds(ns []apitest.Notification) []string {
	return slices.Sorted(slices.Values(apitest.Kinds(ns)))
}

// counter returns the value of a counter of the server's metrics for kind.
func (s *scene) counter(t *testing.T, name, kind string) float64 {
	t.Helper()
	families, err := s.env.Server.Metrics.Registry().Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// mails returns how many messages were sent to the address.
func (s *scene) mails(addr string) int { return len(s.box.To(addr)) }

// TestRequestLifeNotifiesItsPeople: a request approved and fulfilled, one
// denied and one cancelled tell exactly the reviewer of each task, the
// requester and the beneficiary of each decision, and the owner who must
// fulfil by hand — in the app, and by e-mail for the kinds whose default
// includes it — and nobody else: not the person who acted, not a user
// outside the requests, not an IT admin.
func TestRequestLifeNotifiesItsPeople(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newScene(t, db)

		granted := s.submit(t, 0)
		require.Equal(t, []string{"TASK_ASSIGNED"}, kinds(s.list(t, s.tokM, false)), "the reviewer learns of the task")
		require.Empty(t, s.list(t, s.tokR, false), "the requester knows what they submitted")
		s.decide(t, granted, "APPROVE")
		s.fulfil(t, granted)

		denied := s.submit(t, 1)
		s.decide(t, denied, "DENY")

		cancelled := s.submit(t, 2)
		s.env.MustDo(t, s.tokR, `mutation($id: ID!) { cancelAccessRequest(id: $id, reason: "not needed") { id } }`,
			map[string]any{"id": cancelled}, nil)
		s.env.AwaitJobs(t, "outbox")

		require.Equal(t, []string{"TASK_ASSIGNED", "TASK_ASSIGNED", "TASK_ASSIGNED"}, kinds(s.list(t, s.tokM, false)))
		require.Equal(t, []string{"ACCESS_GRANTED", "REQUEST_APPROVED", "REQUEST_DENIED"}, kinds(s.list(t, s.tokR, false)),
			"the requester cancelled the third request, so is not told of it")
		require.Equal(t, []string{"ACCESS_GRANTED", "REQUEST_APPROVED", "REQUEST_CANCELLED", "REQUEST_DENIED"}, kinds(s.list(t, s.tokB, false)))
		require.Equal(t, []string{"MANUAL_FULFILLMENT_WAITING"}, kinds(s.list(t, s.tokO, false)),
			"the owner fulfils by hand; the grant they recorded themselves is not news to them")
		require.Empty(t, s.list(t, s.tokX, false), "a user outside the requests")
		require.Empty(t, s.list(t, s.tokA, false), "an IT admin outside the requests")

		// E-mail: tasks, decisions and manual work by default; grants and
		// cancellations in the app only.
		require.Equal(t, 3, s.mails("m@example.com"))
		require.Equal(t, 2, s.mails("r@example.com"))
		require.Equal(t, 2, s.mails("b@example.com"))
		require.Equal(t, 1, s.mails("o@example.com"))
		require.Len(t, s.box.Sent(), 8, "nobody else got mail")
		require.Equal(t, 3.0, s.counter(t, "gatehouse_notifications_created_total", "TASK_ASSIGNED"))
		require.Equal(t, 4.0, s.counter(t, "gatehouse_notifications_created_total", "ACCESS_GRANTED")+
			s.counter(t, "gatehouse_notifications_created_total", "REQUEST_CANCELLED")+
			s.counter(t, "gatehouse_notifications_created_total", "MANUAL_FULFILLMENT_WAITING"), "2 grants, 1 cancellation, 1 manual")
		require.Equal(t, 3.0, s.counter(t, "gatehouse_notification_emails_sent_total", "TASK_ASSIGNED"))
		require.Equal(t, 2.0, s.counter(t, "gatehouse_notification_emails_sent_total", "REQUEST_DENIED"))
		require.Zero(t, s.counter(t, "gatehouse_notification_emails_failed_total", "TASK_ASSIGNED"))

		// The reviewer's notification links to the task; the e-mail says
		// what and links to it on the public URL, in text and HTML.
		mine := s.list(t, s.tokM, false)
		require.NotNil(t, mine[0].Task)
		require.Equal(t, "/app/tasks/"+string(mine[0].Task.ID), mine[0].Link)
		msg := s.box.To("m@example.com")[0]
		require.Equal(t, "[Gatehouse] Review needed: Reader in Ledger for b@example.com", msg.Subject)
		require.Contains(t, msg.Text, "https://gatehouse.example.com/app/tasks/tsk_")
		require.Contains(t, msg.HTML, `<a href="https://gatehouse.example.com/app/tasks/tsk_`)
		require.Contains(t, msg.Text, "r@example.com asked for Reader in Ledger for b@example.com")
		ofB := s.list(t, s.tokB, false)
		require.Equal(t, "REQUEST_CANCELLED", ofB[0].Kind, "newest first")
		require.Equal(t, "REQUEST_APPROVED", ofB[len(ofB)-1].Kind, "oldest last")
		for _, n := range ofB {
			require.NotNil(t, n.Request, n.Kind)
			require.Equal(t, "/app/requests/"+string(n.Request.ID), n.Link, n.Kind)
		}
	})
}

// TestRequestLifeOverSMTP: through the real SMTP sender to a real SMTP
// server, a request submitted, approved and fulfilled by hand e-mails its
// reviewer, its requester and the owner who fulfils it — one message each,
// from the configured address, with the kind's subject and a link to the
// object on the public URL — and not the beneficiary, who turned approval
// e-mails off, nor anyone outside the request.
func TestRequestLifeOverSMTP(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		srv := mailtest.Start(t, false)
		sender, err := mail.NewSMTP(srv.URL(), "gatehouse@corp.example", mail.WithTLSConfig(&tls.Config{RootCAs: srv.Roots}))
		require.NoError(t, err)
		s := newSceneMailing(t, db, sender)
		s.env.MustDo(t, s.tokB, `mutation { updateNotificationPreferences(input: [{kind: REQUEST_APPROVED, email: false}]) { kind } }`, nil, nil)

		req := s.submit(t, 0)
		s.decide(t, req, "APPROVE")
		s.fulfil(t, req)

		type got struct{ to, subject, link string }
		var mails []got
		for _, m := range srv.Messages() {
			require.True(t, m.TLS, "STARTTLS offered by the server was used")
			require.Equal(t, "gatehouse@corp.example", m.From)
			h, bodies := mailtest.Parts(t, m.Data)
			subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, m.To, h.Get("To"))
			link := regexp.MustCompile(`Open it: (\S+)`).FindStringSubmatch(bodies["text/plain"])
			require.Len(t, link, 2, bodies["text/plain"])
			require.Contains(t, bodies["text/html"], `href="`+link[1]+`"`, "the HTML body links to the same object")
			mails = append(mails, got{m.To, subject, strings.Split(link[1], "_")[0]})
		}
		require.ElementsMatch(t, []got{
			{"m@example.com", "[Gatehouse] Review needed: Reader in Ledger for b@example.com", "https://gatehouse.example.com/app/tasks/tsk"},
			{"r@example.com", "[Gatehouse] Approved: Reader in Ledger for b@example.com", "https://gatehouse.example.com/app/requests/req"},
			{"o@example.com", "[Gatehouse] To do by hand: Reader in Ledger for b@example.com", "https://gatehouse.example.com/app/requests/req"},
		}, mails, "the beneficiary turned approval e-mails off; grants are in-app only by default")
		require.Equal(t, []string{"ACCESS_GRANTED", "REQUEST_APPROVED"}, kinds(s.list(t, s.tokB, false)), "in-app still on for the beneficiary")
		var sent, pending int
		ns, err := s.env.Client.Notification.Query().All(apitest.Sys())
		require.NoError(t, err)
		for _, n := range ns {
			switch n.EmailStatus {
			case enum.EmailStatusSent:
				sent++
			case enum.EmailStatusPending:
				pending++
			}
		}
		require.Equal(t, []int{3, 0}, []int{sent, pending}, "each e-mail the server took is marked SENT")
	})
}

// TestPreferencesChooseTheChannels: e-mail off for a kind sends no e-mail
// of it; in-app off lists none of it; the other users keep the defaults.
func TestPreferencesChooseTheChannels(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newScene(t, db)
		var prefs struct {
			UpdateNotificationPreferences []struct {
				Kind      string
				InApp     bool
				Email     bool
				IsDefault bool
			}
		}
		s.env.MustDo(t, s.tokB, `mutation { updateNotificationPreferences(input: [
			{kind: REQUEST_APPROVED, email: false}, {kind: ACCESS_GRANTED, inApp: false}]) { kind inApp email isDefault } }`, nil, &prefs)
		require.Len(t, prefs.UpdateNotificationPreferences, len(enum.AllNotificationKinds))
		for _, p := range prefs.UpdateNotificationPreferences {
			switch p.Kind {
			case "REQUEST_APPROVED":
				require.Equal(t, []bool{true, false, false}, []bool{p.InApp, p.Email, p.IsDefault}, "e-mail off, in-app kept")
			case "ACCESS_GRANTED":
				require.Equal(t, []bool{false, false, false}, []bool{p.InApp, p.Email, p.IsDefault})
			default:
				require.True(t, p.IsDefault, p.Kind)
			}
		}

		req := s.submit(t, 0)
		s.decide(t, req, "APPROVE")
		s.fulfil(t, req)

		require.Equal(t, []string{"REQUEST_APPROVED"}, kinds(s.list(t, s.tokB, false)), "in-app off: no ACCESS_GRANTED listed")
		require.Zero(t, s.mails("b@example.com"), "e-mail off: no approval e-mail")
		require.Equal(t, []string{"ACCESS_GRANTED", "REQUEST_APPROVED"}, kinds(s.list(t, s.tokR, false)))
		require.Equal(t, 1, s.mails("r@example.com"), "the requester keeps the defaults")

		// Bad input is refused with a code.
		res := s.env.Do(t, s.tokB, `mutation($in: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $in) { kind } }`,
			map[string]any{"in": []map[string]any{{"kind": "NO_SUCH_KIND", "email": false}}})
		require.Equal(t, "INVALID_INPUT", res.Code(), "an unknown kind: %+v", res.Errors)
		res = s.env.Do(t, s.tokB, `mutation { updateNotificationPreferences(input: [{kind: TASK_ASSIGNED, email: false}, {kind: TASK_ASSIGNED, inApp: false}]) { kind } }`, nil)
		require.Equal(t, "INVALID_INPUT", res.Code())
		res = s.env.Do(t, s.tokB, `mutation { updateNotificationPreferences(input: []) { kind } }`, nil)
		require.Equal(t, "INVALID_INPUT", res.Code())
	})
}

// TestMarkReadAndPrivacy: marking read by ids or all moves the unread
// count; nobody else, an IT admin included, reads or marks another user's
// notifications.
func TestMarkReadAndPrivacy(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newScene(t, db)
		req := s.submit(t, 0)
		s.decide(t, req, "APPROVE")

		count := func(tok string) int {
			var out struct{ UnreadNotificationCount int }
			s.env.MustDo(t, tok, `{ unreadNotificationCount }`, nil, &out)
			return out.UnreadNotificationCount
		}
		ofR := s.list(t, s.tokR, false)
		require.Len(t, ofR, 1)
		require.Equal(t, 1, count(s.tokR))

		// Another user, even an IT admin, cannot read or mark it.
		for _, tok := range []string{s.tokX, s.tokA, s.tokB} {
			var node struct{ Node *struct{ ID pulid.ID } }
			s.env.MustDo(t, tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ofR[0].ID}, &node)
			require.Nil(t, node.Node, "node(id:) of another user's notification is null")
			res := s.env.Do(t, tok, `mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }`, map[string]any{"ids": []pulid.ID{ofR[0].ID}})
			require.Equal(t, "NOT_FOUND", res.Code())
		}
		require.Equal(t, 1, count(s.tokR), "still unread")

		res := s.env.Do(t, s.tokR, `mutation($ids: [ID!]) { markNotificationsRead(ids: $ids, all: true) }`, map[string]any{"ids": []pulid.ID{ofR[0].ID}})
		require.Equal(t, "INVALID_INPUT", res.Code(), "ids and all")
		res = s.env.Do(t, s.tokR, `mutation { markNotificationsRead }`, nil)
		require.Equal(t, "INVALID_INPUT", res.Code(), "neither")

		var marked struct{ MarkNotificationsRead int }
		s.env.MustDo(t, s.tokR, `mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }`, map[string]any{"ids": []pulid.ID{ofR[0].ID}}, &marked)
		require.Equal(t, 1, marked.MarkNotificationsRead)
		require.Zero(t, count(s.tokR))
		require.Empty(t, s.list(t, s.tokR, true), "unreadOnly")
		require.Len(t, s.list(t, s.tokR, false), 1)
		s.env.MustDo(t, s.tokR, `mutation($ids: [ID!]) { markNotificationsRead(ids: $ids) }`, map[string]any{"ids": []pulid.ID{ofR[0].ID}}, &marked)
		require.Zero(t, marked.MarkNotificationsRead, "already read")

		require.Equal(t, 1, count(s.tokB))
		s.env.MustDo(t, s.tokB, `mutation { markNotificationsRead(all: true) }`, nil, &marked)
		require.Equal(t, 1, marked.MarkNotificationsRead)
		require.Zero(t, count(s.tokB))
		require.Equal(t, 1, count(s.tokM), "marking all is the viewer's own only")
	})
}

// TestDeliveryRunsOnce: a job that fails after writing its rows (the mail
// server is down) and runs again sends each e-mail once and writes no row
// twice; a job run again after everything was sent (a crash before River
// recorded it completed) writes, publishes and sends nothing.
func TestDeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newScene(t, db)
		ctx := context.Background()
		req := s.submit(t, 0)

		s.box.FailWith(context.DeadlineExceeded)
		var tasks struct {
			MyTasks struct {
				Edges []struct{ Node struct{ ID pulid.ID } }
			}
		}
		s.env.MustDo(t, s.tokM, `{ myTasks { edges { node { id } } } }`, nil, &tasks)
		s.env.MustDo(t, s.tokM, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
			map[string]any{"id": tasks.MyTasks.Edges[0].Node.ID}, nil)
		countRows := func() int {
			n, err := s.env.Client.Notification.Query().Where(notification.RequestID(req)).Count(apitest.Sys())
			require.NoError(t, err)
			return n
		}
		// The rows are written before the e-mails fail the attempt.
		require.Eventually(t, func() bool { return countRows() == 4 }, time.Minute, 20*time.Millisecond)
		s.box.FailWith(nil)
		s.env.AwaitJobs(t, "outbox")
		require.Equal(t, 4, countRows(), "task, approval to r and b, manual work to o")
		require.Equal(t, 1, s.mails("r@example.com"))
		require.Equal(t, 1, s.mails("b@example.com"))
		require.Equal(t, 1, s.mails("o@example.com"))

		// Run every delivery job of the request again, as after a crash
		// between the job's work and its completion. The submission's
		// ITEM_ADDED now names an item waiting for its owner: it still
		// tells nobody, as when it ran first.
		keys, parts := s.env.OutboxParts(t, "notify", rivertype.JobStateCompleted)
		require.NotEmpty(t, keys)
		sent := len(s.box.Sent())
		for i, part := range parts {
			var events []notify.Event
			require.NoError(t, json.Unmarshal(part, &events))
			require.NoError(t, s.env.Server.Notifications.Deliver(ctx, keys[i], events, false))
		}
		require.Equal(t, 4, countRows(), "no row twice")
		require.Len(t, s.box.Sent(), sent, "no e-mail twice")
		ids, err := s.env.Client.Notification.Query().Where(notification.RequestID(req)).IDs(apitest.Sys())
		require.NoError(t, err)
		named := map[string]bool{}
		for _, id := range ids {
			named["notification."+string(id)] = true
		}
		for _, m := range s.box.Sent() {
			require.False(t, strings.Contains(m.Subject, "<no value>"), m.Subject)
			require.True(t, named[m.ID], "an e-mail is named by its notification (one Message-ID on every attempt): %q", m.ID)
		}
	})
}

// delivery is a change's delivery job not run yet (no job runner): the
// submission of a request whose task goes to m, who is e-mailed.
type delivery struct {
	*scene
	key    string
	events []notify.Event
	m      *ent.User
}

func newDelivery(t *testing.T, db *dbtest.DB) *delivery {
	t.Helper()
	return newDeliveries(t, db, 1)[0]
}

// newDeliveries returns n changes' delivery jobs on one server: each the
// submission, by its own requester, of a request whose task goes to that
// requester's manager.
func newDeliveries(t *testing.T, db *dbtest.DB, n int) []*delivery {
	t.Helper()
	box := &apitest.Mailbox{}
	env := apitest.NewWith(t, db, apitest.Options{Mail: box, NoJobs: true})
	sys := apitest.Sys()
	app, err := env.Client.Application.Create().SetName("Ledger").
		SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(sys)
	require.NoError(t, err)
	e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("e").SetName("E").Save(sys)
	require.NoError(t, err)
	out := make([]*delivery, n)
	for i := range out {
		suffix := ""
		if i > 0 {
			suffix = strconv.Itoa(i + 1)
		}
		m := env.User(t, "m"+suffix+"@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r" + suffix + "@example.com").SetName("R").SetManager(m).Save(sys)
		require.NoError(t, err)
		env.MustDo(t, env.Token(t, r), `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{e.ID}}}, nil)
		keys, parts := env.OutboxParts(t, "notify")
		require.Len(t, keys, i+1, "one outbox job with notifications for the change")
		var events []notify.Event
		require.NoError(t, json.Unmarshal(parts[i], &events))
		out[i] = &delivery{scene: &scene{env: env, box: box}, key: keys[i], events: events, m: m}
	}
	return out
}

// run runs the job's attempt.
func (d *delivery) run(lastAttempt bool) error {
	return d.env.Server.Notifications.Deliver(context.Background(), d.key, d.events, lastAttempt)
}

// status is where m's e-mail stands.
func (d *delivery) status(t *testing.T) enum.EmailStatus {
	t.Helper()
	n, err := d.env.Client.Notification.Query().Where(notification.RecipientID(d.m.ID)).Only(apitest.Sys())
	require.NoError(t, err)
	return n.EmailStatus
}

// TestEmailFailureIsRetriedThenMarked: while the mail server refuses for
// now, a delivery fails (River retries it) and leaves the e-mail PENDING;
// the last attempt marks it FAILED and succeeds, and a later run sends
// nothing.
func TestEmailFailureIsRetriedThenMarked(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		d := newDelivery(t, db)
		d.box.FailWith(context.DeadlineExceeded)
		require.Error(t, d.run(false), "the attempt fails: River retries")
		require.Equal(t, enum.EmailStatusPending, d.status(t))
		require.NoError(t, d.run(true), "the last attempt gives up")
		require.Equal(t, enum.EmailStatusFailed, d.status(t))
		require.Equal(t, 2.0, d.counter(t, "gatehouse_notification_emails_failed_total", "TASK_ASSIGNED"))

		d.box.FailWith(nil)
		require.NoError(t, d.run(false))
		require.Empty(t, d.box.Sent(), "a FAILED e-mail is not sent again by a re-run")
		require.Equal(t, 1.0, d.counter(t, "gatehouse_notifications_created_total", "TASK_ASSIGNED"), "written once")
	})
}

// TestDeliveriesRunTogether: delivery jobs worked at the same time are
// delivered in one run (shared reads, one transaction), and each still
// stands alone: it is planned as its own change (the same events under two
// jobs' keys tell m twice, as two changes would), and its e-mails are its
// own (an e-mail that fails fails only the job it belongs to). Run again
// together, nothing is written or sent twice.
func TestDeliveriesRunTogether(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ds := newDeliveries(t, db, 2)
		d1, d2 := ds[0], ds[1]
		ctx := context.Background()
		// The second manager reads tasks in the app only.
		require.NoError(t, d1.env.Client.NotificationPreference.Create().SetUserID(d2.m.ID).
			SetKind(enum.NotificationKindTaskAssigned).SetInApp(true).SetEmail(false).Exec(apitest.Sys()))
		count := func(m *ent.User) int {
			n, err := d1.env.Client.Notification.Query().Where(notification.RecipientID(m.ID)).Count(apitest.Sys())
			require.NoError(t, err)
			return n
		}
		keys, events := []string{d1.key, d2.key}, [][]notify.Event{d1.events, d2.events}

		d1.box.FailWith(context.DeadlineExceeded)
		errs := d1.env.Server.Notifications.DeliverTogether(ctx, keys, events)
		require.Error(t, errs[0], "m's e-mail failed: the first job is retried")
		require.NoError(t, errs[1], "the second job sends no e-mail: done")
		require.Equal(t, 1, count(d1.m))
		require.Equal(t, 1, count(d2.m))
		require.Equal(t, enum.EmailStatusPending, d1.status(t))

		d1.box.FailWith(nil)
		for _, err := range d1.env.Server.Notifications.DeliverTogether(ctx, keys, events) {
			require.NoError(t, err)
		}
		require.Equal(t, 1, count(d1.m), "no row twice")
		require.Equal(t, 1, count(d2.m))
		require.Equal(t, enum.EmailStatusSent, d1.status(t))
		require.Len(t, d1.box.Sent(), 1, "m is e-mailed once, m2 not at all")

		errs = d1.env.Server.Notifications.DeliverTogether(ctx, []string{"x", "y"}, [][]notify.Event{d1.events, d1.events})
		require.Equal(t, []error{nil, nil}, errs)
		require.Equal(t, 3, count(d1.m), "each job is its own change: m told once per job")
		require.Len(t, d1.box.Sent(), 3)
	})
}

// TestPermanentEmailFailureIsNotRetried: an e-mail the mail server refuses
// for good (a 5xx answer) is marked FAILED by the first attempt, which
// succeeds: River does not retry what retrying cannot mend.
func TestPermanentEmailFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		d := newDelivery(t, db)
		d.box.FailWith(&mail.Error{Permanent: true, Code: 550, Err: errors.New("550 no such user")})
		require.NoError(t, d.run(false), "no retry for a permanent refusal")
		require.Equal(t, enum.EmailStatusFailed, d.status(t))
		require.Equal(t, 1.0, d.counter(t, "gatehouse_notification_emails_failed_total", "TASK_ASSIGNED"))

		d.box.FailWith(nil)
		require.NoError(t, d.run(false))
		require.Empty(t, d.box.Sent(), "a FAILED e-mail is not sent again")
	})
}

package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/notification"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/mail"
)

// DeliverWorker works the delivery jobs that earlier versions inserted
// (DeliverArgs).
type DeliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Service
}

// Work delivers one change's notifications.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.s.Deliver(ctx, strconv.FormatInt(job.ID, 10), job.Args.Events, job.Attempt >= job.MaxAttempts)
}

// Register adds the worker of earlier versions' delivery jobs to the job
// runner (jobs.Extension).
func (s *Service) Register(workers *river.Workers) []*river.PeriodicJob {
	river.AddWorker(workers, &DeliverWorker{s: s})
	return nil
}

// delivery is one attempt of a delivery job.
type delivery struct {
	key         string
	events      []Event
	lastAttempt bool
	// pending are its notifications whose e-mail is not sent yet (prepare).
	pending []*ent.Notification
}

// Deliver turns one change's events into notifications: it plans who is
// told what (Plan), keeps the recipients who may see the request and have
// a channel on for the kind, writes the notifications not written yet (one
// per event and recipient, keyed by key, the delivering job), publishes the
// new ones live after commit, and then sends every e-mail of these events
// not sent yet, marking each sent. Run again with the same key it writes,
// publishes and sends nothing twice. An e-mail that fails fails the call
// (the job retries); on the last attempt, or when the mail server refused
// it for good (mail.IsPermanent: retrying would not mend it), it is marked
// FAILED instead.
//
// The delivery jobs worked at the same time share their reads and their
// transaction (jobs.Group: one prepare for all of them), each still planned
// as its own change; each sends its own e-mails.
func (s *Service) Deliver(ctx context.Context, key string, events []Event, lastAttempt bool) error {
	d := &delivery{key: key, events: events, lastAttempt: lastAttempt}
	if err := s.deliveries.Do(ctx, d); err != nil {
		return err
	}
	return s.send(ctx, d)
}

// prepare plans and writes the deliveries' notifications and finds each
// one's e-mails not sent yet.
func (s *Service) prepare(ctx context.Context, ds []*delivery) error {
	ctx = authz.SystemContext(ctx)
	rows, err := s.plan(ctx, ds)
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		if err := s.write(ctx, rows); err != nil {
			return err
		}
	}
	return s.findPending(ctx, ds)
}

// activeByRole reads, with one query (none for no roles), the active users
// of each of roles: their IDs in ID order by platform role.
func (s *Service) activeByRole(ctx context.Context, roles []enum.PlatformRole) (map[enum.PlatformRole][]pulid.ID, error) {
	out := map[enum.PlatformRole][]pulid.ID{}
	if len(roles) == 0 {
		return out, nil
	}
	users, err := s.client.User.Query().
		Where(user.PlatformRoleIn(roles...), user.StatusEQ(enum.UserStatusActive)).
		Order(user.ByID()).Select(user.FieldID, user.FieldPlatformRole).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load users of roles %v: %w", roles, err)
	}
	for _, u := range users {
		out[u.PlatformRole] = append(out[u.PlatformRole], u.ID)
	}
	return out, nil
}

// eventKey names the event at index i of the job key.
func eventKey(key string, i int) string { return key + "." + strconv.Itoa(i) }

// row is one notification to write.
type row struct {
	Planned
	// key is the event's key (eventKey); fact is the event and the
	// rules' facts about it.
	key   string
	fact  *Fact
	inApp bool
	email bool
	title string
	body  string
	link  string
}

// plan reads, once for all the deliveries, what the rules and the texts
// need, and returns the notifications to write: Plan applies to each
// delivery's events as one change.
func (s *Service) plan(ctx context.Context, ds []*delivery) ([]row, error) {
	var reqIDs, itemIDs, tokenIDs []pulid.ID
	admins, risk := false, false
	for _, d := range ds {
		for _, ev := range d.events {
			admins = admins || Names(ev.Action, ITAdmins)
			risk = risk || Names(ev.Action, RiskManagers)
			reqIDs = append(reqIDs, ev.Request)
			if ev.Item != "" {
				itemIDs = append(itemIDs, ev.Item)
			}
			if strings.HasPrefix(ev.Actor, "tok_") {
				tokenIDs = append(tokenIDs, pulid.ID(ev.Actor))
			}
		}
	}
	reqs, err := s.client.AccessRequest.Query().Where(accessrequest.IDIn(slices.Compact(slices.Sorted(slices.Values(reqIDs)))...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load requests: %w", err)
	}
	byReq := make(map[pulid.ID]*ent.AccessRequest, len(reqs))
	for _, r := range reqs {
		byReq[r.ID] = r
	}
	visibility, err := authz.LoadRequestFacts(ctx, s.client, reqs)
	if err != nil {
		return nil, err
	}
	items, err := s.client.RequestItem.Query().Where(requestitem.IDIn(slices.Compact(slices.Sorted(slices.Values(itemIDs)))...)).
		WithEntitlement().
		WithApplication(func(q *ent.ApplicationQuery) { q.WithOwners() }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load items: %w", err)
	}
	byItem := make(map[pulid.ID]*ent.RequestItem, len(items))
	for _, it := range items {
		byItem[it.ID] = it
	}
	tokenOwner := map[string]pulid.ID{}
	if len(tokenIDs) > 0 {
		toks, err := s.client.ApiToken.Query().Where(apitoken.IDIn(slices.Compact(slices.Sorted(slices.Values(tokenIDs)))...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load tokens: %w", err)
		}
		for _, t := range toks {
			tokenOwner[string(t.ID)] = t.OwnerID
		}
	}

	var roles []enum.PlatformRole
	if admins {
		roles = append(roles, enum.PlatformRoleITAdmin)
	}
	if risk {
		roles = append(roles, enum.PlatformRoleRiskManager)
	}
	holders, err := s.activeByRole(ctx, roles)
	if err != nil {
		return nil, err
	}

	var planned []row
	var actors []pulid.ID
	for _, d := range ds {
		facts := make([]Fact, len(d.events))
		for i, ev := range d.events {
			f := Fact{Event: ev}
			if r := byReq[ev.Request]; r != nil {
				f.Requester, f.Beneficiary = r.RequesterID, r.BeneficiaryID
			}
			if it := byItem[ev.Item]; it != nil && it.Edges.Application != nil {
				// The event says the item waits for them, whatever the
				// item's status by the time this job runs.
				for _, o := range it.Edges.Application.Edges.Owners {
					f.ManualOwners = append(f.ManualOwners, o.ID)
				}
			}
			if Names(ev.Action, ITAdmins) {
				f.ITAdmins = holders[enum.PlatformRoleITAdmin]
			}
			if Names(ev.Action, RiskManagers) {
				f.RiskManagers = holders[enum.PlatformRoleRiskManager]
			}
			switch {
			case strings.HasPrefix(ev.Actor, "usr_"):
				f.ActorUser = pulid.ID(ev.Actor)
			case tokenOwner[ev.Actor] != "":
				f.ActorUser = tokenOwner[ev.Actor]
			}
			if f.ActorUser != "" {
				actors = append(actors, f.ActorUser)
			}
			facts[i] = f
		}
		for _, p := range Plan(facts) {
			planned = append(planned, row{Planned: p, key: eventKey(d.key, p.Event), fact: &facts[p.Event]})
		}
	}
	if len(planned) == 0 {
		return nil, nil
	}

	people := actors
	for _, p := range planned {
		people = append(people, p.Recipient)
	}
	for _, r := range reqs {
		people = append(people, r.RequesterID, r.BeneficiaryID)
	}
	users, err := s.client.User.Query().Where(user.IDIn(slices.Compact(slices.Sorted(slices.Values(people)))...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load recipients: %w", err)
	}
	byUser := make(map[pulid.ID]*ent.User, len(users))
	for _, u := range users {
		byUser[u.ID] = u
	}
	prefs, err := s.channelsOf(ctx, s.client, recipients(planned))
	if err != nil {
		return nil, err
	}

	out := planned[:0]
	for _, r := range planned {
		u, ev := byUser[r.Recipient], r.fact.Event
		if u == nil || u.Status != enum.UserStatusActive {
			continue
		}
		viewer := &authz.Viewer{UserID: u.ID, Role: u.PlatformRole}
		if ev.Request == "" {
			// Outside a request only administrators are told.
			if !viewer.IsAdmin() {
				continue
			}
		} else if rf := visibility[ev.Request]; rf == nil || !rf.VisibleTo(viewer) {
			continue
		}
		ch := prefs.of(u.ID, r.Kind)
		r.email = ch.Email && s.mail != nil && u.Kind == enum.UserKindHuman
		if r.inApp = ch.InApp; !r.inApp && !r.email {
			continue
		}
		text := texts{
			Kind: r.Kind, Event: ev, Request: byReq[ev.Request], Item: byItem[ev.Item],
			Recipient: u, Actor: byUser[r.fact.ActorUser], People: byUser,
		}
		if r.title, r.body, err = text.render(); err != nil {
			return nil, err
		}
		r.link = "/app/requests/" + string(ev.Request)
		switch {
		case r.Task != "":
			r.link = "/app/tasks/" + string(r.Task)
		case ev.Request == "":
			r.link = "/app/admin/webhooks/" + string(r.fact.about())
		}
		out = append(out, r)
	}
	return out, nil
}

// write writes the rows not written yet in one transaction and publishes
// the new in-app ones after commit.
func (s *Service) write(ctx context.Context, rows []row) error {
	var created []*ent.Notification
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx, client *ent.Client) error {
		var err error
		if created, err = s.writeTx(ctx, client, rows); err != nil || len(created) == 0 {
			return err
		}
		return s.relay.SendTx(ctx, tx, notices(created)...)
	})
	if err != nil {
		return err
	}
	for _, n := range created {
		s.observer.NotificationCreated(string(n.Kind))
	}
	s.relay.Committed(notices(created)...)
	return nil
}

func (s *Service) writeTx(ctx context.Context, client *ent.Client, rows []row) ([]*ent.Notification, error) {
	keys := make([]string, len(rows))
	for i, r := range rows {
		keys[i] = r.key
	}
	existing, err := client.Notification.Query().
		Where(notification.EventKeyIn(slices.Compact(slices.Sorted(slices.Values(keys)))...)).
		Select(notification.FieldEventKey, notification.FieldRecipientID).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("find written notifications: %w", err)
	}
	done := map[[2]string]bool{}
	for _, n := range existing {
		done[[2]string{n.EventKey, string(n.RecipientID)}] = true
	}
	var creates []*ent.NotificationCreate
	for _, r := range rows {
		if done[[2]string{r.key, string(r.Recipient)}] {
			continue
		}
		c := client.Notification.Create().
			SetRecipientID(r.Recipient).SetKind(r.Kind).SetEventKey(r.key).SetAction(string(r.fact.Action)).
			SetTitle(r.title).SetBody(r.body).SetLink(r.link).SetInApp(r.inApp).
			SetCreatedAt(s.now()).SetUpdatedAt(s.now())
		if r.fact.Request != "" {
			c.SetRequestID(r.fact.Request)
		}
		if r.fact.Item != "" {
			c.SetItemID(r.fact.Item)
		}
		if r.Task != "" {
			c.SetTaskID(r.Task)
		}
		if r.email {
			c.SetEmailStatus(enum.EmailStatusPending)
		}
		creates = append(creates, c)
	}
	if len(creates) == 0 {
		return nil, nil
	}
	created, err := client.Notification.CreateBulk(creates...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("write notifications: %w", err)
	}
	return created, nil
}

// notices are the relay's notices of new in-app notifications:
// "recipient/notification".
func notices(ns []*ent.Notification) []string {
	var out []string
	for _, n := range ns {
		if n.InApp {
			out = append(out, string(n.RecipientID)+"/"+string(n.ID))
		}
	}
	return out
}

// findPending sets each delivery's notifications whose e-mail is not sent
// yet, with their recipients, in one query (none without a mail server).
func (s *Service) findPending(ctx context.Context, ds []*delivery) error {
	if s.mail == nil {
		return nil
	}
	var keys []string
	of := map[string]*delivery{}
	for _, d := range ds {
		for i := range d.events {
			k := eventKey(d.key, i)
			keys = append(keys, k)
			of[k] = d
		}
	}
	pending, err := s.client.Notification.Query().
		Where(notification.EventKeyIn(keys...), notification.EmailStatusEQ(enum.EmailStatusPending)).
		WithRecipient().Order(notification.ByID()).All(ctx)
	if err != nil {
		return fmt.Errorf("find e-mails to send: %w", err)
	}
	for _, n := range pending {
		if d := of[n.EventKey]; d != nil && n.Edges.Recipient != nil {
			d.pending = append(d.pending, n)
		}
	}
	return nil
}

// send sends the delivery's e-mails not sent yet (findPending), one
// message per notification, marking each SENT once the mail server took
// it.
func (s *Service) send(ctx context.Context, d *delivery) error {
	ctx, lastAttempt := authz.SystemContext(ctx), d.lastAttempt
	var errs []error
	for _, n := range d.pending {
		msg, err := s.message(n, n.Edges.Recipient)
		if err == nil {
			err = s.mail.Send(ctx, msg)
		}
		status := enum.EmailStatusSent
		if err != nil {
			permanent := mail.IsPermanent(err)
			s.observer.EmailFailed(string(n.Kind))
			s.log.WarnContext(ctx, "notification e-mail failed", "notification", n.ID, "kind", n.Kind, "error", err,
				"permanent", permanent, "last_attempt", lastAttempt)
			if !lastAttempt && !permanent {
				errs = append(errs, fmt.Errorf("e-mail %s: %w", n.ID, err))
				continue
			}
			status = enum.EmailStatusFailed
		} else {
			s.observer.EmailSent(string(n.Kind))
		}
		// One transaction per e-mail: a crash loses the mark of one at most.
		err = s.inTx(ctx, func(ctx context.Context, _ *sql.Tx, client *ent.Client) error {
			upd := client.Notification.Update().
				Where(notification.ID(n.ID), notification.EmailStatusEQ(enum.EmailStatusPending)).
				SetEmailStatus(status)
			if status == enum.EmailStatusSent {
				upd.SetEmailedAt(s.now())
			}
			return upd.Exec(ctx)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("mark e-mail %s %s: %w", n.ID, status, err))
		}
	}
	return errors.Join(errs...)
}

// message renders a notification's e-mail.
func (s *Service) message(n *ent.Notification, to *ent.User) (mail.Message, error) {
	m, err := renderEmail(emailData{
		Name: to.Name, Title: n.Title, Body: n.Body, URL: s.link(n.Link),
		Settings: s.link("/app/settings/notifications"),
	}, to.Email)
	// One Message-ID per notification, whichever attempt sends it.
	m.ID = "notification." + string(n.ID)
	return m, err
}

func recipients(rows []row) []pulid.ID {
	out := make([]pulid.ID, len(rows))
	for i, r := range rows {
		out[i] = r.Recipient
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

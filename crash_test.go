package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/notification"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/webhookdelivery"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/mail/mailtest"
	"gatehouse/internal/webhooks"
	"gatehouse/internal/webhooks/webhookstest"
)

// Crash tests run the built server against PostgreSQL and a webhook
// receiver held by the test, kill or stop it while grants are in flight, and
// require every item to reach a final state after restarts, each grant
// delivered under one idempotency key.

// crashWait bounds each wait on the server's state; it only fails the test.
const crashWait = 90 * time.Second

// crashScene is a PostgreSQL database with an auto-approved WEBHOOK
// application of n entitlements and a beneficiary, and a receiver whose
// grant answers can be held back.
type crashScene struct {
	db       *dbtest.DB
	client   *ent.Client
	receiver *apitest.Receiver
	env      []string
	dir      string
	token    string
	entIDs   []string

	mu       sync.Mutex
	held     chan struct{} // closed to answer held grants; nil: no hold
	arrivals chan struct{}
}

func newCrashScene(t *testing.T, entitlements int) *crashScene {
	t.Helper()
	db := dbtest.NewPostgres(t)
	s := &crashScene{
		db:       db,
		client:   ent.NewClient(ent.Driver(entsql.OpenDB("postgres", db.SQL))),
		receiver: apitest.NewReceiver(t),
		dir:      t.TempDir(),
		held:     make(chan struct{}),
		arrivals: make(chan struct{}, 100),
	}
	s.env = baseEnv("DATABASE_URL="+db.DSN, "GATEHOUSE_JWT_SECRET="+strings.Repeat("k", 40),
		"GATEHOUSE_FULFILLMENT_TIMEOUT=2s", "GATEHOUSE_LOG_FORMAT=json")
	for k, v := range s.receiver.Env() {
		s.env = append(s.env, k+"="+v)
	}
	s.receiver.BeforeAnswer(func(ctx context.Context, p webhook.Payload, _ bool) {
		if p.Type != webhook.TypeGrant {
			return
		}
		s.mu.Lock()
		held := s.held
		s.mu.Unlock()
		if held == nil {
			return
		}
		s.arrivals <- struct{}{}
		select {
		case <-held:
		case <-ctx.Done():
		}
	})

	ctx := apitest.Sys()
	app, err := s.client.Application.Create().SetName("Wiki").SetFulfillment(enum.FulfillmentDirectAutoApproved).
		SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(s.receiver.Config()).Save(ctx)
	require.NoError(t, err)
	for i := range entitlements {
		e, err := s.client.Entitlement.Create().SetApplication(app).
			SetExternalID(fmt.Sprintf("wiki-%d", i)).SetName(fmt.Sprintf("Wiki %d", i)).Save(ctx)
		require.NoError(t, err)
		s.entIDs = append(s.entIDs, string(e.ID))
	}
	_, err = s.client.User.Create().SetEmail("b@corp.example").SetName("B").Save(ctx)
	require.NoError(t, err)
	s.token = run1(t, s.dir, s.env, "token", "--email", "b@corp.example")
	return s
}

// release answers the held grants and every later one at once.
func (s *crashScene) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// start runs the server and returns it with its GraphQL URL.
func (s *crashScene) start(t *testing.T) (*process, string) {
	t.Helper()
	p := start(t, s.dir, s.env, "--addr", "127.0.0.1:0")
	return p, p.waitFor(t, "gatehouse listening")["graphql"].(string)
}

// awaitGrantInFlight waits until a grant reaches the receiver and is held.
func (s *crashScene) awaitGrantInFlight(t *testing.T) {
	t.Helper()
	select {
	case <-s.arrivals:
	case <-time.After(crashWait):
		t.Fatal("no grant reached the application")
	}
}

// submit requests every entitlement for the beneficiary and returns the
// item IDs.
func (s *crashScene) submit(t *testing.T, url string) []pulid.ID {
	t.Helper()
	var out struct {
		SubmitAccessRequest struct{ Items []struct{ ID pulid.ID } }
	}
	postGraphQL(t, url, s.token, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { items { id } } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": s.entIDs}}, &out)
	var ids []pulid.ID
	for _, it := range out.SubmitAccessRequest.Items {
		ids = append(ids, it.ID)
	}
	require.Len(t, ids, len(s.entIDs))
	return ids
}

// postGraphQL sends one operation as the token's user, requires an answer
// without errors and decodes its data into out (unless nil).
func postGraphQL(t *testing.T, url, token, query string, vars map[string]any, out any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var answer struct {
		Data   json.RawMessage
		Errors []struct{ Message string }
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&answer))
	require.Empty(t, answer.Errors)
	if out != nil {
		require.NoError(t, json.Unmarshal(answer.Data, out))
	}
}

// awaitFinal waits until no item is APPROVED or FULFILLING, and returns
// the items.
func (s *crashScene) awaitFinal(t *testing.T, ids []pulid.ID) []*ent.RequestItem {
	t.Helper()
	var items []*ent.RequestItem
	require.Eventually(t, func() bool {
		var err error
		items, err = s.client.RequestItem.Query().Where(requestitem.IDIn(ids...)).All(apitest.Sys())
		if err != nil {
			return false
		}
		for _, it := range items {
			if it.Status == enum.ItemStatusApproved || it.Status == enum.ItemStatusFulfilling {
				return false
			}
		}
		return true
	}, crashWait, 100*time.Millisecond, "every item reaches a final state")
	return items
}

// requireOneKeyPerGrant checks that each item's grant reached the
// application under one idempotency key, its own, however many times.
func (s *crashScene) requireOneKeyPerGrant(t *testing.T, ids []pulid.ID) {
	t.Helper()
	keys := map[string]map[string]bool{} // entitlement → keys
	for _, d := range s.receiver.Deliveries(webhook.TypeGrant) {
		if keys[d.Entitlement.ID] == nil {
			keys[d.Entitlement.ID] = map[string]bool{}
		}
		keys[d.Entitlement.ID][d.IdempotencyKey] = true
	}
	items, err := s.client.RequestItem.Query().Where(requestitem.IDIn(ids...)).All(apitest.Sys())
	require.NoError(t, err)
	for _, it := range items {
		require.Equal(t, map[string]bool{webhook.IdempotencyKey(webhook.TypeGrant, string(it.ID)): true}, keys[string(it.EntitlementID)],
			"the grant of %s was delivered under its one key", it.ID)
	}
}

// TestCrashKilledServerLeavesNoItemStuck: the server is killed (SIGKILL)
// while grants are in flight. After a restart the jobs it was running are
// rescued once twice the fulfilment timeout has passed — not after an
// hour — and every item is FULFILLED, its grant delivered under one key.
func TestCrashKilledServerLeavesNoItemStuck(t *testing.T) {
	t.Parallel()
	s := newCrashScene(t, 6)
	p, url := s.start(t)
	ids := s.submit(t, url)
	s.awaitGrantInFlight(t)
	p.kill(t)
	s.release()

	started := time.Now()
	p, _ = s.start(t)
	items := s.awaitFinal(t, ids)
	t.Logf("all items final %s after the restart", time.Since(started).Round(100*time.Millisecond))
	for _, it := range items {
		require.Equal(t, enum.ItemStatusFulfilled, it.Status, "item %s: %s", it.ID, it.LastError)
	}
	s.requireOneKeyPerGrant(t, ids)
	p.stop(t)
}

// TestCrashShutdownsAreNotAttempts: five graceful shutdowns (SIGTERM), each
// while the grant is in flight, with a fulfilment budget of five attempts.
// None counts as an attempt: after the sixth start the item is FULFILLED
// with no failed attempt, no error and no FULFILLMENT_FAILED, its grant
// delivered under one key.
func TestCrashShutdownsAreNotAttempts(t *testing.T) {
	t.Parallel()
	s := newCrashScene(t, 1)
	p, url := s.start(t)
	ids := s.submit(t, url)
	for i := range 5 {
		if i > 0 {
			p, _ = s.start(t)
		}
		s.awaitGrantInFlight(t)
		p.stop(t)
	}
	s.release()
	p, _ = s.start(t)
	items := s.awaitFinal(t, ids)
	it := items[0]
	require.Equal(t, enum.ItemStatusFulfilled, it.Status, it.LastError)
	require.Zero(t, it.FulfillmentAttempts)
	require.Empty(t, it.LastError)
	failed, err := s.client.AuditEvent.Query().
		Where(auditevent.ItemID(it.ID), auditevent.Action("FULFILLMENT_FAILED")).Count(apitest.Sys())
	require.NoError(t, err)
	require.Zero(t, failed)
	require.Len(t, s.receiver.Deliveries(webhook.TypeGrant), 6, "five interrupted deliveries and the one answered")
	s.requireOneKeyPerGrant(t, ids)
	p.stop(t)
}

// kill ends the server as a crash does (SIGKILL): its running jobs stay
// running in the database.
func (p *process) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	for range p.lines {
	}
	<-p.done
}

// arrival waits for a held delivery to reach its receiver.
func arrival[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(crashWait):
		t.Fatalf("no %s reached its receiver", what)
		panic("unreachable")
	}
}

// TestCrashBetweenCommitAndDelivery: a manager's approval commits; its
// outbox job (notifications and webhook fan-out side by side: the held
// e-mail does not hold up the fan-out) and its event webhook delivery job
// start, and each reaches its receiver, which holds it (the mail server has read the first
// e-mail and not answered; the endpoint has read the POST and not
// answered). The server is killed then, its two jobs left running. After a
// restart River rescues them (after twice the job timeout, not an hour)
// and they run again. Counted afterwards:
//   - notifications: exactly one per recipient and event — the rescued job
//     writes none a second time;
//   - e-mails: exactly one to every recipient but the one whose message the
//     mail server was holding: that message was accepted after the crash
//     and never marked SENT (the documented window between the server's
//     250 and the mark), so it is sent again, and that recipient gets
//     exactly two, both with the notification's one Message-ID; every
//     notification's e-mail ends SENT;
//   - webhook: the held POST and the rescued one carry the same webhook-id
//     (the delivery's ID, so the receiver can drop the repeat), both signed
//     validly, and the delivery log shows the delivery SUCCEEDED on its
//     second attempt.
func TestCrashBetweenCommitAndDelivery(t *testing.T) {
	t.Parallel()
	db := dbtest.NewPostgres(t)
	client := ent.NewClient(ent.Driver(entsql.OpenDB("postgres", db.SQL)))
	dir := t.TempDir()
	ctx := apitest.Sys()

	smtpServer := mailtest.Start(t, false)
	certFile := filepath.Join(dir, "mail.pem")
	require.NoError(t, os.WriteFile(certFile, smtpServer.CertPEM, 0o600))
	receiver := webhookstest.Start(t, http.StatusNoContent)
	secret := webhooks.NewSecret()
	receiver.SetSecret(secret)
	_, err := client.WebhookEndpoint.Create().SetURL(receiver.URL).SetEventTypes([]string{"ITEM_APPROVED"}).
		SetSecret(secret).SetKind(enum.WebhookKindStandard).Save(ctx)
	require.NoError(t, err)

	person := func(email string) *ent.User {
		u, err := client.User.Create().SetEmail(email).SetName(strings.Split(email, "@")[0]).Save(ctx)
		require.NoError(t, err)
		return u
	}
	m, o1, o2 := person("m@corp.example"), person("o1@corp.example"), person("o2@corp.example")
	b, err := client.User.Create().SetEmail("b@corp.example").SetName("b").SetManagerID(m.ID).Save(ctx)
	require.NoError(t, err)
	app, err := client.Application.Create().SetName("Ledger").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).AddOwners(o1, o2).Save(ctx)
	require.NoError(t, err)
	reader, err := client.Entitlement.Create().SetApplication(app).SetExternalID("reader").SetName("Reader").Save(ctx)
	require.NoError(t, err)

	env := baseEnv("DATABASE_URL="+db.DSN, "GATEHOUSE_JWT_SECRET="+strings.Repeat("k", 40),
		"GATEHOUSE_FULFILLMENT_TIMEOUT=5s", "GATEHOUSE_LOG_FORMAT=json",
		"GATEHOUSE_SMTP_URL="+smtpServer.URL()+"?starttls=require", "GATEHOUSE_SMTP_FROM=gatehouse@corp.example",
		"SSL_CERT_FILE="+certFile)
	tokB := run1(t, dir, env, "token", "--email", b.Email)
	tokM := run1(t, dir, env, "token", "--email", m.Email)

	p := start(t, dir, env, "--addr", "127.0.0.1:0")
	url := p.waitFor(t, "gatehouse listening")["graphql"].(string)
	postGraphQL(t, url, tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []pulid.ID{reader.ID}}}, nil)
	require.Eventually(t, func() bool { return len(smtpServer.Messages()) == 1 }, crashWait, 20*time.Millisecond,
		"the manager is told of the task by e-mail")

	heldMail, heldHook := smtpServer.HoldNext(t), receiver.HoldNext(t)
	var tasks struct {
		MyTasks struct {
			Edges []struct{ Node struct{ ID pulid.ID } }
		}
	}
	postGraphQL(t, url, tokM, `{ myTasks { edges { node { id } } } }`, nil, &tasks)
	require.Len(t, tasks.MyTasks.Edges, 1)
	postGraphQL(t, url, tokM, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
		map[string]any{"id": tasks.MyTasks.Edges[0].Node.ID}, nil)
	twice := arrival(t, heldMail.Arrived, "e-mail")
	firstHit := arrival(t, heldHook.Arrived, "webhook delivery")
	p.kill(t)

	var running []string
	rows, err := db.SQL.QueryContext(ctx, "SELECT kind FROM river_job WHERE state = 'running' AND kind IN ('outbox', 'webhook_deliver') ORDER BY kind")
	require.NoError(t, err)
	for rows.Next() {
		var kind string
		require.NoError(t, rows.Scan(&kind))
		running = append(running, kind)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, []string{"outbox", "webhook_deliver"}, running, "the crash leaves both jobs running")
	heldMail.Release()
	heldHook.Release()

	p = start(t, dir, env, "--addr", "127.0.0.1:0")
	p.waitFor(t, "gatehouse listening")
	require.Eventually(t, func() bool {
		pending, err := client.Notification.Query().Where(notification.EmailStatusNEQ(enum.EmailStatusSent)).Count(ctx)
		if err != nil || pending > 0 {
			return false
		}
		done, err := client.WebhookDelivery.Query().Where(webhookdelivery.StatusEQ(enum.WebhookDeliverySucceeded)).Count(ctx)
		return err == nil && done == 1
	}, crashWait, 100*time.Millisecond, "the rescued jobs send every e-mail and the webhook")

	ns, err := client.Notification.Query().All(ctx)
	require.NoError(t, err)
	kinds := map[string][]string{}
	for _, n := range ns {
		kinds[string(n.RecipientID)] = append(kinds[string(n.RecipientID)], string(n.Kind))
	}
	require.Equal(t, map[string][]string{
		string(m.ID):  {"TASK_ASSIGNED"},
		string(b.ID):  {"REQUEST_APPROVED"},
		string(o1.ID): {"MANUAL_FULFILLMENT_WAITING"},
		string(o2.ID): {"MANUAL_FULFILLMENT_WAITING"},
	}, kinds, "one notification per recipient and event, none written twice")

	mails, ids := map[string]int{}, map[string][]string{}
	for _, msg := range smtpServer.Messages() {
		mails[msg.To]++
		h, _ := mailtest.Parts(t, msg.Data)
		ids[msg.To] = append(ids[msg.To], h.Get("Message-ID"))
	}
	want := map[string]int{m.Email: 1, b.Email: 1, o1.Email: 1, o2.Email: 1}
	want[twice]++
	require.Equal(t, want, mails, "one e-mail each; the one held at the crash is sent again")
	require.Equal(t, ids[twice][0], ids[twice][1], "the copy carries the first one's Message-ID, so a receiver can drop it")

	hits := receiver.Hits()
	require.Len(t, hits, 2, "the held POST and the rescued one")
	for _, h := range hits {
		require.True(t, h.Valid, "signed: %s", h.Header.Get("webhook-signature"))
		require.Equal(t, firstHit.Header.Get("webhook-id"), h.Header.Get("webhook-id"), "one webhook-id for both")
	}
	d, err := client.WebhookDelivery.Query().Only(ctx)
	require.NoError(t, err)
	require.Equal(t, string(d.ID), firstHit.Header.Get("webhook-id"))
	require.Equal(t, enum.WebhookDeliverySucceeded, d.Status)
	require.Equal(t, 2, d.Attempts, "the interrupted attempt counts")
	p.stop(t)
}

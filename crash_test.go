package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
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
	body, err := json.Marshal(map[string]any{
		"query":     `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { items { id } } }`,
		"variables": map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": s.entIDs}},
	})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out struct {
		Data struct {
			SubmitAccessRequest struct{ Items []struct{ ID pulid.ID } }
		}
		Errors []struct{ Message string }
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	require.Empty(t, out.Errors)
	var ids []pulid.ID
	for _, it := range out.Data.SubmitAccessRequest.Items {
		ids = append(ids, it.ID)
	}
	require.Len(t, ids, len(s.entIDs))
	return ids
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
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	for range p.lines {
	}
	<-p.done
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

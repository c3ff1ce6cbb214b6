package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/webhook"
	"gatehouse/internal/demo"
)

const sinkSecret = "s3cret-for-the-demo-sink"

var sinkNow = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// newSink serves a Sink with a fixed clock on a test server.
func newSink(t *testing.T) (*demo.Sink, *httptest.Server) {
	t.Helper()
	sink := demo.NewSink([]byte(sinkSecret), func() time.Time { return sinkNow })
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return sink, srv
}

// openConnector opens a real WEBHOOK connector on the demo's config, pointed
// at srv, signing with secret at time now.
func openConnector(t *testing.T, srv *httptest.Server, secret string, now time.Time) connectors.Connector {
	t.Helper()
	kind := webhook.Kind{
		Secrets: connectors.NewSecretStore(func(k string) (string, bool) {
			if k == demo.SinkSecretEnv {
				return secret, true
			}
			return "", false
		}, ""),
		Client: srv.Client(),
		Now:    func() time.Time { return now },
	}
	config := map[string]any{webhook.KeyURL: srv.URL + demo.SinkPath, webhook.KeySecretEnv: demo.SinkSecretEnv}
	require.NoError(t, kind.ValidateConfig(config))
	conn, err := kind.Open(config)
	require.NoError(t, err)
	return conn
}

func op(item, app, userID, email string) connectors.Operation {
	return connectors.Operation{
		IdempotencyKey: item,
		Application:    app,
		User:           connectors.User{ID: userID, Email: email, Name: "Ann Example"},
		Entitlement:    connectors.Entitlement{ID: "ent_1", ExternalID: "team:backend", Name: "Backend"},
	}
}

func TestSinkServesWebhookConnector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sink, srv := newSink(t)
	conn := openConnector(t, srv, sinkSecret, sinkNow)

	// The first account of a user in an application is created...
	first := op("itm_1", "GitHub", "usr_1", "ann@example.com")
	acct, created, err := conn.EnsureIdentity(ctx, first)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, connectors.Account{ExternalID: "demo-usr_1", Login: "ann"}, acct)

	// ...and found by the next item, with the same identifiers.
	second := op("itm_2", "GitHub", "usr_1", "ann@example.com")
	acct2, created, err := conn.EnsureIdentity(ctx, second)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, acct, acct2)

	// A retry of the first item's call gets the first answer again.
	acct3, created, err := conn.EnsureIdentity(ctx, first)
	require.NoError(t, err)
	require.True(t, created, "a replayed idempotency key gets the same answer")
	require.Equal(t, acct, acct3)

	// Another application is another account.
	_, created, err = conn.EnsureIdentity(ctx, op("itm_3", "Salesforce", "usr_1", "ann@example.com"))
	require.NoError(t, err)
	require.True(t, created)

	first.Account = acct
	require.NoError(t, conn.Grant(ctx, first))
	require.NoError(t, conn.Revoke(ctx, first))
	require.NoError(t, conn.CheckHealth(ctx))

	got := sink.Deliveries()
	require.Len(t, got, 7)
	type row struct {
		typ, key string
		replay   bool
	}
	var rows []row
	for _, d := range got {
		require.Equal(t, http.StatusOK, d.Status)
		require.Equal(t, sinkNow, d.ReceivedAt)
		rows = append(rows, row{d.Payload.Type, d.Payload.IdempotencyKey, d.Replay})
	}
	require.Equal(t, []row{
		{webhook.TypeEnsureIdentity, "ensure_identity:itm_1", false},
		{webhook.TypeEnsureIdentity, "ensure_identity:itm_2", false},
		{webhook.TypeEnsureIdentity, "ensure_identity:itm_1", true},
		{webhook.TypeEnsureIdentity, "ensure_identity:itm_3", false},
		{webhook.TypeGrant, "grant:itm_1", false},
		{webhook.TypeRevoke, "revoke:itm_1", false},
		{webhook.TypePing, "", false},
	}, rows)
	require.JSONEq(t, `{"externalId":"demo-usr_1","login":"ann","created":true}`, string(got[0].Response))
	require.JSONEq(t, `{}`, string(got[4].Response))
	grant := got[4].Payload
	require.Equal(t, "GitHub", grant.Application)
	require.Equal(t, webhook.PayloadUser{ID: "usr_1", Email: "ann@example.com", Name: "Ann Example"}, grant.User)
	require.Equal(t, webhook.PayloadAccount{ExternalID: "demo-usr_1", Login: "ann"}, grant.Account)
	require.Equal(t, "team:backend", grant.Entitlement.ExternalID)

	// GET shows a person the same deliveries, newest last.
	resp, err := srv.Client().Get(srv.URL + demo.SinkPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var listed []demo.Delivery
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&listed))
	require.Len(t, listed, len(got))
	for i := range got {
		require.Equal(t, got[i].Payload.IdempotencyKey, listed[i].Payload.IdempotencyKey)
		require.Equal(t, got[i].Payload.Type, listed[i].Payload.Type)
		require.JSONEq(t, string(got[i].Response), string(listed[i].Response))
	}
	require.Equal(t, webhook.TypePing, listed[len(listed)-1].Payload.Type)
}

func TestSinkRejectsBadSignatures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	for _, tc := range []struct {
		name, secret string
		sentAt       time.Time
	}{
		{"another secret", "not-the-sink-secret", sinkNow},
		{"signed too long ago", sinkSecret, sinkNow.Add(-webhook.DefaultTolerance - time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink, srv := newSink(t)
			conn := openConnector(t, srv, tc.secret, tc.sentAt)

			_, _, err := conn.EnsureIdentity(ctx, op("itm_1", "GitHub", "usr_1", "ann@example.com"))
			var pe *connectors.PermanentError
			require.True(t, errors.As(err, &pe), "a 401 is permanent: %v", err)
			require.ErrorContains(t, err, "401")
			require.Equal(t, "authentication refused (HTTP 401)", connectors.Reason(err), "the sink's own words stay out of the error")
			require.Error(t, conn.Grant(ctx, op("itm_1", "GitHub", "usr_1", "ann@example.com")))
			require.Empty(t, sink.Deliveries(), "unverified deliveries are not recorded")

			// The right secret is still served, and the account is new:
			// the rejected call created nothing.
			_, created, err := openConnector(t, srv, sinkSecret, sinkNow).EnsureIdentity(ctx, op("itm_1", "GitHub", "usr_1", "ann@example.com"))
			require.NoError(t, err)
			require.True(t, created)
		})
	}
}

// post sends body to sink signed with the sink's secret at sinkNow.
func post(t *testing.T, sink *demo.Sink, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, demo.SinkPath, bytes.NewReader(body))
	req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(sinkSecret), sinkNow, body))
	rec := httptest.NewRecorder()
	sink.ServeHTTP(rec, req)
	return rec
}

func TestSinkRejectsBadRequests(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		method string
		body   string
		signed bool
		want   int
	}{
		{"unsigned", http.MethodPost, `{"type":"ping"}`, false, http.StatusUnauthorized},
		{"body over 64 KiB, signature or not", http.MethodPost, `{"type":"ping","pad":"` + strings.Repeat("x", 64<<10) + `"}`, true, http.StatusRequestEntityTooLarge},
		{"not JSON", http.MethodPost, `type=ping`, true, http.StatusBadRequest},
		{"unknown type", http.MethodPost, `{"type":"delete_everything","idempotencyKey":"x:1"}`, true, http.StatusBadRequest},
		{"grant without idempotency key", http.MethodPost, `{"type":"grant"}`, true, http.StatusBadRequest},
		{"ensure_identity without user", http.MethodPost, `{"type":"ensure_identity","idempotencyKey":"ensure_identity:itm_1"}`, true, http.StatusBadRequest},
		{"other method", http.MethodPut, `{}`, true, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sink := demo.NewSink([]byte(sinkSecret), func() time.Time { return sinkNow })
			req := httptest.NewRequest(tc.method, demo.SinkPath, strings.NewReader(tc.body))
			if tc.signed {
				req.Header.Set(webhook.SignatureHeader, webhook.Sign([]byte(sinkSecret), sinkNow, []byte(tc.body)))
			}
			rec := httptest.NewRecorder()
			sink.ServeHTTP(rec, req)
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			require.Empty(t, sink.Deliveries())
		})
	}

	t.Run("body of exactly 64 KiB", func(t *testing.T) {
		t.Parallel()
		sink := demo.NewSink([]byte(sinkSecret), func() time.Time { return sinkNow })
		prefix, suffix := `{"type":"ping","pad":"`, `"}`
		body := prefix + strings.Repeat("x", 64<<10-len(prefix)-len(suffix)) + suffix
		require.Equal(t, http.StatusOK, post(t, sink, []byte(body)).Code)
		require.Len(t, sink.Deliveries(), 1)
	})
}

func TestSinkKeepsLast200Deliveries(t *testing.T) {
	t.Parallel()
	sink := demo.NewSink([]byte(sinkSecret), func() time.Time { return sinkNow })
	for i := range 250 {
		body := fmt.Appendf(nil, `{"type":"grant","idempotencyKey":"grant:itm_%d"}`, i)
		require.Equal(t, http.StatusOK, post(t, sink, body).Code)
	}
	got := sink.Deliveries()
	require.Len(t, got, 200)
	for i, d := range got {
		require.Equal(t, fmt.Sprintf("grant:itm_%d", 50+i), d.Payload.IdempotencyKey, "oldest first")
	}
}

func TestSinkIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sink, srv := newSink(t)
	conn := openConnector(t, srv, sinkSecret, sinkNow)

	// Items of one user in one application race to ensure the account:
	// exactly one creates it.
	const n = 8
	type result struct {
		acct    connectors.Account
		created bool
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var r result
			r.acct, r.created, r.err = conn.EnsureIdentity(ctx, op(fmt.Sprintf("itm_%d", i), "Production Database", "usr_7", "tom@example.com"))
			_ = sink.Deliveries() // reads race with writes
			results[i] = r
		})
	}
	wg.Wait()
	created := 0
	for _, r := range results {
		require.NoError(t, r.err)
		require.Equal(t, connectors.Account{ExternalID: "demo-usr_7", Login: "tom"}, r.acct)
		if r.created {
			created++
		}
	}
	require.Equal(t, 1, created)
	require.Len(t, sink.Deliveries(), n)
}

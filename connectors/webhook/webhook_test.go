package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/webhook"
)

const (
	secretVar = "GATEHOUSE_SECRET_HOOK"
	secret    = "s3cret-for-tests"
)

// received is one request the receiver accepted.
type received struct {
	Header  http.Header
	Raw     []byte
	Payload webhook.Payload
}

// receiver is a real HTTP endpoint that does what an application's webhook
// receiver should: verify the signature with webhook.Verify, decode the body
// strictly, record it, then answer as respond says (200 by default).
type receiver struct {
	secret  []byte
	respond func(n int, w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	got      []received
	rejected int

	srv *httptest.Server
}

func newReceiver(t *testing.T, secret string, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{secret: []byte(secret), respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(rc.secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		rc.mu.Lock()
		rc.rejected++
		rc.mu.Unlock()
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		http.Error(w, "bad payload: "+err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, received{Header: r.Header.Clone(), Raw: body, Payload: p})
	n := len(rc.got)
	rc.mu.Unlock()
	if rc.respond != nil {
		rc.respond(n, w, r)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) rejections() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.rejected
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func testKind() webhook.Kind {
	return webhook.Kind{Secrets: connectors.NewSecretStore(lookup(map[string]string{
		secretVar: secret, "GATEHOUSE_SECRET_EMPTY": "", "GATEHOUSE_SECRET_BLANK": " \n",
		"GATEHOUSE_JWT_SECRET": "canary-jwt-secret",
	}), "")}
}

// open opens a connector through the registry, as the fulfilment jobs do.
func open(t *testing.T, k webhook.Kind, url string, extra map[string]any) *webhook.Connector {
	t.Helper()
	cfg := map[string]any{"url": url, "secretEnv": secretVar}
	for key, v := range extra {
		cfg[key] = v
	}
	c, err := connectors.NewRegistry(k).Open("WEBHOOK", cfg)
	require.NoError(t, err)
	wc, ok := c.(*webhook.Connector)
	require.True(t, ok)
	require.Equal(t, "webhook", wc.Name())
	return wc
}

func testOp() connectors.Operation {
	return connectors.Operation{
		IdempotencyKey: "itm_01J0000000000000000000001",
		Application:    "HR Portal",
		User:           connectors.User{ID: "usr_01", Email: "ann@example.com", Name: "Ann Example"},
		Account:        connectors.Account{ExternalID: "ext-7", Login: "ann"},
		Entitlement:    connectors.Entitlement{ID: "ent_01", ExternalID: "grp-payroll", Name: "Payroll"},
	}
}

func requireTransient(t *testing.T, err error) *connectors.TransientError {
	t.Helper()
	require.Error(t, err)
	var te *connectors.TransientError
	require.ErrorAs(t, err, &te, "want a transient error, got %v", err)
	require.True(t, connectors.IsTransient(err))
	require.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
	return te
}

func requirePermanent(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var pe *connectors.PermanentError
	require.ErrorAs(t, err, &pe, "want a permanent error, got %v", err)
	require.False(t, connectors.IsTransient(err))
	require.True(t, strings.HasPrefix(err.Error(), "webhook: "), err.Error())
}

func TestOperationsSendSignedJSON(t *testing.T) {
	t.Parallel()
	sentAt := time.Now().Truncate(time.Second).UTC()
	tests := []struct {
		typ  string
		call func(context.Context, *webhook.Connector, connectors.Operation) error
	}{
		{webhook.TypeEnsureIdentity, func(ctx context.Context, c *webhook.Connector, op connectors.Operation) error {
			acct, created, err := c.EnsureIdentity(ctx, op)
			if err == nil {
				require.Equal(t, op.Account, acct, "a bare 200 keeps the account Gatehouse knows")
				require.False(t, created, "a bare 200 does not claim creation")
			}
			return err
		}},
		{webhook.TypeGrant, func(ctx context.Context, c *webhook.Connector, op connectors.Operation) error {
			return c.Grant(ctx, op)
		}},
		{webhook.TypeRevoke, func(ctx context.Context, c *webhook.Connector, op connectors.Operation) error {
			return c.Revoke(ctx, op)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, secret, nil)
			k := testKind()
			k.Now = func() time.Time { return sentAt }
			c := open(t, k, rc.srv.URL+"/hooks/gatehouse?tenant=acme", nil)
			op := testOp()

			require.NoError(t, tt.call(t.Context(), c, op))

			got := rc.received()
			require.Len(t, got, 1)
			r := got[0]
			wantKey := tt.typ + ":" + op.IdempotencyKey
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			require.Equal(t, wantKey, r.Header.Get("Idempotency-Key"))
			require.Equal(t, webhook.IdempotencyKey(tt.typ, op.IdempotencyKey), wantKey)
			require.Equal(t, webhook.Sign([]byte(secret), sentAt, r.Raw), r.Header.Get(webhook.SignatureHeader))
			require.True(t, strings.HasPrefix(r.Header.Get(webhook.SignatureHeader), "t="+strconv.FormatInt(sentAt.Unix(), 10)+",v1="))

			var body map[string]any
			require.NoError(t, json.Unmarshal(r.Raw, &body))
			require.Equal(t, map[string]any{
				"type":           tt.typ,
				"idempotencyKey": wantKey,
				"application":    "HR Portal",
				"user":           map[string]any{"id": "usr_01", "email": "ann@example.com", "name": "Ann Example"},
				"account":        map[string]any{"externalId": "ext-7", "login": "ann"},
				"entitlement":    map[string]any{"id": "ent_01", "externalId": "grp-payroll", "name": "Payroll"},
				"sentAt":         sentAt.Format(time.RFC3339Nano),
			}, body)
		})
	}
}

func TestEnsureIdentityReadsTheAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		wantAcct    connectors.Account
		wantCreated bool
		why         string
	}{
		{"created", http.StatusCreated, `{"externalId":"u-42","login":"ann.example","created":true}`,
			connectors.Account{ExternalID: "u-42", Login: "ann.example"}, true, "the receiver made the account"},
		{"existing", http.StatusOK, `{"externalId":"u-42","login":"ann.example","created":false}`,
			connectors.Account{ExternalID: "u-42", Login: "ann.example"}, false, "the account was there"},
		{"partial", http.StatusOK, `{"externalId":"u-42"}`,
			connectors.Account{ExternalID: "u-42", Login: "ann"}, false, "missing fields fall back to the known account"},
		{"no content", http.StatusNoContent, ``,
			connectors.Account{ExternalID: "ext-7", Login: "ann"}, false, "no body keeps the known account"},
		{"plain text", http.StatusOK, "OK\n",
			connectors.Account{ExternalID: "ext-7", Login: "ann"}, false, "a non-JSON body is not an answer"},
		{"conflict", http.StatusConflict, `{"externalId":"u-42","login":"ann.example","created":true}`,
			connectors.Account{ExternalID: "u-42", Login: "ann.example"}, false, "409 means it already existed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			c := open(t, testKind(), rc.srv.URL, nil)
			acct, created, err := c.EnsureIdentity(t.Context(), testOp())
			require.NoError(t, err)
			require.Equal(t, tt.wantAcct, acct, tt.why)
			require.Equal(t, tt.wantCreated, created, tt.why)
		})
	}

	t.Run("broken JSON", func(t *testing.T) {
		t.Parallel()
		rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"externalId":`)
		})
		c := open(t, testKind(), rc.srv.URL, nil)
		_, _, err := c.EnsureIdentity(t.Context(), testOp())
		requirePermanent(t, err)
		require.Contains(t, err.Error(), "decode response")
	})
}

func TestCheckHealthPings(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c := open(t, testKind(), rc.srv.URL, nil)

	require.NoError(t, c.CheckHealth(t.Context()))
	got := rc.received()
	require.Len(t, got, 1)
	var body map[string]any
	require.NoError(t, json.Unmarshal(got[0].Raw, &body))
	require.Equal(t, "ping", body["type"])
	require.Contains(t, body, "sentAt")
	require.Len(t, body, 2, "a ping carries only type and sentAt")
	require.Empty(t, got[0].Header.Get("Idempotency-Key"))

	requireTransient(t, c.CheckHealth(t.Context()))
}

func TestWrongSecretIsPermanent(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "the receiver's other secret", nil)
	c := open(t, testKind(), rc.srv.URL, nil)

	err := c.Grant(t.Context(), testOp())
	requirePermanent(t, err)
	require.Contains(t, err.Error(), "401")
	require.NotContains(t, err.Error(), "invalid signature", "the receiver's words stay out")
	require.Equal(t, "authentication refused (HTTP 401)", connectors.Reason(err))
	require.Equal(t, 1, rc.rejections())
	require.Empty(t, rc.received())
}

func TestConflictIsAlreadyDone(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "already granted", http.StatusConflict)
	})
	c := open(t, testKind(), rc.srv.URL, nil)
	require.NoError(t, c.Grant(t.Context(), testOp()))
	require.NoError(t, c.Revoke(t.Context(), testOp()))
	require.Len(t, rc.received(), 2)
}

func TestServerErrorsAreRetried(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 3 {
			w.Header().Set("Retry-After", "30") // not honoured on 500
			http.Error(w, "database down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c := open(t, testKind(), rc.srv.URL, nil)
	op := testOp()

	// The caller (the provision job) retries the same operation.
	for attempt := 1; attempt <= 3; attempt++ {
		err := c.Grant(t.Context(), op)
		te := requireTransient(t, err)
		require.Zero(t, te.RetryAfter, "Retry-After is honoured on 429 and 503 only")
		require.Contains(t, err.Error(), "webhook: grant: status 500")
		require.NotContains(t, err.Error(), "database down")
	}
	require.NoError(t, c.Grant(t.Context(), op))

	got := rc.received()
	require.Len(t, got, 4)
	for _, r := range got {
		require.Equal(t, "grant:"+op.IdempotencyKey, r.Header.Get("Idempotency-Key"), "every retry carries the same key")
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name   string
		status int
		header string
		want   time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, "7", 7 * time.Second},
		{"503 seconds", http.StatusServiceUnavailable, "120", 2 * time.Minute},
		{"503 HTTP date", http.StatusServiceUnavailable, now.Add(30 * time.Second).UTC().Format(http.TimeFormat), 30 * time.Second},
		{"429 absent", http.StatusTooManyRequests, "", 0},
		{"429 garbage", http.StatusTooManyRequests, "soon", 0},
		{"429 huge is capped", http.StatusTooManyRequests, "999999999999", 24 * time.Hour},
		{"502 ignored", http.StatusBadGateway, "7", 0},
		{"408 transient", http.StatusRequestTimeout, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, _ *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(tt.status)
			})
			k := testKind()
			k.Now = func() time.Time { return now }
			c := open(t, k, rc.srv.URL, nil)
			te := requireTransient(t, c.Revoke(t.Context(), testOp()))
			require.Equal(t, tt.want, te.RetryAfter)
			require.Contains(t, te.Error(), strconv.Itoa(tt.status))
		})
	}
}

func TestClientErrorIsPermanentWithoutBody(t *testing.T) {
	t.Parallel()
	detail := `{"error":"entitlement grp-payroll does not exist"}`
	long := detail + strings.Repeat("x", 100<<10) // past both the excerpt and the read bound
	rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, long)
	})
	c := open(t, testKind(), rc.srv.URL, nil)

	err := c.Grant(t.Context(), testOp())
	requirePermanent(t, err)
	require.Equal(t, "webhook: grant: status 400 Bad Request", err.Error(), "no text of the body is kept")
	var se *webhook.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusBadRequest, se.HTTPStatus())
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	elsewhere := newReceiver(t, secret, nil)
	rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.srv.URL, http.StatusTemporaryRedirect)
	})
	c := open(t, testKind(), rc.srv.URL, nil)
	err := c.Grant(t.Context(), testOp())
	requirePermanent(t, err)
	require.Contains(t, err.Error(), "307")
	require.Empty(t, elsewhere.received(), "the signed body is not sent on to another URL")
}

func TestTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	// The receiver answers only after a minute; the client must give up first.
	gaveUp := make(chan bool, 1)
	rc := newReceiver(t, secret, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			gaveUp <- true
		case <-time.After(time.Minute):
			gaveUp <- false
		}
		w.WriteHeader(http.StatusOK)
	})
	c := open(t, testKind(), rc.srv.URL, map[string]any{"timeoutSeconds": 1})

	err := c.Grant(t.Context(), testOp())
	requireTransient(t, err)
	require.Contains(t, err.Error(), "no answer within 1s")
	require.True(t, <-gaveUp, "the client hung up before the receiver answered")
}

func TestUnreachableIsTransient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	c := open(t, testKind(), url+"/hook?token=should-not-leak", nil)
	err := c.Grant(t.Context(), testOp())
	requireTransient(t, err)
	require.NotContains(t, err.Error(), "should-not-leak", "the URL (and its query) stays out of errors")
	require.Error(t, c.CheckHealth(t.Context()))
}

func TestCallerCancellationIsTransient(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, nil)
	c := open(t, testKind(), rc.srv.URL, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Grant(ctx, testOp())
	requireTransient(t, err)
	require.ErrorIs(t, err, context.Canceled)
}

func TestOperationWithoutKeyIsRefused(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, nil)
	c := open(t, testKind(), rc.srv.URL, nil)
	op := testOp()
	op.IdempotencyKey = ""
	requirePermanent(t, c.Grant(t.Context(), op))
	require.Empty(t, rc.received())
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	const good = "https://hooks.example.com/gatehouse"
	tests := []struct {
		name    string
		config  map[string]any
		key     string // "" = valid
		message string
	}{
		{"valid", map[string]any{"url": good, "secretEnv": secretVar}, "", ""},
		{"valid http with timeout", map[string]any{"url": "http://10.0.0.5:8080/h?x=1", "secretEnv": secretVar, "timeoutSeconds": float64(30)}, "", ""},
		{"timeout as json.Number", map[string]any{"url": good, "secretEnv": secretVar, "timeoutSeconds": json.Number("60")}, "", ""},
		{"timeout as int64", map[string]any{"url": good, "secretEnv": secretVar, "timeoutSeconds": int64(1)}, "", ""},
		{"missing url", map[string]any{"secretEnv": secretVar}, "url", "required"},
		{"empty url", map[string]any{"url": "", "secretEnv": secretVar}, "url", "required"},
		{"url not a string", map[string]any{"url": 42, "secretEnv": secretVar}, "url", "string"},
		{"bad url", map[string]any{"url": "http://[::1", "secretEnv": secretVar}, "url", "not a valid URL"},
		{"relative url", map[string]any{"url": "/hooks", "secretEnv": secretVar}, "url", "absolute"},
		{"ftp scheme", map[string]any{"url": "ftp://files.example.com/in", "secretEnv": secretVar}, "url", "http or https"},
		{"credentials in url", map[string]any{"url": "https://bot:hunter2@hooks.example.com/", "secretEnv": secretVar}, "url", "credentials"},
		{"missing secretEnv", map[string]any{"url": good}, "secretEnv", "required"},
		{"secretEnv not a string", map[string]any{"url": good, "secretEnv": true}, "secretEnv", "string"},
		{"inline secret", map[string]any{"url": good, "secretEnv": "whsec_9f8e7d6c5b4a39281706f5e4d3c2b1a0"}, "secretEnv", "not the secret itself"},
		{"lower-case name", map[string]any{"url": good, "secretEnv": "hook_secret"}, "secretEnv", "name of the environment variable"},
		{"unset variable", map[string]any{"url": good, "secretEnv": "GATEHOUSE_SECRET_NOT_SET"}, "secretEnv", "not set"},
		{"variable outside the namespace", map[string]any{"url": good, "secretEnv": "NOT_SET_ANYWHERE"}, "secretEnv", "connector-secret namespace"},
		{"the server's JWT secret", map[string]any{"url": good, "secretEnv": "GATEHOUSE_JWT_SECRET"}, "secretEnv", "connector-secret namespace"},
		{"empty variable", map[string]any{"url": good, "secretEnv": "GATEHOUSE_SECRET_EMPTY"}, "secretEnv", "empty"},
		{"blank variable", map[string]any{"url": good, "secretEnv": "GATEHOUSE_SECRET_BLANK"}, "secretEnv", "empty"},
		{"secretFile without a directory", map[string]any{"url": good, "secretFile": "hook"}, "secretFile", "no secrets directory"},
		{"secretFile a path", map[string]any{"url": good, "secretFile": "../hook"}, "secretFile", "plain name"},
		{"both secretEnv and secretFile", map[string]any{"url": good, "secretEnv": secretVar, "secretFile": "hook"}, "secretFile", "not both"},
		{"unknown key", map[string]any{"url": good, "secretEnv": secretVar, "headers": map[string]any{}}, "headers", "unknown key"},
		{"timeout zero", map[string]any{"url": good, "secretEnv": secretVar, "timeoutSeconds": 0}, "timeoutSeconds", "1 to 60"},
		{"timeout too long", map[string]any{"url": good, "secretEnv": secretVar, "timeoutSeconds": float64(61)}, "timeoutSeconds", "1 to 60"},
		{"timeout fraction", map[string]any{"url": good, "secretEnv": secretVar, "timeoutSeconds": 1.5}, "timeoutSeconds", "whole number"},
		{"timeout string", map[string]any{"url": good, "secretEnv": secretVar, "timeoutSeconds": "10"}, "timeoutSeconds", "whole number"},
	}
	r := connectors.NewRegistry(testKind())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := r.ValidateConfig("WEBHOOK", tt.config)
			if tt.key == "" {
				require.NoError(t, err)
				return
			}
			var ce *connectors.ConfigError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tt.key, ce.Key)
			require.Contains(t, ce.Message, tt.message)
			if s, ok := tt.config["secretEnv"].(string); ok && tt.key == "secretEnv" {
				require.NotContains(t, ce.Message, s, "a mistaken secret is never echoed")
			}

			// Open refuses the same configuration, permanently.
			_, err = r.Open("WEBHOOK", tt.config)
			requirePermanent(t, err)
			var oce *connectors.ConfigError
			require.ErrorAs(t, err, &oce)
			require.Equal(t, tt.key, oce.Key)
		})
	}
}

func TestNilSecretsFindNothing(t *testing.T) {
	t.Parallel()
	err := webhook.Kind{}.ValidateConfig(map[string]any{"url": "https://h.example/", "secretEnv": secretVar})
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "secretEnv", ce.Key)
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	key := []byte("k1")
	body := []byte(`{"type":"grant"}`)
	now := time.Now().Truncate(time.Second) // signatures carry whole seconds
	signedAt := now.Add(-30 * time.Second)
	header := webhook.Sign(key, signedAt, body)
	require.True(t, strings.HasPrefix(header, "t="+strconv.FormatInt(signedAt.Unix(), 10)+",v1="))

	tests := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", key, header, body, now, time.Minute, nil},
		{"default tolerance", key, header, body, now, 0, nil},
		{"spaces and a rotated second signature", key, "t=" + strconv.FormatInt(signedAt.Unix(), 10) + ", v1=" + strings.Repeat("ab", 32) + ", " + header[strings.Index(header, "v1="):], body, now, time.Minute, nil},
		{"tampered body", key, header, []byte(`{"type":"revoke"}`), now, time.Minute, webhook.ErrSignatureMismatch},
		{"wrong secret", []byte("k2"), header, body, now, time.Minute, webhook.ErrSignatureMismatch},
		{"empty secret", nil, header, body, now, time.Minute, webhook.ErrSignatureMismatch},
		{"tampered timestamp", key, strings.Replace(header, "t="+strconv.FormatInt(signedAt.Unix(), 10), "t="+strconv.FormatInt(now.Unix(), 10), 1), body, now, time.Minute, webhook.ErrSignatureMismatch},
		{"stale", key, header, body, now.Add(10 * time.Minute), 5 * time.Minute, webhook.ErrStaleSignature},
		{"from the future", key, header, body, now.Add(-10 * time.Minute), 5 * time.Minute, webhook.ErrStaleSignature},
		{"just inside tolerance", key, header, body, signedAt.Add(time.Minute), time.Minute, nil},
		{"empty header", key, "", body, now, time.Minute, webhook.ErrMalformedSignature},
		{"no v1", key, "t=" + strconv.FormatInt(signedAt.Unix(), 10), body, now, time.Minute, webhook.ErrMalformedSignature},
		{"bad timestamp", key, "t=yesterday,v1=00", body, now, time.Minute, webhook.ErrMalformedSignature},
		{"v1 not hex", key, "t=" + strconv.FormatInt(signedAt.Unix(), 10) + ",v1=zz", body, now, time.Minute, webhook.ErrMalformedSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(tt.secret, tt.header, tt.body, tt.now, tt.tolerance)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.True(t, errors.Is(err, tt.want))
		})
	}
}

// TestSecretFromFile: secretFile names a file of the secrets directory; the
// trailing newline a file usually ends with is not part of the secret.
func TestSecretFromFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hook-secret"), []byte(secret+"\n"), 0o600))
	rc := newReceiver(t, secret, nil)
	k := webhook.Kind{Secrets: connectors.NewSecretStore(nil, dir)}
	c, err := k.OpenConnector(map[string]any{"url": rc.srv.URL, "secretFile": "hook-secret"})
	require.NoError(t, err)
	require.NoError(t, c.Grant(t.Context(), testOp()))
	require.Len(t, rc.received(), 1)
	require.Zero(t, rc.rejections())
}

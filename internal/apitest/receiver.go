package apitest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gatehouse/connectors/webhook"
)

// ReceiverSecretEnv is the connector-secret variable that holds the
// receiver's secret in the environment Receiver.Env returns.
const ReceiverSecretEnv = "GATEHOUSE_SECRET_TEST_WEBHOOK"

// Receiver is a real webhook endpoint for tests: it verifies each delivery's
// signature, records it, and can be told to fail or to wait before it
// answers. Like an application, it creates an account at the first
// ensure_identity for an application and user, and answers created: false
// after that.
type Receiver struct {
	URL    string
	secret []byte

	mu         sync.Mutex
	deliveries []webhook.Payload
	accounts   map[[2]string]bool
	failNext   int
	failStatus int
	failAlways bool
	before     func(ctx context.Context, p webhook.Payload, created bool)
}

// NewReceiver starts a receiver, stopped when the test ends.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{secret: []byte("receiver-secret-0123456789"), accounts: map[[2]string]bool{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Env returns the environment under which connectors find the secret.
func (r *Receiver) Env() map[string]string {
	return map[string]string{ReceiverSecretEnv: string(r.secret)}
}

// Config is a WEBHOOK connector configuration pointing at the receiver.
func (r *Receiver) Config() map[string]any {
	return map[string]any{webhook.KeyURL: r.URL, webhook.KeySecretEnv: ReceiverSecretEnv}
}

// FailNext makes the next n deliveries answer status.
func (r *Receiver) FailNext(n, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failNext, r.failStatus = n, status
}

// FailAlways makes every delivery answer 503 until Recover.
func (r *Receiver) FailAlways() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failAlways = true
}

// Recover ends FailAlways and FailNext.
func (r *Receiver) Recover() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failAlways, r.failNext = false, 0
}

// BeforeAnswer makes the receiver call fn with each accepted delivery (and,
// for ensure_identity, whether it created the account) before it answers;
// fn may block to hold the answer back, until ctx (the request's) ends.
func (r *Receiver) BeforeAnswer(fn func(ctx context.Context, p webhook.Payload, created bool)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = fn
}

// Deliveries returns the deliveries accepted so far (failed ones are not
// recorded).
func (r *Receiver) Deliveries(typ string) []webhook.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []webhook.Payload
	for _, d := range r.deliveries {
		if typ == "" || d.Type == typ {
			out = append(out, d)
		}
	}
	return out
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	if r.failAlways || r.failNext > 0 {
		status := http.StatusServiceUnavailable
		if r.failNext > 0 {
			r.failNext--
			status = r.failStatus
		}
		r.mu.Unlock()
		http.Error(w, "failing on purpose", status)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.mu.Unlock()
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.deliveries = append(r.deliveries, p)
	account := [2]string{p.Application, p.User.ID}
	created := p.Type == webhook.TypeEnsureIdentity && !r.accounts[account]
	if created {
		r.accounts[account] = true
	}
	before := r.before
	r.mu.Unlock()
	if before != nil {
		before(req.Context(), p, created)
	}
	w.Header().Set("Content-Type", "application/json")
	if p.Type == webhook.TypeEnsureIdentity {
		_ = json.NewEncoder(w).Encode(webhook.IdentityResult{ExternalID: "ext-" + p.User.ID, Login: p.User.Email, Created: created})
		return
	}
	_, _ = io.WriteString(w, "{}")
}

package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"gatehouse/connectors/webhook"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// Bounds of the Sink.
const (
	// maxSinkBody is the largest request body the Sink reads; larger ones are
	// answered 413.
	maxSinkBody = 64 << 10
	// maxSinkDeliveries is how many deliveries the Sink keeps; older ones are
	// dropped.
	maxSinkDeliveries = 200
	// maxRemembered bounds the idempotency keys whose answers are kept.
	maxRemembered = 4096
)

// Delivery is one signed request the Sink accepted, with its answer. The Sink
// keeps the last 200.
type Delivery struct {
	// ReceivedAt is the Sink's clock when the delivery arrived.
	ReceivedAt time.Time `json:"receivedAt"`
	// Payload is the decoded body.
	Payload webhook.Payload `json:"payload"`
	// Status and Response are what the Sink answered.
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
	// Replay is true when the idempotency key had been seen before, so the
	// earlier answer was sent again and nothing changed.
	Replay bool `json:"replay"`
}

// Sink is a stand-in for the outside system behind the demo applications'
// WEBHOOK connectors (DESIGN §7). The server serves it at SinkPath in demo mode
// only. POST takes an operation from the WEBHOOK connector: it verifies the
// Gatehouse-Signature (401 when it does not verify), reads at most 64 KiB
// (413 beyond), decodes the webhook.Payload (400 when it is not one),
// records it and answers 200 — for ensure_identity with a
// webhook.IdentityResult whose externalId is "demo-" + the user's ID, whose
// login is the local part of the user's email, and whose created is true the
// first time the user's account is ensured in that application only; for
// grant, revoke and ping with {}. An idempotency key already answered gets the
// same answer again. GET lists the recorded deliveries as a JSON array, newest
// last, so a person can see what the connector sent. A Sink is safe for
// concurrent use.
type Sink struct {
	secret []byte
	now    func() time.Time

	mu         sync.Mutex
	deliveries []Delivery // ring of at most maxSinkDeliveries
	next       int        // where the next delivery goes once the ring is full
	answers    map[string]answer
	keys       []string        // idempotency keys of answers, oldest first
	accounts   map[string]bool // "application\x00user ID" of accounts created
}

// answer is a response the Sink sent, kept by idempotency key.
type answer struct {
	status int
	body   []byte
}

var _ http.Handler = (*Sink)(nil)

// NewSink returns a Sink that accepts requests signed with secret, checked
// against the clock now (nil means time.Now). An empty secret accepts nothing.
func NewSink(secret []byte, now func() time.Time) *Sink {
	if now == nil {
		now = time.Now
	}
	return &Sink{
		secret:   append([]byte(nil), secret...),
		now:      now,
		answers:  map[string]answer{},
		accounts: map[string]bool{},
	}
}

// Deliveries returns a copy of the recorded deliveries, oldest first.
func (s *Sink) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, 0, len(s.deliveries))
	out = append(out, s.deliveries[s.next:]...)
	return append(out, s.deliveries[:s.next]...)
}

// Authenticator turns a bearer token into a viewer (nil without a token);
// *auth.Authenticator is one.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*authz.Viewer, error)
}

// Handler is the Sink as the server mounts it: POST as ServeHTTP (signed by
// the connector), GET only for an IT admin's bearer token, since the
// deliveries hold users' names and e-mail addresses: without a token, or
// with one that does not authenticate, 401; with anyone else's, 403.
func (s *Sink) Handler(a Authenticator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			v, err := a.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")))
			switch {
			case err != nil && errcode.Of(err) != errcode.Unauthenticated:
				http.Error(w, "demo sink: internal error", http.StatusInternalServerError)
				return
			case err != nil || v == nil:
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
				http.Error(w, "demo sink: an IT admin's bearer token is required", http.StatusUnauthorized)
				return
			case !v.IsAdmin():
				http.Error(w, "demo sink: only IT admins may list deliveries", http.StatusForbidden)
				return
			}
		}
		s.ServeHTTP(w, r)
	})
}

func bearer(header string) string {
	const prefix = "bearer "
	if len(header) > len(prefix) && strings.EqualFold(header[:len(prefix)], prefix) {
		return strings.TrimSpace(header[len(prefix):])
	}
	return ""
}

// ServeHTTP implements http.Handler. It serves GET to anyone; mount Handler.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		s.receive(w, r)
	case http.MethodGet:
		s.list(w)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "demo sink: method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Sink) list(w http.ResponseWriter) {
	body, err := json.MarshalIndent(s.Deliveries(), "", "  ")
	if err != nil {
		http.Error(w, "demo sink: encode deliveries", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(body, '\n'))
}

func (s *Sink) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSinkBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, fmt.Sprintf("demo sink: body larger than %d bytes", maxSinkBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "demo sink: read body", http.StatusBadRequest)
		return
	}
	now := s.now()
	if err := webhook.Verify(s.secret, r.Header.Get(webhook.SignatureHeader), body, now, webhook.DefaultTolerance); err != nil {
		// The reason (malformed, mismatch, stale) never contains the secret
		// and tells the operator what to fix.
		http.Error(w, "demo sink: "+strings.TrimPrefix(err.Error(), "webhook: "), http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "demo sink: body is not a webhook payload", http.StatusBadRequest)
		return
	}
	if msg := checkPayload(p); msg != "" {
		http.Error(w, "demo sink: "+msg, http.StatusBadRequest)
		return
	}

	s.mu.Lock()
	a, replay := s.answers[p.IdempotencyKey]
	if !replay {
		a = s.apply(p)
		if p.IdempotencyKey != "" {
			s.remember(p.IdempotencyKey, a)
		}
	}
	s.record(Delivery{
		ReceivedAt: now,
		Payload:    p,
		Status:     a.status,
		Response:   json.RawMessage(a.body),
		Replay:     replay,
	})
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// checkPayload returns why p cannot be handled, or "".
func checkPayload(p webhook.Payload) string {
	switch p.Type {
	case webhook.TypePing:
		return ""
	case webhook.TypeEnsureIdentity, webhook.TypeGrant, webhook.TypeRevoke:
	default:
		return fmt.Sprintf("unknown operation type %q", p.Type)
	}
	switch {
	case p.IdempotencyKey == "":
		return "idempotencyKey is required"
	case p.Type == webhook.TypeEnsureIdentity && p.User.ID == "":
		return "user.id is required"
	}
	return ""
}

// apply performs p (already checked) and returns the answer. s.mu is held.
func (s *Sink) apply(p webhook.Payload) answer {
	if p.Type != webhook.TypeEnsureIdentity {
		return answer{status: http.StatusOK, body: []byte("{}")}
	}
	account := p.Application + "\x00" + p.User.ID
	created := !s.accounts[account]
	s.accounts[account] = true
	login, _, _ := strings.Cut(p.User.Email, "@")
	if login == "" {
		login = p.User.ID
	}
	body, _ := json.Marshal(webhook.IdentityResult{
		ExternalID: "demo-" + p.User.ID,
		Login:      login,
		Created:    created,
	})
	return answer{status: http.StatusOK, body: body}
}

// remember keeps a under key, forgetting the oldest answer beyond
// maxRemembered. s.mu is held.
func (s *Sink) remember(key string, a answer) {
	if len(s.keys) >= maxRemembered {
		delete(s.answers, s.keys[0])
		s.keys = s.keys[1:]
	}
	s.answers[key] = a
	s.keys = append(s.keys, key)
}

// record appends d to the ring. s.mu is held.
func (s *Sink) record(d Delivery) {
	if len(s.deliveries) < maxSinkDeliveries {
		s.deliveries = append(s.deliveries, d)
		return
	}
	s.deliveries[s.next] = d
	s.next = (s.next + 1) % maxSinkDeliveries
}

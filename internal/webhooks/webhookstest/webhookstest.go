// Package webhookstest is an integration's event webhook endpoint for
// tests: a real HTTP server that verifies each request's signature per the
// Standard Webhooks specification (written here independently of the
// server's signer), records what it got, answers a chosen status, and can
// hold a request back before answering until the test lets it go.
package webhookstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testhold"
)

// Wait is how long Await waits for requests before it fails the test.
const Wait = time.Minute

// Hit is one request the receiver got.
type Hit struct {
	Header http.Header
	Body   []byte
	// Valid says whether its Standard Webhooks signature verified with
	// the receiver's secret.
	Valid bool
}

// Receiver is a running endpoint, closed when the test ends.
type Receiver struct {
	*httptest.Server

	mu     sync.Mutex
	secret string
	hits   []Hit
	status int
	hold   *testhold.Hold[Hit]
	got    chan struct{}
}

// Start starts a receiver that answers status.
func Start(t *testing.T, status int) *Receiver {
	t.Helper()
	r := &Receiver{status: status, got: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		h := Hit{Header: req.Header.Clone(), Body: body, Valid: Verify(r.secret, req.Header, body)}
		r.hits = append(r.hits, h)
		status, hold := r.status, r.hold
		r.hold = nil
		r.mu.Unlock()
		if hold != nil {
			hold.Keep(h)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, strings.Repeat("down ", 2000)) // more than the server reads
		r.got <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

// SetSecret sets the whsec_ secret signatures are verified with.
func (r *Receiver) SetSecret(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = secret
}

// SetStatus sets the status of the answers from now on.
func (r *Receiver) SetStatus(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// HoldNext makes the receiver hold the next request, recorded, before it
// answers, until Release; the test releases it at the latest when it ends.
// Close the receiver only after releasing.
func (r *Receiver) HoldNext(t *testing.T) *testhold.Hold[Hit] {
	h := testhold.New[Hit](t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = h
	return h
}

// Await waits for n more answered requests.
func (r *Receiver) Await(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(Wait):
			t.Fatalf("receiver: %d requests, waited for %d more", len(r.Hits()), n)
		}
	}
}

// Hits returns the requests received so far, in order.
func (r *Receiver) Hits() []Hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Hit(nil), r.hits...)
}

// Verify checks a request per the Standard Webhooks specification: the
// signed content is "id.timestamp.body", the key is the base64 part of the
// whsec_ secret, and one of the space-separated v1 signatures matches.
func Verify(secret string, h http.Header, body []byte) bool {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if secret == "" || id == "" || ts == "" || sigs == "" {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if ok && version == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

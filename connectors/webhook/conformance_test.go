package webhook_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/connectortest"
	"gatehouse/connectors/webhook"
)

// app is an application's webhook receiver that keeps state the way a real
// one does: it verifies the signature, creates an account per email on
// ensure_identity (or reports the one it has), adds and removes memberships
// of the entitlements it knows, and refuses entitlements it does not know.
type app struct {
	secret []byte
	srv    *httptest.Server
	// unavailable makes every request answer 503 (maintenance).
	unavailable atomic.Bool

	mu       sync.Mutex
	seq      int
	accounts map[string]string   // lower-case email → external ID
	ents     map[string][]string // entitlement external ID → member external IDs
}

func newApp(t *testing.T, secret string) *app {
	t.Helper()
	a := &app{secret: []byte(secret), accounts: map[string]string{}, ents: map[string][]string{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) serve(w http.ResponseWriter, r *http.Request) {
	if a.unavailable.Load() {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(a.secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch p.Type {
	case webhook.TypePing:
		w.WriteHeader(http.StatusNoContent)
	case webhook.TypeEnsureIdentity:
		email := strings.ToLower(p.User.Email)
		id, ok := a.accounts[email]
		status := http.StatusOK
		if !ok {
			a.seq++
			id = fmt.Sprintf("acct-%d", a.seq)
			a.accounts[email] = id
			status = http.StatusCreated
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(webhook.IdentityResult{ExternalID: id, Login: email, Created: !ok})
	case webhook.TypeGrant:
		members, ok := a.ents[p.Entitlement.ExternalID]
		if !ok {
			http.Error(w, `{"error":"unknown entitlement"}`, http.StatusUnprocessableEntity)
			return
		}
		if !slices.Contains(members, p.Account.ExternalID) {
			a.ents[p.Entitlement.ExternalID] = append(members, p.Account.ExternalID)
		}
		w.WriteHeader(http.StatusOK)
	case webhook.TypeRevoke:
		if members, ok := a.ents[p.Entitlement.ExternalID]; ok {
			a.ents[p.Entitlement.ExternalID] = slices.DeleteFunc(members, func(m string) bool { return m == p.Account.ExternalID })
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "unknown type", http.StatusBadRequest)
	}
}

// appPeer adapts an app to the conformance suite.
type appPeer struct{ a *app }

func (p appPeer) Open(t *testing.T) connectors.Connector {
	return open(t, testKind(), p.a.srv.URL, nil)
}

func (p appPeer) NewEntitlement(t *testing.T) connectors.Entitlement {
	id := connectortest.NewID("ent")
	p.a.mu.Lock()
	defer p.a.mu.Unlock()
	p.a.ents[id] = nil
	return connectors.Entitlement{ID: "ent_" + id, ExternalID: id, Name: id}
}

func (p appPeer) CreateAccount(t *testing.T, u connectors.User) string {
	p.a.mu.Lock()
	defer p.a.mu.Unlock()
	p.a.seq++
	id := fmt.Sprintf("acct-%d", p.a.seq)
	p.a.accounts[strings.ToLower(u.Email)] = id
	return id
}

func (p appPeer) Members(t *testing.T, e connectors.Entitlement) []string {
	p.a.mu.Lock()
	defer p.a.mu.Unlock()
	return slices.Clone(p.a.ents[e.ExternalID])
}

func (p appPeer) Unreachable(t *testing.T) connectors.Connector {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String() + "/hook"
	require.NoError(t, ln.Close())
	return open(t, testKind(), url, map[string]any{"timeoutSeconds": 5})
}

func (p appPeer) WrongCredential(t *testing.T) (connectors.Connector, string) {
	other := newApp(t, "the application's other secret")
	return open(t, testKind(), other.srv.URL, nil), secret
}

func (p appPeer) TransientFault(t *testing.T) connectors.Connector {
	down := newApp(t, secret)
	down.unavailable.Store(true)
	return open(t, testKind(), down.srv.URL, nil)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, appPeer{newApp(t, secret)})
}

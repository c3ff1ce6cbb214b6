package scim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/connectortest"
	"gatehouse/connectors/scim/scimtest"
)

// The SCIM service the connector is tested against: github.com/elimity-com/scim
// (a third-party SCIM 2.0 server: routing, schema validation of bodies, filter
// and PATCH parsing, error responses) over in-memory handlers, behind the two
// things every real deployment puts in front of it: bearer-token
// authentication and, for the failure tests, an overload switch.

// service is a running SCIM service.
type service struct {
	store *scimtest.Store
	token string
	srv   *httptest.Server
	// base is the SCIM base URL, under which /Users and /Groups live.
	base string

	// overload, when set, is the status (429 or 503) every request gets,
	// with Retry-After: retryAfter.
	overload   atomic.Int32
	retryAfter atomic.Value // string

	// beforeCreate, when set, runs before a POST /Users reaches the service
	// (another writer racing the connector).
	beforeCreate atomic.Pointer[func()]
	// filters records the filter parameters of GET /Users.
	mu      sync.Mutex
	filters []string
}

func newService(t *testing.T) *service {
	t.Helper()
	st := scimtest.NewStore()
	srv, err := scimtest.NewServer(st)
	require.NoError(t, err)
	s := &service{store: st, token: connectortest.NewID("tok")}
	s.retryAfter.Store("")
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", s.front(srv)))
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	s.base = s.srv.URL + "/scim/v2"
	return s
}

// front authenticates and, when overloaded, refuses, as a gateway would.
func (s *service) front(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/scim+json")
		if code := int(s.overload.Load()); code != 0 {
			if ra := s.retryAfter.Load().(string); ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			w.WriteHeader(code)
			_, _ = fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":"slow down"}`, code)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"invalid bearer token"}`))
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/Users" {
			if f := r.URL.Query().Get("filter"); f != "" {
				s.mu.Lock()
				s.filters = append(s.filters, f)
				s.mu.Unlock()
			}
		}
		if f := s.beforeCreate.Load(); f != nil && r.Method == http.MethodPost && r.URL.Path == "/Users" {
			(*f)()
		}
		next.ServeHTTP(w, r)
	})
}

// admin sends a request to the service as its administrator would, and
// decodes a JSON answer into out when given.
func (s *service) admin(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// createUser creates a user through the SCIM API and returns its id.
func (s *service) createUser(t *testing.T, userName string) string {
	t.Helper()
	var u struct {
		ID string `json:"id"`
	}
	code := s.admin(t, http.MethodPost, "/Users", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": userName,
	}, &u)
	require.Equal(t, http.StatusCreated, code)
	return u.ID
}

// createGroup creates a group through the SCIM API and returns its id.
func (s *service) createGroup(t *testing.T, name string) string {
	t.Helper()
	var g struct {
		ID string `json:"id"`
	}
	code := s.admin(t, http.MethodPost, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name,
	}, &g)
	require.Equal(t, http.StatusCreated, code)
	return g.ID
}

// members reads a group's members with GET /Groups/{id}.
func (s *service) members(t *testing.T, groupID string) []string {
	t.Helper()
	var g struct {
		Members []struct {
			Value string `json:"value"`
		} `json:"members"`
	}
	require.Equal(t, http.StatusOK, s.admin(t, http.MethodGet, "/Groups/"+groupID, nil, &g))
	var out []string
	for _, m := range g.Members {
		out = append(out, m.Value)
	}
	return out
}

// user reads a user with GET /Users/{id}.
func (s *service) user(t *testing.T, id string) map[string]any {
	t.Helper()
	var u map[string]any
	require.Equal(t, http.StatusOK, s.admin(t, http.MethodGet, "/Users/"+id, nil, &u))
	return u
}

func (s *service) seenFilters() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.filters)
}

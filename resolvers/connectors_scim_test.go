package resolvers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/scim/scimtest"
)

// The SCIM service of the connector tests: github.com/elimity-com/scim (a
// third-party SCIM 2.0 server) over in-memory handlers, behind bearer-token
// authentication (connectors/scim/scimtest).

// scimService is a running SCIM service; base is its SCIM base URL.
type scimService struct {
	store *scimtest.Store
	token string
	base  string
}

func newSCIMService(t *testing.T, token string) *scimService {
	t.Helper()
	st := scimtest.NewStore()
	srv, err := scimtest.NewServer(st)
	require.NoError(t, err)
	s := &scimService{store: st, token: token}
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			w.Header().Set("Content-Type", "application/scim+json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"401","detail":"invalid bearer token"}`))
			return
		}
		srv.ServeHTTP(w, r)
	})))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	s.base = hs.URL + "/scim/v2"
	return s
}

// createUser adds a user to the service, as its administrator would.
func (s *scimService) createUser(userName string) string { return s.store.AddUser(userName) }

// createGroup adds a group with members.
func (s *scimService) createGroup(name string, members ...string) string {
	return s.store.AddGroup(name, members...)
}

// setMembers replaces a group's members.
func (s *scimService) setMembers(groupID string, members ...string) {
	s.store.SetMembers(groupID, members...)
}

// members returns a group's members' userNames, sorted.
func (s *scimService) members(groupID string) []string { return s.store.MemberNames(groupID) }

package scim_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/connectortest"
	"gatehouse/connectors/scim"
	"gatehouse/connectors/scim/scimtest"
)

const tokenVar = "GATEHOUSE_SECRET_IDP_SCIM_TOKEN"

func kind(token string) scim.Kind {
	return scim.Kind{Secrets: connectors.NewSecretStore(func(k string) (string, bool) {
		if k == tokenVar {
			return token, true
		}
		return "", false
	}, "")}
}

// open opens a connector through the registry, as the fulfilment jobs do.
func open(t *testing.T, k scim.Kind, base string, extra map[string]any) *scim.Connector {
	t.Helper()
	cfg := map[string]any{"baseUrl": base, "tokenEnv": tokenVar}
	for key, v := range extra {
		cfg[key] = v
	}
	c, err := connectors.NewRegistry(k).Open("SCIM", cfg)
	require.NoError(t, err)
	sc, ok := c.(*scim.Connector)
	require.True(t, ok)
	require.Equal(t, "scim", sc.Name())
	return sc
}

func (s *service) open(t *testing.T) *scim.Connector { return open(t, kind(s.token), s.base, nil) }

func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/scim/v2"
}

// peer adapts a service to the conformance suite.
type peer struct{ s *service }

func (p peer) Open(t *testing.T) connectors.Connector { return p.s.open(t) }

func (p peer) NewEntitlement(t *testing.T) connectors.Entitlement {
	name := connectortest.NewID("Group")
	id := p.s.createGroup(t, name)
	return connectors.Entitlement{ID: "ent_" + id, ExternalID: id, Name: name}
}

func (p peer) CreateAccount(t *testing.T, u connectors.User) string {
	return p.s.createUser(t, u.Email)
}

func (p peer) Members(t *testing.T, e connectors.Entitlement) []string {
	return p.s.members(t, e.ExternalID)
}

func (p peer) Unreachable(t *testing.T) connectors.Connector {
	return open(t, kind(p.s.token), closedURL(t), map[string]any{"timeoutSeconds": 5})
}

func (p peer) WrongCredential(t *testing.T) (connectors.Connector, string) {
	wrong := connectortest.NewID("wrong-token")
	return open(t, kind(wrong), p.s.base, nil), wrong
}

func (p peer) TransientFault(t *testing.T) connectors.Connector {
	busy := newService(t)
	busy.overload.Store(http.StatusServiceUnavailable)
	return open(t, kind(busy.token), busy.base, nil)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	connectortest.Run(t, peer{newService(t)})
}

func TestEnsureIdentityCreatesTheUser(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	u := connectors.User{ID: "usr_01ANN", Email: "ann@example.com", Name: "Ann Example"}
	acct, created, err := c.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "ann@example.com", acct.Login)

	got := s.user(t, acct.ExternalID)
	require.Equal(t, "ann@example.com", got["userName"])
	require.Equal(t, "usr_01ANN", got["externalId"], "externalId is the provisioning client's id for the user")
	require.Equal(t, "Ann Example", got["displayName"])
	require.Equal(t, true, got["active"])
	require.Equal(t, []any{map[string]any{"value": "ann@example.com", "type": "work", "primary": true}}, got["emails"])

	// The user's email in another case is the same userName.
	u.Email = "ANN@example.com"
	again, created, err := c.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, acct.ExternalID, again.ExternalID)
}

func TestEnsureIdentityFilterCannotBeInjected(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	victim := s.createUser(t, "victim@example.com")

	for _, email := range []string{
		`x" or userName pr or userName eq "y@example.com`,
		`back\slash" or "1" eq "1@example.com`,
		"tab\there@example.com",
	} {
		u := connectors.User{ID: "usr_" + strconv.Itoa(len(email)), Email: email}
		acct, created, err := c.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
		require.NoError(t, err, email)
		require.True(t, created, "no existing user matches %q", email)
		require.NotEqual(t, victim, acct.ExternalID, "the filter value cannot widen the search")
		require.Equal(t, email, s.user(t, acct.ExternalID)["userName"])

		again, created, err := c.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
		require.NoError(t, err)
		require.False(t, created, "the escaped value finds the user it names")
		require.Equal(t, acct.ExternalID, again.ExternalID)
	}
	filters := s.seenFilters()
	require.Contains(t, filters, `userName eq "x\" or userName pr or userName eq \"y@example.com"`)
	require.Contains(t, filters, `userName eq "back\\slash\" or \"1\" eq \"1@example.com"`)
	require.Contains(t, filters, `userName eq "tab\u0009here@example.com"`)
}

func TestEnsureIdentityAdoptsOnConflict(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	u := connectortest.NewUser()
	other := make(chan string, 1)
	race := func() {
		s.beforeCreate.Store(nil)
		// Another writer creates the user between the connector's search
		// and its POST.
		res, err := scimtest.Users{S: s.store}.Create(nil, map[string]any{"userName": u.Email})
		if err != nil {
			t.Errorf("create the racing user: %v", err)
		}
		other <- res.ID
	}
	s.beforeCreate.Store(&race)

	acct, created, err := c.EnsureIdentity(t.Context(), connectortest.NewOp(u, connectors.Entitlement{}))
	require.NoError(t, err)
	require.False(t, created, "the POST got 409 and the connector adopted the user")
	require.Equal(t, <-other, acct.ExternalID)
}

func TestEnsureIdentityUsesTheKnownAccount(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	id := s.createUser(t, "renamed-in-the-app@example.com")
	op := connectortest.NewOp(connectortest.NewUser(), connectors.Entitlement{})
	op.Account = connectors.Account{ExternalID: id, Login: "old-name@example.com"}
	acct, created, err := c.EnsureIdentity(t.Context(), op)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, connectors.Account{ExternalID: id, Login: "renamed-in-the-app@example.com"}, acct)

	// A stale id (the account was deleted) falls back to the login.
	require.Equal(t, http.StatusNoContent, s.admin(t, http.MethodDelete, "/Users/"+id, nil, nil))
	acct, created, err = c.EnsureIdentity(t.Context(), op)
	require.NoError(t, err)
	require.True(t, created)
	require.NotEqual(t, id, acct.ExternalID)
	require.Equal(t, "old-name@example.com", acct.Login)
}

func TestGrantRefusals(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	grp := s.createGroup(t, "Payroll")
	userID := s.createUser(t, "ann@example.com")
	tests := []struct {
		name   string
		op     connectors.Operation
		status int
		has    string
	}{
		{"unknown group", connectors.Operation{Account: connectors.Account{ExternalID: userID}, Entitlement: connectors.Entitlement{ExternalID: "g-9999"}},
			404, "scim: grant: status 404 Not Found: Resource g-9999 not found."},
		{"unknown user", connectors.Operation{Account: connectors.Account{ExternalID: "u-9999"}, Entitlement: connectors.Entitlement{ExternalID: grp}},
			400, "scim: grant: status 400 Bad Request (invalidValue): member u-9999 is not a user"},
	}
	for _, tt := range tests {
		err := c.Grant(t.Context(), tt.op)
		connectortest.RequirePermanent(t, c, err)
		se, ok := errors.AsType[*scim.Error](err)
		require.True(t, ok)
		require.Equal(t, tt.status, se.Status)
		require.True(t, se.SCIM)
		require.Equal(t, tt.has, err.Error(), tt.name)
	}
	require.Empty(t, s.members(t, grp))

	// An account known only by login is looked up; one that does not exist
	// cannot be granted anything, and has nothing to revoke.
	op := connectors.Operation{Account: connectors.Account{Login: "ann@example.com"}, Entitlement: connectors.Entitlement{ExternalID: grp}}
	require.NoError(t, c.Grant(t.Context(), op))
	require.Equal(t, []string{userID}, s.members(t, grp))
	op.Account.Login = "nobody@example.com"
	connectortest.RequirePermanent(t, c, c.Grant(t.Context(), op))
	require.NoError(t, c.Revoke(t.Context(), op))
}

func TestRevokeOfGoneThings(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	grp := s.createGroup(t, "Payroll")
	keep := s.createUser(t, "keep@example.com")
	gone := s.createUser(t, "gone@example.com")
	for _, id := range []string{keep, gone} {
		require.NoError(t, c.Grant(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: id}, Entitlement: connectors.Entitlement{ExternalID: grp}}))
	}

	// The user was deleted in the application (which drops its memberships):
	// the remove finds no target.
	require.Equal(t, http.StatusNoContent, s.admin(t, http.MethodDelete, "/Users/"+gone, nil, nil))
	require.NoError(t, c.Revoke(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: gone}, Entitlement: connectors.Entitlement{ExternalID: grp}}))
	require.Equal(t, []string{keep}, s.members(t, grp))

	// The group was deleted: its SCIM 404 means no membership is left.
	require.Equal(t, http.StatusNoContent, s.admin(t, http.MethodDelete, "/Groups/"+grp, nil, nil))
	require.NoError(t, c.Revoke(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: keep}, Entitlement: connectors.Entitlement{ExternalID: grp}}))

	// A 404 that is not a SCIM answer is a wrong URL, not a gone member.
	wrong := open(t, kind(s.token), s.srv.URL+"/not-scim", nil)
	err := wrong.Revoke(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: keep}, Entitlement: connectors.Entitlement{ExternalID: grp}})
	connectortest.RequirePermanent(t, wrong, err)
	require.Equal(t, "scim: revoke: status 404 Not Found", err.Error(), "the text of a body that is not SCIM is never kept")
	se, ok := errors.AsType[*scim.Error](err)
	require.True(t, ok)
	require.False(t, se.SCIM)
}

func TestOverloadIsTransient(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, "7", 7 * time.Second},
		{"429 without header", http.StatusTooManyRequests, "", 0},
		{"503 HTTP date", http.StatusServiceUnavailable, now.Add(90 * time.Second).UTC().Format(http.TimeFormat), 90 * time.Second},
		{"503 huge is capped", http.StatusServiceUnavailable, "99999999", 24 * time.Hour},
		{"500 ignores Retry-After", http.StatusInternalServerError, "7", 0},
		{"502", http.StatusBadGateway, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newService(t)
			grp := s.createGroup(t, "Payroll")
			id := s.createUser(t, "ann@example.com")
			k := kind(s.token)
			k.Now = func() time.Time { return now }
			c := open(t, k, s.base, nil)
			s.retryAfter.Store(tt.retryAfter)
			s.overload.Store(int32(tt.status))

			op := connectors.Operation{Account: connectors.Account{ExternalID: id}, Entitlement: connectors.Entitlement{ExternalID: grp}}
			err := c.Grant(t.Context(), op)
			te := connectortest.RequireTransient(t, c, err)
			require.Equal(t, tt.want, te.RetryAfter)
			require.Equal(t, "scim: grant: status "+strconv.Itoa(tt.status)+" "+http.StatusText(tt.status)+": slow down", err.Error())

			// When the service recovers, the same call succeeds.
			s.overload.Store(0)
			require.NoError(t, c.Grant(t.Context(), op))
			require.Equal(t, []string{id}, s.members(t, grp))
		})
	}
}

func TestWrongTokenIsPermanent(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := open(t, kind("not-the-token"), s.base, nil)
	for _, err := range []error{
		c.CheckHealth(t.Context()),
		c.Grant(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: "u"}, Entitlement: connectors.Entitlement{ExternalID: "g"}}),
	} {
		connectortest.RequirePermanent(t, c, err)
		require.Contains(t, err.Error(), "status 401 Unauthorized: invalid bearer token")
		require.NotContains(t, err.Error(), "not-the-token")
		require.NotContains(t, err.Error(), s.token)
	}
}

func TestCheckHealthNeedsASCIMService(t *testing.T) {
	t.Parallel()
	s := newService(t)
	require.NoError(t, s.open(t).CheckHealth(t.Context()))

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>Welcome</html>")
	}))
	t.Cleanup(web.Close)
	c := open(t, kind(s.token), web.URL, nil)
	err := c.CheckHealth(t.Context())
	connectortest.RequirePermanent(t, c, err)
	require.Contains(t, err.Error(), "not answer with a SCIM ListResponse")
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	s := newService(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, s.base+strings.TrimPrefix(r.URL.Path, "/scim/v2"), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	c := open(t, kind(s.token), redirect.URL+"/scim/v2", nil)
	err := c.CheckHealth(t.Context())
	connectortest.RequirePermanent(t, c, err)
	require.Contains(t, err.Error(), "307")
}

func TestTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	// The server answers only after a minute; the client must give up first.
	gaveUp := make(chan bool, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// With the body read, the server notices the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			gaveUp <- true
		case <-time.After(time.Minute):
			gaveUp <- false
		}
	}))
	t.Cleanup(slow.Close)
	c := open(t, kind("tok"), slow.URL, map[string]any{"timeoutSeconds": 1})
	err := c.Grant(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: "u"}, Entitlement: connectors.Entitlement{ExternalID: "g"}})
	connectortest.RequireTransient(t, c, err)
	require.Contains(t, err.Error(), "no answer within 1s")
	require.True(t, <-gaveUp, "the client hung up before the server answered")
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	s := newService(t)
	c := s.open(t)
	const n = 120 // more than the service's page (50) and the connector's (100)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.createUser(t, fmt.Sprintf("user%03d@example.com", i))
	}
	admins := s.createGroup(t, "Admins")
	readers := s.createGroup(t, "Readers")
	for _, id := range ids[:3] {
		require.NoError(t, c.Grant(t.Context(), connectors.Operation{Account: connectors.Account{ExternalID: id}, Entitlement: connectors.Entitlement{ExternalID: readers}}))
	}

	accts, err := c.ListAccounts(t.Context())
	require.NoError(t, err)
	require.Len(t, accts, n)
	for i, a := range accts {
		require.Equal(t, connectors.Account{ExternalID: ids[i], Login: fmt.Sprintf("user%03d@example.com", i)}, a)
	}
	require.Equal(t, "user007@example.com", c.LoginFor(connectors.User{Email: "user007@example.com"}), "LoginFor matches ListAccounts' logins")

	ents, err := c.ListEntitlements(t.Context())
	require.NoError(t, err)
	require.Equal(t, []connectors.Entitlement{{ExternalID: admins, Name: "Admins"}, {ExternalID: readers, Name: "Readers"}}, ents)

	members, err := c.ListMembers(t.Context(), connectors.Entitlement{ExternalID: readers})
	require.NoError(t, err)
	require.Equal(t, []connectors.Account{{ExternalID: ids[0]}, {ExternalID: ids[1]}, {ExternalID: ids[2]}}, members)
	members, err = c.ListMembers(t.Context(), connectors.Entitlement{ExternalID: admins})
	require.NoError(t, err)
	require.Empty(t, members)

	_, err = c.ListMembers(t.Context(), connectors.Entitlement{ExternalID: "g-gone"})
	connectortest.RequirePermanent(t, c, err)
	se, ok := errors.AsType[*scim.Error](err)
	require.True(t, ok)
	require.Equal(t, http.StatusNotFound, se.Status)
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	const good = "https://idp.example.com/scim/v2"
	k := scim.Kind{Secrets: connectors.NewSecretStore(func(n string) (string, bool) {
		v, ok := map[string]string{
			tokenVar: "t0ken-s3cret", "GATEHOUSE_SECRET_EMPTY": "", "GATEHOUSE_SECRET_TWO_LINES": "a\nb",
			"GATEHOUSE_SECRET_TAB": "a\tb", "GATEHOUSE_JWT_SECRET": "t0ken-s3cret-jwt",
		}[n]
		return v, ok
	}, "")}
	tests := []struct {
		name    string
		config  map[string]any
		key     string
		message string
	}{
		{"valid", map[string]any{"baseUrl": good, "tokenEnv": tokenVar}, "", ""},
		{"valid trailing slash and timeout", map[string]any{"baseUrl": good + "/", "tokenEnv": tokenVar, "timeoutSeconds": json.Number("30")}, "", ""},
		{"missing baseUrl", map[string]any{"tokenEnv": tokenVar}, "baseUrl", "required"},
		{"baseUrl not a string", map[string]any{"baseUrl": 1, "tokenEnv": tokenVar}, "baseUrl", "string"},
		{"relative baseUrl", map[string]any{"baseUrl": "/scim", "tokenEnv": tokenVar}, "baseUrl", "absolute"},
		{"ldap scheme", map[string]any{"baseUrl": "ldap://idp.example.com", "tokenEnv": tokenVar}, "baseUrl", "http or https"},
		{"credentials in url", map[string]any{"baseUrl": "https://bot:pw@idp.example.com/scim", "tokenEnv": tokenVar}, "baseUrl", "credentials"},
		{"query in url", map[string]any{"baseUrl": good + "?token=abc", "tokenEnv": tokenVar}, "baseUrl", "query"},
		{"missing tokenEnv", map[string]any{"baseUrl": good}, "tokenEnv", "required"},
		{"inline token", map[string]any{"baseUrl": good, "tokenEnv": "eyJhbGciOiJIUzI1NiJ9.e30.abc"}, "tokenEnv", "not the token itself"},
		{"unset", map[string]any{"baseUrl": good, "tokenEnv": "GATEHOUSE_SECRET_NOT_SET"}, "tokenEnv", "not set"},
		{"outside the namespace", map[string]any{"baseUrl": good, "tokenEnv": "NOT_SET"}, "tokenEnv", "connector-secret namespace"},
		{"the server's JWT secret", map[string]any{"baseUrl": good, "tokenEnv": "GATEHOUSE_JWT_SECRET"}, "tokenEnv", "connector-secret namespace"},
		{"empty", map[string]any{"baseUrl": good, "tokenEnv": "GATEHOUSE_SECRET_EMPTY"}, "tokenEnv", "empty"},
		{"two lines", map[string]any{"baseUrl": good, "tokenEnv": "GATEHOUSE_SECRET_TWO_LINES"}, "tokenEnv", "more than one line"},
		{"control character", map[string]any{"baseUrl": good, "tokenEnv": "GATEHOUSE_SECRET_TAB"}, "tokenEnv", "control characters"},
		{"tokenFile without a directory", map[string]any{"baseUrl": good, "tokenFile": "idp"}, "tokenFile", "no secrets directory"},
		{"tokenFile a path", map[string]any{"baseUrl": good, "tokenFile": "/etc/passwd"}, "tokenFile", "plain name"},
		{"timeout too long", map[string]any{"baseUrl": good, "tokenEnv": tokenVar, "timeoutSeconds": 61}, "timeoutSeconds", "1 to 60"},
		{"unknown key", map[string]any{"baseUrl": good, "tokenEnv": tokenVar, "token": "t0ken-s3cret"}, "token", "unknown key"},
	}
	r := connectors.NewRegistry(k)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := r.ValidateConfig("SCIM", tt.config)
			if tt.key == "" {
				require.NoError(t, err)
				_, err = r.Open("SCIM", tt.config)
				require.NoError(t, err)
				return
			}
			ce, ok := errors.AsType[*connectors.ConfigError](err)
			require.True(t, ok, "want a ConfigError, got %v", err)
			require.Equal(t, tt.key, ce.Key)
			require.Contains(t, ce.Message, tt.message)
			require.NotContains(t, ce.Message, "t0ken-s3cret")
			require.NotContains(t, ce.Message, "eyJhbGciOiJIUzI1NiJ9")

			_, err = r.Open("SCIM", tt.config)
			_, permanent := errors.AsType[*connectors.PermanentError](err)
			require.True(t, permanent)
			require.True(t, strings.HasPrefix(err.Error(), "scim: open: "+tt.key+": "), err.Error())
		})
	}
	require.Error(t, scim.Kind{}.ValidateConfig(map[string]any{"baseUrl": good, "tokenEnv": tokenVar}), "a nil Secrets finds nothing")
}

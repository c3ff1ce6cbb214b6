package security_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/user"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/auth"
	"gatehouse/internal/dbtest"
)

// provider is a real OpenID Connect provider (mockoidc: discovery, JWKS,
// the authorization code flow) running in the test process. Its key can be
// rotated while it runs.
type provider struct {
	m *mockoidc.MockOIDC
	// mu is held (read) by every request the provider serves and (write)
	// while the test changes the provider: its key or client ID.
	mu sync.RWMutex
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return key
}

func startProvider(t *testing.T) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(newKey(t))
	require.NoError(t, err)
	p := &provider{m: m}
	require.NoError(t, m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.RLock()
			defer p.mu.RUnlock()
			next.ServeHTTP(w, r)
		})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, m.Start(ln, nil))
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

// change runs fn with the provider's requests held off.
func (p *provider) change(fn func(m *mockoidc.MockOIDC)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p.m)
}

// rotate makes the provider sign with a new key and publish only it.
func (p *provider) rotate(t *testing.T) {
	kp, err := mockoidc.NewKeypair(newKey(t))
	require.NoError(t, err)
	p.change(func(m *mockoidc.MockOIDC) { m.Keypair = kp })
}

// signIn runs the authorization code flow for u and returns the ID token.
func (p *provider) signIn(t *testing.T, u mockoidc.User) string {
	t.Helper()
	p.m.QueueUser(u)
	const redirect = "http://127.0.0.1/callback"
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Get(p.m.AuthorizationEndpoint() + "?" + url.Values{
		"client_id": {p.m.ClientID}, "response_type": {"code"}, "scope": {"openid email profile groups"},
		"redirect_uri": {redirect}, "state": {"st"}, "nonce": {"nn"},
	}.Encode())
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode)
	loc, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	res, err = http.PostForm(p.m.TokenEndpoint(), url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"client_id": {p.m.ClientID}, "client_secret": {p.m.ClientSecret}, "redirect_uri": {redirect},
	})
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var tok struct {
		IDToken string `json:"id_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	require.NotEmpty(t, tok.IDToken)
	return tok.IDToken
}

func person(email string, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: true, Groups: groups}
}

// withClaims is a provider's user whose ID token carries claims besides (or
// instead of) those of MockUser: a name, or email_verified false, which
// MockUser leaves out.
type withClaims struct {
	*mockoidc.MockUser
	claims map[string]any
}

func (u withClaims) Claims(scope []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c, err := u.MockUser.Claims(scope, base)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m jwt.MapClaims
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	maps.Copy(m, u.claims)
	return m, nil
}

// oidcEnv starts the API accepting p's tokens with cfg (its issuer and
// audience filled in from p).
func oidcEnv(t *testing.T, db *dbtest.DB, p *provider, cfg auth.OIDCConfig) *apitest.Env {
	t.Helper()
	cfg.Issuer, cfg.Audience = p.m.Issuer(), p.m.ClientID
	clock := &apitest.Clock{}
	o, err := auth.NewOIDC(context.Background(), cfg, nil, clock.Now)
	require.NoError(t, err)
	return apitest.NewWith(t, db, apitest.Options{Clock: clock, OIDC: o})
}

const viewerEmail = `{ viewer { email platformRole } }`

type viewerAnswer struct {
	Viewer struct{ Email, PlatformRole string }
}

// signedIn returns the viewer's email and role for token over HTTP, or the
// error code.
func signedIn(t *testing.T, env *apitest.Env, token string) (viewerAnswer, string) {
	t.Helper()
	res := env.Do(t, token, viewerEmail, nil)
	var v viewerAnswer
	if res.Code() == "" {
		res.Decode(t, &v)
	}
	return v, res.Code()
}

// TestOIDCSignIn: ID tokens of a real provider authenticate, over HTTP and
// in a websocket's connection_init; tokens for another client, from another
// issuer, expired, or signed with a key the provider no longer publishes are
// refused; the server's own tokens keep working beside them.
func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		p, other := startProvider(t), startProvider(t)
		env := oidcEnv(t, db, p, auth.OIDCConfig{})
		ada := env.User(t, "ada@example.com", enum.PlatformRoleUser)
		gone := env.User(t, "gone@example.com", enum.PlatformRoleUser)
		_, err := env.Client.User.UpdateOne(gone).SetStatus(enum.UserStatusTerminated).Save(apitest.Sys())
		require.NoError(t, err)

		token := p.signIn(t, person("Ada@Example.com"))
		v, code := signedIn(t, env, token)
		require.Empty(t, code, "a valid ID token signs its user in (email matched case-insensitively)")
		require.Equal(t, "ada@example.com", v.Viewer.Email)
		require.Equal(t, "USER", v.Viewer.PlatformRole)
		requireWebsocketViewer(t, env, token, "ada@example.com")

		_, code = signedIn(t, env, env.Token(t, ada))
		require.Empty(t, code, "the server's own HS256 tokens still work")

		for _, tc := range []struct{ why, token string }{
			{"a terminated user stays refused", p.signIn(t, person("gone@example.com"))},
			{"an unknown user without JIT is refused", p.signIn(t, person("nobody@example.com"))},
			{"another issuer's token is refused", other.signIn(t, person("ada@example.com"))},
			{"a token issued to another client (audience) is refused", func() string {
				var id string
				p.change(func(m *mockoidc.MockOIDC) { id, m.ClientID = m.ClientID, "another-client" })
				defer p.change(func(m *mockoidc.MockOIDC) { m.ClientID = id })
				return p.signIn(t, person("ada@example.com"))
			}()},
			{"a token without the user claim is refused", p.signIn(t, &mockoidc.MockUser{Subject: "x"})},
			{"an unsigned token (alg none) naming the provider is refused", forged(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, p.m.Issuer(), p.m.ClientID)},
			{"an HS256 token naming the provider, signed with the server's secret, is refused",
				forged(t, jwt.SigningMethodHS256, []byte(apitest.Secret), p.m.Issuer(), p.m.ClientID)},
		} {
			_, code := signedIn(t, env, tc.token)
			require.Equal(t, "UNAUTHENTICATED", code, tc.why)
			requireWebsocketRefused(t, env, tc.token, tc.why)
		}
		n, err := env.Client.User.Query().Where(user.EmailEqualFold("nobody@example.com")).Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n, "no user is created without JIT")

		// Rotation: the provider signs with a new key and publishes only
		// that one. The first token naming the new key makes the server
		// fetch the key set again and is accepted; from then on a token of
		// the old key is refused.
		p.rotate(t)
		rotated := p.signIn(t, person("ada@example.com"))
		_, code = signedIn(t, env, rotated)
		require.Empty(t, code, "a token of the new key is accepted after the key set is fetched again")
		_, code = signedIn(t, env, token)
		require.Equal(t, "UNAUTHENTICATED", code, "a token of a key the provider no longer publishes is refused")
		requireWebsocketRefused(t, env, token, "an old-key token is refused in connection_init")

		// Expiry: the provider's tokens live 10 minutes; a minute of clock
		// skew is allowed.
		env.Clock.Advance(10*time.Minute + 30*time.Second)
		_, code = signedIn(t, env, rotated)
		require.Empty(t, code, "within the clock skew a token still counts")
		env.Clock.Advance(time.Minute)
		_, code = signedIn(t, env, rotated)
		require.Equal(t, "UNAUTHENTICATED", code, "an expired token is refused")
		requireWebsocketRefused(t, env, rotated, "an expired token is refused in connection_init")
	})
}

// forged returns a token for ada@example.com from issuer to audience,
// signed with method and key by someone other than the provider.
func forged(t *testing.T, method jwt.SigningMethod, key any, issuer, audience string) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(method, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": "sub-ada", "email": "ada@example.com", "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(key)
	require.NoError(t, err)
	return tok
}

// TestOIDCJustInTimeAndGroups: with JIT an unknown person is created on
// first sign-in (as USER, through the audited user-creation path), and the
// group mapping sets the platform role on every sign-in, the highest
// mapped group winning.
func TestOIDCJustInTimeAndGroups(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		p := startProvider(t)
		env := oidcEnv(t, db, p, auth.OIDCConfig{
			JIT: true, GroupsClaim: "groups",
			GroupRoles: map[string]enum.PlatformRole{"gh-admins": enum.PlatformRoleITAdmin, "gh-risk": enum.PlatformRoleRiskManager},
		})
		events := func() int {
			n, err := env.Client.AuditEvent.Query().Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.CatalogChanged))).Count(apitest.Sys())
			require.NoError(t, err)
			return n
		}
		before := events()

		v, code := signedIn(t, env, p.signIn(t, person("new.hire@example.com", "engineering")))
		require.Empty(t, code, "JIT creates the unknown user")
		require.Equal(t, "new.hire@example.com", v.Viewer.Email)
		require.Equal(t, "USER", v.Viewer.PlatformRole, "no mapped group: USER")
		u, err := env.Client.User.Query().Where(user.Email("new.hire@example.com")).Only(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, enum.UserStatusActive, u.Status)
		require.Equal(t, before+1, events(), "the creation is audited")
		ev, err := env.Client.AuditEvent.Query().Where(auditevent.Chain(audit.SystemChain)).Order(auditevent.BySeq()).All(apitest.Sys())
		require.NoError(t, err)
		last := ev[len(ev)-1]
		require.Equal(t, "User", last.Data["entity"])
		require.Equal(t, string(u.ID), last.Data["id"])

		_, code = signedIn(t, env, p.signIn(t, person("new.hire@example.com", "engineering")))
		require.Empty(t, code)
		require.Equal(t, before+1, events(), "a second sign-in creates nothing")

		v, code = signedIn(t, env, p.signIn(t, person("new.hire@example.com", "gh-risk", "gh-admins")))
		require.Empty(t, code)
		require.Equal(t, "IT_ADMIN", v.Viewer.PlatformRole, "the highest mapped group wins")
		require.Equal(t, before+2, events(), "the role change is audited")

		v, code = signedIn(t, env, p.signIn(t, person("new.hire@example.com", "gh-risk")))
		require.Empty(t, code)
		require.Equal(t, "RISK_MANAGER", v.Viewer.PlatformRole, "leaving a group lowers the role at the next sign-in")

		v, code = signedIn(t, env, p.signIn(t, person("boss@example.com", "gh-admins")))
		require.Empty(t, code)
		require.Equal(t, "IT_ADMIN", v.Viewer.PlatformRole, "a JIT user gets the role of its groups")
		requireWebsocketViewer(t, env, p.signIn(t, person("boss@example.com", "gh-admins")), "boss@example.com")

		gone := env.User(t, "left@example.com", enum.PlatformRoleUser)
		_, err = env.Client.User.UpdateOne(gone).SetStatus(enum.UserStatusTerminated).Save(apitest.Sys())
		require.NoError(t, err)
		_, code = signedIn(t, env, p.signIn(t, person("left@example.com", "gh-admins")))
		require.Equal(t, "UNAUTHENTICATED", code, "JIT never revives a terminated user")
	})
}

// TestOIDCRefusalsAndNames: a token whose email claim the provider marks
// unverified is refused, for a known user and with JIT alike; a service
// account is never signed in by the provider, and its role is not set from
// groups; a user JIT creates takes the display name of the token's name
// claim, or its e-mail without one.
func TestOIDCRefusalsAndNames(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		p := startProvider(t)
		env := oidcEnv(t, db, p, auth.OIDCConfig{
			JIT: true, GroupsClaim: "groups", GroupRoles: map[string]enum.PlatformRole{"gh-admins": enum.PlatformRoleITAdmin},
		})
		sys := apitest.Sys()
		env.User(t, "ada@example.com", enum.PlatformRoleUser)
		svc, err := env.Client.User.Create().SetEmail("ci@example.com").SetName("CI").SetKind(enum.UserKindService).Save(sys)
		require.NoError(t, err)
		unverified := func(email string) mockoidc.User {
			return withClaims{person(email), map[string]any{"email_verified": false}}
		}

		_, code := signedIn(t, env, p.signIn(t, unverified("ada@example.com")))
		require.Equal(t, "UNAUTHENTICATED", code, "an e-mail the provider has not verified names nobody")
		_, code = signedIn(t, env, p.signIn(t, unverified("mallory@example.com")))
		require.Equal(t, "UNAUTHENTICATED", code, "nor does JIT create a user for it")
		n, err := env.Client.User.Query().Where(user.Email("mallory@example.com")).Count(sys)
		require.NoError(t, err)
		require.Zero(t, n)
		_, code = signedIn(t, env, p.signIn(t, withClaims{person("ada@example.com"), map[string]any{"email_verified": true}}))
		require.Empty(t, code, "a verified e-mail signs in")

		token := p.signIn(t, person("ci@example.com", "gh-admins"))
		_, code = signedIn(t, env, token)
		require.Equal(t, "UNAUTHENTICATED", code, "a service account signs in with its API tokens only")
		requireWebsocketRefused(t, env, token, "a service account's ID token is refused in connection_init")
		svc, err = env.Client.User.Get(sys, svc.ID)
		require.NoError(t, err)
		require.Equal(t, enum.PlatformRoleUser, svc.PlatformRole, "the groups of a refused sign-in change no role")

		_, code = signedIn(t, env, p.signIn(t, withClaims{person("nia.new@example.com"), map[string]any{"name": "  Nia New "}}))
		require.Empty(t, code)
		nia, err := env.Client.User.Query().Where(user.Email("nia.new@example.com")).Only(sys)
		require.NoError(t, err)
		require.Equal(t, "Nia New", nia.Name, "JIT takes the display name from the name claim")
		_, code = signedIn(t, env, p.signIn(t, person("nameless@example.com")))
		require.Empty(t, code)
		nameless, err := env.Client.User.Query().Where(user.Email("nameless@example.com")).Only(sys)
		require.NoError(t, err)
		require.Equal(t, "nameless@example.com", nameless.Name, "without a name claim the e-mail is the name")
	})
}

// TestOIDCUserClaim: with GATEHOUSE_OIDC_USER_CLAIM naming another claim,
// that claim's value (not the email claim) finds the user, and the email
// claim's verification no longer matters.
func TestOIDCUserClaim(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		claim string
		user  func(email string) *mockoidc.MockUser
	}{
		{"preferred_username", func(email string) *mockoidc.MockUser {
			return &mockoidc.MockUser{Subject: "sub-1", Email: "shared@example.com", EmailVerified: true, PreferredUsername: email}
		}},
		{"sub", func(email string) *mockoidc.MockUser {
			return &mockoidc.MockUser{Subject: email, Email: "shared@example.com", EmailVerified: true}
		}},
	} {
		t.Run(tc.claim, func(t *testing.T) {
			t.Parallel()
			dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
				p := startProvider(t)
				env := oidcEnv(t, db, p, auth.OIDCConfig{UserClaim: tc.claim})
				env.User(t, "ada@example.com", enum.PlatformRoleUser)
				env.User(t, "bob@example.com", enum.PlatformRoleRiskManager)
				env.User(t, "shared@example.com", enum.PlatformRoleITAdmin)

				for _, email := range []string{"ada@example.com", "bob@example.com"} {
					v, code := signedIn(t, env, p.signIn(t, tc.user(email)))
					require.Empty(t, code, "%s names %s", tc.claim, email)
					require.Equal(t, email, v.Viewer.Email, "the user of the %s claim, not of the email claim", tc.claim)
				}
				v, code := signedIn(t, env, p.signIn(t, withClaims{tc.user("Ada@Example.com"), map[string]any{"email_verified": false}}))
				require.Empty(t, code, "an unverified email claim does not matter when %s names the user", tc.claim)
				require.Equal(t, "ada@example.com", v.Viewer.Email, "matched without regard to case")
				requireWebsocketViewer(t, env, p.signIn(t, tc.user("bob@example.com")), "bob@example.com")

				_, code = signedIn(t, env, p.signIn(t, tc.user("nobody@example.com")))
				require.Equal(t, "UNAUTHENTICATED", code, "a %s naming no user, without JIT", tc.claim)
				_, code = signedIn(t, env, p.signIn(t, &mockoidc.MockUser{Subject: "sub-2", Email: "ada@example.com", EmailVerified: true}))
				require.Equal(t, "UNAUTHENTICATED", code, "a token whose %s names no user is refused, whatever its email", tc.claim)
			})
		})
	}
}

// TestOIDCConfigErrors: bad settings fail at start with a message naming
// the setting.
func TestOIDCConfigErrors(t *testing.T) {
	t.Parallel()
	_, err := auth.ParseGroupRoles("admins=IT_ADMIN,oops")
	require.ErrorContains(t, err, `"oops" is not group=ROLE`)
	_, err = auth.ParseGroupRoles("admins=ROOT")
	require.ErrorContains(t, err, `role "ROOT"`)
	_, err = auth.ParseGroupRoles("admins=IT_ADMIN,admins=USER")
	require.ErrorContains(t, err, "mapped twice")
	roles, err := auth.ParseGroupRoles(" admins = IT_ADMIN , cn=risk=RISK_MANAGER,")
	require.NoError(t, err)
	require.Equal(t, map[string]enum.PlatformRole{"admins": enum.PlatformRoleITAdmin, "cn=risk": enum.PlatformRoleRiskManager}, roles)

	for _, tc := range []struct {
		why  string
		cfg  auth.OIDCConfig
		want string
	}{
		{"not a URL", auth.OIDCConfig{Issuer: "accounts.example.com", Audience: "x"}, "GATEHOUSE_OIDC_ISSUER"},
		{"plain http to a remote host", auth.OIDCConfig{Issuer: "http://idp.example.com", Audience: "x"}, "must be https"},
		{"no audience", auth.OIDCConfig{Issuer: "https://idp.example.com"}, "GATEHOUSE_OIDC_AUDIENCE"},
		{"a mapping without the claim", auth.OIDCConfig{Issuer: "https://idp.example.com", Audience: "x",
			GroupRoles: map[string]enum.PlatformRole{"a": enum.PlatformRoleITAdmin}}, "GATEHOUSE_OIDC_GROUPS_CLAIM"},
		{"a claim without the mapping", auth.OIDCConfig{Issuer: "https://idp.example.com", Audience: "x", GroupsClaim: "groups"}, "GATEHOUSE_OIDC_GROUP_ROLES"},
		{"nothing answers discovery", auth.OIDCConfig{Issuer: "http://127.0.0.1:1/realms/x", Audience: "x"}, "discovery"},
	} {
		_, err := auth.NewOIDC(context.Background(), tc.cfg, nil, time.Now)
		require.ErrorContains(t, err, tc.want, tc.why)
	}
}

// requireWebsocketViewer opens a websocket authenticated by token in
// connection_init and asks for the viewer over it.
func requireWebsocketViewer(t *testing.T, env *apitest.Env, token, email string) {
	t.Helper()
	s := openSocket(t, env, token)
	s.send(t, wsMessage{ID: "1", Type: "subscribe", Payload: json.RawMessage(`{"query":` + strconv.Quote(viewerEmail) + `}`)})
	m := s.next(t)
	require.Equal(t, "next", m.Type, string(m.Payload))
	require.Contains(t, string(m.Payload), `"email":"`+email+`"`)
}

// requireWebsocketRefused checks that connection_init with token closes the
// socket with 4401.
func requireWebsocketRefused(t *testing.T, env *apitest.Env, token, why string) {
	t.Helper()
	s := dialSocket(t, env, "graphql-transport-ws")
	s.init(t, token)
	require.Equal(t, 4401, s.closeCode(t), why)
}

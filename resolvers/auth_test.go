package resolvers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// mintJWT signs claims with method and key, as a client or an attacker could.
func mintJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	require.NoError(t, err)
	return tok
}

// claimsFor returns the claims of a valid JWT for the user: issuer
// "gatehouse", subject the user's ID, expiring in an hour.
func claimsFor(id pulid.ID) jwt.RegisteredClaims {
	now := time.Now()
	return jwt.RegisteredClaims{
		Issuer:    "gatehouse",
		Subject:   string(id),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}
}

// send sends one operation with the given Authorization header ("" for
// none), by POST or, with method GET, in the URL.
func send(t *testing.T, env *apitest.Env, method, authorization, query string, vars map[string]any) *apitest.Response {
	t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodGet {
		q := url.Values{"query": {query}}
		if vars != nil {
			b, err := json.Marshal(vars)
			require.NoError(t, err)
			q.Set("variables", string(b))
		}
		req, err = http.NewRequest(http.MethodGet, env.URL+"?"+q.Encode(), nil)
	} else {
		b, merr := json.Marshal(map[string]any{"query": query, "variables": vars})
		require.NoError(t, merr)
		req, err = http.NewRequest(http.MethodPost, env.URL, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
	}
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out := &apitest.Response{Status: res.StatusCode}
	require.NoError(t, json.NewDecoder(res.Body).Decode(out))
	return out
}

// requireViewer asserts that the bearer token authenticates as u.
func requireViewer(t *testing.T, env *apitest.Env, token string, u *ent.User) {
	t.Helper()
	var out struct{ Viewer struct{ ID string } }
	env.MustDo(t, token, `{ viewer { id } }`, nil, &out)
	require.Equal(t, string(u.ID), out.Viewer.ID)
}

// requireUnauthenticated asserts the HTTP 401 response of refused
// credentials: one UNAUTHENTICATED error and no data.
func requireUnauthenticated(t *testing.T, res *apitest.Response) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, res.Status)
	require.Len(t, res.Errors, 1)
	require.Equal(t, "UNAUTHENTICATED", res.Code())
	require.True(t, len(res.Data) == 0 || string(res.Data) == "null", "no data: %s", res.Data)
}

const createTokenMutation = `mutation($in: CreateApiTokenInput!) {
  createApiToken(input: $in) { token apiToken { id prefix scope expiresAt lastUsedAt revokedAt owner { id } } }
}`

type createdToken struct {
	Token    string
	APIToken struct {
		ID         string
		Prefix     string
		Scope      string
		ExpiresAt  *time.Time
		LastUsedAt *time.Time
		RevokedAt  *time.Time
		Owner      struct{ ID string }
	} `json:"apiToken"`
}

// createToken creates an API token through GraphQL as the bearer.
func createToken(t *testing.T, env *apitest.Env, bearer string, in map[string]any) createdToken {
	t.Helper()
	var out struct{ CreateAPIToken createdToken }
	env.MustDo(t, bearer, createTokenMutation, map[string]any{"in": in}, &out)
	require.NotEmpty(t, out.CreateAPIToken.Token)
	return out.CreateAPIToken
}

// placeholder returns the n-th query placeholder in the database's SQL dialect.
func placeholder(db *dbtest.DB, n int) string {
	if db.Name == "postgres" {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func countTokens(t *testing.T, env *apitest.Env) int {
	t.Helper()
	n, err := env.Client.ApiToken.Query().Count(apitest.Sys())
	require.NoError(t, err)
	return n
}

// TestAuthentication checks that every request to /query without valid
// credentials of an ACTIVE user gets HTTP 401 with UNAUTHENTICATED, before
// anything runs (DESIGN §5). Each refused credential differs from a valid
// one in one respect only; the "valid" rows show the same construction is
// accepted.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		ivan := env.User(t, "ivan@x.example", enum.PlatformRoleITAdmin)
		admin := env.Token(t, ivan)
		secret := []byte(apitest.Secret)

		tests := []struct {
			name string
			// ok: the credentials are valid (a control row).
			ok bool
			// authorization returns the Authorization header for user u,
			// after checking whatever must work before the credentials
			// become invalid.
			authorization func(t *testing.T, u *ent.User) string
		}{
			{
				name: "valid JWT", ok: true,
				authorization: func(t *testing.T, u *ent.User) string {
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, claimsFor(u.ID))
				},
			},
			{
				name: "valid JWT, lower-case scheme", ok: true,
				authorization: func(t *testing.T, u *ent.User) string {
					return "bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, claimsFor(u.ID))
				},
			},
			{
				name: "valid API token", ok: true,
				authorization: func(t *testing.T, u *ent.User) string {
					return "Bearer " + createToken(t, env, env.Token(t, u), map[string]any{"name": "ci", "scope": "WRITE"}).Token
				},
			},
			{
				name:          "no Authorization header",
				authorization: func(*testing.T, *ent.User) string { return "" },
			},
			{
				name:          "empty bearer token",
				authorization: func(*testing.T, *ent.User) string { return "Bearer " },
			},
			{
				name: "valid JWT in another scheme",
				authorization: func(t *testing.T, u *ent.User) string {
					return "Token " + mintJWT(t, jwt.SigningMethodHS256, secret, claimsFor(u.ID))
				},
			},
			{
				name:          "malformed token",
				authorization: func(*testing.T, *ent.User) string { return "Bearer not.a.jwt" },
			},
			{
				name:          "unknown API token",
				authorization: func(*testing.T, *ent.User) string { return "Bearer ght_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
			},
			{
				name: "JWT signed with another secret",
				authorization: func(t *testing.T, u *ent.User) string {
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef0123"), claimsFor(u.ID))
				},
			},
			{
				name: "JWT with its subject swapped after signing",
				authorization: func(t *testing.T, u *ent.User) string {
					signed := strings.Split(mintJWT(t, jwt.SigningMethodHS256, secret, claimsFor(u.ID)), ".")
					forged := mintJWT(t, jwt.SigningMethodHS256, []byte("x"), claimsFor(ivan.ID))
					return "Bearer " + signed[0] + "." + strings.Split(forged, ".")[1] + "." + signed[2]
				},
			},
			{
				name: "expired JWT",
				authorization: func(t *testing.T, u *ent.User) string {
					c := claimsFor(u.ID)
					c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
					c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, c)
				},
			},
			{
				name: "JWT without exp",
				authorization: func(t *testing.T, u *ent.User) string {
					c := claimsFor(u.ID)
					c.ExpiresAt = nil
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, c)
				},
			},
			{
				name: "JWT not valid yet",
				authorization: func(t *testing.T, u *ent.User) string {
					c := claimsFor(u.ID)
					c.NotBefore = jwt.NewNumericDate(time.Now().Add(30 * time.Minute))
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, c)
				},
			},
			{
				name: "JWT from another issuer",
				authorization: func(t *testing.T, u *ent.User) string {
					c := claimsFor(u.ID)
					c.Issuer = "someone-else"
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, c)
				},
			},
			{
				name: "JWT with alg none",
				authorization: func(t *testing.T, u *ent.User) string {
					return "Bearer " + mintJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsFor(u.ID))
				},
			},
			{
				name: "JWT with HS512 and a wrong key",
				authorization: func(t *testing.T, u *ent.User) string {
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS512, []byte("wrong-key-0123456789abcdef0123456789"), claimsFor(u.ID))
				},
			},
			{
				name: "JWT for an unknown user",
				authorization: func(t *testing.T, _ *ent.User) string {
					return "Bearer " + mintJWT(t, jwt.SigningMethodHS256, secret, claimsFor(pulid.MustNew("usr")))
				},
			},
			{
				name: "revoked API token",
				authorization: func(t *testing.T, u *ent.User) string {
					bearer := env.Token(t, u)
					tok := createToken(t, env, bearer, map[string]any{"name": "ci", "scope": "WRITE"})
					requireViewer(t, env, tok.Token, u)
					var out struct {
						RevokeAPIToken struct{ ID, RevokedAt string } `json:"revokeApiToken"`
					}
					env.MustDo(t, bearer, `mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt } }`,
						map[string]any{"id": tok.APIToken.ID}, &out)
					require.Equal(t, tok.APIToken.ID, out.RevokeAPIToken.ID)
					require.NotEmpty(t, out.RevokeAPIToken.RevokedAt)
					return "Bearer " + tok.Token
				},
			},
			{
				name: "expired API token",
				authorization: func(t *testing.T, u *ent.User) string {
					tok := createToken(t, env, env.Token(t, u), map[string]any{
						"name": "ci", "scope": "WRITE", "expiresAt": time.Now().Add(time.Hour).Format(time.RFC3339),
					})
					requireViewer(t, env, tok.Token, u)
					// expires_at is immutable in ent: move it to the past in SQL.
					res, err := db.SQL.Exec("UPDATE api_tokens SET expires_at = "+placeholder(db, 1)+" WHERE id = "+placeholder(db, 2),
						time.Now().Add(-time.Second), tok.APIToken.ID)
					require.NoError(t, err)
					n, err := res.RowsAffected()
					require.NoError(t, err)
					require.EqualValues(t, 1, n)
					return "Bearer " + tok.Token
				},
			},
			{
				name: "JWT of a user just TERMINATED",
				authorization: func(t *testing.T, u *ent.User) string {
					tok := env.Token(t, u)
					requireViewer(t, env, tok, u)
					terminate(t, env, admin, u)
					return "Bearer " + tok
				},
			},
			{
				name: "API token of a user just TERMINATED",
				authorization: func(t *testing.T, u *ent.User) string {
					tok := createToken(t, env, env.Token(t, u), map[string]any{"name": "ci", "scope": "WRITE"})
					requireViewer(t, env, tok.Token, u)
					terminate(t, env, admin, u)
					return "Bearer " + tok.Token
				},
			},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				u := env.User(t, fmt.Sprintf("user%d@x.example", i), enum.PlatformRoleUser)
				authorization := tc.authorization(t, u)
				for _, method := range []string{http.MethodPost, http.MethodGet} {
					res := send(t, env, method, authorization, `{ viewer { id } }`, nil)
					if tc.ok {
						require.Equal(t, http.StatusOK, res.Status, method)
						require.Empty(t, res.Errors, method)
						require.JSONEq(t, fmt.Sprintf(`{"viewer":{"id":%q}}`, u.ID), string(res.Data), method)
						continue
					}
					requireUnauthenticated(t, res)
				}
				if !tc.ok {
					// A mutation is refused the same way, and writes nothing.
					name := fmt.Sprintf("refused-%d", i)
					res := send(t, env, http.MethodPost, authorization,
						`mutation($name: String!) { createApiToken(input: {name: $name, scope: WRITE}) { token } }`,
						map[string]any{"name": name})
					requireUnauthenticated(t, res)
					n, err := env.Client.ApiToken.Query().Where(apitoken.Name(name)).Count(apitest.Sys())
					require.NoError(t, err)
					require.Zero(t, n, "the refused mutation wrote a token")
				}
			})
		}
	})
}

// terminate sets the user's status to TERMINATED through GraphQL as an IT
// admin.
func terminate(t *testing.T, env *apitest.Env, admin string, u *ent.User) {
	t.Helper()
	var out struct{ UpdateUser struct{ Status string } }
	env.MustDo(t, admin, `mutation($id: ID!) { updateUser(id: $id, input: {status: TERMINATED}) { status } }`,
		map[string]any{"id": u.ID}, &out)
	require.Equal(t, "TERMINATED", out.UpdateUser.Status)
}

// TestAuthReadTokenForbidsMutations checks that a READ-scope API token
// queries like its owner but every mutation is FORBIDDEN and writes
// nothing — even for an IT admin, who could run them with a JWT.
func TestAuthReadTokenForbidsMutations(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		ivan := env.User(t, "ivan@x.example", enum.PlatformRoleITAdmin)
		alice := env.User(t, "alice@x.example", enum.PlatformRoleUser)
		read := createToken(t, env, env.Token(t, ivan), map[string]any{"name": "reporting", "scope": "READ"})
		require.Equal(t, "READ", read.APIToken.Scope)

		// Queries work, with the owner's rights (an IT admin sees all tokens).
		var q struct {
			Viewer    struct{ ID string }
			APITokens struct{ TotalCount int } `json:"apiTokens"`
			Users     struct{ TotalCount int }
		}
		env.MustDo(t, read.Token, `{ viewer { id } apiTokens { totalCount } users { totalCount } }`, nil, &q)
		require.Equal(t, string(ivan.ID), q.Viewer.ID)
		require.Equal(t, 1, q.APITokens.TotalCount)
		require.Equal(t, 2, q.Users.TotalCount)

		mutations := []struct {
			name, query string
			vars        map[string]any
		}{
			{"createUser", `mutation { createUser(input: {email: "new@x.example", name: "New"}) { id } }`, nil},
			{"createApplication", `mutation { createApplication(input: {name: "Payroll", fulfillment: MANUAL, connectorKind: MANUAL}) { id } }`, nil},
			{"updateUser", `mutation($id: ID!) { updateUser(id: $id, input: {name: "Renamed", status: TERMINATED}) { id } }`, map[string]any{"id": alice.ID}},
			{"createApiToken", `mutation { createApiToken(input: {name: "escalate", scope: WRITE}) { token } }`, nil},
			{"revokeApiToken", `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, map[string]any{"id": read.APIToken.ID}},
		}
		for _, m := range mutations {
			users, err := env.Client.User.Query().Count(apitest.Sys())
			require.NoError(t, err)
			apps, err := env.Client.Application.Query().Count(apitest.Sys())
			require.NoError(t, err)
			tokens := countTokens(t, env)

			res := env.Do(t, read.Token, m.query, m.vars)
			require.Equal(t, "FORBIDDEN", res.Code(), "%s: %+v", m.name, res.Errors)
			require.True(t, len(res.Data) == 0 || string(res.Data) == "null", "%s returned data %s", m.name, res.Data)

			users2, err := env.Client.User.Query().Count(apitest.Sys())
			require.NoError(t, err)
			apps2, err := env.Client.Application.Query().Count(apitest.Sys())
			require.NoError(t, err)
			require.Equal(t, users, users2, m.name)
			require.Equal(t, apps, apps2, m.name)
			require.Equal(t, tokens, countTokens(t, env), m.name)
			a, err := env.Client.User.Get(apitest.Sys(), alice.ID)
			require.NoError(t, err)
			require.Equal(t, "alice@x.example", a.Name, m.name)
			require.Equal(t, enum.UserStatusActive, a.Status, m.name)
			rec, err := env.Client.ApiToken.Get(apitest.Sys(), pulid.ID(read.APIToken.ID))
			require.NoError(t, err)
			require.Nil(t, rec.RevokedAt, m.name)
		}
		// The READ token still works, and the same mutations run with the
		// admin's JWT.
		requireViewer(t, env, read.Token, ivan)
		env.MustDo(t, env.Token(t, ivan), mutations[0].query, nil, nil)
	})
}

// TestAuthCreateAPIToken checks createApiToken and revokeApiToken: the token
// is shown once and stored only as its SHA-256; users create and revoke
// their own tokens, IT admins anyone's; using a token records last_used_at.
func TestAuthCreateAPIToken(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		ivan := env.User(t, "ivan@x.example", enum.PlatformRoleITAdmin)
		alice := env.User(t, "alice@x.example", enum.PlatformRoleUser)
		bob := env.User(t, "bob@x.example", enum.PlatformRoleUser)
		aliceJWT, bobJWT, admin := env.Token(t, alice), env.Token(t, bob), env.Token(t, ivan)

		created := createToken(t, env, aliceJWT, map[string]any{"name": "ci", "scope": "WRITE"})
		tok := created.Token
		require.True(t, strings.HasPrefix(tok, "ght_"), tok)
		require.Greater(t, len(tok), len("ght_")+32, "the token carries enough randomness")
		require.True(t, strings.HasPrefix(tok, created.APIToken.Prefix), "prefix %q of %q", created.APIToken.Prefix, tok)
		require.Less(t, len(created.APIToken.Prefix), len(tok)-32, "the prefix gives away little of the token")
		require.Equal(t, "WRITE", created.APIToken.Scope)
		require.Equal(t, string(alice.ID), created.APIToken.Owner.ID)
		require.Nil(t, created.APIToken.LastUsedAt)
		require.Nil(t, created.APIToken.RevokedAt)

		// No field of the API gives the token or its hash again.
		var intro struct {
			Type struct{ Fields []struct{ Name string } } `json:"__type"`
		}
		env.MustDo(t, aliceJWT, `{ __type(name: "ApiToken") { fields { name } } }`, nil, &intro)
		var fields []string
		for _, f := range intro.Type.Fields {
			fields = append(fields, f.Name)
		}
		require.Contains(t, fields, "prefix")
		require.NotContains(t, fields, "hash")
		require.NotContains(t, fields, "token")

		// The database holds the SHA-256 hex of the token, and the token
		// nowhere.
		var hash string
		require.NoError(t, db.SQL.QueryRow("SELECT hash FROM api_tokens WHERE id = "+placeholder(db, 1), created.APIToken.ID).Scan(&hash))
		sum := sha256.Sum256([]byte(tok))
		require.Equal(t, hex.EncodeToString(sum[:]), hash)
		rows, err := db.SQL.Query("SELECT * FROM api_tokens")
		require.NoError(t, err)
		cols, err := rows.Columns()
		require.NoError(t, err)
		secretPart := tok[len(created.APIToken.Prefix):]
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				require.NotContains(t, fmt.Sprint(v), secretPart, "column %s holds the token", cols[i])
			}
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())

		// Using the token records last_used_at.
		lastUsed := func() *time.Time {
			var out struct {
				APITokens struct {
					Edges []struct {
						Node struct {
							ID         string
							LastUsedAt *time.Time
						}
					}
				} `json:"apiTokens"`
			}
			env.MustDo(t, aliceJWT, `{ apiTokens { edges { node { id lastUsedAt } } } }`, nil, &out)
			require.Len(t, out.APITokens.Edges, 1)
			require.Equal(t, created.APIToken.ID, out.APITokens.Edges[0].Node.ID)
			return out.APITokens.Edges[0].Node.LastUsedAt
		}
		require.Nil(t, lastUsed(), "not used yet")
		before := time.Now().Add(-time.Second)
		requireViewer(t, env, tok, alice)
		used := lastUsed()
		require.NotNil(t, used, "last_used_at after use")
		require.WithinRange(t, *used, before, time.Now().Add(time.Second))

		// A USER cannot create a token for someone else.
		n := countTokens(t, env)
		res := env.Do(t, aliceJWT, createTokenMutation, map[string]any{"in": map[string]any{"name": "as-bob", "scope": "WRITE", "ownerID": bob.ID}})
		require.Equal(t, "FORBIDDEN", res.Code(), "%+v", res.Errors)
		require.Equal(t, n, countTokens(t, env))
		bobTokens, err := env.Client.User.QueryAPITokens(bob).Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, bobTokens)

		// Nor can an IT admin: a token for another person would impersonate
		// them (issue "Security hardening"). An IT admin creates tokens for
		// service accounts, and the token acts as its owner.
		res = env.Do(t, admin, createTokenMutation, map[string]any{"in": map[string]any{"name": "as-alice", "scope": "READ", "ownerID": alice.ID}})
		require.Equal(t, "FORBIDDEN", res.Code(), "%+v", res.Errors)
		require.Equal(t, n, countTokens(t, env))
		svc, err := env.Client.User.Create().SetEmail("ci@svc.example").SetName("CI").SetKind(enum.UserKindService).Save(apitest.Sys())
		require.NoError(t, err)
		forService := createToken(t, env, admin, map[string]any{"name": "provisioned", "scope": "READ", "ownerID": svc.ID})
		require.Equal(t, string(svc.ID), forService.APIToken.Owner.ID)
		requireViewer(t, env, forService.Token, svc)

		// A USER cannot revoke someone else's token: it does not exist for them.
		res = env.Do(t, bobJWT, `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, map[string]any{"id": created.APIToken.ID})
		require.Equal(t, "NOT_FOUND", res.Code(), "%+v", res.Errors)
		rec, err := env.Client.ApiToken.Get(apitest.Sys(), pulid.ID(created.APIToken.ID))
		require.NoError(t, err)
		require.Nil(t, rec.RevokedAt)
		requireViewer(t, env, tok, alice)

		// An IT admin can revoke anyone's token.
		var out struct {
			RevokeAPIToken struct{ RevokedAt *time.Time } `json:"revokeApiToken"`
		}
		env.MustDo(t, admin, `mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }`, map[string]any{"id": forService.APIToken.ID}, &out)
		require.NotNil(t, out.RevokeAPIToken.RevokedAt)
		requireUnauthenticated(t, env.Do(t, forService.Token, `{ viewer { id } }`, nil))
	})
}

// TestAuthGET checks the GET transport: authenticated queries work, and
// mutations are refused (DESIGN §7: GET for queries only) without writing.
func TestAuthGET(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		alice := env.User(t, "alice@x.example", enum.PlatformRoleUser)
		bearer := "Bearer " + env.Token(t, alice)

		res := send(t, env, http.MethodGet, bearer, `query($n: Int) { viewer { id } users(first: $n) { totalCount } }`, map[string]any{"n": 5})
		require.Equal(t, http.StatusOK, res.Status)
		require.Empty(t, res.Errors)
		require.JSONEq(t, fmt.Sprintf(`{"viewer":{"id":%q},"users":{"totalCount":1}}`, alice.ID), string(res.Data))

		requireUnauthenticated(t, send(t, env, http.MethodGet, "", `{ viewer { id } }`, nil))

		res = send(t, env, http.MethodGet, bearer, `mutation { createApiToken(input: {name: "via-get", scope: WRITE}) { token } }`, nil)
		require.NotEqual(t, http.StatusOK, res.Status, "a mutation over GET is refused")
		require.NotEmpty(t, res.Errors)
		require.True(t, len(res.Data) == 0 || string(res.Data) == "null", "no data: %s", res.Data)
		require.Zero(t, countTokens(t, env), "the mutation wrote nothing")
	})
}

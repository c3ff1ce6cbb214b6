package security_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/httpserver"
)

// serve runs the test API behind the production HTTP server with the given
// timeouts and allowed origins, and returns its base URL.
func serve(t *testing.T, env *apitest.Env, timeouts httpserver.Timeouts, origins ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpserver.New(httpserver.Config{Handler: env.Handler, Timeouts: timeouts, AllowedOrigins: origins})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestStalledConnectionsAreClosed opens connections that stop sending in
// the middle of their headers or body, with and without a token: the server
// must close each of them (the client's own deadline, far longer than the
// server's timeouts, must not be what ends the read).
func TestStalledConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		token := env.Token(t, env.User(t, "stall@example.com", enum.PlatformRoleUser))
		base := serve(t, env, httpserver.Timeouts{ReadHeader: 300 * time.Millisecond, Body: 300 * time.Millisecond, Idle: time.Second})
		addr := strings.TrimPrefix(base, "http://")
		body := `{"query":"{ viewer { id } }"}`
		for _, tc := range []struct{ name, sent string }{
			{"headers", "POST /query HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n"},
			{"body with a token", fmt.Sprintf("POST /query HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token, len(body)+100, body)},
			{"body without a token", fmt.Sprintf("POST /query HTTP/1.1\r\nHost: gatehouse\r\n"+
				"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body)+100, body)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				conn, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				defer conn.Close()
				_, err = io.WriteString(conn, tc.sent)
				require.NoError(t, err)
				require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
				_, err = io.ReadAll(conn)
				require.NoError(t, err, "the server must close the stalled connection (io.ReadAll ends at EOF)")
			})
		}
	})
}

// TestSecurityHeadersAndCORS checks the headers of API answers and that
// browsers on an allowed origin, and only those, may call /query.
func TestSecurityHeadersAndCORS(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		token := env.Token(t, env.User(t, "cors@example.com", enum.PlatformRoleUser))
		const allowed, foreign = "https://console.example.com", "https://evil.example.net"
		base := serve(t, env, httpserver.DefaultTimeouts, allowed)

		do := func(method, origin string, body io.Reader, header map[string]string) *http.Response {
			req, err := http.NewRequest(method, base+"/query", body)
			require.NoError(t, err)
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res
		}
		preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
		query := func() io.Reader { return strings.NewReader(`{"query":"{ viewer { id } }"}`) }
		call := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}

		res := do(http.MethodOptions, allowed, nil, preflight)
		require.Equal(t, http.StatusNoContent, res.StatusCode)
		require.Equal(t, allowed, res.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, res.Header.Get("Access-Control-Allow-Methods"), "POST")
		require.Contains(t, strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization")

		res = do(http.MethodPost, allowed, query(), call)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, allowed, res.Header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
		require.Equal(t, "no-referrer", res.Header.Get("Referrer-Policy"))
		require.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
		require.Contains(t, res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")

		res = do(http.MethodOptions, foreign, nil, preflight)
		require.Equal(t, http.StatusForbidden, res.StatusCode)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))
		require.Empty(t, res.Header.Get("Access-Control-Allow-Headers"))
		res = do(http.MethodPost, foreign, query(), call)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))

		// A refused request carries the headers too.
		res = do(http.MethodPost, "", query(), nil)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
	})
}

// TestBodyOverLimitIs413 sends bodies over 1 MiB, with and without a
// Content-Length.
func TestBodyOverLimitIs413(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		token := env.Token(t, env.User(t, "big@example.com", enum.PlatformRoleUser))
		big, err := json.Marshal(map[string]any{"query": "{ viewer { id } }", "variables": map[string]any{"pad": strings.Repeat("x", 1<<20)}})
		require.NoError(t, err)
		for _, tc := range []struct {
			name string
			body io.Reader
		}{
			{"with Content-Length", bytes.NewReader(big)},
			{"chunked", io.MultiReader(bytes.NewReader(big))}, // unknown length: sent chunked
		} {
			req, err := http.NewRequest(http.MethodPost, env.URL, tc.body)
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var out apitest.Response
			require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
			res.Body.Close()
			require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, tc.name)
			require.Equal(t, "INVALID_INPUT", out.Code(), tc.name)
		}
	})
}

// TestJWTClaimTricks sends JWTs signed with the right key whose time claims
// are out of the ordinary.
func TestJWTClaimTricks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		u := env.User(t, "jwt@example.com", enum.PlatformRoleUser)
		now := time.Now().Unix()
		for _, tc := range []struct {
			name   string
			claims map[string]any
			ok     bool
		}{
			{"valid", map[string]any{"iat": now, "exp": now + 3600}, true},
			{"iat within the clock skew", map[string]any{"iat": now + 30, "exp": now + 3600}, true},
			{"iat in the future", map[string]any{"iat": now + 3600, "exp": now + 7200}, false},
			{"no iat", map[string]any{"exp": now + 3600}, false},
			{"exp as a string", map[string]any{"iat": now, "exp": fmt.Sprint(now + 3600)}, false},
			{"iat as a string", map[string]any{"iat": fmt.Sprint(now), "exp": now + 3600}, false},
			{"exp null", map[string]any{"iat": now, "exp": nil}, false},
			{"exp an object", map[string]any{"iat": now, "exp": map[string]any{"n": now + 3600}}, false},
		} {
			claims := jwt.MapClaims{"iss": "gatehouse", "sub": string(u.ID)}
			for k, v := range tc.claims {
				claims[k] = v
			}
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(apitest.Secret))
			require.NoError(t, err)
			res := env.Do(t, tok, "{ viewer { id } }", nil)
			if tc.ok {
				require.Empty(t, res.Errors, tc.name)
				continue
			}
			require.Equal(t, http.StatusUnauthorized, res.Status, tc.name)
			require.Equal(t, "UNAUTHENTICATED", res.Code(), tc.name)
		}
		// A payload that is not JSON, signed correctly.
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
		payload := base64.RawURLEncoding.EncodeToString([]byte(`not json`))
		signed, err := jwt.SigningMethodHS256.Sign(header+"."+payload, []byte(apitest.Secret))
		require.NoError(t, err)
		res := env.Do(t, header+"."+payload+"."+base64.RawURLEncoding.EncodeToString(signed), "{ viewer { id } }", nil)
		require.Equal(t, "UNAUTHENTICATED", res.Code())
	})
}

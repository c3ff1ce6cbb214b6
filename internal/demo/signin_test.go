package demo_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
)

// TestSignIn: the demo sign-in lists the demo users, IT admin first, and
// mints a token for one of them; it refuses an email that is not a demo
// user's (a user added later), callers beyond this machine, and other
// methods.
func TestSignIn(t *testing.T) {
	t.Parallel()
	client := newClient(t, dbtest.NewSQLite(t))
	_, err := demo.Seed(context.Background(), client)
	require.NoError(t, err)
	_, err = client.User.Create().SetEmail("later@example.com").SetName("Later").SetPlatformRole(enum.PlatformRoleITAdmin).
		Save(authz.SystemContext(context.Background()))
	require.NoError(t, err)
	var issued []pulid.ID
	h := demo.SignIn(client, func(id pulid.ID) (string, error) {
		issued = append(issued, id)
		return "token-of-" + string(id), nil
	})
	call := func(method, body, remote, host string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, demo.SignInPath, strings.NewReader(body))
		req.RemoteAddr, req.Host = remote, cmp.Or(host, "localhost:8080")
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	tests := []struct {
		why                        string
		method, body, remote, host string
		status                     int
	}{
		{"the list, from this machine", http.MethodGet, "", "127.0.0.1:5000", "", http.StatusOK},
		{"the list over IPv6 loopback", http.MethodGet, "", "[::1]:5000", "[::1]:8080", http.StatusOK},
		{"the list at 127.0.0.1", http.MethodGet, "", "127.0.0.1:5000", "127.0.0.1:8080", http.StatusOK},
		{"a page of another name made to point at this machine (DNS rebinding) may not list", http.MethodGet, "", "127.0.0.1:5000", "evil.example:8080", http.StatusForbidden},
		{"nor sign in", http.MethodPost, `{"email": "admin@example.com"}`, "127.0.0.1:5000", "evil.example:8080", http.StatusForbidden},
		{"another host may not list", http.MethodGet, "", "192.0.2.7:5000", "", http.StatusForbidden},
		{"another host may not sign in", http.MethodPost, `{"email": "admin@example.com"}`, "192.0.2.7:5000", "", http.StatusForbidden},
		{"a user who is not a demo user", http.MethodPost, `{"email": "later@example.com"}`, "127.0.0.1:5000", "", http.StatusNotFound},
		{"not JSON (a cross-origin form could send it)", http.MethodPost, `email=admin@example.com`, "127.0.0.1:5000", "", http.StatusUnsupportedMediaType},
		{"malformed JSON", http.MethodPost, `{"email":`, "127.0.0.1:5000", "", http.StatusBadRequest},
		{"other methods", http.MethodDelete, "", "127.0.0.1:5000", "", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		require.Equal(t, tt.status, call(tt.method, tt.body, tt.remote, tt.host).Code, tt.why)
	}
	require.Empty(t, issued, "no token minted so far")

	var users []demo.SignInUser
	require.NoError(t, json.Unmarshal(call(http.MethodGet, "", "127.0.0.1:1", "").Body.Bytes(), &users))
	require.GreaterOrEqual(t, len(users), 12)
	require.Equal(t, demo.SignInUser{Email: "admin@example.com", Name: users[0].Name, Role: "IT_ADMIN"}, users[0])
	for _, u := range users {
		require.NotEqual(t, "later@example.com", u.Email)
	}

	rec := call(http.MethodPost, `{"email": "`+users[1].Email+`"}`, "127.0.0.1:1", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var got struct{ Token string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	require.Len(t, issued, 1)
	require.Equal(t, "token-of-"+string(issued[0]), got.Token)
	require.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

package resolvers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/authz"
)

// failingAuth fails every authentication with err.
type failingAuth struct{ err error }

func (a failingAuth) Authenticate(context.Context, string) (*authz.Viewer, error) { return nil, a.err }
func (failingAuth) Current(context.Context, []*authz.Viewer) ([]bool, error)      { return nil, nil }
func (failingAuth) Check(context.Context, *authz.Viewer) (bool, error)            { return false, nil }

// TestAuthenticateFailureOfACancelledRequest: a request whose
// authentication fails inside the server is answered 500 INTERNAL whether
// or not it was cancelled meanwhile (a stopping server's client still
// waits); the failure is logged at ERROR, and at DEBUG when the request
// was cancelled.
func TestAuthenticateFailureOfACancelledRequest(t *testing.T) {
	t.Parallel()
	for _, cancelled := range []bool{false, true} {
		var log bytes.Buffer
		h := authenticate(failingAuth{errors.New("load user: context canceled")},
			slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
			http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("served without a viewer") }))
		ctx, cancel := context.WithCancel(context.Background())
		if cancelled {
			cancel()
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/query", strings.NewReader(`{"query":"{ viewer { id } }"}`))
		req.Header.Set("Authorization", "Bearer x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		cancel()
		require.Equal(t, http.StatusInternalServerError, rec.Code)
		require.Contains(t, rec.Body.String(), `"INTERNAL"`)
		require.NotContains(t, rec.Body.String(), "context canceled", "no internal detail")
		level := "level=ERROR"
		if cancelled {
			level = "level=DEBUG"
		}
		require.Contains(t, log.String(), level+" msg=authenticate")
		require.Equal(t, 1, strings.Count(log.String(), "msg=authenticate"))
	}
}

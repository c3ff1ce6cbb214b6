package httpcall_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/internal/httpcall"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestCheck(t *testing.T) {
	t.Parallel()
	errFail := errors.New("unexpected status")
	for _, tc := range []struct {
		status     int
		retryAfter string
		want       string // "", "transient" or "permanent"
		delay      time.Duration
		why        string
	}{
		{200, "", "", 0, "2xx is success"},
		{204, "", "", 0, "2xx is success"},
		{301, "", "permanent", 0, "redirects are not followed"},
		{400, "", "permanent", 0, "the request is wrong and will stay wrong"},
		{404, "", "permanent", 0, "other 4xx are permanent"},
		{409, "", "permanent", 0, "a conflict is the connector's to read as success"},
		{408, "", "transient", 0, "a request timeout may pass"},
		{429, "30", "transient", 30 * time.Second, "Retry-After is honoured on 429"},
		{503, now.Add(time.Minute).Format(http.TimeFormat), "transient", time.Minute, "an HTTP date counts from now on 503"},
		{500, "30", "transient", 0, "Retry-After is read on 429 and 503 only"},
		{502, "", "transient", 0, "5xx are transient"},
	} {
		a := &httpcall.Answer{Status: tc.status, Header: http.Header{"Retry-After": {tc.retryAfter}}}
		err := a.Check(func() time.Time { return now }, func(got *httpcall.Answer) error {
			require.Same(t, a, got)
			return errFail
		})
		switch tc.want {
		case "":
			require.NoError(t, err, tc.why)
		case "transient":
			te, ok := errors.AsType[*connectors.TransientError](err)
			require.True(t, ok, "%d: %s", tc.status, tc.why)
			require.ErrorIs(t, err, errFail, tc.why)
			require.Equal(t, tc.delay, te.RetryAfter, tc.why)
		case "permanent":
			_, ok := errors.AsType[*connectors.PermanentError](err)
			require.True(t, ok, "%d: %s", tc.status, tc.why)
			require.ErrorIs(t, err, errFail, tc.why)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    string
		want time.Duration
		why  string
	}{
		{"", 0, "no header, no delay"},
		{" 120 ", 2 * time.Minute, "seconds, white space trimmed"},
		{"0", 0, "zero seconds"},
		{"-5", 0, "negative seconds are no delay"},
		{"99999999999", httpcall.MaxRetryAfter, "a huge delay is capped"},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, "a date in the past is no delay"},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), httpcall.MaxRetryAfter, "a far date is capped"},
		{"soon", 0, "what does not parse is no delay"},
	} {
		require.Equal(t, tc.want, httpcall.RetryAfter(tc.v, now), tc.why)
	}
}

func TestSendDescribesFailuresWithoutTheURL(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	_, err := httpcall.Send(context.Background(), srv.Client(), 50*time.Millisecond, httpcall.Request{
		Prefix: "test: step", Method: http.MethodGet, URL: srv.URL + "/?token=s3cret", MaxAnswer: 10,
	})
	_, ok := errors.AsType[*connectors.TransientError](err)
	require.True(t, ok, "a timeout is transient: %v", err)
	require.Contains(t, err.Error(), "test: step: no answer within 50ms")
	require.NotContains(t, err.Error(), "s3cret")

	_, err = httpcall.Send(context.Background(), srv.Client(), time.Second, httpcall.Request{
		Prefix: "test: step", Method: "bad method", URL: srv.URL,
	})
	_, ok = errors.AsType[*connectors.PermanentError](err)
	require.True(t, ok, "a request that cannot be built is permanent: %v", err)
}

func TestSendReadsABoundedAnswer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.Header.Get("Idempotency-Key")+" "+string(body))
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("0123456789abcdef"))
	}))
	t.Cleanup(srv.Close)
	a, err := httpcall.Send(context.Background(), srv.Client(), time.Second, httpcall.Request{
		Prefix: "test", Method: http.MethodPost, URL: srv.URL, Header: http.Header{"Idempotency-Key": {"k1"}},
		Body: []byte(`{}`), MaxAnswer: 10,
	})
	require.NoError(t, err, "Send reads any status; Check classifies it")
	require.Equal(t, http.StatusTeapot, a.Status)
	require.Equal(t, "POST k1 {}", a.Header.Get("X-Seen"))
	require.Equal(t, "0123456789", string(a.Body), "the body is cut at MaxAnswer")
}

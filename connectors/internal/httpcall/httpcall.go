// Package httpcall is the HTTP plumbing the SCIM and webhook connectors
// share: the check of the URL their configuration names (URLField), and the
// round trip: one request under the call's deadline, its answer read up to
// a bound, and the answer's status classified as success, transient failure
// (a *connectors.TransientError, honouring Retry-After) or permanent
// failure (a *connectors.PermanentError). Errors never carry the request's
// URL, whose query may hold a token, nor the answer's text: each connector
// builds the error of an unexpected status itself.
package httpcall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gatehouse/connectors"
)

// MaxRetryAfter caps the delay a Retry-After header may ask for.
const MaxRetryAfter = 24 * time.Hour

// Request is one HTTP request of a connector.
type Request struct {
	// Prefix starts every error Send returns, e.g. "scim: grant".
	Prefix string
	Method string
	URL    string
	Header http.Header
	// Body is sent when not nil.
	Body []byte
	// MaxAnswer bounds the bytes of the answer's body that are read.
	MaxAnswer int64
}

// Answer is an HTTP answer with its body read, up to Request.MaxAnswer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// EncodeJSON returns v as JSON, or a *connectors.PermanentError
// "<prefix>: encode: …".
func EncodeJSON(prefix string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("%s: encode: %w", prefix, err))
	}
	return b, nil
}

// Send makes the request r with client under a deadline of timeout and
// reads its answer, whatever its status (see Answer.Check). A request that
// cannot be built is a *connectors.PermanentError; a failed round trip or
// body read, timeouts included, is a *connectors.TransientError
// "<prefix>: …", saying "no answer within <timeout>" when the deadline
// passed.
func Send(ctx context.Context, client *http.Client, timeout time.Duration, r Request) (*Answer, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("%s: build request: %w", r.Prefix, err))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, connectors.Transient(sendError(ctx, r.Prefix, timeout, err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.MaxAnswer))
	if err != nil {
		return nil, connectors.Transient(sendError(ctx, r.Prefix, timeout, fmt.Errorf("read response: %w", err)))
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// sendError describes a failed round trip without the URL.
func sendError(ctx context.Context, prefix string, timeout time.Duration, err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %s: %w", prefix, timeout, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// Check classifies the answer by its status: nil for a 2xx; for a 408, 429
// or 5xx a *connectors.TransientError wrapping fail(a), whose RetryAfter is
// the answer's Retry-After on a 429 or 503 (see RetryAfter; now is read
// then); for any other status (3xx included) a *connectors.PermanentError
// wrapping fail(a).
func (a *Answer) Check(now func() time.Time, fail func(a *Answer) error) error {
	code := a.Status
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
		te := &connectors.TransientError{Err: fail(a)}
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			te.RetryAfter = RetryAfter(a.Header.Get("Retry-After"), now())
		}
		return te
	default:
		return connectors.Permanent(fail(a))
	}
}

// Redirect reports whether the answer is a 3xx, which connectors never
// follow.
func (a *Answer) Redirect() bool { return a.Status >= 300 && a.Status < 400 }

// StatusText returns "status <code> <text>", e.g. "status 404 Not Found",
// or "status <code>" for a code without a text.
func StatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return "status " + strconv.Itoa(code) + " " + t
	}
	return "status " + strconv.Itoa(code)
}

// RetryAfter parses a Retry-After value, delay seconds or an HTTP date, into
// a delay from now between 0 and MaxRetryAfter; 0 when v is empty or does
// not parse.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

package scim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"gatehouse/connectors"
	"gatehouse/connectors/scim"
)

// scripted is a transport that answers the first calls with the fuzzed
// status and body and every later call with an empty 404, so that a listing
// ends after a few pages whatever the body claims.
type scripted struct {
	status int
	body   []byte
	mu     sync.Mutex
	calls  int
}

func (s *scripted) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	status, body := s.status, s.body
	if n > 3 {
		status, body = http.StatusNotFound, nil
	}
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {scim.MediaType}, "Retry-After": {"5"}},
		Body:       io.NopCloser(bytes.NewReader(body)),
		Request:    r,
	}, nil
}

// FuzzResponseParsing answers every operation of the SCIM client with an
// arbitrary status and body. No operation may panic; every error must be a
// *connectors.TransientError or *connectors.PermanentError whose message is
// one valid UTF-8 line, with the fixed connectors.Reason of an HTTP status,
// an unexpected answer, or a network failure; and an error never quotes a
// body that is not a SCIM error response. Seeds are in
// testdata/fuzz/FuzzResponseParsing.
func FuzzResponseParsing(f *testing.F) {
	f.Add(200, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"startIndex":1,"Resources":[{"id":"u1","userName":"ann@example.com"}]}`))
	f.Add(201, []byte(`{"id":"u1","userName":"ann@example.com"}`))
	f.Add(200, []byte(`{"id":"g1","displayName":"Payroll","members":[{"value":"u1"},{"value":""}]}`))
	f.Add(409, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"userName taken"}`))
	f.Add(400, []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":400,"scimType":"noTarget"}`))
	f.Add(404, []byte("<html>MARKER internal page</html>"))
	f.Add(503, []byte(`{"status":"503","detail":"MARKER"}`))
	f.Add(302, []byte(nil))
	f.Add(200, []byte(`{"totalResults":-1,"Resources":[1,2,3]}`))
	f.Add(200, []byte(`{"totalResults":9223372036854775807,"Resources":[{"id":"x"}]}`))
	f.Add(204, []byte(`null`))
	f.Add(0, []byte(`{`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + (status%800+800)%800
		}
		const marker = "MARKER"
		tr := &scripted{status: status, body: body}
		k := scim.Kind{
			Secrets: connectors.NewSecretStore(func(string) (string, bool) { return "t0ken", true }, ""),
			Client:  &http.Client{Transport: tr},
		}
		c, err := k.OpenConnector(map[string]any{"baseUrl": "http://scim.invalid/v2", "tokenEnv": "GATEHOUSE_SECRET_T"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		op := connectors.Operation{
			IdempotencyKey: "itm_1",
			User:           connectors.User{ID: "usr_1", Email: "ann@example.com", Name: "Ann"},
			Account:        connectors.Account{Login: "ann@example.com"},
			Entitlement:    connectors.Entitlement{ExternalID: "g1"},
		}
		withID := op
		withID.Account.ExternalID = "u1"
		calls := []func() error{
			func() error { return c.CheckHealth(ctx) },
			func() error { _, _, err := c.EnsureIdentity(ctx, op); return err },
			func() error { _, _, err := c.EnsureIdentity(ctx, withID); return err },
			func() error { return c.Grant(ctx, op) },
			func() error { return c.Revoke(ctx, withID) },
			func() error { _, err := c.ListEntitlements(ctx); return err },
			func() error { _, err := c.ListAccounts(ctx); return err },
			func() error { _, err := c.ListMembers(ctx, op.Entitlement); return err },
		}
		scimError := bytes.Contains(body, []byte(scim.SchemaError))
		for i, call := range calls {
			tr.mu.Lock()
			tr.calls = 0
			tr.mu.Unlock()
			err := call()
			if err == nil {
				continue
			}
			var te *connectors.TransientError
			var pe *connectors.PermanentError
			if !errors.As(err, &te) && !errors.As(err, &pe) {
				t.Fatalf("call %d: unclassified error %v", i, err)
			}
			msg := err.Error()
			if !utf8.ValidString(msg) || strings.ContainsFunc(msg, unicode.IsControl) {
				t.Fatalf("call %d: message not one clean line: %q", i, msg)
			}
			if !scimError && bytes.Contains(body, []byte(marker)) && strings.Contains(msg, marker) {
				t.Fatalf("call %d: the body of a non-SCIM answer reached the message: %q", i, msg)
			}
			switch r := connectors.Reason(err); {
			case r == "unexpected answer", r == "failed", r == "unreachable",
				strings.HasPrefix(r, "unexpected status "), strings.HasPrefix(r, "authentication refused (HTTP "),
				strings.HasPrefix(r, "redirect not followed (HTTP "):
			default:
				t.Fatalf("call %d: reason %q", i, r)
			}
		}
	})
}

package webhook

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

// Payload types.
const (
	TypeEnsureIdentity = "ensure_identity"
	TypeGrant          = "grant"
	TypeRevoke         = "revoke"
	TypePing           = "ping"
)

const (
	maxResponseBody = 64 << 10
	maxRetryAfter   = 24 * time.Hour
)

// Payload is the JSON body of an operation, for receivers to decode. A ping
// carries only Type and SentAt.
type Payload struct {
	Type           string             `json:"type"`
	IdempotencyKey string             `json:"idempotencyKey"`
	Application    string             `json:"application"`
	User           PayloadUser        `json:"user"`
	Account        PayloadAccount     `json:"account"`
	Entitlement    PayloadEntitlement `json:"entitlement"`
	SentAt         time.Time          `json:"sentAt"`
}

// PayloadUser is the Gatehouse user in a Payload.
type PayloadUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// PayloadAccount is the user's account in the application, as far as
// Gatehouse knows it (empty before the first ensure_identity).
type PayloadAccount struct {
	ExternalID string `json:"externalId"`
	Login      string `json:"login"`
}

// PayloadEntitlement is the entitlement in a Payload.
type PayloadEntitlement struct {
	ID         string `json:"id"`
	ExternalID string `json:"externalId"`
	Name       string `json:"name"`
}

// IdentityResult is the optional body of a 2xx or 409 answer to
// ensure_identity. Empty fields fall back to the operation's Account.
type IdentityResult struct {
	ExternalID string `json:"externalId"`
	Login      string `json:"login"`
	Created    bool   `json:"created"`
}

type pingPayload struct {
	Type   string    `json:"type"`
	SentAt time.Time `json:"sentAt"`
}

// Connector is an open WEBHOOK connector. It is safe for concurrent use.
type Connector struct {
	url     string
	secret  []byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

var _ connectors.Connector = (*Connector)(nil)

// Name implements connectors.Connector.
func (*Connector) Name() string { return "webhook" }

// CheckHealth POSTs {"type":"ping","sentAt":…}, signed like any operation,
// and expects a 2xx answer; errors are classified like the operations'.
func (c *Connector) CheckHealth(ctx context.Context) error {
	now := c.now().UTC()
	_, _, err := c.post(ctx, TypePing, "", pingPayload{Type: TypePing, SentAt: now}, now)
	return err
}

// EnsureIdentity implements connectors.Connector. The account returned is the
// receiver's IdentityResult where it gives one, else op.Account; created is
// true only when a 2xx answer says so.
func (c *Connector) EnsureIdentity(ctx context.Context, op connectors.Operation) (connectors.Account, bool, error) {
	status, body, err := c.do(ctx, TypeEnsureIdentity, op)
	if err != nil {
		return connectors.Account{}, false, err
	}
	acct := op.Account
	var res IdentityResult
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &res); err != nil {
			return connectors.Account{}, false, connectors.Permanent(fmt.Errorf("webhook: %s: decode response: %w", TypeEnsureIdentity, err))
		}
	}
	if res.ExternalID != "" {
		acct.ExternalID = res.ExternalID
	}
	if res.Login != "" {
		acct.Login = res.Login
	}
	return acct, res.Created && status != http.StatusConflict, nil
}

// Grant implements connectors.Connector.
func (c *Connector) Grant(ctx context.Context, op connectors.Operation) error {
	_, _, err := c.do(ctx, TypeGrant, op)
	return err
}

// Revoke implements connectors.Connector.
func (c *Connector) Revoke(ctx context.Context, op connectors.Operation) error {
	_, _, err := c.do(ctx, TypeRevoke, op)
	return err
}

// IdempotencyKey is the key sent for an operation of type typ on a request
// item: "<type>:<item ID>".
func IdempotencyKey(typ, itemID string) string { return typ + ":" + itemID }

func (c *Connector) do(ctx context.Context, typ string, op connectors.Operation) (int, []byte, error) {
	if op.IdempotencyKey == "" {
		return 0, nil, connectors.Permanent(fmt.Errorf("webhook: %s: operation has no idempotency key", typ))
	}
	now := c.now().UTC()
	key := IdempotencyKey(typ, op.IdempotencyKey)
	p := Payload{
		Type:           typ,
		IdempotencyKey: key,
		Application:    op.Application,
		User:           PayloadUser{ID: op.User.ID, Email: op.User.Email, Name: op.User.Name},
		Account:        PayloadAccount{ExternalID: op.Account.ExternalID, Login: op.Account.Login},
		Entitlement:    PayloadEntitlement{ID: op.Entitlement.ID, ExternalID: op.Entitlement.ExternalID, Name: op.Entitlement.Name},
		SentAt:         now,
	}
	return c.post(ctx, typ, key, p, now)
}

// post sends one signed request and classifies the answer. It returns the
// status and (bounded) body of a successful answer: 2xx or 409.
func (c *Connector) post(ctx context.Context, typ, key string, payload any, now time.Time) (int, []byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, nil, connectors.Permanent(fmt.Errorf("webhook: %s: encode: %w", typ, err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, connectors.Permanent(fmt.Errorf("webhook: %s: build request: %w", typ, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhook/1")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	req.Header.Set(SignatureHeader, Sign(c.secret, now, body))

	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, connectors.Transient(c.sendError(ctx, typ, err))
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return 0, nil, connectors.Transient(c.sendError(ctx, typ, fmt.Errorf("read response: %w", err)))
	}

	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300, code == http.StatusConflict:
		return code, respBody, nil
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout, code >= 500:
		te := &connectors.TransientError{Err: &StatusError{Step: typ, Status: code}}
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			te.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
		}
		return code, nil, te
	case code >= 300 && code < 400:
		return code, nil, connectors.Permanent(&StatusError{Step: typ, Status: code, Hint: "redirects are not followed; configure the final URL"})
	default:
		return code, nil, connectors.Permanent(&StatusError{Step: typ, Status: code})
	}
}

// StatusError is an answer with an unexpected HTTP status. It carries no
// text of the answer: the receiver's body never reaches Gatehouse's
// messages.
type StatusError struct {
	// Step is the payload type, e.g. "grant".
	Step string
	// Status is the HTTP status code.
	Status int
	// Hint is Gatehouse's own advice, or "".
	Hint string
}

var _ connectors.HTTPStatusError = (*StatusError)(nil)

func (e *StatusError) Error() string {
	s := "webhook: " + e.Step + ": " + statusText(e.Status)
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// HTTPStatus implements connectors.HTTPStatusError.
func (e *StatusError) HTTPStatus() int { return e.Status }

// sendError describes a failed round trip without the URL (whose query may
// hold a token the receiver asked for).
func (c *Connector) sendError(ctx context.Context, typ string, err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("webhook: %s: no answer within %s: %w", typ, c.timeout, err)
	}
	return fmt.Errorf("webhook: %s: %w", typ, err)
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return "status " + strconv.Itoa(code) + " " + t
	}
	return "status " + strconv.Itoa(code)
}

// retryAfter parses a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"gatehouse/connectors"
	"gatehouse/connectors/internal/httpcall"
)

// Payload types.
const (
	TypeEnsureIdentity = "ensure_identity"
	TypeGrant          = "grant"
	TypeRevoke         = "revoke"
	TypePing           = "ping"
)

const maxResponseBody = 64 << 10

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
	body, err := httpcall.EncodeJSON("webhook: "+typ, payload)
	if err != nil {
		return 0, nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Gatehouse-Webhook/1")
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	h.Set(SignatureHeader, Sign(c.secret, now, body))
	a, err := httpcall.Send(ctx, c.client, c.timeout, httpcall.Request{
		Prefix: "webhook: " + typ, Method: http.MethodPost, URL: c.url, Header: h, Body: body, MaxAnswer: maxResponseBody,
	})
	if err != nil {
		return 0, nil, err
	}
	if a.Status == http.StatusConflict {
		return a.Status, a.Body, nil
	}
	err = a.Check(c.now, func(a *httpcall.Answer) error {
		if a.Redirect() {
			return &StatusError{Step: typ, Status: a.Status, Hint: "redirects are not followed; configure the final URL"}
		}
		return &StatusError{Step: typ, Status: a.Status}
	})
	if err != nil {
		return a.Status, nil, err
	}
	return a.Status, a.Body, nil
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
	s := "webhook: " + e.Step + ": " + httpcall.StatusText(e.Status)
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// HTTPStatus implements connectors.HTTPStatusError.
func (e *StatusError) HTTPStatus() int { return e.Status }

package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gatehouse/connectors"
	"gatehouse/connectors/internal/httpcall"
)

// SCIM schema and message URIs.
const (
	SchemaUser         = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup        = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaPatchOp      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaError        = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// MediaType is the SCIM media type (RFC 7644 §3.1).
const MediaType = "application/scim+json"

const (
	maxResponseBody = 4 << 20
	maxDetail       = 300
)

// Error is an answer with an unexpected status: a 3xx or 4xx other than
// 408 and 429 (wrapped in a *connectors.PermanentError), or a 408, 429 or
// 5xx (wrapped in a *connectors.TransientError); find it with errors.As.
// ScimType and Detail come from a SCIM error response (RFC 7644 §3.12) only;
// the text of any other body is never kept.
type Error struct {
	// Step is what the connector was doing, e.g. "grant".
	Step string
	// Status is the HTTP status code.
	Status int
	// ScimType is the SCIM error keyword, e.g. "uniqueness", or "".
	ScimType string
	// Detail is the SCIM detail of a SCIM error response, cut to 300
	// bytes on one line, or Gatehouse's own advice.
	Detail string
	// SCIM reports whether the body was a SCIM error response (a 404 that is
	// not one comes from a wrong URL, not from a missing resource).
	SCIM bool
}

var _ connectors.HTTPStatusError = (*Error)(nil)

// HTTPStatus implements connectors.HTTPStatusError.
func (e *Error) HTTPStatus() int { return e.Status }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("scim: ")
	b.WriteString(e.Step)
	b.WriteString(": ")
	b.WriteString(httpcall.StatusText(e.Status))
	if e.ScimType != "" {
		b.WriteString(" (" + e.ScimType + ")")
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// Connector is an open SCIM connector. It is safe for concurrent use.
type Connector struct {
	base    string
	token   string
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

var _ connectors.Connector = (*Connector)(nil)

// Name implements connectors.Connector.
func (*Connector) Name() string { return "scim" }

// user is the part of a SCIM User the connector reads.
type user struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
}

func (u user) account() connectors.Account {
	return connectors.Account{ExternalID: u.ID, Login: u.UserName}
}

// member is one value of a Group's members.
type member struct {
	Value string `json:"value"`
}

type group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Members     []member `json:"members"`
}

type listResponse struct {
	Schemas      []string          `json:"schemas"`
	TotalResults *int              `json:"totalResults"`
	StartIndex   int               `json:"startIndex"`
	Resources    []json.RawMessage `json:"Resources"`
}

type patchRequest struct {
	Schemas    []string         `json:"schemas"`
	Operations []patchOperation `json:"Operations"`
}

type patchOperation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// CheckHealth lists one user (GET /Users?startIndex=1&count=1), which needs
// both the right endpoint and a token the service accepts. A 401 or 403, or
// an answer that is not a SCIM ListResponse, is a *connectors.PermanentError.
func (c *Connector) CheckHealth(ctx context.Context) error {
	const step = "check health"
	q := url.Values{"startIndex": {"1"}, "count": {"1"}}
	_, body, err := c.do(ctx, step, http.MethodGet, "/Users", q, nil)
	if err != nil {
		return err
	}
	var lr listResponse
	if json.Unmarshal(body, &lr) != nil || lr.TotalResults == nil {
		return connectors.Permanent(fmt.Errorf("scim: %s: GET /Users did not answer with a SCIM ListResponse; check baseUrl: %w", step, connectors.ErrUnexpectedAnswer))
	}
	return nil
}

// EnsureIdentity implements connectors.Connector (see the package
// documentation for the lookup and creation rules).
func (c *Connector) EnsureIdentity(ctx context.Context, op connectors.Operation) (connectors.Account, bool, error) {
	const step = "ensure identity"
	if id := op.Account.ExternalID; id != "" {
		u, found, err := c.getUser(ctx, step, id)
		if err != nil {
			return connectors.Account{}, false, err
		}
		if found {
			return u.account(), false, nil
		}
	}
	login := op.Account.Login
	if login == "" {
		login = op.User.Email
	}
	if login == "" {
		return connectors.Account{}, false, connectors.Permanent(fmt.Errorf("scim: %s: the user has no email to use as userName", step))
	}
	u, found, err := c.findUser(ctx, step, login)
	if err != nil || found {
		return u.account(), false, err
	}
	u, err = c.createUser(ctx, op, login)
	if err == nil {
		return u.account(), true, nil
	}
	if se, ok := errors.AsType[*Error](err); !ok || se.Status != http.StatusConflict {
		return connectors.Account{}, false, err
	}
	// Someone created it since we looked: adopt it.
	u, found, ferr := c.findUser(ctx, step, login)
	if ferr != nil {
		return connectors.Account{}, false, ferr
	}
	if !found {
		return connectors.Account{}, false, err // a conflict on another attribute
	}
	return u.account(), false, nil
}

func (c *Connector) getUser(ctx context.Context, step, id string) (user, bool, error) {
	_, body, err := c.do(ctx, step, http.MethodGet, "/Users/"+url.PathEscape(id), nil, nil)
	if se, ok := errors.AsType[*Error](err); ok && se.Status == http.StatusNotFound {
		return user{}, false, nil
	}
	if err != nil {
		return user{}, false, err
	}
	var u user
	if err := json.Unmarshal(body, &u); err != nil || u.ID == "" {
		return user{}, false, connectors.Permanent(fmt.Errorf("scim: %s: decode user: the answer is not a SCIM User: %w", step, connectors.ErrUnexpectedAnswer))
	}
	return u, true, nil
}

// findUser looks the user up by userName. It compares the names itself too,
// so a service that ignored the filter cannot hand over someone else.
func (c *Connector) findUser(ctx context.Context, step, userName string) (user, bool, error) {
	q := url.Values{"filter": {"userName eq " + quote(userName)}, "startIndex": {"1"}, "count": {"10"}}
	_, body, err := c.do(ctx, step, http.MethodGet, "/Users", q, nil)
	if err != nil {
		return user{}, false, err
	}
	var lr listResponse
	if err := json.Unmarshal(body, &lr); err != nil {
		return user{}, false, connectors.Permanent(fmt.Errorf("scim: %s: decode user search: %w", step, connectors.ErrUnexpectedAnswer))
	}
	var found []user
	for _, raw := range lr.Resources {
		var u user
		if err := json.Unmarshal(raw, &u); err != nil {
			return user{}, false, connectors.Permanent(fmt.Errorf("scim: %s: decode user search: %w", step, connectors.ErrUnexpectedAnswer))
		}
		if u.ID != "" && strings.EqualFold(u.UserName, userName) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return user{}, false, nil
	case 1:
		return found[0], true, nil
	default:
		return user{}, false, connectors.Permanent(fmt.Errorf("scim: %s: %d users have userName %s", step, len(found), quote(userName)))
	}
}

func (c *Connector) createUser(ctx context.Context, op connectors.Operation, userName string) (user, error) {
	const step = "create user"
	body := map[string]any{
		"schemas":  []string{SchemaUser},
		"userName": userName,
		"active":   true,
	}
	if op.User.ID != "" {
		body["externalId"] = op.User.ID
	}
	if op.User.Name != "" {
		body["displayName"] = op.User.Name
		body["name"] = map[string]any{"formatted": op.User.Name}
	}
	if op.User.Email != "" {
		body["emails"] = []map[string]any{{"value": op.User.Email, "type": "work", "primary": true}}
	}
	_, resp, err := c.do(ctx, step, http.MethodPost, "/Users", nil, body)
	if err != nil {
		return user{}, err
	}
	var u user
	if err := json.Unmarshal(resp, &u); err != nil || u.ID == "" {
		return user{}, connectors.Permanent(fmt.Errorf("scim: %s: the answer has no user id: %w", step, connectors.ErrUnexpectedAnswer))
	}
	if u.UserName == "" {
		u.UserName = userName
	}
	return u, nil
}

// Grant implements connectors.Connector: PATCH /Groups/{group} adding the
// account as a member.
func (c *Connector) Grant(ctx context.Context, op connectors.Operation) error {
	const step = "grant"
	grp, id, found, err := c.target(ctx, step, op)
	if err != nil {
		return err
	}
	if !found {
		return connectors.Permanent(fmt.Errorf("scim: %s: no user has userName %s", step, quote(op.Account.Login)))
	}
	body := patchRequest{Schemas: []string{SchemaPatchOp}, Operations: []patchOperation{
		{Op: "add", Path: "members", Value: []member{{Value: id}}},
	}}
	_, _, err = c.do(ctx, step, http.MethodPatch, "/Groups/"+url.PathEscape(grp), nil, body)
	if se, ok := errors.AsType[*Error](err); ok && se.Status == http.StatusConflict {
		// Some services refuse to add a member twice; that member is there.
		held, herr := c.isMember(ctx, step, grp, id)
		if herr == nil && held {
			return nil
		}
	}
	return err
}

// Revoke implements connectors.Connector: PATCH /Groups/{group} removing the
// account from the members. A member who is gone is success.
func (c *Connector) Revoke(ctx context.Context, op connectors.Operation) error {
	const step = "revoke"
	grp, id, found, err := c.target(ctx, step, op)
	if err != nil || !found {
		return err
	}
	body := patchRequest{Schemas: []string{SchemaPatchOp}, Operations: []patchOperation{
		{Op: "remove", Path: "members[value eq " + quote(id) + "]"},
	}}
	_, _, err = c.do(ctx, step, http.MethodPatch, "/Groups/"+url.PathEscape(grp), nil, body)
	if se, ok := errors.AsType[*Error](err); ok {
		if se.ScimType == "noTarget" || (se.Status == http.StatusNotFound && se.SCIM) {
			return nil
		}
	}
	return err
}

// target returns the group and the member's SCIM id of op. Without a known
// ExternalID the member is looked up by Account.Login; found is false when
// no such user exists.
func (c *Connector) target(ctx context.Context, step string, op connectors.Operation) (grp, id string, found bool, err error) {
	grp = op.Entitlement.ExternalID
	if grp == "" {
		return "", "", false, connectors.Permanent(fmt.Errorf("scim: %s: the entitlement has no external ID (the SCIM id of the group)", step))
	}
	if id = op.Account.ExternalID; id != "" {
		return grp, id, true, nil
	}
	if op.Account.Login == "" {
		return "", "", false, connectors.Permanent(fmt.Errorf("scim: %s: the account is not known", step))
	}
	u, found, err := c.findUser(ctx, step, op.Account.Login)
	return grp, u.ID, found, err
}

func (c *Connector) isMember(ctx context.Context, step, grp, id string) (bool, error) {
	g, err := c.getGroup(ctx, step, grp)
	if err != nil {
		return false, err
	}
	for _, m := range g.Members {
		if m.Value == id {
			return true, nil
		}
	}
	return false, nil
}

func (c *Connector) getGroup(ctx context.Context, step, id string) (group, error) {
	q := url.Values{"attributes": {"members"}}
	_, body, err := c.do(ctx, step, http.MethodGet, "/Groups/"+url.PathEscape(id), q, nil)
	if err != nil {
		return group{}, err
	}
	var g group
	if err := json.Unmarshal(body, &g); err != nil {
		return group{}, connectors.Permanent(fmt.Errorf("scim: %s: decode group: %w", step, connectors.ErrUnexpectedAnswer))
	}
	return g, nil
}

// do sends one request and classifies the answer. It returns the status and
// (bounded) body of a 2xx answer; any other answer is an error (see the
// package documentation).
func (c *Connector) do(ctx context.Context, step, method, path string, query url.Values, payload any) (int, []byte, error) {
	prefix := "scim: " + step
	h := http.Header{}
	h.Set("Authorization", "Bearer "+c.token)
	h.Set("Accept", MediaType+", application/json")
	h.Set("User-Agent", "Gatehouse-SCIM/1")
	var body []byte
	if payload != nil {
		var err error
		if body, err = httpcall.EncodeJSON(prefix, payload); err != nil {
			return 0, nil, err
		}
		h.Set("Content-Type", MediaType)
	}
	u := c.base + path
	if len(query) > 0 {
		// url.Values encodes spaces as "+"; %20 is what every SCIM service
		// reads as a space in a filter.
		u += "?" + strings.ReplaceAll(query.Encode(), "+", "%20")
	}
	a, err := httpcall.Send(ctx, c.client, c.timeout, httpcall.Request{
		Prefix: prefix, Method: method, URL: u, Header: h, Body: body, MaxAnswer: maxResponseBody,
	})
	if err != nil {
		return 0, nil, err
	}
	err = a.Check(c.now, func(a *httpcall.Answer) error {
		if a.Redirect() {
			return &Error{Step: step, Status: a.Status, Detail: "redirects are not followed; configure the final baseUrl"}
		}
		return problem(step, a.Status, a.Body)
	})
	if err != nil {
		return a.Status, nil, err
	}
	return a.Status, a.Body, nil
}

// problem reads a SCIM error response: a JSON object with a status, a
// scimType, a detail or schemas. The scimType is kept when it is a keyword
// (letters only), the detail only when schemas hold SchemaError; the text of
// any other body is never kept.
func problem(step string, code int, body []byte) *Error {
	e := &Error{Step: step, Status: code}
	var se struct {
		Schemas  []string `json:"schemas"`
		ScimType string   `json:"scimType"`
		Detail   string   `json:"detail"`
		Status   any      `json:"status"`
	}
	if json.Unmarshal(body, &se) != nil || (se.Status == nil && se.ScimType == "" && se.Detail == "" && len(se.Schemas) == 0) {
		return e
	}
	e.SCIM = true
	if scimTypePattern.MatchString(se.ScimType) {
		e.ScimType = se.ScimType
	}
	if slices.Contains(se.Schemas, SchemaError) {
		e.Detail = clean(se.Detail, maxDetail)
	}
	return e
}

// scimTypePattern is a SCIM error keyword (RFC 7644 §3.12: uniqueness,
// noTarget, …).
var scimTypePattern = regexp.MustCompile(`^[A-Za-z]{1,40}$`)

// quote returns s as a SCIM filter string: a JSON string with '"', '\' and
// control characters escaped (hex digits upper case, which every filter
// grammar accepts) and invalid UTF-8 replaced.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clean returns s on one line, cut to max bytes.
func clean(s string, max int) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	cut := false
	if len(s) > max {
		s = s[:max]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		cut = true
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if cut {
		s += "…"
	}
	return s
}

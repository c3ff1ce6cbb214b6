package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"gatehouse/connectors"
)

// pageSize is the count asked for per page when listing; services may send
// fewer.
const pageSize = 100

// maxPages bounds a listing (pageSize × maxPages resources).
const maxPages = 10_000

// ListEntitlements returns every SCIM Group: ExternalID is its id, Name its
// displayName.
func (c *Connector) ListEntitlements(ctx context.Context) ([]connectors.Entitlement, error) {
	var out []connectors.Entitlement
	err := c.list(ctx, "list entitlements", "/Groups", url.Values{"excludedAttributes": {"members"}}, func(raw json.RawMessage) error {
		var g group
		if err := json.Unmarshal(raw, &g); err != nil {
			return err
		}
		if g.ID != "" {
			out = append(out, connectors.Entitlement{ExternalID: g.ID, Name: g.DisplayName})
		}
		return nil
	})
	return out, err
}

// ListAccounts returns every SCIM User: ExternalID is its id, Login its
// userName (what LoginFor matches).
func (c *Connector) ListAccounts(ctx context.Context) ([]connectors.Account, error) {
	var out []connectors.Account
	err := c.list(ctx, "list accounts", "/Users", url.Values{"attributes": {"userName"}}, func(raw json.RawMessage) error {
		var u user
		if err := json.Unmarshal(raw, &u); err != nil {
			return err
		}
		if u.ID != "" {
			out = append(out, u.account())
		}
		return nil
	})
	return out, err
}

// ListMembers returns the members of the entitlement's group as accounts
// with only ExternalID set (the SCIM id; match it against ListAccounts). A
// group that is gone is a *connectors.PermanentError wrapping an *Error with
// Status 404.
func (c *Connector) ListMembers(ctx context.Context, e connectors.Entitlement) ([]connectors.Account, error) {
	const step = "list members"
	if e.ExternalID == "" {
		return nil, connectors.Permanent(fmt.Errorf("scim: %s: the entitlement has no external ID", step))
	}
	g, err := c.getGroup(ctx, step, e.ExternalID)
	if err != nil {
		return nil, err
	}
	out := make([]connectors.Account, 0, len(g.Members))
	for _, m := range g.Members {
		if m.Value != "" {
			out = append(out, connectors.Account{ExternalID: m.Value})
		}
	}
	return out, nil
}

// LoginFor returns the userName EnsureIdentity uses for u: the email.
func (*Connector) LoginFor(u connectors.User) string { return u.Email }

// list pages through a resource endpoint with startIndex and count.
func (c *Connector) list(ctx context.Context, step, path string, extra url.Values, each func(json.RawMessage) error) error {
	start := 1
	for range maxPages {
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(pageSize)}}
		for k, v := range extra {
			q[k] = v
		}
		_, body, err := c.do(ctx, step, http.MethodGet, path, q, nil)
		if err != nil {
			return err
		}
		var lr listResponse
		if err := json.Unmarshal(body, &lr); err != nil || lr.TotalResults == nil {
			return connectors.Permanent(fmt.Errorf("scim: %s: GET %s did not answer with a SCIM ListResponse: %w", step, path, connectors.ErrUnexpectedAnswer))
		}
		for _, raw := range lr.Resources {
			if err := each(raw); err != nil {
				return connectors.Permanent(fmt.Errorf("scim: %s: decode: %w", step, connectors.ErrUnexpectedAnswer))
			}
		}
		start += len(lr.Resources)
		if len(lr.Resources) == 0 || start > *lr.TotalResults {
			return nil
		}
	}
	return connectors.Permanent(fmt.Errorf("scim: %s: more than %d pages", step, maxPages))
}

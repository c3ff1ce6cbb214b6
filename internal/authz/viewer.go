// Package authz holds who is calling (the viewer, kept in the request context
// behind a private key) and the privacy rules that ent applies to every query
// and mutation, so that lists, node(id:) and edges cannot leak rows (DESIGN §5).
package authz

import (
	"context"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/privacy"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
)

// Viewer is the authenticated caller of a request.
type Viewer struct {
	UserID pulid.ID
	Role   enum.PlatformRole
	// TokenID is set when the caller authenticated with an API token.
	TokenID pulid.ID
	// MintedBy is, for an API token, the person who minted it: UserID for a
	// token of one's own, the IT admin who created it for a service account
	// otherwise. Empty for a JWT. The rules that keep people from reviewing
	// their own requests apply to MintedBy as they do to UserID.
	MintedBy pulid.ID
	// Service is true when UserID is a service account (user kind SERVICE).
	Service bool
	// ReadOnly is true for READ-scope API tokens, which may not mutate.
	ReadOnly bool
	// ExpiresAt is when the credentials stop being valid; zero for an API
	// token without expiry. Long-lived connections (websockets) end then.
	ExpiresAt time.Time
	// User is the user UserID as authentication read it, for the one
	// request it authenticated (the viewer field answers with it rather
	// than reading the user again); nil when the viewer outlives a request
	// (a websocket's), whose user may change meanwhile.
	User *ent.User
}

// ReadsAll reports whether the viewer may read every row: risk managers and
// IT admins.
func (v *Viewer) ReadsAll() bool {
	return v.Role == enum.PlatformRoleRiskManager || v.Role == enum.PlatformRoleITAdmin
}

// ReadsGrantsOf reports whether the viewer may read what the user holds:
// their grants, their accounts (identities) and so their holdings in any
// answer. A USER reads their own; risk managers and IT admins read
// everyone's. GrantPolicy and IdentityPolicy filter rows by this same rule
// (readableHoldings is its row form),
// and the workflow's preview and submission disclose a beneficiary's
// holdings only when it holds (DESIGN §4.1, §5).
func (v *Viewer) ReadsGrantsOf(userID pulid.ID) bool {
	return v.ReadsAll() || v.UserID == userID
}

// IsAdmin reports whether the viewer is an IT admin.
func (v *Viewer) IsAdmin() bool { return v.Role == enum.PlatformRoleITAdmin }

// MintedByOther returns the person who minted the viewer's API token when
// that person is not the user the token acts as (a service account's
// token, which dies with its minter); empty otherwise.
func (v *Viewer) MintedByOther() pulid.ID {
	if v.MintedBy != v.UserID {
		return v.MintedBy
	}
	return ""
}

// Actor names the viewer in audit events: the API token when one was used,
// else the user.
func (v *Viewer) Actor() string {
	if v.TokenID != "" {
		return string(v.TokenID)
	}
	return string(v.UserID)
}

type viewerKey struct{}

// NewContext returns a context carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// FromContext returns the viewer of ctx, or nil when the caller is not
// authenticated.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}

// SystemContext returns a context in which every privacy rule allows. Only
// trusted code uses it: start-up tasks, background jobs, and domain services
// after they have checked the caller's rights themselves.
func SystemContext(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// Package auth authenticates callers: JWTs signed with the server's secret
// (HS256), opaque API tokens for integrations, of which only a SHA-256 hash
// is stored, and, when configured, the tokens of one OpenID Connect
// provider (oidc.go). A successful authentication yields an authz.Viewer; a TERMINATED
// user, a revoked or expired token, or a bad signature yields UNAUTHENTICATED.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gatehouse/ent"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

const (
	issuer = "gatehouse"
	// apiTokenPrefix starts every API token, which tells it from a JWT.
	apiTokenPrefix = "ght_"
	// lastUsedResolution bounds how often a token's last_used_at is written.
	lastUsedResolution = time.Minute
)

// Authenticator verifies bearer tokens and mints JWTs.
type Authenticator struct {
	client *ent.Client
	secret []byte
	now    func() time.Time
	checks *checkCache
	oidc   *OIDC // nil: no single sign-on
}

// Option configures an Authenticator.
type Option func(*Authenticator)

// WithRevocations makes Check forget what it read about a credential as
// soon as a revocation of it arrives, from any replica, and everything when
// revocations may have been lost.
func WithRevocations(r *Revocations) Option {
	return func(a *Authenticator) {
		r.Watch(a.checks.forget, a.checks.forgetAll)
	}
}

// WithCheckTTL sets how long Check trusts what it read about a user or a
// token; the default is DefaultCheckTTL.
func WithCheckTTL(ttl time.Duration) Option {
	return func(a *Authenticator) { a.checks.ttl = ttl }
}

// DefaultCheckTTL is how long Check trusts what it read, by default: the
// longest a missed revocation stays unseen by new websocket operations.
const DefaultCheckTTL = 5 * time.Second

// New returns an Authenticator reading users and tokens through client and
// signing JWTs with secret. now is the clock (time.Now in production).
func New(client *ent.Client, secret []byte, now func() time.Time, opts ...Option) *Authenticator {
	a := &Authenticator{client: client, secret: secret, now: now, checks: newCheckCache(DefaultCheckTTL)}
	for _, o := range opts {
		o(a)
	}
	return a
}

// IssueJWT mints a JWT for the user, valid for ttl.
func (a *Authenticator) IssueJWT(userID pulid.ID, ttl time.Duration) (string, error) {
	now := a.now()
	claims := jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   string(userID),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
}

var errUnauthenticated = errcode.New(errcode.Unauthenticated, "missing, invalid or expired credentials")

// clockSkew is how far in the future a JWT's iat may be: clocks of the
// servers sharing a signing key may differ by this much.
const clockSkew = time.Minute

// numericTimeClaims reports whether the exp, iat and nbf claims of a JWT, when
// present, are JSON numbers. (jwt's NumericDate also accepts strings holding
// a number, which RFC 7519 does not.)
func numericTimeClaims(token string) bool {
	var claims struct{ Exp, Iat, Nbf json.RawMessage }
	if !decodeJWTPart(token, 1, &claims) {
		return false
	}
	for _, c := range []json.RawMessage{claims.Exp, claims.Iat, claims.Nbf} {
		if c != nil && (c[0] < '0' || c[0] > '9') {
			return false
		}
	}
	return true
}

// decodeJWTPart decodes part i (0 the header, 1 the claims) of a JWT of
// three parts into v, unverified: the one reading of a token before its
// signature is checked. It reports whether the token has three parts and
// the part is base64url-encoded JSON.
func decodeJWTPart(token string, i int, v any) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	return err == nil && json.Unmarshal(b, v) == nil
}

// Authenticate returns the viewer of a bearer token (the part after
// "Bearer "). A JWT must be signed with the server's secret (HS256), name
// the issuer, carry numeric exp and iat claims, be unexpired and issued no
// later than clockSkew from now. With WithOIDC, a token naming the
// provider's issuer and not signed with HS256 is verified by the provider's
// keys instead (authenticateOIDC). The viewer carries the user as read
// (Viewer.User). Errors: UNAUTHENTICATED for anything but a
// valid token of an ACTIVE user; other errors are the database's.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*authz.Viewer, error) {
	ctx = authz.SystemContext(ctx)
	if strings.HasPrefix(token, apiTokenPrefix) {
		return a.authenticateAPIToken(ctx, token)
	}
	if a.isOIDCToken(token) {
		return a.authenticateOIDC(ctx, token)
	}
	if !numericTimeClaims(token) {
		return nil, errUnauthenticated
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil || claims.IssuedAt == nil || claims.IssuedAt.After(a.now().Add(clockSkew)) {
		return nil, errUnauthenticated
	}
	u, err := a.client.User.Get(ctx, pulid.ID(claims.Subject))
	if ent.IsNotFound(err) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("load user: %w", err)
	}
	if u.Status != enum.UserStatusActive {
		return nil, errUnauthenticated
	}
	return &authz.Viewer{UserID: u.ID, Role: u.PlatformRole, Service: u.Kind == enum.UserKindService, ExpiresAt: claims.ExpiresAt.Time, User: u}, nil
}

func (a *Authenticator) authenticateAPIToken(ctx context.Context, token string) (*authz.Viewer, error) {
	now := a.now()
	t, err := a.client.ApiToken.Query().
		Where(apitoken.Hash(hashToken(token))).
		WithOwner().
		WithCreatedBy().
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("load api token: %w", err)
	}
	if t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) ||
		t.Edges.Owner.Status != enum.UserStatusActive {
		return nil, errUnauthenticated
	}
	// A token dies with the person who minted it: a departed admin keeps no
	// working service account token.
	minter := t.OwnerID // tokens from before the minter was recorded
	if m := t.Edges.CreatedBy; m != nil {
		if m.Status != enum.UserStatusActive {
			return nil, errUnauthenticated
		}
		minter = m.ID
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= lastUsedResolution {
		err := a.client.ApiToken.Update().
			Where(apitoken.ID(t.ID), apitoken.Or(apitoken.LastUsedAtIsNil(), apitoken.LastUsedAtLT(now.Add(-lastUsedResolution)))).
			SetLastUsedAt(now).
			Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("record api token use: %w", err)
		}
	}
	v := &authz.Viewer{
		UserID:   t.OwnerID,
		Role:     t.Edges.Owner.PlatformRole,
		TokenID:  t.ID,
		MintedBy: minter,
		Service:  t.Edges.Owner.Kind == enum.UserKindService,
		ReadOnly: t.Scope == enum.TokenScopeRead,
		User:     t.Edges.Owner,
	}
	if t.ExpiresAt != nil {
		v.ExpiresAt = *t.ExpiresAt
	}
	return v, nil
}

// checkBatch bounds the IDs of one query in Current.
const checkBatch = 500

// Current reports, for each viewer authenticated earlier, whether its
// credentials still hold, by the rule of Check: not expired, the user still
// ACTIVE with the same platform role, the API token (if any) not revoked and
// of the same scope and owner, the minter of a service account's token
// still ACTIVE. It reads with two queries per 500 viewers, whatever their
// number, for servers that recheck long-lived connections, and for
// mutations on websockets, which bypass Check's cache. Errors are the
// database's.
func (a *Authenticator) Current(ctx context.Context, viewers []*authz.Viewer) ([]bool, error) {
	ctx = authz.SystemContext(ctx)
	now := a.now()
	userIDs, tokenIDs := make([]pulid.ID, 0, len(viewers)), []pulid.ID{}
	for _, v := range viewers {
		userIDs = append(userIDs, v.UserID)
		if v.TokenID != "" {
			tokenIDs = append(tokenIDs, v.TokenID)
		}
		if m := v.MintedByOther(); m != "" {
			userIDs = append(userIDs, m)
		}
	}
	roles := map[pulid.ID]enum.PlatformRole{} // of ACTIVE users
	for chunk := range slices.Chunk(userIDs, checkBatch) {
		users, err := a.client.User.Query().Where(user.IDIn(chunk...), user.StatusEQ(enum.UserStatusActive)).
			Select(user.FieldPlatformRole).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("recheck users: %w", err)
		}
		for _, u := range users {
			roles[u.ID] = u.PlatformRole
		}
	}
	tokens := map[pulid.ID]tokenState{}
	for chunk := range slices.Chunk(tokenIDs, checkBatch) {
		ts, err := a.client.ApiToken.Query().Where(apitoken.IDIn(chunk...)).
			Select(apitoken.FieldRevokedAt, apitoken.FieldScope, apitoken.FieldOwnerID).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("recheck api tokens: %w", err)
		}
		for _, t := range ts {
			tokens[t.ID] = stateOf(t)
		}
	}
	ok := make([]bool, len(viewers))
	for i, v := range viewers {
		role, active := roles[v.UserID]
		_, minterActive := roles[v.MintedByOther()]
		ok[i] = active && role == v.Role && (v.MintedByOther() == "" || minterActive) &&
			(v.ExpiresAt.IsZero() || now.Before(v.ExpiresAt)) &&
			(v.TokenID == "" || tokens[v.TokenID].holds(v))
	}
	return ok, nil
}

// hashToken returns the stored form of an API token.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IsUnauthenticated reports whether err means the credentials were refused.
func IsUnauthenticated(err error) bool {
	var e *errcode.Error
	return errors.As(err, &e) && e.Code == errcode.Unauthenticated
}

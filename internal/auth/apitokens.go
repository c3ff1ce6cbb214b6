package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// NewAPIToken describes a token to create.
type NewAPIToken struct {
	Name      string
	Scope     enum.TokenScope
	ExpiresAt *time.Time
	// OwnerID is the user the token acts as; nil for the viewer. Only IT
	// admins may name another user, and only a service account.
	OwnerID *pulid.ID
}

// CreateAPIToken creates an API token and returns it with its record; the
// token itself is never stored and cannot be shown again. A token acts as
// its owner, which is the person who creates it or, for integrations, a
// service account (user kind SERVICE) for which an IT admin creates it.
// Nobody mints a token for another person: that would let the minter act,
// and review, as them. The minter is recorded (created_by) and carried by
// every call made with the token, so the self-review rules apply to them.
// Service accounts do not create tokens themselves.
//
// Errors: UNAUTHENTICATED; FORBIDDEN (a READ token, a service account's
// token, another owner without IT_ADMIN, or an owner who is a person and
// not the viewer); NOT_FOUND (unknown owner, for IT admins); INVALID_INPUT
// (empty name, past expiry, inactive owner).
func (a *Authenticator) CreateAPIToken(ctx context.Context, in NewAPIToken) (string, *ent.ApiToken, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true, To: "create tokens"})
	if err != nil {
		return "", nil, err
	}
	if v.Service {
		return "", nil, errcode.New(errcode.Forbidden, "a service account cannot create API tokens; an IT admin creates them")
	}
	creator, owner := v.UserID, v.UserID
	if in.OwnerID != nil && *in.OwnerID != v.UserID {
		if !v.IsAdmin() {
			return "", nil, &errcode.Error{Code: errcode.Forbidden, Field: "ownerID",
				Message: "ownerID: a token acts as its creator; only IT admins create tokens for service accounts"}
		}
		owner = *in.OwnerID
	}
	if in.Name == "" {
		return "", nil, errcode.Invalid("name", "must not be empty")
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(a.now()) {
		return "", nil, errcode.Invalid("expiresAt", "must be in the future")
	}
	sys := authz.SystemContext(ctx)
	u, err := a.client.User.Get(sys, owner)
	if ent.IsNotFound(err) {
		return "", nil, &errcode.Error{Code: errcode.NotFound, Field: "ownerID", Message: "ownerID: no such user"}
	}
	if err != nil {
		return "", nil, fmt.Errorf("load owner: %w", err)
	}
	if owner != creator && u.Kind != enum.UserKindService {
		return "", nil, &errcode.Error{Code: errcode.Forbidden, Field: "ownerID",
			Message: fmt.Sprintf("ownerID: %s is a person; a token for someone else would impersonate them (create a service account for an integration)", u.Email)}
	}
	if u.Status != enum.UserStatusActive {
		return "", nil, errcode.Invalid("ownerID", "the owner is not an active user")
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("random token: %w", err)
	}
	token := apiTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	rec, err := inTx(sys, a.client, func(tx *ent.Tx) (*ent.ApiToken, error) {
		return tx.ApiToken.Create().
			SetName(in.Name).
			SetScope(in.Scope).
			SetNillableExpiresAt(in.ExpiresAt).
			SetOwnerID(owner).
			SetCreatedByID(creator).
			SetPrefix(token[:len(apiTokenPrefix)+6]).
			SetHash(hashToken(token)).
			Save(sys)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create api token: %w", err)
	}
	return token, rec, nil
}

// RevokeAPIToken revokes a token at once; revoking a revoked token returns it
// unchanged. Its owner or an IT admin may revoke it. Errors:
// UNAUTHENTICATED, FORBIDDEN (a READ token), NOT_FOUND (no token the viewer
// can see).
func (a *Authenticator) RevokeAPIToken(ctx context.Context, id pulid.ID) (*ent.ApiToken, error) {
	if _, err := authz.Require(ctx, authz.Need{Write: true, To: "revoke tokens"}); err != nil {
		return nil, err
	}
	// The privacy policy hides other users' tokens from non-admins.
	t, err := a.client.ApiToken.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if t.RevokedAt != nil {
		return t, nil
	}
	sys := authz.SystemContext(ctx)
	return inTx(sys, a.client, func(tx *ent.Tx) (*ent.ApiToken, error) {
		return tx.ApiToken.UpdateOneID(t.ID).SetRevokedAt(a.now()).Save(sys)
	})
}

// inTx runs fn in a transaction (so the audit event of the change is written
// with it) and returns its result detached from the transaction.
func inTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) (*ent.ApiToken, error)) (*ent.ApiToken, error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	out, err := fn(tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

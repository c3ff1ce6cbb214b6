package auth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
)

// maxCheckEntries bounds each map of the check cache; a full map is
// emptied.
const maxCheckEntries = 10000

// Check reports whether the credentials of a viewer authenticated earlier
// still hold: not expired, the user still ACTIVE with the same platform
// role, the API token (if any) not revoked and of the same scope, and the
// person who minted a service account's token still ACTIVE. It is
// cheap: what it reads of a user or a token is kept for the check TTL, or
// until a revocation of it arrives (WithRevocations). Websockets call it
// for every operation they start. Errors are the database's.
func (a *Authenticator) Check(ctx context.Context, v *authz.Viewer) (bool, error) {
	if v == nil {
		return false, nil
	}
	now := a.now()
	if !v.ExpiresAt.IsZero() && !now.Before(v.ExpiresAt) {
		return false, nil
	}
	ctx = authz.SystemContext(ctx)
	u, err := a.checkUser(ctx, v.UserID, now)
	if err != nil || !u.active || u.role != v.Role {
		return false, err
	}
	if minter := v.MintedByOther(); minter != "" {
		if m, err := a.checkUser(ctx, minter, now); err != nil || !m.active {
			return false, err
		}
	}
	if v.TokenID == "" {
		return true, nil
	}
	t, err := cached(a.checks, a.checks.tokens, v.TokenID, now, func() (tokenState, error) {
		t, err := a.client.ApiToken.Query().Where(apitoken.ID(v.TokenID)).
			Select(apitoken.FieldRevokedAt, apitoken.FieldScope, apitoken.FieldOwnerID).Only(ctx)
		if ent.IsNotFound(err) {
			return tokenState{}, nil
		}
		if err != nil {
			return tokenState{}, fmt.Errorf("check api token: %w", err)
		}
		return stateOf(t), nil
	})
	return err == nil && t.holds(v), err
}

// stateOf is what a check keeps of a token.
func stateOf(t *ent.ApiToken) tokenState {
	return tokenState{live: t.RevokedAt == nil, readOnly: t.Scope == enum.TokenScopeRead, owner: t.OwnerID}
}

// holds reports whether the token still grants what v was given: not
// revoked, the same scope and owner.
func (s tokenState) holds(v *authz.Viewer) bool {
	return s.live && s.readOnly == v.ReadOnly && s.owner == v.UserID
}

// checkUser reads the user's status and role through the check cache.
func (a *Authenticator) checkUser(ctx context.Context, id pulid.ID, now time.Time) (userState, error) {
	return cached(a.checks, a.checks.users, id, now, func() (userState, error) {
		u, err := a.client.User.Query().Where(user.ID(id)).
			Select(user.FieldStatus, user.FieldPlatformRole).Only(ctx)
		if ent.IsNotFound(err) {
			return userState{}, nil
		}
		if err != nil {
			return userState{}, fmt.Errorf("check user: %w", err)
		}
		return userState{active: u.Status == enum.UserStatusActive, role: u.PlatformRole}, nil
	})
}

// checkCache keeps what Check read, per user and per token.
type checkCache struct {
	ttl time.Duration

	mu     sync.Mutex
	gen    uint64 // moves on every forget: a read that began before is not kept
	users  map[pulid.ID]checkEntry[userState]
	tokens map[pulid.ID]checkEntry[tokenState]
}

type checkEntry[T any] struct {
	val T
	at  time.Time
}

type userState struct {
	active bool
	role   enum.PlatformRole
}

type tokenState struct {
	live     bool
	readOnly bool
	owner    pulid.ID
}

func newCheckCache(ttl time.Duration) *checkCache {
	return &checkCache{
		ttl:    ttl,
		users:  map[pulid.ID]checkEntry[userState]{},
		tokens: map[pulid.ID]checkEntry[tokenState]{},
	}
}

// cached returns the entry of id when it is younger than the TTL, or loads
// it and keeps it unless a revocation arrived while it was loaded.
func cached[T any](c *checkCache, m map[pulid.ID]checkEntry[T], id pulid.ID, now time.Time, load func() (T, error)) (T, error) {
	c.mu.Lock()
	e, ok := m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl && !now.Before(e.at) {
		return e.val, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if len(m) >= maxCheckEntries {
			clear(m)
		}
		m[id] = checkEntry[T]{val: v, at: now}
	}
	c.mu.Unlock()
	return v, nil
}

// forget drops what the cache holds about a revoked credential.
func (c *checkCache) forget(r Revocation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if r.User() {
		delete(c.users, r.ID)
	} else {
		delete(c.tokens, r.ID)
	}
}

// forgetAll empties the cache (revocations may have been lost).
func (c *checkCache) forgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.users)
	clear(c.tokens)
}

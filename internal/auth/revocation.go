package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/apitoken"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/pubsub"
)

// RevocationChannel is the PostgreSQL NOTIFY channel that carries
// revocations between processes.
const RevocationChannel = "gatehouse_credentials"

// RevocationKind says what stopped a credential from holding.
type RevocationKind string

// Kinds of revocation.
const (
	// TokenRevoked: an API token was revoked, deleted or changed (its
	// expiry, scope or owner). ID is the token's.
	TokenRevoked RevocationKind = "token_revoked"
	// UserTerminated: a user stopped being ACTIVE, or was deleted. ID is the
	// user's; every credential of theirs stops holding.
	UserTerminated RevocationKind = "user_terminated"
	// RoleChanged: a user's platform role changed. ID is the user's;
	// connections authenticated under the old role must authenticate again.
	RoleChanged RevocationKind = "role_changed"
)

// Revocation is one credential change, as it crosses processes: a kind and
// an ID, nothing else.
type Revocation struct {
	Kind RevocationKind
	ID   pulid.ID
}

// User reports whether the revocation concerns every credential of the user
// ID (rather than one API token).
func (r Revocation) User() bool { return r.Kind != TokenRevoked }

func (r Revocation) String() string { return string(r.Kind) + ":" + string(r.ID) }

// ParseRevocation reads a notice written by Revocation.String; unknown
// kinds (from a newer replica) are refused.
func ParseRevocation(s string) (Revocation, bool) {
	kind, id, ok := strings.Cut(s, ":")
	r := Revocation{Kind: RevocationKind(kind), ID: pulid.ID(id)}
	switch r.Kind {
	case TokenRevoked, UserTerminated, RoleChanged:
		return r, ok && id != ""
	}
	return Revocation{}, false
}

// Revocations tells every process of a deployment, within moments of the
// commit, that credentials stopped holding: an API token revoked, a user
// terminated or given another platform role. Record makes the ent client
// publish them from any write (catalog, tokens, command line), inside the
// write's transaction: on PostgreSQL with pg_notify, which leaves at commit
// and reaches every replica's listener; on SQLite through the in-process
// relay after commit. Watch receives them.
type Revocations struct {
	relay *pubsub.Relay
}

// NewRevocations returns revocations carried by relay, whose channel should
// be RevocationChannel.
func NewRevocations(relay *pubsub.Relay) *Revocations {
	return &Revocations{relay: relay}
}

// Watch calls onRevoke with every revocation, from any process, and onLoss
// (may be nil) when some may have been lost (the listener's connection was
// down): the receiver should then check again what it holds. Both run on
// the relay's goroutine and must not block.
func (r *Revocations) Watch(onRevoke func(Revocation), onLoss func()) {
	r.relay.Receive(func(notices []string) {
		for _, n := range notices {
			if rv, ok := ParseRevocation(n); ok {
				onRevoke(rv)
			}
		}
	}, func(time.Time) {
		if onLoss != nil {
			onLoss()
		}
	})
}

// Record installs the ent hooks that publish revocations for every write
// through client to users (status away from ACTIVE, platform role changed,
// deleted) and API tokens (revoked, deleted, or changed otherwise than by
// use). A write that fails publishes nothing; a notice that cannot be sent
// inside the transaction fails the write. (Outside a transaction the write
// is committed before its notice is sent; a failure to send is returned
// all the same, and the periodic recheck of open connections finds what
// the notice would have closed.)
func (r *Revocations) Record(client *ent.Client) {
	client.User.Use(publishing(r, userRevocations))
	client.ApiToken.Use(publishing(r, tokenRevocations))
}

// revocable is a mutation whose revocations publishing sends.
type revocable interface {
	ent.Mutation
	Tx() (*ent.Tx, error)
	Client() *ent.Client
}

// publishing returns a hook that finds what a mutation of type M revokes,
// runs it, and publishes the revocations when it succeeded.
func publishing[M revocable](r *Revocations, find func(context.Context, M) ([]Revocation, error)) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, mutation ent.Mutation) (ent.Value, error) {
			m, ok := mutation.(M)
			if !ok {
				return nil, fmt.Errorf("revocations: unexpected mutation type %T", mutation)
			}
			revs, err := find(ctx, m)
			if err != nil {
				return nil, err
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || len(revs) == 0 {
				return v, err
			}
			return v, r.publish(ctx, m.Tx, m.Client(), revs)
		})
	}
}

// userRevocations returns what a user mutation revokes, read before it
// runs (the old role, the IDs a bulk update matches).
func userRevocations(ctx context.Context, m *ent.UserMutation) ([]Revocation, error) {
	if !m.Op().Is(ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne) {
		return nil, nil
	}
	sys := authz.SystemContext(ctx)
	var kind RevocationKind
	status, statusSet := m.Status()
	role, roleSet := m.PlatformRole()
	switch {
	case m.Op().Is(ent.OpDelete | ent.OpDeleteOne), statusSet && status != enum.UserStatusActive:
		kind = UserTerminated
	case roleSet && m.Op().Is(ent.OpUpdateOne):
		old, err := m.OldPlatformRole(sys)
		if err != nil {
			return nil, fmt.Errorf("revocation: old role: %w", err)
		}
		if old != role {
			kind = RoleChanged
		}
	case roleSet:
		kind = RoleChanged
	}
	if kind == "" {
		return nil, nil
	}
	ids, err := m.IDs(sys)
	if err != nil {
		return nil, fmt.Errorf("revocation: users: %w", err)
	}
	return revocations(kind, ids), nil
}

// tokenRevocations returns what an API token mutation revokes: anything but
// creation and the bookkeeping of last use.
func tokenRevocations(ctx context.Context, m *ent.ApiTokenMutation) ([]Revocation, error) {
	if !m.Op().Is(ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne) {
		return nil, nil
	}
	changed := append(m.Fields(), m.ClearedFields()...)
	if m.Op().Is(ent.OpUpdate|ent.OpUpdateOne) && !slices.ContainsFunc(changed, func(f string) bool {
		return f != apitoken.FieldLastUsedAt && f != apitoken.FieldUpdatedAt
	}) {
		return nil, nil
	}
	ids, err := m.IDs(authz.SystemContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("revocation: api tokens: %w", err)
	}
	return revocations(TokenRevoked, ids), nil
}

func revocations(kind RevocationKind, ids []pulid.ID) []Revocation {
	out := make([]Revocation, len(ids))
	for i, id := range ids {
		out[i] = Revocation{Kind: kind, ID: id}
	}
	return out
}

// publish sends the revocations of a write that has run. Inside a
// transaction they go with it: pg_notify in the transaction (PostgreSQL
// delivers at commit) or the in-process relay after commit. Outside one the
// write is committed already: they go at once.
func (r *Revocations) publish(ctx context.Context, txOf func() (*ent.Tx, error), client *ent.Client, revs []Revocation) error {
	notices := make([]string, len(revs))
	for i, rv := range revs {
		notices[i] = rv.String()
	}
	if tx, err := txOf(); err == nil {
		if err := r.relay.SendTx(ctx, tx, notices...); err != nil {
			return fmt.Errorf("revocation: %w", err)
		}
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
				err := next.Commit(ctx, tx)
				if err == nil {
					r.relay.Committed(notices...) // nothing to do on a shared relay
				}
				return err
			})
		})
		return nil
	}
	if err := r.relay.SendTx(ctx, client, notices...); err != nil {
		return fmt.Errorf("revocation (the change is committed): %w", err)
	}
	r.relay.Committed(notices...)
	return nil
}

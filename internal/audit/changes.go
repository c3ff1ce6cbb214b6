package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	entgo "entgo.io/ent"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
)

// changed is what SystemChanges needs of a mutation; every generated
// mutation has it (the clock and the dialect come from its client: see
// ent.Clock).
type changed interface {
	entgo.Mutation
	Client() *ent.Client
	Tx() (*ent.Tx, error)
	ID() (pulid.ID, bool)
	IDs(ctx context.Context) ([]pulid.ID, error)
	Now() time.Time
	Dialect() string
}

var (
	_ changed = (*ent.UserMutation)(nil)
	_ changed = (*ent.JobTitleMutation)(nil)
	_ changed = (*ent.RoleMutation)(nil)
	_ changed = (*ent.ApplicationMutation)(nil)
	_ changed = (*ent.EntitlementMutation)(nil)
	_ changed = (*ent.ReviewStageTemplateMutation)(nil)
	_ changed = (*ent.ApiTokenMutation)(nil)
	_ changed = (*ent.WebhookEndpointMutation)(nil)
	_ changed = (*ent.PolicyRuleMutation)(nil)
	_ changed = (*ent.ReviewPolicyMutation)(nil)
)

// SystemChanges is the ent hook, declared in the schemas of the catalog,
// the users and the API tokens (so that every client runs it, those built
// over a transaction included), that makes every change to them append an
// event to the system chain, in the transaction of the change, at the time
// of the client's clock, by the viewer of the context ("system" without
// one). Events name the entity, the operation and the fields changed, never
// their values (a token's hash), with one exception: a change of an
// application's connector kind or configuration also records
// data.connector (see connectorData) — the kind, the configuration as
// connectors.AuditView shows it and the secret references it makes, never
// a secret value. data.id names the row when one row is created, updated or
// deleted. An API token's creation and revocation are
// API_TOKEN_CREATED and API_TOKEN_REVOKED, its other changes (last use) are
// not recorded; a user's termination is USER_TERMINATED; anything else is
// CATALOG_CHANGED. Writes made with a context from RecordedByCaller are
// left to their caller.
func SystemChanges(next entgo.Mutator) entgo.Mutator {
	return entgo.MutateFunc(func(ctx context.Context, mutation entgo.Mutation) (entgo.Value, error) {
		m, ok := mutation.(changed)
		if !ok {
			return nil, fmt.Errorf("audit: unexpected mutation type %T", mutation)
		}
		if recordedByCaller(ctx) {
			return next.Mutate(ctx, m)
		}
		var deleted pulid.ID
		if m.Op().Is(entgo.OpDeleteOne) {
			// The row is gone afterwards: name it now.
			ids, err := m.IDs(authz.SystemContext(ctx))
			if err != nil {
				return nil, fmt.Errorf("audit %s: read the row to delete: %w", m.Type(), err)
			}
			if len(ids) == 1 {
				deleted = ids[0]
			}
		}
		v, err := next.Mutate(ctx, m)
		if err != nil {
			return v, err
		}
		fields := append(m.Fields(), slices.Concat(m.ClearedFields(), m.AddedEdges(), m.RemovedEdges(), m.ClearedEdges())...)
		slices.Sort(fields)
		fields = slices.Compact(fields) // [] when none, never null
		data := map[string]any{"entity": m.Type(), "op": m.Op().String(), "fields": fields}
		if c := connectorData(m); c != nil {
			data["connector"] = c
		}
		if id, ok := m.ID(); ok {
			data["id"] = string(id)
		} else if deleted != "" {
			data["id"] = string(deleted)
		}
		action := CatalogChanged
		switch {
		case m.Type() == ent.TypeApiToken && m.Op().Is(entgo.OpCreate):
			action = APITokenCreated
			if tm, ok := mutation.(*ent.ApiTokenMutation); ok {
				if owner, ok := tm.OwnerID(); ok {
					data["owner"] = string(owner)
				}
				if by, ok := tm.CreatedByID(); ok {
					data["createdBy"] = string(by)
				}
			}
		case m.Type() == ent.TypeApiToken && slices.Contains(m.Fields(), "revoked_at"):
			action = APITokenRevoked
		case m.Type() == ent.TypeApiToken:
			return v, nil // last_used_at bookkeeping
		case m.Type() == ent.TypeSodAcceptance && m.Op().Is(entgo.OpDelete|entgo.OpDeleteOne):
			action = SodAcceptanceRevoked
		case m.Type() == ent.TypeSodAcceptance:
			action = SodConflictAccepted
			for key, f := range map[string]string{"conflictSet": "conflict_set_id", "user": "user_id", "acceptedBy": "accepted_by_id", "reason": "reason", "until": "until"} {
				switch v, _ := m.Field(f); v := v.(type) {
				case pulid.ID:
					data[key] = string(v)
				case string:
					data[key] = v
				case time.Time:
					data[key] = v.UTC().Format(time.RFC3339)
				}
			}
		case m.Type() == ent.TypeUser && userTerminated(m):
			action = UserTerminated
		case m.Type() == ent.TypeWebhookEndpoint && webhookBookkeeping(m):
			return v, nil // failure counts of deliveries
		case m.Type() == ent.TypeWebhookEndpoint && fieldIs(m, "enabled", false):
			action = WebhookEndpointDisabled
			if n, ok := m.Field("consecutive_failures"); ok {
				data["consecutiveFailures"] = n
			}
		}
		actor := "system"
		if viewer := authz.FromContext(ctx); viewer != nil {
			actor = viewer.Actor()
		}
		if err := appendSystem(ctx, m, actor, Event{Action: action, Data: data}); err != nil {
			return nil, fmt.Errorf("audit %s: %w", m.Type(), err)
		}
		return v, nil
	})
}

type recordedByCallerKey struct{}

// RecordedByCaller returns a context whose writes SystemChanges does not
// record, for a caller that appends events of its own for them to the
// system chain, in the same transaction (discovery records each entitlement
// it imports as DISCOVERY_IMPORTED, with what it imported).
func RecordedByCaller(ctx context.Context) context.Context {
	return context.WithValue(ctx, recordedByCallerKey{}, true)
}

func recordedByCaller(ctx context.Context) bool {
	v, _ := ctx.Value(recordedByCallerKey{}).(bool)
	return v
}

// appendSystem appends to the system chain in the mutation's transaction
// (an ent transaction, or the one a client over a *sql.Tx joins), or, for
// a write made outside one, in a transaction of its own (appends to a chain
// must be serialised).
func appendSystem(ctx context.Context, m changed, actor string, ev Event) error {
	rec := NewRecorder(m.Dialect())
	if tx, err := m.Tx(); err == nil {
		_, err := rec.Append(ctx, tx.Client(), SystemChain, actor, m.Now(), ev)
		return err
	}
	tx, err := m.Client().Tx(ctx)
	if err != nil {
		return err
	}
	if _, err := rec.Append(ctx, tx.Client(), SystemChain, actor, m.Now(), ev); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// webhookBookkeeping reports a change of an endpoint's failure count alone.
func webhookBookkeeping(m entgo.Mutation) bool {
	fields := m.Fields()
	return len(fields) > 0 && !slices.ContainsFunc(fields, func(f string) bool {
		return f != "consecutive_failures" && f != "updated_at"
	}) && len(m.ClearedFields()) == 0
}

func fieldIs(m entgo.Mutation, name string, want any) bool {
	v, ok := m.Field(name)
	return ok && v == want
}

func userTerminated(m entgo.Mutation) bool {
	v, ok := m.Field("status")
	return ok && fmt.Sprint(v) == "TERMINATED"
}

// connectorData describes what an Application mutation sets of the
// connector: {"kind": …} when it sets the kind, {"config": view,
// "secretRefs": [...]} when it sets or clears the configuration, nil when it
// touches neither.
func connectorData(m entgo.Mutation) map[string]any {
	if m.Type() != ent.TypeApplication {
		return nil
	}
	out := map[string]any{}
	if k, ok := m.Field("connector_kind"); ok {
		out["kind"] = fmt.Sprint(k)
	}
	cfg, set := m.Field("connector_config")
	if set || m.FieldCleared("connector_config") {
		config, _ := cfg.(map[string]any)
		view, refs := connectors.AuditView(config)
		if refs == nil {
			refs = []string{}
		}
		out["config"], out["secretRefs"] = view, refs
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

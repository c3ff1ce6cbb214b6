package catalog

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// RecordChanges makes every change to the catalog, the users and the API
// tokens append an event to the audit's system chain, in the transaction of
// the change. Events name the entity, the operation and the fields changed,
// never their values (a token's hash), with one exception: a change of an
// application's connector kind or configuration also records data.connector
// (see connectorData) — the kind, the configuration as
// connectors.AuditView shows it and the secret references it makes, never a
// secret value.
func RecordChanges(client *ent.Client, rec *audit.Recorder, now func() time.Time) {
	hook := func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			v, err := next.Mutate(ctx, m)
			if err != nil {
				return v, err
			}
			fields := append(m.Fields(), m.AddedEdges()...)
			fields = append(fields, m.RemovedEdges()...)
			slices.Sort(fields)
			data := map[string]any{"entity": m.Type(), "op": m.Op().String(), "fields": fields}
			if c := connectorData(m); c != nil {
				data["connector"] = c
			}
			if idm, ok := m.(interface{ ID() (pulid.ID, bool) }); ok {
				if id, ok := idm.ID(); ok {
					data["id"] = string(id)
				}
			}
			action := audit.CatalogChanged
			switch {
			case m.Type() == ent.TypeApiToken && m.Op().Is(ent.OpCreate):
				action = audit.APITokenCreated
				if tm, ok := m.(*ent.ApiTokenMutation); ok {
					if owner, ok := tm.OwnerID(); ok {
						data["owner"] = string(owner)
					}
					if by, ok := tm.CreatedByID(); ok {
						data["createdBy"] = string(by)
					}
				}
			case m.Type() == ent.TypeApiToken && slices.Contains(m.Fields(), "revoked_at"):
				action = audit.APITokenRevoked
			case m.Type() == ent.TypeApiToken:
				return v, nil // last_used_at bookkeeping
			case m.Type() == ent.TypeUser && userTerminated(m):
				action = audit.UserTerminated
			}
			actor := "system"
			if viewer := authz.FromContext(ctx); viewer != nil {
				actor = viewer.Actor()
			}
			if err := appendSystem(ctx, client, m, rec, actor, now(), audit.Event{Action: action, Data: data}); err != nil {
				return nil, fmt.Errorf("audit %s: %w", m.Type(), err)
			}
			return v, nil
		})
	}
	client.User.Use(hook)
	client.JobTitle.Use(hook)
	client.Role.Use(hook)
	client.Application.Use(hook)
	client.Entitlement.Use(hook)
	client.ReviewStageTemplate.Use(hook)
	client.ApiToken.Use(hook)
}

// appendSystem appends to the system chain in the mutation's transaction,
// or, for a write made outside one, in a transaction of its own (appends
// to a chain must be serialised).
func appendSystem(ctx context.Context, root *ent.Client, m ent.Mutation, rec *audit.Recorder, actor string, at time.Time, ev audit.Event) error {
	if txm, ok := m.(interface{ Tx() (*ent.Tx, error) }); ok {
		if tx, err := txm.Tx(); err == nil {
			_, err := rec.Append(ctx, tx.Client(), audit.SystemChain, actor, at, ev)
			return err
		}
	}
	tx, err := root.Tx(ctx)
	if err != nil {
		return err
	}
	if _, err := rec.Append(ctx, tx.Client(), audit.SystemChain, actor, at, ev); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func userTerminated(m ent.Mutation) bool {
	v, ok := m.Field("status")
	return ok && fmt.Sprint(v) == "TERMINATED"
}

// connectorData describes what an Application mutation sets of the
// connector: {"kind": …} when it sets the kind, {"config": view,
// "secretRefs": [...]} when it sets or clears the configuration, nil when it
// touches neither.
func connectorData(m ent.Mutation) map[string]any {
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

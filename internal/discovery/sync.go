package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/entitlement"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// RevokeReason is the revoke_reason of the grants a sync ends.
const RevokeReason = "not found by discovery"

// MaxUnmatchedLogins bounds Result.UnmatchedLogins.
const MaxUnmatchedLogins = 100

// batch bounds the rows of one bulk insert (SQLite's bound parameters).
const batch = 200

// Result counts what a sync changed.
type Result struct {
	// Application is the synced application, read after the sync.
	Application         *ent.Application
	EntitlementsCreated int
	IdentitiesCreated   int
	// IdentitiesUpdated counts identities pointed at the account found for
	// them (a new external ID or login).
	IdentitiesUpdated int
	GrantsCreated     int
	GrantsEnded       int
	// UnmatchedAccounts counts the accounts that belong to no Gatehouse
	// user; they are reported, never turned into users.
	UnmatchedAccounts int
	// UnmatchedLogins names the first MaxUnmatchedLogins of them.
	UnmatchedLogins []string
}

// Sync imports what the application holds: its groups or roles as
// Entitlements (new ones requestable, of kind GROUP for SCIM and ROLE for
// POSTGRES), its accounts as the Identities of the users they belong to, and
// its memberships as Grants, ending the grants whose membership is gone
// (revoke reason RevokeReason). See MakePlan for the matching rules. The
// connector is called first; then every change and its audit event
// (DISCOVERY_IMPORTED, DISCOVERY_ACCESS_ENDED on the system chain) is written
// in one transaction. Run again on an unchanged application, it writes
// nothing.
//
// IT_ADMIN only. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND,
// INVALID_INPUT (a connector without discovery, or an unusable connector
// configuration), CONFLICT (the application could not be read, or Gatehouse
// changed meanwhile; nothing was written).
func (s *Service) Sync(ctx context.Context, id pulid.ID) (*Result, error) {
	v, err := authz.Require(ctx, manageConnectors)
	if err != nil {
		return nil, err
	}
	app, err := s.client.Application.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	disc, err := s.open(app)
	if err != nil {
		return nil, err
	}
	start := s.now()
	snap, err := read(ctx, disc)
	if err != nil {
		return nil, errcode.New(errcode.Conflict, "discovery could not read application %q: %s; nothing was changed", app.Name, connectors.Reason(err))
	}
	res := &Result{}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx, client *ent.Client) error {
		if err := s.lockApplication(ctx, tx, app.ID); err != nil {
			return err
		}
		in, err := load(ctx, client, app.ID, disc, snap, start)
		if err != nil {
			return err
		}
		plan := MakePlan(in)
		events, ended, err := s.apply(ctx, client, app, plan)
		if err != nil {
			return err
		}
		for chunk := range slices.Chunk(events, batch) {
			if _, err := s.audit.Append(ctx, client, audit.SystemChain, v.Actor(), s.now(), chunk...); err != nil {
				return err
			}
		}
		res.EntitlementsCreated = len(plan.NewEntitlements)
		res.IdentitiesCreated = len(plan.NewIdentities)
		res.IdentitiesUpdated = len(plan.IdentityUpdates)
		res.GrantsCreated = len(plan.NewGrants)
		res.GrantsEnded = ended
		res.UnmatchedAccounts = len(plan.Unmatched)
		res.UnmatchedLogins = append([]string{}, plan.Unmatched[:min(len(plan.Unmatched), MaxUnmatchedLogins)]...)
		return nil
	})
	if ent.IsConstraintError(err) {
		return nil, errcode.New(errcode.Conflict, "application %q changed while it was synced; nothing was changed, try again", app.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("discovery: sync %s: %w", app.ID, err)
	}
	if res.Application, err = s.client.Application.Get(ctx, id); err != nil {
		return nil, err
	}
	return res, nil
}

// open returns the application's connector as a Discoverer.
func (s *Service) open(app *ent.Application) (Discoverer, error) {
	if app.ConnectorKind == enum.ConnectorKindManual {
		return nil, errcode.Invalid("id", "application %q is MANUAL: it has no connector to discover with", app.Name)
	}
	conn, err := s.connectors.Open(string(app.ConnectorKind), app.ConnectorConfig)
	if err != nil {
		if ce, ok := errors.AsType[*connectors.ConfigError](err); ok && ce.Key != "" {
			return nil, errcode.Invalid("connectorConfig."+ce.Key, "%s", Redact(ce.Message))
		}
		return nil, errcode.Invalid("connectorKind", "the %s connector cannot be opened: %s", app.ConnectorKind, connectors.Reason(err))
	}
	disc, ok := conn.(Discoverer)
	if !ok {
		return nil, errcode.Invalid("id", "the %s connector of application %q cannot list what the application holds", app.ConnectorKind, app.Name)
	}
	return disc, nil
}

// read asks the connector for the application's entitlements, accounts and
// memberships.
func read(ctx context.Context, d Discoverer) (Snapshot, error) {
	var (
		snap Snapshot
		err  error
	)
	if snap.Entitlements, err = d.ListEntitlements(ctx); err != nil {
		return snap, err
	}
	if snap.Accounts, err = d.ListAccounts(ctx); err != nil {
		return snap, err
	}
	snap.Members = make(map[string][]connectors.Account, len(snap.Entitlements))
	for _, e := range snap.Entitlements {
		if e.ExternalID == "" {
			continue
		}
		if _, done := snap.Members[e.ExternalID]; done {
			continue
		}
		ms, err := d.ListMembers(ctx, e)
		if err != nil {
			return snap, err
		}
		snap.Members[e.ExternalID] = ms
	}
	return snap, nil
}

// load reads what Gatehouse records of the application, inside the sync's
// transaction.
func load(ctx context.Context, client *ent.Client, appID pulid.ID, d Discoverer, snap Snapshot, start time.Time) (Input, error) {
	in := Input{Snapshot: snap, Start: start, InFlight: map[Pair]bool{}}
	var err error
	if in.Entitlements, err = client.Entitlement.Query().Where(entitlement.ApplicationID(appID)).Order(entitlement.ByID()).All(ctx); err != nil {
		return in, fmt.Errorf("load entitlements: %w", err)
	}
	if in.Identities, err = client.Identity.Query().Where(identity.ApplicationID(appID)).Order(identity.ByID()).All(ctx); err != nil {
		return in, fmt.Errorf("load identities: %w", err)
	}
	if in.Grants, err = client.Grant.Query().
		Where(grant.HasIdentityWith(identity.ApplicationID(appID)), grant.Or(grant.RevokedAtIsNil(), grant.RevokedAtGTE(start))).
		Order(grant.ByID()).All(ctx); err != nil {
		return in, fmt.Errorf("load grants: %w", err)
	}
	users, err := client.User.Query().Order(user.ByID()).Select(user.FieldID, user.FieldEmail, user.FieldName).All(ctx)
	if err != nil {
		return in, fmt.Errorf("load users: %w", err)
	}
	in.Users = make([]UserLogin, len(users))
	for i, u := range users {
		in.Users[i] = UserLogin{ID: u.ID, Login: d.LoginFor(connectors.User{ID: string(u.ID), Email: u.Email, Name: u.Name})}
	}
	items, err := client.RequestItem.Query().
		Where(
			requestitem.ApplicationID(appID),
			requestitem.ActionEQ(enum.RequestActionGrant),
			requestitem.StatusIn(enum.ItemStatusApproved, enum.ItemStatusFulfilling),
		).
		WithRequest(func(q *ent.AccessRequestQuery) { q.Select(accessrequest.FieldID, accessrequest.FieldBeneficiaryID) }).
		All(ctx)
	if err != nil {
		return in, fmt.Errorf("load items in flight: %w", err)
	}
	for _, it := range items {
		if r := it.Edges.Request; r != nil {
			in.InFlight[Pair{User: r.BeneficiaryID, Entitlement: it.EntitlementID}] = true
		}
	}
	return in, nil
}

// apply writes the plan and returns its audit events and how many grants it
// ended.
func (s *Service) apply(ctx context.Context, client *ent.Client, app *ent.Application, p *Plan) ([]audit.Event, int, error) {
	now := s.now()
	var events []audit.Event
	appID := string(app.ID)

	entID := map[string]pulid.ID{}
	existing, err := client.Entitlement.Query().Where(entitlement.ApplicationID(app.ID)).
		Select(entitlement.FieldID, entitlement.FieldExternalID).All(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range existing {
		entID[e.ExternalID] = e.ID
	}
	kind := entitlementKind(app.ConnectorKind)
	for chunk := range slices.Chunk(p.NewEntitlements, batch) {
		builders := make([]*ent.EntitlementCreate, len(chunk))
		for i, ne := range chunk {
			builders[i] = client.Entitlement.Create().
				SetApplicationID(app.ID).SetExternalID(ne.ExternalID).SetName(ne.Name).
				SetKind(kind).SetRequestable(true)
		}
		// Recorded below as DISCOVERY_IMPORTED, with what was imported.
		created, err := client.Entitlement.CreateBulk(builders...).Save(audit.RecordedByCaller(ctx))
		if err != nil {
			return nil, 0, fmt.Errorf("import entitlements: %w", err)
		}
		for _, e := range created {
			entID[e.ExternalID] = e.ID
			events = append(events, audit.Event{Action: audit.DiscoveryImported, Data: map[string]any{
				"entity": "Entitlement", "op": "create", "id": string(e.ID), "application": appID,
				"externalId": e.ExternalID, "name": e.Name, "kind": string(kind),
			}})
		}
	}

	idnOf := map[pulid.ID]pulid.ID{} // user → identity
	idns, err := client.Identity.Query().Where(identity.ApplicationID(app.ID)).
		Select(identity.FieldID, identity.FieldUserID).All(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, idn := range idns {
		idnOf[idn.UserID] = idn.ID
	}
	for _, up := range p.IdentityUpdates {
		var fields []any
		upd := client.Identity.UpdateOneID(up.Identity.ID)
		if up.ExternalID != up.Identity.ExternalID {
			upd.SetExternalID(up.ExternalID)
			fields = append(fields, "external_id")
		}
		if up.Login != up.Identity.Login {
			upd.SetLogin(up.Login)
			fields = append(fields, "login")
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, 0, fmt.Errorf("update identity: %w", err)
		}
		events = append(events, audit.Event{Action: audit.DiscoveryImported, Data: map[string]any{
			"entity": "Identity", "op": "update", "id": string(up.Identity.ID), "application": appID,
			"user": string(up.Identity.UserID), "externalId": up.ExternalID, "login": up.Login, "fields": fields,
		}})
	}
	for chunk := range slices.Chunk(p.NewIdentities, batch) {
		builders := make([]*ent.IdentityCreate, len(chunk))
		for i, ni := range chunk {
			builders[i] = client.Identity.Create().
				SetUserID(ni.User).SetApplicationID(app.ID).
				SetExternalID(ni.ExternalID).SetLogin(ni.Login).SetStatus(enum.IdentityStatusActive)
		}
		created, err := client.Identity.CreateBulk(builders...).Save(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("import identities: %w", err)
		}
		for _, idn := range created {
			idnOf[idn.UserID] = idn.ID
			events = append(events, audit.Event{Action: audit.DiscoveryImported, Data: map[string]any{
				"entity": "Identity", "op": "create", "id": string(idn.ID), "application": appID,
				"user": string(idn.UserID), "externalId": idn.ExternalID, "login": idn.Login,
			}})
		}
	}

	for chunk := range slices.Chunk(p.NewGrants, batch) {
		builders := make([]*ent.GrantCreate, len(chunk))
		for i, ng := range chunk {
			idn, okI := idnOf[ng.User]
			e, okE := entID[ng.EntitlementExternalID]
			if !okI || !okE {
				return nil, 0, fmt.Errorf("import grant: no identity of %s or entitlement %q", ng.User, ng.EntitlementExternalID)
			}
			builders[i] = client.Grant.Create().SetIdentityID(idn).SetEntitlementID(e).SetGrantedAt(now)
		}
		created, err := client.Grant.CreateBulk(builders...).Save(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("import grants: %w", err)
		}
		for i, g := range created {
			events = append(events, audit.Event{Action: audit.DiscoveryImported, Data: map[string]any{
				"entity": "Grant", "op": "create", "id": string(g.ID), "application": appID,
				"user": string(chunk[i].User), "identity": string(g.IdentityID), "entitlement": string(g.EntitlementID),
			}})
		}
	}

	ended := 0
	for _, g := range p.EndGrants {
		n, err := client.Grant.Update().
			Where(grant.ID(g.ID), grant.RevokedAtIsNil()).
			SetRevokedAt(now).SetRevokeReason(RevokeReason).
			Save(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("end grant: %w", err)
		}
		if n == 0 {
			continue
		}
		ended++
		events = append(events, audit.Event{Action: audit.DiscoveryAccessEnded, Data: map[string]any{
			"entity": "Grant", "op": "update", "id": string(g.ID), "application": appID,
			"identity": string(g.IdentityID), "entitlement": string(g.EntitlementID), "reason": RevokeReason,
		}})
	}
	return events, ended, nil
}

// entitlementKind is the kind of the entitlements a connector kind imports.
func entitlementKind(k enum.ConnectorKind) enum.EntitlementKind {
	if k == enum.ConnectorKindPostgres {
		return enum.EntitlementKindRole
	}
	return enum.EntitlementKindGroup
}

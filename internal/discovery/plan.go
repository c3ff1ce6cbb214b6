package discovery

import (
	"fmt"
	"strings"
	"time"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
)

// Limits of the columns discovery writes (ent/schema).
const (
	maxExternalID      = 500
	maxLogin           = 500
	maxEntitlementName = 200
)

// Snapshot is what a connector reported of its application, read before the
// sync's transaction.
type Snapshot struct {
	// Entitlements are the application's groups or roles.
	Entitlements []connectors.Entitlement
	// Accounts are its accounts.
	Accounts []connectors.Account
	// Members holds the members of each entitlement, by its ExternalID.
	Members map[string][]connectors.Account
}

// UserLogin is a Gatehouse user with the login the connector would give
// them (Discoverer.LoginFor).
type UserLogin struct {
	ID    pulid.ID
	Login string
}

// Input is everything a plan is made from: what the application holds and
// what Gatehouse records of it.
type Input struct {
	Snapshot Snapshot
	// Entitlements are the application's entitlements in Gatehouse.
	Entitlements []*ent.Entitlement
	// Identities are the application's identities.
	Identities []*ent.Identity
	// Users are every Gatehouse user, with their logins in the application.
	Users []UserLogin
	// Grants are the grants of the application's identities that are
	// active or were revoked at or after Start.
	Grants []*ent.Grant
	// InFlight holds the (user, entitlement) pairs that a GRANT item is
	// provisioning right now (APPROVED or FULFILLING): the item records
	// their grant itself.
	InFlight map[Pair]bool
	// Start is when the connector was first called: grants made or revoked
	// since may be newer than the snapshot, so they are left alone.
	Start time.Time
}

// Pair is a user and an entitlement of the application.
type Pair struct {
	User        pulid.ID
	Entitlement pulid.ID
}

// Plan is what a sync changes.
type Plan struct {
	NewEntitlements []NewEntitlement
	NewIdentities   []NewIdentity
	IdentityUpdates []IdentityUpdate
	NewGrants       []NewGrant
	// EndGrants are the active grants whose membership is gone.
	EndGrants []*ent.Grant
	// Unmatched names the accounts that belong to no Gatehouse user (their
	// login, else their external ID), in the connector's order.
	Unmatched []string
}

// NewEntitlement is an entitlement to import.
type NewEntitlement struct {
	ExternalID string
	Name       string
}

// NewIdentity is an account to record as a user's identity.
type NewIdentity struct {
	User       pulid.ID
	ExternalID string
	Login      string
}

// IdentityUpdate points an existing identity at the account found for it.
type IdentityUpdate struct {
	Identity   *ent.Identity
	ExternalID string
	Login      string
}

// NewGrant is a membership to record: the identity of User (existing or
// new) holds the entitlement with this external ID (existing or new).
type NewGrant struct {
	User                  pulid.ID
	EntitlementExternalID string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.NewEntitlements) == 0 && len(p.NewIdentities) == 0 && len(p.IdentityUpdates) == 0 &&
		len(p.NewGrants) == 0 && len(p.EndGrants) == 0
}

// MakePlan compares what the application holds with what Gatehouse records
// and returns the changes that bring Gatehouse in line. It is a pure
// function of its input:
//
//   - Entitlements are matched by external ID; unknown ones are imported,
//     named after the application's name for them (made unique within the
//     application). Existing ones are never renamed: admins may have named
//     them better.
//   - Accounts are matched to identities by external ID, then by login
//     (case-insensitively), then to users by the connector's login for them
//     (case-insensitively). A user has one identity per application: an
//     account that matches no user, several users, or a user whose identity
//     another account already holds is unmatched and only reported.
//   - A membership of a matched account is a grant: a missing one is
//     created, unless the grant was revoked since Start or a request is
//     provisioning it. An active grant whose membership is gone is ended,
//     unless it was granted since Start.
func MakePlan(in Input) *Plan {
	p := &Plan{}

	// Entitlements.
	entByExt := make(map[string]*ent.Entitlement, len(in.Entitlements))
	entByID := make(map[pulid.ID]*ent.Entitlement, len(in.Entitlements))
	names := make(map[string]bool, len(in.Entitlements))
	for _, e := range in.Entitlements {
		entByExt[e.ExternalID] = e
		entByID[e.ID] = e
		names[e.Name] = true
	}
	var listed []string
	seen := map[string]bool{}
	for _, e := range in.Snapshot.Entitlements {
		if e.ExternalID == "" || len(e.ExternalID) > maxExternalID || seen[e.ExternalID] {
			continue
		}
		seen[e.ExternalID] = true
		listed = append(listed, e.ExternalID)
		if entByExt[e.ExternalID] != nil {
			continue
		}
		name := uniqueName(e.Name, e.ExternalID, names)
		names[name] = true
		p.NewEntitlements = append(p.NewEntitlements, NewEntitlement{ExternalID: e.ExternalID, Name: name})
	}

	// Accounts.
	type account struct {
		connectors.Account
		user pulid.ID // "" while unmatched
	}
	var accounts []*account
	acctByExt := map[string]*account{}
	acctByLogin := map[string]*account{}
	for _, a := range in.Snapshot.Accounts {
		if a.ExternalID == "" && a.Login == "" {
			continue
		}
		if (a.ExternalID != "" && acctByExt[a.ExternalID] != nil) || (a.ExternalID == "" && acctByLogin[fold(a.Login)] != nil) {
			continue
		}
		acc := &account{Account: a}
		accounts = append(accounts, acc)
		if a.ExternalID != "" {
			acctByExt[a.ExternalID] = acc
		}
		if a.Login != "" && acctByLogin[fold(a.Login)] == nil {
			acctByLogin[fold(a.Login)] = acc
		}
	}
	idnByExt := map[string]*ent.Identity{}
	idnByLogin := map[string][]*ent.Identity{}
	idnByUser := map[pulid.ID]*ent.Identity{}
	for _, idn := range in.Identities {
		if idn.ExternalID != "" {
			idnByExt[idn.ExternalID] = idn
		}
		if idn.Login != "" {
			idnByLogin[fold(idn.Login)] = append(idnByLogin[fold(idn.Login)], idn)
		}
		idnByUser[idn.UserID] = idn
	}
	claimed := map[pulid.ID]bool{} // identities, by ID
	taken := map[pulid.ID]bool{}   // users whose identity an account holds
	claim := func(acc *account, idn *ent.Identity) {
		claimed[idn.ID], taken[idn.UserID], acc.user = true, true, idn.UserID
		ext, login := idn.ExternalID, idn.Login
		if acc.ExternalID != "" && len(acc.ExternalID) <= maxExternalID {
			ext = acc.ExternalID
		}
		if acc.Login != "" && len(acc.Login) <= maxLogin {
			login = acc.Login
		}
		if ext != idn.ExternalID || login != idn.Login {
			p.IdentityUpdates = append(p.IdentityUpdates, IdentityUpdate{Identity: idn, ExternalID: ext, Login: login})
		}
	}
	tooLong := func(a *account) bool { return len(a.ExternalID) > maxExternalID || len(a.Login) > maxLogin }
	// By external ID.
	for _, acc := range accounts {
		if idn := idnByExt[acc.ExternalID]; acc.ExternalID != "" && idn != nil && !claimed[idn.ID] {
			claim(acc, idn)
		}
	}
	// By login.
	for _, acc := range accounts {
		if acc.user != "" || acc.Login == "" || tooLong(acc) {
			continue
		}
		for _, idn := range idnByLogin[fold(acc.Login)] {
			if !claimed[idn.ID] {
				claim(acc, idn)
				break
			}
		}
	}
	// By the connector's login for each user.
	usersByLogin := map[string][]pulid.ID{}
	for _, u := range in.Users {
		if u.Login != "" {
			usersByLogin[fold(u.Login)] = append(usersByLogin[fold(u.Login)], u.ID)
		}
	}
	for _, acc := range accounts {
		if acc.user != "" {
			continue
		}
		users := usersByLogin[fold(acc.Login)]
		if acc.Login == "" || len(users) != 1 || taken[users[0]] || tooLong(acc) {
			name := acc.Login
			if name == "" {
				name = acc.ExternalID
			}
			p.Unmatched = append(p.Unmatched, name)
			continue
		}
		u := users[0]
		if idn := idnByUser[u]; idn != nil {
			// The user's identity lost its account; this is the new one.
			claim(acc, idn)
			continue
		}
		taken[u], acc.user = true, u
		p.NewIdentities = append(p.NewIdentities, NewIdentity{User: u, ExternalID: acc.ExternalID, Login: acc.Login})
	}

	// Memberships.
	type membership struct {
		user pulid.ID
		ext  string
	}
	want := map[membership]bool{}
	var wantOrder []membership
	for _, ext := range listed {
		for _, m := range in.Snapshot.Members[ext] {
			acc := acctByExt[m.ExternalID]
			if acc == nil && m.Login != "" {
				acc = acctByLogin[fold(m.Login)]
			}
			if acc == nil || acc.user == "" {
				continue
			}
			k := membership{acc.user, ext}
			if !want[k] {
				want[k] = true
				wantOrder = append(wantOrder, k)
			}
		}
	}

	// Grants.
	userOf := map[pulid.ID]pulid.ID{}
	for _, idn := range in.Identities {
		userOf[idn.ID] = idn.UserID
	}
	active := map[membership]bool{}
	recent := map[membership]bool{}
	for _, g := range in.Grants {
		e := entByID[g.EntitlementID]
		u, ok := userOf[g.IdentityID]
		if e == nil || !ok {
			continue
		}
		k := membership{u, e.ExternalID}
		switch {
		case g.RevokedAt == nil:
			active[k] = true
			if !want[k] && g.GrantedAt.Before(in.Start) {
				p.EndGrants = append(p.EndGrants, g)
			}
		case !g.RevokedAt.Before(in.Start):
			recent[k] = true
		}
	}
	for _, k := range wantOrder {
		if active[k] || recent[k] {
			continue
		}
		if e := entByExt[k.ext]; e != nil && in.InFlight[Pair{User: k.user, Entitlement: e.ID}] {
			continue
		}
		p.NewGrants = append(p.NewGrants, NewGrant{User: k.user, EntitlementExternalID: k.ext})
	}
	return p
}

// fold is the case-insensitive form of a login.
func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// uniqueName names an imported entitlement: the application's name for it,
// else its external ID, cut to the column's length, and disambiguated with
// the external ID, then a number, when another entitlement of the
// application has that name.
func uniqueName(name, ext string, taken map[string]bool) string {
	base := truncate(strings.TrimSpace(name), maxEntitlementName)
	if base == "" {
		base = truncate(ext, maxEntitlementName)
	}
	if !taken[base] {
		return base
	}
	suffix := " (" + ext + ")"
	if len(suffix) < maxEntitlementName/2 {
		if c := truncate(base, maxEntitlementName-len(suffix)) + suffix; !taken[c] {
			return c
		}
	}
	for i := 2; ; i++ {
		suffix := fmt.Sprintf(" (%d)", i)
		if c := truncate(base, maxEntitlementName-len(suffix)) + suffix; !taken[c] {
			return c
		}
	}
}

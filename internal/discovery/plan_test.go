package discovery_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/discovery"
)

// Scenario table for MakePlan: each row is a state of the application and of
// Gatehouse, the changes expected, and why.

var (
	t0     = time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	before = t0.Add(-time.Hour)
	after  = t0.Add(time.Second)
)

func ents(pairs ...string) []connectors.Entitlement {
	var out []connectors.Entitlement
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, connectors.Entitlement{ExternalID: pairs[i], Name: pairs[i+1]})
	}
	return out
}

// accts builds accounts from "externalID/login" strings.
func accts(specs ...string) []connectors.Account {
	var out []connectors.Account
	for _, s := range specs {
		ext, login, _ := strings.Cut(s, "/")
		out = append(out, connectors.Account{ExternalID: ext, Login: login})
	}
	return out
}

func gEnt(id, ext, name string) *ent.Entitlement {
	return &ent.Entitlement{ID: pulid.ID(id), ExternalID: ext, Name: name}
}

func gIdn(id, user, ext, login string) *ent.Identity {
	return &ent.Identity{ID: pulid.ID(id), UserID: pulid.ID(user), ExternalID: ext, Login: login}
}

func gGrant(id, identity, entitlement string, grantedAt time.Time, revokedAt *time.Time) *ent.Grant {
	return &ent.Grant{ID: pulid.ID(id), IdentityID: pulid.ID(identity), EntitlementID: pulid.ID(entitlement), GrantedAt: grantedAt, RevokedAt: revokedAt}
}

func users(specs ...string) []discovery.UserLogin {
	var out []discovery.UserLogin
	for _, s := range specs {
		id, login, _ := strings.Cut(s, "/")
		out = append(out, discovery.UserLogin{ID: pulid.ID(id), Login: login})
	}
	return out
}

// summary lists a plan's changes in a compact, ordered form.
func summary(p *discovery.Plan) []string {
	out := []string{}
	for _, e := range p.NewEntitlements {
		out = append(out, fmt.Sprintf("ent+ %s %q", e.ExternalID, e.Name))
	}
	for _, u := range p.IdentityUpdates {
		out = append(out, fmt.Sprintf("idn~ %s %s/%s", u.Identity.ID, u.ExternalID, u.Login))
	}
	for _, i := range p.NewIdentities {
		out = append(out, fmt.Sprintf("idn+ %s %s/%s", i.User, i.ExternalID, i.Login))
	}
	for _, g := range p.NewGrants {
		out = append(out, fmt.Sprintf("grant+ %s %s", g.User, g.EntitlementExternalID))
	}
	for _, g := range p.EndGrants {
		out = append(out, fmt.Sprintf("grant- %s", g.ID))
	}
	for _, u := range p.Unmatched {
		out = append(out, "unmatched "+u)
	}
	return out
}

func TestSyncPlan(t *testing.T) {
	t.Parallel()
	revokedAfter, revokedBefore := after, before
	cases := []struct {
		name string
		why  string
		in   discovery.Input
		want []string
	}{
		{
			name: "entitlements imported once each",
			why:  "a listing may repeat a group; one without a name is named after its external ID",
			in:   discovery.Input{Snapshot: discovery.Snapshot{Entitlements: ents("g1", "Eng", "g1", "Eng", "g2", " ", "", "no id")}},
			want: []string{`ent+ g1 "Eng"`, `ent+ g2 "g2"`},
		},
		{
			name: "existing entitlement kept as named",
			why:  "upsert by external ID; admins may have named it better than the application",
			in: discovery.Input{
				Snapshot:     discovery.Snapshot{Entitlements: ents("g1", "Eng")},
				Entitlements: []*ent.Entitlement{gEnt("e1", "g1", "Engineering (curated)")},
			},
			want: []string{},
		},
		{
			name: "taken name disambiguated",
			why:  "entitlement names are unique per application",
			in: discovery.Input{
				Snapshot:     discovery.Snapshot{Entitlements: ents("g1", "Eng", "g2", "Eng")},
				Entitlements: []*ent.Entitlement{gEnt("e0", "manual", "Eng")},
			},
			want: []string{`ent+ g1 "Eng (g1)"`, `ent+ g2 "Eng (g2)"`},
		},
		{
			name: "account matched to user case-insensitively",
			why:  "LoginFor(user) is compared without case (SCIM userNames are case-insensitive)",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{Accounts: accts("a1/ANN@Example.com")},
				Users:    users("u1/ann@example.com", "u2/bob@example.com"),
			},
			want: []string{"idn+ u1 a1/ANN@Example.com"},
		},
		{
			name: "unmatched accounts reported, not created",
			why:  "an account nobody in Gatehouse owns is a finding, not a user",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{Accounts: accts("a1/ghost", "a2/")},
				Users:    users("u1/ann"),
			},
			want: []string{"unmatched ghost", "unmatched a2"},
		},
		{
			name: "ambiguous login unmatched",
			why:  "two users whose logins collide (sanitised role names) cannot be told apart",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{Accounts: accts("gh_a_b/gh_a_b")},
				Users:    users("u1/gh_a_b", "u2/gh_a_b"),
			},
			want: []string{"unmatched gh_a_b"},
		},
		{
			name: "identity found by external ID follows a renamed login",
			why:  "the account is the same; its userName changed",
			in: discovery.Input{
				Snapshot:   discovery.Snapshot{Accounts: accts("a1/ann.new")},
				Identities: []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
				Users:      users("u1/ann"),
			},
			want: []string{"idn~ i1 a1/ann.new"},
		},
		{
			name: "identity found by login takes the new external ID",
			why:  "the account was recreated in the application under the same login",
			in: discovery.Input{
				Snapshot:   discovery.Snapshot{Accounts: accts("a9/Ann")},
				Identities: []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
			},
			want: []string{"idn~ i1 a9/Ann"},
		},
		{
			name: "unchanged identity untouched",
			why:  "idempotence: nothing to write",
			in: discovery.Input{
				Snapshot:   discovery.Snapshot{Accounts: accts("a1/ann")},
				Identities: []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
				Users:      users("u1/ann"),
			},
			want: []string{},
		},
		{
			name: "second account of a user with an identity unmatched",
			why:  "a user has one identity per application",
			in: discovery.Input{
				Snapshot:   discovery.Snapshot{Accounts: accts("a1/ann", "a2/ANN")},
				Identities: []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
				Users:      users("u1/ann"),
			},
			want: []string{"unmatched ANN"},
		},
		{
			name: "memberships become grants",
			why:  "held in the application, not recorded: import; members may be named by login only",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{
					Entitlements: ents("g1", "Eng", "g2", "Ops"),
					Accounts:     accts("a1/ann", "a2/bob", "a3/ghost"),
					Members: map[string][]connectors.Account{
						"g1": accts("a1/", "a3/", "zz/"),
						"g2": accts("/BOB", "a1/ann"),
					},
				},
				Entitlements: []*ent.Entitlement{gEnt("e1", "g1", "Eng")},
				Identities:   []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
				Users:        users("u1/ann", "u2/bob"),
			},
			want: []string{`ent+ g2 "Ops"`, "idn+ u2 a2/bob", "grant+ u1 g1", "grant+ u2 g2", "grant+ u1 g2", "unmatched ghost"},
		},
		{
			name: "recorded membership kept, gone membership ended",
			why:  "active grant with membership: nothing; without: end it, also on an entitlement no longer listed",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{
					Entitlements: ents("g1", "Eng"),
					Accounts:     accts("a1/ann"),
					Members:      map[string][]connectors.Account{"g1": accts("a1/")},
				},
				Entitlements: []*ent.Entitlement{gEnt("e1", "g1", "Eng"), gEnt("e2", "g2", "Ops"), gEnt("e3", "g3", "Sales")},
				Identities:   []*ent.Identity{gIdn("i1", "u1", "a1", "ann"), gIdn("i2", "u2", "gone", "bob")},
				Grants: []*ent.Grant{
					gGrant("k1", "i1", "e1", before, nil),
					gGrant("k2", "i1", "e2", before, nil),
					gGrant("k3", "i2", "e1", before, nil),
					gGrant("k4", "i1", "e3", before, &revokedBefore),
				},
				Start: t0,
			},
			want: []string{"grant- k2", "grant- k3"},
		},
		{
			name: "changes since the listing left alone",
			why:  "a grant made after the connector was read, or revoked since, is newer than the snapshot",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{
					Entitlements: ents("g1", "Eng", "g2", "Ops"),
					Accounts:     accts("a1/ann"),
					Members:      map[string][]connectors.Account{"g2": accts("a1/")},
				},
				Entitlements: []*ent.Entitlement{gEnt("e1", "g1", "Eng"), gEnt("e2", "g2", "Ops")},
				Identities:   []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
				Grants: []*ent.Grant{
					gGrant("k1", "i1", "e1", after, nil),
					gGrant("k2", "i1", "e2", before, &revokedAfter),
				},
				Start: t0,
			},
			want: []string{},
		},
		{
			name: "membership being provisioned left to its request",
			why:  "the fulfilment job records its own grant, with its end",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{
					Entitlements: ents("g1", "Eng"),
					Accounts:     accts("a1/ann"),
					Members:      map[string][]connectors.Account{"g1": accts("a1/")},
				},
				Entitlements: []*ent.Entitlement{gEnt("e1", "g1", "Eng")},
				Identities:   []*ent.Identity{gIdn("i1", "u1", "a1", "ann")},
				InFlight:     map[discovery.Pair]bool{{User: "u1", Entitlement: "e1"}: true},
			},
			want: []string{},
		},
		{
			name: "identity whose account vanished is re-pointed",
			why:  "the user's only identity lost its account and a new one matches the user's login",
			in: discovery.Input{
				Snapshot: discovery.Snapshot{
					Entitlements: ents("g1", "Eng"),
					Accounts:     accts("n1/gh_ann"),
					Members:      map[string][]connectors.Account{"g1": accts("n1/gh_ann")},
				},
				Entitlements: []*ent.Entitlement{gEnt("e1", "g1", "Eng")},
				Identities:   []*ent.Identity{gIdn("i1", "u1", "old", "gh_ann_old")},
				Users:        users("u1/gh_ann"),
			},
			want: []string{"idn~ i1 n1/gh_ann", "grant+ u1 g1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, summary(discovery.MakePlan(tc.in)), tc.why)
		})
	}
}

func TestSyncPlanNames(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 150) // 300 bytes
	p := discovery.MakePlan(discovery.Input{Snapshot: discovery.Snapshot{Entitlements: ents("x1", long, "x2", long, "x3", long)}})
	require.Len(t, p.NewEntitlements, 3)
	seen := map[string]bool{}
	for _, e := range p.NewEntitlements {
		require.LessOrEqual(t, len(e.Name), 200, "names fit the column")
		require.True(t, strings.ToValidUTF8(e.Name, "?") == e.Name, "cut on a rune boundary")
		require.False(t, seen[e.Name], "names are unique: %q", e.Name)
		seen[e.Name] = true
	}
}

func TestDiscoveryRedact(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, secret string }{
		{`postgres: connect: dial "postgres://app:hunter2@db:5432/x": refused`, "hunter2"},
		{`pq: host=db user=app password=hunter2 sslmode=disable`, "hunter2"},
		{`pq: password='hunter 2' user=app`, "hunter 2"},
		{`scim: Authorization: Bearer abc.def-ghi rejected`, "abc.def-ghi"},
		{`GET https://idp/scim?access_token=tok123&x=1: 401`, "tok123"},
	}
	for _, tc := range cases {
		out := discovery.Redact(tc.in)
		require.NotContains(t, out, tc.secret, tc.in)
		require.Contains(t, out, "[redacted]", tc.in)
	}
	require.Equal(t, "scim: check health: 401 Unauthorized: invalid bearer token", discovery.Redact("scim: check health: 401 Unauthorized: invalid bearer token"),
		"ordinary messages pass unchanged")
	require.LessOrEqual(t, len(discovery.Redact(strings.Repeat("x", 5000))), 504)
}

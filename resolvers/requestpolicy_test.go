package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
)

// Request policy tests (issue 15): policies are set through GraphQL by an
// IT admin and enforced by previewAccessRequest and submitAccessRequest.

const rpFields = `application { name } entitlement { name }
  justificationRequired { value source } justificationMinLength { value source }
  requestForOthers { value source } maxDuration { value source } defaultDuration { value source }
  permanentAllowed { value source }`

const (
	rpSet = `mutation($app: ID, $ent: ID, $in: RequestPolicyInput!) { setRequestPolicy(applicationId: $app, entitlementId: $ent, input: $in) { ` +
		rpFields + ` } }`
	rpClear = `mutation($app: ID, $ent: ID) { clearRequestPolicy(applicationId: $app, entitlementId: $ent) { ` + rpFields + ` } }`
	rpGet   = `query($app: ID, $ent: ID) { requestPolicy(applicationId: $app, entitlementId: $ent) { ` + rpFields + ` } }`
	rpItems = `query($id: ID!) { node(id: $id) { ... on AccessRequest { items { duration endsAt } } } }`
)

type rpSourced struct {
	Value  any
	Source string
}

type rpEffective struct {
	Application            *struct{ Name string }
	Entitlement            *struct{ Name string }
	JustificationRequired  rpSourced
	JustificationMinLength rpSourced
	RequestForOthers       rpSourced
	MaxDuration            rpSourced
	DefaultDuration        rpSourced
	PermanentAllowed       rpSourced
}

// rpVars are the variables naming the policy of app or e (both nil: the
// global one).
func rpVars(app *ent.Application, e *ent.Entitlement, in map[string]any) map[string]any {
	vars := map[string]any{}
	if in != nil {
		vars["in"] = in
	}
	if app != nil {
		vars["app"] = string(app.ID)
	}
	if e != nil {
		vars["ent"] = string(e.ID)
	}
	return vars
}

// rpSetPolicy sets a request policy as an IT admin.
func (o *org) rpSetPolicy(t *testing.T, app *ent.Application, e *ent.Entitlement, in map[string]any) rpEffective {
	t.Helper()
	var out struct{ SetRequestPolicy rpEffective }
	o.env.MustDo(t, o.env.Token(t, o.admin), rpSet, rpVars(app, e, in), &out)
	return out.SetRequestPolicy
}

func TestRequestPolicyAdministration(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		app, e := o.app(t, "Ledger", enum.FulfillmentManual, nil)
		user := env.User(t, "u@example.com", enum.PlatformRoleUser)
		risk := env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		uTok, riskTok, aTok := env.Token(t, user), env.Token(t, risk), env.Token(t, o.admin)

		// Nothing set: built in, and any viewer may read what a request must give.
		var got struct{ RequestPolicy rpEffective }
		env.MustDo(t, uTok, rpGet, rpVars(nil, e, nil), &got)
		require.Equal(t, rpSourced{false, "BUILT_IN"}, got.RequestPolicy.JustificationRequired)
		require.Equal(t, rpSourced{"ANYONE", "BUILT_IN"}, got.RequestPolicy.RequestForOthers)
		require.Equal(t, rpSourced{true, "BUILT_IN"}, got.RequestPolicy.PermanentAllowed)
		require.Equal(t, "Ledger", got.RequestPolicy.Application.Name, "an entitlement's policy names its application")
		require.Equal(t, "Ledger users", got.RequestPolicy.Entitlement.Name)

		// Who may set: IT admins only.
		in := map[string]any{"justificationRequired": true}
		require.Equal(t, "FORBIDDEN", env.Do(t, uTok, rpSet, rpVars(nil, nil, in)).Code(), "a USER sets no policy")
		require.Equal(t, "FORBIDDEN", env.Do(t, riskTok, rpSet, rpVars(nil, nil, in)).Code(), "nor does a risk manager")
		require.Equal(t, "FORBIDDEN", env.Do(t, uTok, rpClear, rpVars(nil, nil, nil)).Code())
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, rpSet, map[string]any{"app": "app_nope", "in": in}).Code())
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, rpSet, map[string]any{"ent": "ent_nope", "in": in}).Code())
		other, _ := o.app(t, "Other", enum.FulfillmentManual, nil)
		res := env.Do(t, aTok, rpSet, rpVars(other, e, in))
		require.Equal(t, "INVALID_INPUT", res.Code(), "an entitlement of another application")

		// Validation, each naming its field; nothing is written.
		for _, tc := range []struct {
			in    map[string]any
			field string
		}{
			{map[string]any{"justificationMinLength": -1}, "justificationMinLength"},
			{map[string]any{"maxDuration": "30 days"}, "maxDuration"},
			{map[string]any{"maxDuration": "P7D", "defaultDuration": "P30D"}, "defaultDuration"},
		} {
			res := env.Do(t, aTok, rpSet, rpVars(nil, nil, tc.in))
			require.Equal(t, "INVALID_INPUT", res.Code(), "%v", tc.in)
			require.Contains(t, res.Errors[0].Message, tc.field)
		}
		env.MustDo(t, uTok, rpGet, rpVars(nil, nil, nil), &got)
		require.Equal(t, rpSourced{0.0, "BUILT_IN"}, got.RequestPolicy.JustificationMinLength, "a refused input writes nothing")

		// Inheritance: entitlement → application → global → built in.
		g := o.rpSetPolicy(t, nil, nil, map[string]any{"justificationRequired": true, "justificationMinLength": 10, "maxDuration": "P90D"})
		require.Nil(t, g.Application)
		require.Equal(t, rpSourced{10.0, "GLOBAL"}, g.JustificationMinLength)
		a := o.rpSetPolicy(t, app, nil, map[string]any{"justificationMinLength": 20, "requestForOthers": "MANAGERS"})
		require.Equal(t, rpSourced{20.0, "APPLICATION"}, a.JustificationMinLength, "the application's value wins")
		require.Equal(t, rpSourced{true, "GLOBAL"}, a.JustificationRequired, "the global value shows through")
		require.Equal(t, rpSourced{"P90D", "GLOBAL"}, a.MaxDuration)
		p := o.rpSetPolicy(t, nil, e, map[string]any{"maxDuration": "PT8H", "permanentAllowed": false})
		require.Equal(t, "Ledger users", p.Entitlement.Name)
		require.Equal(t, rpSourced{"PT8H", "ENTITLEMENT"}, p.MaxDuration, "the entitlement's value wins")
		require.Equal(t, rpSourced{false, "ENTITLEMENT"}, p.PermanentAllowed)
		require.Equal(t, rpSourced{"MANAGERS", "APPLICATION"}, p.RequestForOthers, "its application's value shows through")
		require.Equal(t, rpSourced{20.0, "APPLICATION"}, p.JustificationMinLength)
		require.Equal(t, rpSourced{true, "GLOBAL"}, p.JustificationRequired)
		require.Equal(t, rpSourced{nil, "BUILT_IN"}, p.DefaultDuration)

		// Setting again replaces the row: what is left out inherits again.
		a = o.rpSetPolicy(t, app, nil, map[string]any{"requestForOthers": "ADMINS"})
		require.Equal(t, rpSourced{10.0, "GLOBAL"}, a.JustificationMinLength)
		// Clearing the application's policy: everything inherits from the global one.
		var cleared struct{ ClearRequestPolicy rpEffective }
		env.MustDo(t, aTok, rpClear, rpVars(app, nil, nil), &cleared)
		require.Equal(t, rpSourced{"ANYONE", "BUILT_IN"}, cleared.ClearRequestPolicy.RequestForOthers)
		require.Equal(t, rpSourced{10.0, "GLOBAL"}, cleared.ClearRequestPolicy.JustificationMinLength)

		// Every change is on the system chain, by the admin.
		evs, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Actor(string(o.admin.ID)), auditevent.Action(string(audit.CatalogChanged))).
			All(apitest.Sys())
		require.NoError(t, err)
		ops := map[string]int{}
		for _, ev := range evs {
			if ev.Data["entity"] == "RequestPolicy" {
				ops[ev.Data["op"].(string)]++
			}
		}
		require.Equal(t, map[string]int{"OpCreate": 3, "OpUpdateOne": 1, "OpDeleteOne": 1}, ops,
			"three policies created, one replaced, one cleared; refused inputs recorded nothing")
	})
}

func TestRequestPolicyEnforced(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, _, r, b := o.cast(t) // R and B both report to M
		mTok, rTok, bTok := env.Token(t, m), env.Token(t, r), env.Token(t, b)
		app, e := o.app(t, "Ledger", enum.FulfillmentManual, nil, enum.ReviewerKindApplicationOwner)
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		_, err := app.Update().AddOwners(owner).Save(apitest.Sys())
		require.NoError(t, err)
		priv, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("ledger-admin").SetName("Ledger admin").
			SetPrivileged(true).Save(apitest.Sys())
		require.NoError(t, err)
		grant := func(x *ent.Entitlement, more map[string]any) map[string]any {
			in := map[string]any{"action": "GRANT", "entitlementIds": []string{string(x.ID)}}
			for k, v := range more {
				in[k] = v
			}
			return in
		}
		// refused checks that preview shows the error and submit gives it.
		refused := func(token string, in map[string]any, code, field, why string) {
			t.Helper()
			p := subPreview(t, env, token, in)
			require.Len(t, p.Errors, 1, why)
			require.Equal(t, code, p.Errors[0].Code, why)
			res := subTry(t, env, token, in, nil)
			require.Equal(t, code, res.Code(), why)
			if field != "" {
				require.NotNil(t, p.Errors[0].Field, why)
				require.Equal(t, field, *p.Errors[0].Field, why)
			}
		}

		// Privileged access always needs a justification, with no policy at all.
		refused(bTok, grant(priv, nil), "INVALID_INPUT", "justification", "privileged, no policy, no justification")
		subSubmit(t, env, bTok, grant(priv, map[string]any{"justification": "month-end close"}))

		// A global policy: a justification of 10 characters for everything.
		o.rpSetPolicy(t, nil, nil, map[string]any{"justificationRequired": true, "justificationMinLength": 10})
		refused(bTok, grant(e, nil), "INVALID_INPUT", "justification", "required, missing")
		refused(bTok, grant(e, map[string]any{"justification": "  too short "}), "INVALID_INPUT", "justification", "9 characters once trimmed")
		// The entitlement turns it off: entitlement → global.
		o.rpSetPolicy(t, nil, e, map[string]any{"justificationRequired": false})
		require.Empty(t, subPreview(t, env, bTok, grant(e, nil)).Errors, "the entitlement's policy overrides the global one")
		o.rpSetPolicy(t, nil, e, map[string]any{})

		// Request for others: MANAGERS on the application.
		o.rpSetPolicy(t, app, nil, map[string]any{"requestForOthers": "MANAGERS"})
		forB := grant(e, map[string]any{"beneficiaryId": string(b.ID), "justification": "needed for audit work"})
		refused(rTok, forB, "FORBIDDEN", "", "R is B's peer, not B's manager")
		req := subSubmit(t, env, mTok, forB)
		require.Equal(t, "b@example.com", req.Beneficiary.Email, "M, B's manager, may")

		// Durations: at most P7D on the application, no permanent access.
		o.rpSetPolicy(t, app, nil, map[string]any{"maxDuration": "P7D", "permanentAllowed": false})
		just := "quarter-end reconciliation"
		refused(bTok, grant(priv, map[string]any{"justification": just, "duration": "P8D"}), "INVALID_INPUT", "duration", "over the maximum")
		refused(bTok, grant(priv, map[string]any{"justification": just, "endsAt": env.Clock.Now().AddDate(0, 0, 8)}), "INVALID_INPUT", "endsAt",
			"an end past the maximum")
		app2, e2 := o.app(t, "Ledger 2", enum.FulfillmentManual, nil)
		o.rpSetPolicy(t, nil, e2, map[string]any{"permanentAllowed": false})
		refused(bTok, grant(e2, map[string]any{"justification": just}), "INVALID_INPUT", "duration", "permanent access refused")

		// With a default duration, a GRANT that names no end gets it, also
		// where the application has a maximum of its own (which alone
		// refuses permanent access).
		_, err = app2.Update().SetMaxAccessDuration("P90D").Save(apitest.Sys())
		require.NoError(t, err)
		refused(bTok, grant(e2, map[string]any{"justification": just}), "INVALID_INPUT", "duration", "permanent access refused by both")
		o.rpSetPolicy(t, nil, e2, map[string]any{"permanentAllowed": false, "defaultDuration": "P14D"})
		var p struct {
			PreviewAccessRequest struct {
				Errors []struct{ Code string }
				Items  []struct{ DefaultDuration *string }
			}
		}
		env.MustDo(t, bTok, `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) { errors { code } items { defaultDuration } } }`,
			map[string]any{"in": grant(e2, map[string]any{"justification": just})}, &p)
		require.Empty(t, p.PreviewAccessRequest.Errors)
		require.Equal(t, "P14D", *p.PreviewAccessRequest.Items[0].DefaultDuration, "preview shows the default it applies")
		req = subSubmit(t, env, bTok, grant(e2, map[string]any{"justification": just}))
		var items struct {
			Node struct{ Items []struct{ Duration *string } }
		}
		env.MustDo(t, bTok, rpItems, map[string]any{"id": req.ID}, &items)
		require.Equal(t, "P14D", *items.Node.Items[0].Duration, "the item lasts the default duration")
	})
}

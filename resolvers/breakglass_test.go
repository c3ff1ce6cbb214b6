package resolvers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// Break-glass tests (issue 15, item 5): an emergency request is provisioned
// at once through the application's connector (the webhook connector
// against its real test receiver) for a capped time, every risk manager is
// told, and the after-the-fact review keeps the access (approval) or
// revokes it at once through the connector (denial).

// bgScene is a break-glass organisation: B, who reports to M, asks for
// emergency access to the production database, whose request policy allows
// break-glass (set on the application) for at most two hours; R1 and R2 are risk managers.
type bgScene struct {
	o                   *org
	m, b, r1, r2        *ent.User
	tokM, tokB, tokR1   string
	tokAdmin            string
	prodAdmin, prodRead *ent.Entitlement
	mail                *apitest.Mailbox
}

func newBGScene(t *testing.T, db *dbtest.DB, opts ...apitest.Options) *bgScene {
	t.Helper()
	box := &apitest.Mailbox{}
	var opt apitest.Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	opt.Mail = box
	o := fulOrg(t, db, opt)
	s := &bgScene{o: o, mail: box}
	s.m = o.env.User(t, "m@example.com", enum.PlatformRoleUser)
	s.b = subPerson(t, o.env, "b@example.com", s.m, nil)
	s.r1 = o.env.User(t, "r1@example.com", enum.PlatformRoleRiskManager)
	s.r2 = o.env.User(t, "r2@example.com", enum.PlatformRoleRiskManager)
	s.tokM, s.tokB, s.tokR1, s.tokAdmin = o.env.Token(t, s.m), o.env.Token(t, s.b), o.env.Token(t, s.r1), o.env.Token(t, o.admin)
	app, admin := o.app(t, "ProdDB", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
	s.prodAdmin = admin
	read, err := o.env.Client.Entitlement.Create().SetApplication(app).SetExternalID("prod-read").SetName("ProdDB read").Save(apitest.Sys())
	require.NoError(t, err)
	s.prodRead = read
	var out struct {
		SetRequestPolicy struct {
			BreakGlassAllowed     struct{ Value bool }
			BreakGlassMaxDuration struct{ Value string }
		}
	}
	o.env.MustDo(t, s.tokAdmin, `mutation($a: ID!) { setRequestPolicy(applicationId: $a, input: {breakGlassAllowed: true, breakGlassMaxDuration: "PT2H"}) {
	  breakGlassAllowed { value } breakGlassMaxDuration { value } } }`, map[string]any{"a": string(app.ID)}, &out)
	require.True(t, out.SetRequestPolicy.BreakGlassAllowed.Value)
	require.Equal(t, "PT2H", out.SetRequestPolicy.BreakGlassMaxDuration.Value)
	return s
}

// emergency submits B's emergency request for the entitlement with the
// extra input.
func (s *bgScene) emergency(t *testing.T, e *ent.Entitlement, extra map[string]any) fulRequest {
	t.Helper()
	in := map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "emergency": true,
		"emergencyReason": "incident 4711: the payments database is down"}
	for k, v := range extra {
		in[k] = v
	}
	return s.o.fulSubmit(t, s.tokB, in)
}

type bgItem struct {
	Status          string
	EmergencyReview *string
	FulfilledAt     *time.Time
	Request         struct {
		Status          string
		EmergencyReason *string
		Completion      completion
	}
}

func (s *bgScene) item(t *testing.T, id string) bgItem {
	t.Helper()
	var out struct{ Node bgItem }
	s.o.env.MustDo(t, s.tokAdmin, `query($id: ID!) { node(id: $id) { ... on RequestItem { status emergencyReview fulfilledAt
	  request { status emergencyReason completion { done total percent } } } } }`, map[string]any{"id": id}, &out)
	return out.Node
}

// TestBreakGlassProvisionedWithoutReview: the emergency access is granted
// through the connector before anyone reviews it, ending at the policy's
// cap when no end is asked for (never permanent) and capped when more is
// asked; every risk manager is told in-app and by e-mail as their
// preferences say; the after-the-fact approval keeps the grant.
func TestBreakGlassProvisionedWithoutReview(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newBGScene(t, db)
		o := s.o
		// R2 reads break-glass news in the application only.
		o.env.MustDo(t, o.env.Token(t, s.r2), `mutation { updateNotificationPreferences(input: [{kind: BREAK_GLASS_INVOKED, email: false}]) { kind } }`, nil, nil)

		req := s.emergency(t, s.prodAdmin, nil)
		ful := o.fulAwait(t, s.tokB, req.Items[0].ID, "FULFILLED")
		require.Len(t, o.receiver.Deliveries(webhook.TypeGrant), 1, "granted through the connector, nobody having decided")
		gs := o.fulGrants(t, s.tokAdmin, s.prodAdmin.ID)
		require.Len(t, gs, 1)
		require.NotNil(t, gs[0].EndsAt, "emergency access is never permanent")
		require.WithinDuration(t, ful.FulfilledAt.Add(2*time.Hour), *gs[0].EndsAt, time.Millisecond, "no end asked: the cap")

		it := s.item(t, req.Items[0].ID)
		require.Equal(t, "PENDING", *it.EmergencyReview)
		require.Equal(t, "incident 4711: the payments database is down", *it.Request.EmergencyReason)
		require.Equal(t, "COMPLETED", it.Request.Status, "the access is provisioned")
		require.Equal(t, completion{Done: 0, Total: 3, Percent: 0}, it.Request.Completion,
			"the after-the-fact review is still to do: M, then R1 or R2")

		// Every risk manager is told, by the channels they chose.
		for _, u := range []*ent.User{s.r1, s.r2} {
			ns := notifiedOf(t, o.env, u)
			require.Equal(t, []string{"BREAK_GLASS_INVOKED"}, apitest.Kinds(ns), u.Email)
			require.Equal(t, "Break-glass: ProdDB users in ProdDB for b@example.com", ns[0].Title)
		}
		require.Len(t, s.mail.To(s.r1.Email), 1, "R1 by e-mail too (the default)")
		require.Contains(t, s.mail.To(s.r1.Email)[0].Text, "b@example.com used emergency access to ProdDB users in ProdDB, provisioned at once without review for PT2H. Reason: incident 4711")
		require.Empty(t, s.mail.To(s.r2.Email), "R2 turned e-mail off for break-glass")
		require.Equal(t, []string{"TASK_ASSIGNED"}, apitest.Kinds(notifiedOf(t, o.env, s.m)), "the manager reviews it")

		actions := o.fulTrail(t, s.tokAdmin, req.ID)
		fulRequireOrder(t, actions, "REQUEST_SUBMITTED", "BREAK_GLASS_INVOKED", "ITEM_AUTO_APPROVED", "ACCESS_GRANTED")

		// A longer end than the cap is capped; a shorter one is kept.
		long := s.emergency(t, s.prodRead, map[string]any{"duration": "PT8H"})
		ful = o.fulAwait(t, s.tokB, long.Items[0].ID, "FULFILLED")
		g := o.fulGrants(t, s.tokAdmin, s.prodRead.ID)
		require.Len(t, g, 1)
		require.WithinDuration(t, ful.FulfilledAt.Add(2*time.Hour), *g[0].EndsAt, time.Millisecond, "PT8H asked: capped at PT2H")

		// The after-the-fact review approves: the access stays.
		p := o.progress(t, s.tokM, req.ID)
		o.env.MustDo(t, s.tokM, decide, map[string]any{"id": p.task(t, "ProdDB users", s.m.Email), "d": "APPROVE"}, nil)
		p = o.progress(t, s.tokR1, req.ID)
		o.env.MustDo(t, s.tokR1, decide, map[string]any{"id": p.task(t, "ProdDB users", s.r1.Email), "d": "APPROVE"}, nil)
		it = s.item(t, req.Items[0].ID)
		require.Equal(t, "CONFIRMED", *it.EmergencyReview)
		require.Equal(t, "FULFILLED", it.Status)
		require.Equal(t, completion{Done: 3, Total: 3, Percent: 100}, it.Request.Completion)
		gs = o.fulGrants(t, s.tokAdmin, s.prodAdmin.ID)
		require.Nil(t, gs[0].RevokedAt, "approval keeps the grant")
		require.Empty(t, o.receiver.Deliveries(webhook.TypeRevoke))
		require.Equal(t, 1, fulCount(o.fulTrail(t, s.tokAdmin, req.ID), "BREAK_GLASS_CONFIRMED"))
	})
}

// TestBreakGlassDenialRevokesThroughConnector: the after-the-fact denial
// revokes the emergency access at once, through the connector, by a system
// REVOKE request whose item says why; the beneficiary is told.
func TestBreakGlassDenialRevokesThroughConnector(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newBGScene(t, db)
		o := s.o
		req := s.emergency(t, s.prodAdmin, map[string]any{"duration": "PT1H"})
		ful := o.fulAwait(t, s.tokB, req.Items[0].ID, "FULFILLED")
		gs := o.fulGrants(t, s.tokAdmin, s.prodAdmin.ID)
		require.Len(t, gs, 1)
		require.WithinDuration(t, ful.FulfilledAt.Add(time.Hour), *gs[0].EndsAt, time.Millisecond, "within the cap: as asked")

		p := o.progress(t, s.tokM, req.ID)
		o.env.MustDo(t, s.tokM, decide, map[string]any{"id": p.task(t, "ProdDB users", s.m.Email), "d": "DENY"}, nil)

		it := s.item(t, req.Items[0].ID)
		require.Equal(t, "REVOKED", *it.EmergencyReview)
		require.Equal(t, "FULFILLED", it.Status, "the item was provisioned; its grant is what goes")
		require.Equal(t, completion{Done: 3, Total: 3, Percent: 100}, it.Request.Completion,
			"the denial decides the review: the risk managers' waiting tasks are skipped")

		revs, err := o.env.Client.RequestItem.Query().Where(
			requestitem.ReasonEQ(enum.ItemReasonBreakGlassDenied),
			requestitem.HasRequestWith(accessrequest.BeneficiaryID(s.b.ID)),
		).All(apitest.Sys())
		require.NoError(t, err)
		require.Len(t, revs, 1, "one revocation for the one grant")
		o.fulAwait(t, s.tokAdmin, string(revs[0].ID), "FULFILLED")
		require.Len(t, o.receiver.Deliveries(webhook.TypeRevoke), 1, "the connector was asked to revoke")
		gs = o.fulGrants(t, s.tokAdmin, s.prodAdmin.ID)
		require.NotNil(t, gs[0].RevokedAt, "the grant ended before its end")
		require.True(t, gs[0].RevokedAt.Before(*gs[0].EndsAt))

		fulRequireOrder(t, o.fulTrail(t, s.tokAdmin, req.ID), "BREAK_GLASS_INVOKED", "ACCESS_GRANTED", "TASK_DENIED", "STAGE_DENIED", "BREAK_GLASS_REVOKED")
		fulRequireOrder(t, o.fulTrail(t, s.tokAdmin, string(revs[0].RequestID)), "REQUEST_SUBMITTED", "ITEM_AUTO_APPROVED", "ACCESS_REVOKED", "REQUEST_COMPLETED")
		require.Contains(t, apitest.Kinds(notifiedOf(t, o.env, s.b)), "ACCESS_REVOKED", "the beneficiary learns the access went")
	})
}

// TestBreakGlassRefused: an emergency request is refused, with nothing
// written, where the policy does not allow break-glass, without a reason,
// for a REVOKE, for someone else, or for access already held; a policy may
// not allow emergency access longer than a day.
func TestBreakGlassRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newBGScene(t, db)
		o := s.o
		_, plain := o.app(t, "Wiki", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		cases := []struct {
			name        string
			token       string
			in          map[string]any
			code, field string
		}{
			{"policy does not allow", s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(plain.ID)}, "emergency": true, "emergencyReason": "outage"},
				"BREAK_GLASS_NOT_ALLOWED", ""},
			{"no reason", s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.prodAdmin.ID)}, "emergency": true},
				"INVALID_INPUT", "emergencyReason"},
			{"blank reason", s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.prodAdmin.ID)}, "emergency": true, "emergencyReason": "  "},
				"INVALID_INPUT", "emergencyReason"},
			{"a reason without emergency", s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.prodAdmin.ID)}, "emergencyReason": "outage"},
				"INVALID_INPUT", "emergencyReason"},
			{"REVOKE", s.tokB, map[string]any{"action": "REVOKE", "entitlementIds": []string{string(s.prodAdmin.ID)}, "emergency": true, "emergencyReason": "outage"},
				"INVALID_INPUT", "emergency"},
			{"for someone else", s.tokM, map[string]any{"action": "GRANT", "beneficiaryId": string(s.b.ID), "entitlementIds": []string{string(s.prodAdmin.ID)}, "emergency": true, "emergencyReason": "outage"},
				"INVALID_INPUT", "emergency"},
		}
		for _, c := range cases {
			res := o.env.Do(t, c.token, fulSubmitMutation, map[string]any{"in": c.in})
			require.Equal(t, c.code, res.Code(), c.name)
			if c.field != "" {
				require.Equal(t, c.field, res.Errors[0].Extensions.Field, c.name)
			}
		}
		n, err := o.env.Client.AccessRequest.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n, "nothing written")

		// Access already held is not broken into again: its denial would
		// take away what was held before.
		req := o.fulSubmit(t, s.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.prodRead.ID)}, "duration": "P1D"})
		o.fulApprove(t, fulCast{m: s.m, b: s.b, tokM: s.tokM, tokB: s.tokB, tokAdmin: s.tokAdmin}, req.ID, "ProdDB read")
		o.fulAwait(t, s.tokB, req.Items[0].ID, "FULFILLED")
		o.env.MustDo(t, s.tokAdmin, `mutation($e: ID!) { setRequestPolicy(entitlementId: $e, input: {breakGlassAllowed: true}) { breakGlassAllowed { value } } }`,
			map[string]any{"e": string(s.prodRead.ID)}, nil)
		res := o.env.Do(t, s.tokB, fulSubmitMutation, map[string]any{"in": map[string]any{"action": "GRANT",
			"entitlementIds": []string{string(s.prodRead.ID)}, "emergency": true, "emergencyReason": "outage"}})
		require.Equal(t, "ALREADY_HELD", res.Code())

		res = o.env.Do(t, s.tokAdmin, `mutation($e: ID!) { setRequestPolicy(entitlementId: $e, input: {breakGlassAllowed: true, breakGlassMaxDuration: "P2D"}) { breakGlassAllowed { value } } }`,
			map[string]any{"e": string(s.prodAdmin.ID)})
		require.Equal(t, "INVALID_INPUT", res.Code())
		require.Equal(t, "breakGlassMaxDuration", res.Errors[0].Extensions.Field)
	})
}

// TestBreakGlassDeniedBeforeProvisioning: a denial that comes before the
// connector was called leaves nothing provisioned (the item is DENIED and
// its job does nothing); one that comes while the job's attempt is under
// way revokes the grant the moment the job records it. Jobs are run by
// hand here, to place the denial between them.
func TestBreakGlassDeniedBeforeProvisioning(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newBGScene(t, db, apitest.Options{NoJobs: true})
		o, ctx := s.o, apitest.Sys()
		deny := func(reqID string) {
			p := o.progress(t, s.tokM, reqID)
			o.env.MustDo(t, s.tokM, decide, map[string]any{"id": p.task(t, p.Node.Items[0].Entitlement.Name, s.m.Email), "d": "DENY"}, nil)
		}

		// Denied before its job ran: never provisioned.
		early := s.emergency(t, s.prodAdmin, nil)
		require.Equal(t, "APPROVED", early.Items[0].Status)
		deny(early.ID)
		it := s.item(t, early.Items[0].ID)
		require.Equal(t, "DENIED", it.Status)
		require.Equal(t, "REVOKED", *it.EmergencyReview)
		require.NoError(t, o.env.Workflow.Fulfill(ctx, pulid.ID(early.Items[0].ID), 1, 10))
		require.Empty(t, o.receiver.Deliveries(webhook.TypeGrant), "the connector is never called")
		require.Equal(t, "DENIED", s.item(t, early.Items[0].ID).Status)
		fulRequireOrder(t, o.fulTrail(t, s.tokAdmin, early.ID), "BREAK_GLASS_INVOKED", "TASK_DENIED", "BREAK_GLASS_REVOKED", "ITEM_DENIED")

		// Denied while its attempt was under way (the item FULFILLING):
		// the grant the attempt records is revoked at once.
		late := s.emergency(t, s.prodRead, nil)
		require.NoError(t, o.env.Client.RequestItem.UpdateOneID(pulid.ID(late.Items[0].ID)).SetStatus(enum.ItemStatusFulfilling).Exec(ctx))
		deny(late.ID)
		require.Equal(t, "REVOKED", *s.item(t, late.Items[0].ID).EmergencyReview)
		require.NoError(t, o.env.Workflow.Fulfill(ctx, pulid.ID(late.Items[0].ID), 1, 10))
		require.Equal(t, "FULFILLED", s.item(t, late.Items[0].ID).Status)
		require.Len(t, o.receiver.Deliveries(webhook.TypeGrant), 1)
		revs, err := o.env.Client.RequestItem.Query().Where(requestitem.ReasonEQ(enum.ItemReasonBreakGlassDenied)).All(ctx)
		require.NoError(t, err)
		require.Len(t, revs, 1, "the recorded grant is revoked at once")
		require.NoError(t, o.env.Workflow.Fulfill(ctx, revs[0].ID, 1, 10))
		require.Len(t, o.receiver.Deliveries(webhook.TypeRevoke), 1, "through the connector")
		gs := o.fulGrants(t, s.tokAdmin, s.prodRead.ID)
		require.Len(t, gs, 1)
		require.NotNil(t, gs[0].RevokedAt)
		require.Equal(t, 2, fulCount(o.fulTrail(t, s.tokAdmin, late.ID), "BREAK_GLASS_REVOKED"),
			"one for the denial, one naming the revocation when the grant was recorded")
	})
}

// TestBreakGlassLeaverRevokedOnce: a beneficiary of emergency access who is
// terminated loses it through the leaver's revocation, one item through
// the one revocation path; the after-the-fact denial that follows, while
// that revocation is under way, marks the emergency review REVOKED but
// opens no second revocation, and the connector revokes once.
func TestBreakGlassLeaverRevokedOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newBGScene(t, db, apitest.Options{NoJobs: true})
		o, ctx := s.o, apitest.Sys()
		req := s.emergency(t, s.prodAdmin, nil)
		require.NoError(t, o.env.Workflow.Fulfill(ctx, pulid.ID(req.Items[0].ID), 1, 10))
		require.Equal(t, "FULFILLED", s.item(t, req.Items[0].ID).Status)
		require.Len(t, o.receiver.Deliveries(webhook.TypeGrant), 1)

		terminate(t, o.env, s.tokAdmin, s.b)
		leaver := lvTerminatedItems(t, o.env, s.b)
		require.Len(t, leaver, 1, "the leaver's revocation takes the emergency grant")
		require.Equal(t, s.prodAdmin.ID, leaver[0].EntitlementID)

		p := o.progress(t, s.tokM, req.ID)
		o.env.MustDo(t, s.tokM, decide, map[string]any{"id": p.task(t, "ProdDB users", s.m.Email), "d": "DENY"}, nil)
		require.Equal(t, "REVOKED", *s.item(t, req.Items[0].ID).EmergencyReview, "the denial is recorded")
		denied, err := o.env.Client.RequestItem.Query().Where(
			requestitem.ReasonEQ(enum.ItemReasonBreakGlassDenied),
			requestitem.HasRequestWith(accessrequest.BeneficiaryID(s.b.ID)),
		).Count(ctx)
		require.NoError(t, err)
		require.Zero(t, denied, "no second revocation of a grant the leaver's revocation takes away")
		require.Len(t, lvTerminatedItems(t, o.env, s.b), 1)

		require.NoError(t, o.env.Workflow.Fulfill(ctx, leaver[0].ID, 1, 10))
		require.Len(t, o.receiver.Deliveries(webhook.TypeRevoke), 1, "the connector revokes once")
		gs := o.fulGrants(t, s.tokAdmin, s.prodAdmin.ID)
		require.Len(t, gs, 1)
		require.NotNil(t, gs[0].RevokedAt)
		require.Contains(t, gs[0].RevokeReason, "user terminated")
		revokes, err := o.env.Client.RequestItem.Query().Where(
			requestitem.ActionEQ(enum.RequestActionRevoke),
			requestitem.HasRequestWith(accessrequest.BeneficiaryID(s.b.ID)),
		).Count(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, revokes, "one revocation item in all")
		require.Equal(t, 1, fulCount(o.fulTrail(t, s.tokAdmin, req.ID), "BREAK_GLASS_REVOKED"))
	})
}

package resolvers_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
)

// Separation-of-duties tests (issue 15): conflict sets managed through
// GraphQL, checked at preview, at submission and right before fulfilment,
// and a risk manager's acceptance.

const (
	sodCreate = `mutation($in: CreateSodConflictSetInput!) { createSodConflictSet(input: $in) {
  id name description mode entitlements { name } } }`
	sodUpdate = `mutation($id: ID!, $in: UpdateSodConflictSetInput!) { updateSodConflictSet(id: $id, input: $in) {
  id name mode entitlements { name } } }`
	sodDelete = `mutation($id: ID!) { deleteSodConflictSet(id: $id) }`
	sodList   = `query { sodConflictSets(first: 10) { totalCount edges { node { name mode entitlements { name } } } } }`
	sodAccept = `mutation($set: ID!, $user: ID!, $reason: String!) {
  acceptSodConflict(conflictSetId: $set, userId: $user, reason: $reason) { id reason user { email } acceptedBy { email } } }`
	sodItem = `query($id: ID!) { node(id: $id) { ... on RequestItem { status lastError sodConflicts {
  conflictSetId name mode checkpoint entitlements { name application via }
  acceptance { acceptedByName reason } } } } }`
	sodPreview = `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) {
  items { entitlement { name } sodConflicts { name mode checkpoint entitlements { name via } acceptance { reason } } }
  errors { code message } } }`
)

type sodConflict struct {
	ConflictSetID string
	Name          string
	Mode          string
	Checkpoint    string
	Entitlements  []struct{ Name, Application, Via string }
	Acceptance    *struct{ AcceptedByName, Reason string }
}

type sodItemView struct {
	Status       string
	LastError    string
	SodConflicts []sodConflict
}

// sodScene is a finance organisation: "Create vendor" (Vendors users) and
// "Approve payment" (Payments users) in two applications reviewed by the
// beneficiary's manager, and a risk manager.
type sodScene struct {
	*org
	c                   fulCast
	vendor, payment     *ent.Entitlement
	risk                *ent.User
	tokRisk, tokUser    string
	grantV, grantP, all map[string]any
}

func newSodScene(t *testing.T, db *dbtest.DB) *sodScene {
	t.Helper()
	o := newOrg(t, db)
	s := &sodScene{org: o, c: o.fulCast(t)}
	_, s.vendor = o.app(t, "Vendors", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
	_, s.payment = o.app(t, "Payments", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
	s.risk = o.env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
	s.tokRisk = o.env.Token(t, s.risk)
	s.tokUser = o.env.Token(t, o.env.User(t, "someone@example.com", enum.PlatformRoleUser))
	s.grantV = map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.vendor.ID)}}
	s.grantP = map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.payment.ID)}}
	s.all = map[string]any{"action": "GRANT", "entitlementIds": []string{string(s.vendor.ID), string(s.payment.ID)}}
	return s
}

// set creates a conflict set of the vendor and payment entitlements.
func (s *sodScene) set(t *testing.T, token, mode string) string {
	t.Helper()
	var out struct{ CreateSodConflictSet struct{ ID string } }
	s.env.MustDo(t, token, sodCreate, map[string]any{"in": map[string]any{
		"name": "Vendor and payment", "description": "who creates a vendor does not approve its payments", "mode": mode,
		"entitlementIds": []string{string(s.vendor.ID), string(s.payment.ID)}}}, &out)
	return out.CreateSodConflictSet.ID
}

// hold gives the beneficiary the payment entitlement through a request.
func (s *sodScene) hold(t *testing.T) {
	t.Helper()
	req := s.fulSubmit(t, s.c.tokB, s.grantP)
	s.fulApprove(t, s.c, req.ID, "Payments users")
	s.fulAwait(t, s.c.tokB, req.Items[0].ID, "FULFILLED")
}

func (s *sodScene) item(t *testing.T, token, id string) sodItemView {
	t.Helper()
	var out struct{ Node *sodItemView }
	s.env.MustDo(t, token, sodItem, map[string]any{"id": id}, &out)
	require.NotNil(t, out.Node)
	return *out.Node
}

func (s *sodScene) requests(t *testing.T) int {
	t.Helper()
	n, err := s.env.Client.AccessRequest.Query().Where(accessrequest.BeneficiaryID(s.c.b.ID)).Count(apitest.Sys())
	require.NoError(t, err)
	return n
}

// TestSodConflictSetAdministration: IT admins and risk managers manage the
// sets, with validation; every viewer lists them; every change is audited.
func TestSodConflictSetAdministration(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSodScene(t, db)
		env, aTok := s.env, s.env.Token(t, s.admin)
		in := func(name string, ids ...string) map[string]any {
			return map[string]any{"in": map[string]any{"name": name, "mode": "BLOCK", "entitlementIds": ids}}
		}
		v, p := string(s.vendor.ID), string(s.payment.ID)
		require.Equal(t, "FORBIDDEN", env.Do(t, s.tokUser, sodCreate, in("x", v, p)).Code(), "a USER defines no conflict set")
		require.Equal(t, "INVALID_INPUT", env.Do(t, aTok, sodCreate, in("x", v)).Code(), "one entitlement cannot conflict")
		require.Equal(t, "INVALID_INPUT", env.Do(t, aTok, sodCreate, in("x", v, v)).Code(), "nor twice the same")
		require.Equal(t, "INVALID_INPUT", env.Do(t, aTok, sodCreate, in(" ", v, p)).Code(), "a set has a name")
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, sodCreate, in("x", v, "ent_nope")).Code())

		id := s.set(t, aTok, "WARN")
		require.Equal(t, "CONFLICT", env.Do(t, s.tokRisk, sodCreate, in("Vendor and payment", v, p)).Code(), "names are unique")
		var upd struct {
			UpdateSodConflictSet struct{ Name, Mode string }
		}
		env.MustDo(t, s.tokRisk, sodUpdate, map[string]any{"id": id, "in": map[string]any{"mode": "BLOCK"}}, &upd)
		require.Equal(t, "BLOCK", upd.UpdateSodConflictSet.Mode, "a risk manager manages sets too")
		require.Equal(t, "INVALID_INPUT", env.Do(t, aTok, sodUpdate, map[string]any{"id": id, "in": map[string]any{"entitlementIds": []string{v}}}).Code())

		var list struct {
			SodConflictSets struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Name, Mode   string
						Entitlements []struct{ Name string }
					}
				}
			}
		}
		env.MustDo(t, s.tokUser, sodList, nil, &list)
		require.Equal(t, 1, list.SodConflictSets.TotalCount, "every viewer reads the sets")
		require.ElementsMatch(t, []struct{ Name string }{{"Vendors users"}, {"Payments users"}}, list.SodConflictSets.Edges[0].Node.Entitlements)

		require.Equal(t, "FORBIDDEN", env.Do(t, s.tokUser, sodDelete, map[string]any{"id": id}).Code())
		env.MustDo(t, aTok, sodDelete, map[string]any{"id": id}, nil)
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, sodDelete, map[string]any{"id": id}).Code())

		evs, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.CatalogChanged))).All(apitest.Sys())
		require.NoError(t, err)
		ops := map[string]int{}
		for _, ev := range evs {
			if ev.Data["entity"] == "SodConflictSet" {
				ops[ev.Data["op"].(string)]++
			}
		}
		require.Equal(t, map[string]int{"OpCreate": 1, "OpUpdateOne": 1, "OpDeleteOne": 1}, ops,
			"created, changed and deleted, each audited; refused inputs recorded nothing")
	})
}

// TestSodBlockRefusedThenAccepted: with a BLOCK set, a request that would
// give the beneficiary both entitlements is refused at submission with
// SOD_CONFLICT naming the set and the entitlements, and nothing is
// written; preview shows the conflict. A risk manager's acceptance
// (audited) lets the request through, and reviewers see it as accepted.
func TestSodBlockRefusedThenAccepted(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSodScene(t, db)
		env := s.env
		s.hold(t)
		setID := s.set(t, s.env.Token(t, s.admin), "BLOCK")
		before := s.requests(t)

		var pv struct {
			PreviewAccessRequest struct {
				Items []struct {
					Entitlement  struct{ Name string }
					SodConflicts []sodConflict
				}
				Errors []struct{ Code, Message string }
			}
		}
		env.MustDo(t, s.c.tokB, sodPreview, map[string]any{"in": s.grantV}, &pv)
		require.Len(t, pv.PreviewAccessRequest.Items, 1)
		cs := pv.PreviewAccessRequest.Items[0].SodConflicts
		require.Len(t, cs, 1, "preview shows the conflict on the item")
		require.Equal(t, "BLOCK", cs[0].Mode)
		require.Equal(t, "PREVIEW", cs[0].Checkpoint)
		require.Equal(t, "Vendors users", cs[0].Entitlements[0].Name)
		require.Equal(t, "REQUESTED", cs[0].Entitlements[0].Via)
		require.Equal(t, "Payments users", cs[0].Entitlements[1].Name)
		require.Equal(t, "HELD", cs[0].Entitlements[1].Via)
		require.Len(t, pv.PreviewAccessRequest.Errors, 1)
		require.Equal(t, "SOD_CONFLICT", pv.PreviewAccessRequest.Errors[0].Code, "preview gives the error submission would give")

		res := env.Do(t, s.c.tokB, fulSubmitMutation, map[string]any{"in": s.grantV})
		require.Equal(t, "SOD_CONFLICT", res.Code())
		msg := res.Errors[0].Message
		require.Contains(t, msg, `"Vendor and payment"`)
		require.Contains(t, msg, `"Vendors users" of Vendors`)
		require.Contains(t, msg, `"Payments users" of Payments`)
		require.Equal(t, before, s.requests(t), "a refused request writes nothing")

		// Someone who holds neither may ask for one; both at once conflict.
		res = env.Do(t, s.c.tokM, fulSubmitMutation, map[string]any{"in": s.grantV})
		require.Empty(t, res.Errors, "someone who holds neither is not refused")
		res = env.Do(t, s.tokUser, fulSubmitMutation, map[string]any{"in": s.all})
		require.Equal(t, "SOD_CONFLICT", res.Code(), "two items of one request conflict with each other")

		// Acceptance: risk managers only, never for themselves, with a reason.
		vars := map[string]any{"set": setID, "user": string(s.c.b.ID), "reason": "two-person team until the new hire starts"}
		require.Equal(t, "FORBIDDEN", env.Do(t, s.env.Token(t, s.admin), sodAccept, vars).Code(), "an IT admin accepts no conflict")
		require.Equal(t, "FORBIDDEN", env.Do(t, s.c.tokB, sodAccept, vars).Code())
		require.Equal(t, "FORBIDDEN", env.Do(t, s.tokRisk, sodAccept, map[string]any{"set": setID, "user": string(s.risk.ID), "reason": "x"}).Code(),
			"not for oneself")
		require.Equal(t, "INVALID_INPUT", env.Do(t, s.tokRisk, sodAccept, map[string]any{"set": setID, "user": string(s.c.b.ID), "reason": " "}).Code())
		var acc struct {
			AcceptSodConflict struct {
				ID, Reason string
				AcceptedBy struct{ Email string }
			}
		}
		env.MustDo(t, s.tokRisk, sodAccept, vars, &acc)
		require.Equal(t, "risk@example.com", acc.AcceptSodConflict.AcceptedBy.Email)
		evs, err := env.Client.AuditEvent.Query().
			Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.SodConflictAccepted))).All(apitest.Sys())
		require.NoError(t, err)
		require.Len(t, evs, 1, "the acceptance is audited")
		require.Equal(t, string(s.risk.ID), evs[0].Actor)
		require.Equal(t, vars["reason"], evs[0].Data["reason"])
		require.Equal(t, string(s.c.b.ID), evs[0].Data["user"])

		req := s.fulSubmit(t, s.c.tokB, s.grantV)
		it := s.item(t, s.c.tokM, req.Items[0].ID)
		require.Len(t, it.SodConflicts, 1, "the reviewer sees the conflict")
		require.Equal(t, "SUBMISSION", it.SodConflicts[0].Checkpoint)
		require.NotNil(t, it.SodConflicts[0].Acceptance, "shown as accepted")
		require.Equal(t, vars["reason"], it.SodConflicts[0].Acceptance.Reason)
		require.Equal(t, s.risk.Name, it.SodConflicts[0].Acceptance.AcceptedByName, "and by whom")
		require.Contains(t, s.fulTrail(t, s.c.tokB, req.ID), "SOD_CONFLICT_WARNED")

		s.fulApprove(t, s.c, req.ID, "Vendors users")
		s.fulAwait(t, s.c.tokB, req.Items[0].ID, "FULFILLED")
	})
}

// TestSodWarnShownToReviewers: a WARN conflict lets the request through;
// the item carries it for every reviewer and the trail records it.
func TestSodWarnShownToReviewers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSodScene(t, db)
		setID := s.set(t, s.tokRisk, "WARN")
		var out struct {
			SubmitAccessRequest struct {
				ID    string
				Items []struct{ ID string }
			}
		}
		s.env.MustDo(t, s.c.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id items { id } } }`,
			map[string]any{"in": s.all}, &out)
		require.Len(t, out.SubmitAccessRequest.Items, 2)
		for _, ref := range out.SubmitAccessRequest.Items {
			it := s.item(t, s.c.tokM, ref.ID)
			require.Equal(t, "PENDING_REVIEW", it.Status)
			require.Len(t, it.SodConflicts, 1, "each item of the pair carries the conflict for its reviewers")
			c := it.SodConflicts[0]
			require.Equal(t, setID, c.ConflictSetID)
			require.Equal(t, "WARN", c.Mode)
			require.Nil(t, c.Acceptance)
			require.Len(t, c.Entitlements, 2)
			require.Equal(t, "REQUESTED", c.Entitlements[1].Via, "the other item of the same request")
		}
		actions := s.fulTrail(t, s.c.tokM, out.SubmitAccessRequest.ID)
		require.Equal(t, 2, fulCount(actions, "SOD_CONFLICT_WARNED"), "recorded in the trail: %v", actions)
	})
}

// TestSodConflictCaughtBeforeFulfilment: two requests made before the set
// existed; once the payment entitlement is granted, the vendor item's
// fulfilment is stopped (FAILED with SOD_CONFLICT, audited) and no grant
// reaches the application; after a risk manager's acceptance a retry
// fulfils it.
func TestSodConflictCaughtBeforeFulfilment(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSodScene(t, db)
		reqV := s.fulSubmit(t, s.c.tokB, s.grantV)
		reqP := s.fulSubmit(t, s.c.tokB, s.grantP)
		setID := s.set(t, s.c.tokAdmin, "BLOCK")

		s.fulApprove(t, s.c, reqP.ID, "Payments users")
		s.fulAwait(t, s.c.tokB, reqP.Items[0].ID, "FULFILLED")
		s.fulApprove(t, s.c, reqV.ID, "Vendors users")
		it := s.fulAwait(t, s.c.tokB, reqV.Items[0].ID, "FAILED")
		require.Contains(t, it.LastError, "SOD_CONFLICT")
		require.Contains(t, it.LastError, `"Vendor and payment"`)
		view := s.item(t, s.c.tokM, reqV.Items[0].ID)
		require.Len(t, view.SodConflicts, 1)
		require.Equal(t, "FULFILLMENT", view.SodConflicts[0].Checkpoint)
		require.Equal(t, "HELD", view.SodConflicts[0].Entitlements[1].Via)
		require.Empty(t, fulDeliveries(s.receiver, webhook.TypeGrant)[1:], "only the payment grant reached an application")
		actions := s.fulTrail(t, s.c.tokB, reqV.ID)
		fulRequireOrder(t, actions, "ITEM_APPROVED", "SOD_CONFLICT_BLOCKED", "FULFILLMENT_FAILED")
		require.Zero(t, fulCount(actions, "FULFILLMENT_STARTED"), "provisioning never started: %v", actions)

		s.env.MustDo(t, s.tokRisk, sodAccept, map[string]any{"set": setID, "user": string(s.c.b.ID), "reason": "approved by the CFO"}, nil)
		s.env.MustDo(t, s.c.tokAdmin, `mutation($id: ID!) { retryFulfillment(itemId: $id) { id } }`, map[string]any{"id": reqV.Items[0].ID}, nil)
		s.fulAwait(t, s.c.tokB, reqV.Items[0].ID, "FULFILLED")
		view = s.item(t, s.c.tokM, reqV.Items[0].ID)
		require.Len(t, view.SodConflicts, 2, "the accepted conflict is recorded beside the block")
		require.NotNil(t, view.SodConflicts[1].Acceptance)
		require.Equal(t, "approved by the CFO", view.SodConflicts[1].Acceptance.Reason)
	})
}

// TestSodCheckedBeforeManualFulfilment: an owner recording a manual
// fulfilment that would make a blocking conflict marks the item FAILED
// with SOD_CONFLICT instead of granting it.
func TestSodCheckedBeforeManualFulfilment(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newSodScene(t, db)
		owner := s.env.User(t, "owner@example.com", enum.PlatformRoleUser)
		_, ledger := s.app(t, "Ledger", enum.FulfillmentManual, []*ent.User{owner}, enum.ReviewerKindManager)
		reqL := s.fulSubmit(t, s.c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(ledger.ID)}})
		s.hold(t)
		s.env.MustDo(t, s.tokRisk, sodCreate, map[string]any{"in": map[string]any{"name": "Ledger and payment", "mode": "BLOCK",
			"entitlementIds": []string{string(ledger.ID), string(s.payment.ID)}}}, nil)
		s.fulApprove(t, s.c, reqL.ID, "Ledger users")

		var out struct {
			CompleteManualFulfillment struct{ Status, LastError string }
		}
		s.env.MustDo(t, s.env.Token(t, owner), `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true) { status lastError } }`,
			map[string]any{"id": reqL.Items[0].ID}, &out)
		require.Equal(t, "FAILED", out.CompleteManualFulfillment.Status, "the access is not recorded")
		require.Contains(t, out.CompleteManualFulfillment.LastError, "SOD_CONFLICT")
		require.Empty(t, s.fulGrants(t, s.c.tokB, ledger.ID), "no grant")
		actions := s.fulTrail(t, s.c.tokB, reqL.ID)
		fulRequireOrder(t, actions, "ITEM_APPROVED", "SOD_CONFLICT_BLOCKED", "FULFILLMENT_FAILED")
		require.Zero(t, fulCount(actions, "MANUAL_FULFILLMENT_COMPLETED"), "%v", actions)
	})
}

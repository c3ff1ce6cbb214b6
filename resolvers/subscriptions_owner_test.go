package resolvers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// itemID returns the ID of the item for entitlement.
func (p progress) itemID(t *testing.T, entitlement string) string {
	t.Helper()
	for _, it := range p.Node.Items {
		if it.Entitlement.Name == entitlement {
			return it.ID
		}
	}
	t.Fatalf("no item for %s", entitlement)
	return ""
}

// requireChange reads the next accessRequestChanged event and checks it.
func requireChange(t *testing.T, s *wsSub, step, id, status string) {
	t.Helper()
	var ch liveChange
	s.data(&ch)
	require.Equal(t, liveChange{AccessRequestChanged: struct{ ID, Status string }{id, status}}, ch, "accessRequestChanged after %s", step)
}

// TestSubscriptionManualOwnerReceivesWhileItemWaits: the owner of a MANUAL
// application may read a request while an item of it is APPROVED and waits
// for them to fulfil it by hand (authz.VisibleRequest), so they are in the
// audience of its events. Subscribed then to requestProgress and to
// accessRequestChanged(VISIBLE), they receive the changes that follow: a
// reviewer's decision on another item, and an IT admin's fulfilment of the
// waiting item on the subscription that selects the items' statuses (the
// numbers and the request's status do not move, so requestProgress sends
// nothing). Once nothing waits for them they may no longer read the
// request, and its completion reaches its requester but not them. The owner
// of a MANUAL application the request does not touch receives nothing.
func TestSubscriptionManualOwnerReceivesWhileItemWaits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		owner := env.User(t, "owner@example.com", enum.PlatformRoleUser)
		other := env.User(t, "other@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		_, x := o.app(t, "X", enum.FulfillmentManual, []*ent.User{owner}, enum.ReviewerKindManager)
		_, y := o.app(t, "Y", enum.FulfillmentManual, []*ent.User{owner}, enum.ReviewerKindManager)
		o.app(t, "Z", enum.FulfillmentManual, []*ent.User{other}, enum.ReviewerKindManager)
		rTok, mTok, ownerTok, otherTok := env.Token(t, r), env.Token(t, m), env.Token(t, owner), env.Token(t, other)
		c := func(done, total int, pct float64) completion { return completion{done, total, pct} }

		id := submit(t, env, rTok, x, y)
		rWS := connectWS(t, env.WebsocketURL(), rTok)
		rProgress := &progressStream{sub: rWS.subscribe(subRequestProgress, map[string]any{"id": id})}
		rProgress.expect(t, "subscribing", c(0, 2, 0), c(0, 0, 100))
		p := o.progress(t, rTok, id)
		approve := func(entitlement string) {
			t.Helper()
			env.MustDo(t, mTok, decide, map[string]any{"id": p.task(t, entitlement, "m@example.com"), "d": "APPROVE"}, nil)
		}

		// X is approved and waits for its owner. Once its event is out (the
		// requester has it), the owner may read the request and subscribe.
		approve("X users")
		rProgress.expect(t, "M approves X", c(1, 2, 50), c(0, 0, 100))
		ownerWS := connectWS(t, env.WebsocketURL(), ownerTok)
		ownerProgress := &progressStream{sub: ownerWS.subscribe(subRequestProgress, map[string]any{"id": id})}
		ownerProgress.expect(t, "subscribing", c(1, 2, 50), c(0, 0, 100))
		ownerChanges := ownerWS.subscribe(`subscription($scope: RequestScope) {
			accessRequestChanged(scope: $scope) { id status items { status } } }`, map[string]any{"scope": "VISIBLE"})

		// The other owner may not see the request: NOT_FOUND, then complete.
		otherWS := connectWS(t, env.WebsocketURL(), otherTok)
		denied := otherWS.subscribe(subRequestProgress, map[string]any{"id": id})
		msg := denied.next(10 * time.Second)
		require.Contains(t, []string{"next", "error"}, msg.Type)
		require.Contains(t, string(msg.Payload), "NOT_FOUND")
		require.Equal(t, "complete", denied.next(10*time.Second).Type)
		otherChanges := otherWS.subscribe(subAccessRequestChange, map[string]any{"scope": "VISIBLE"})
		rChanges := rWS.subscribe(subAccessRequestChange, map[string]any{"scope": "MINE"})
		waitSubscribers(t, env, 5)

		// A reviewer's decision on the other item reaches the owner.
		step := "M approves Y"
		approve("Y users")
		ownerProgress.expect(t, step, c(2, 2, 100), c(0, 0, 100))
		require.Equal(t, "FULFILLING", ownerProgress.ev.RequestProgress.Status)
		requireChange(t, ownerChanges, step, id, "FULFILLING")
		ownerProgress.sub.quiet(300 * time.Millisecond)
		ownerChanges.quiet(0)

		// So does an IT admin's fulfilment of X, to the subscription that
		// selects the items' statuses: Y still waits for the owner. The
		// numbers and the request's status stay, so requestProgress sends
		// nothing (checked at the end).
		step = "the IT admin fulfils X"
		env.MustDo(t, env.Token(t, o.admin), `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true) { id } }`,
			map[string]any{"id": p.itemID(t, "X users")}, nil)
		requireChange(t, ownerChanges, step, id, "FULFILLING")

		// The owner fulfils Y: nothing waits for them any more, so the
		// completion reaches the requester but not the owner.
		var done struct{ CompleteManualFulfillment struct{ Status string } }
		env.MustDo(t, ownerTok, `mutation($id: ID!) { completeManualFulfillment(itemId: $id, success: true) { status } }`,
			map[string]any{"id": p.itemID(t, "Y users")}, &done)
		require.Equal(t, "FULFILLED", done.CompleteManualFulfillment.Status)
		for {
			var ch liveChange
			rChanges.data(&ch)
			require.Equal(t, id, ch.AccessRequestChanged.ID)
			if ch.AccessRequestChanged.Status == "COMPLETED" {
				break
			}
		}
		ownerProgress.sub.quiet(300 * time.Millisecond)
		ownerChanges.quiet(0)
		otherChanges.quiet(0)
	})
}

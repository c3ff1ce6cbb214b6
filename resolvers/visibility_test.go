package resolvers_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// TestVisibilityQueryAndEventsAgree checks that the two paths that decide
// who may see a request give the same answer for every viewer and request:
// the query path (accessRequests with scope VISIBLE and TO_REVIEW, and
// nodes, through the privacy policy) and the event path (who receives a
// request's progress event on accessRequestChanged with the same scopes).
// Both read authz's one definition; the table also states what it says, so
// that a change to it made on both paths at once still fails here.
//
// The requests, all made by R: R1 for B1, pending with its beneficiary's
// manager M1; R2, whose manager X reassigned the task to Y; R3, whose
// manager D delegates reviews to DD, so the task went to DD; R4, approved by
// its manager M4 on a MANUAL application owned by OB, so its item waits for
// OB. R1 to R3 are on a MANUAL application owned by OA whose items are not
// approved yet. Submitting is no relation: a service account's token
// submits as the requester, and its minter sees what the account sees.
func TestVisibilityQueryAndEventsAgree(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		user := func(email string) *ent.User { return env.User(t, email, enum.PlatformRoleUser) }
		r, m1, x, y, d, dd, m4, oa, ob, u := user("r@example.com"), user("m1@example.com"), user("x@example.com"),
			user("y@example.com"), user("d@example.com"), user("dd@example.com"), user("m4@example.com"),
			user("oa@example.com"), user("ob@example.com"), user("u@example.com")
		rm := env.User(t, "rm@example.com", enum.PlatformRoleRiskManager)
		b1 := subPerson(t, env, "b1@example.com", m1, nil)
		b2 := subPerson(t, env, "b2@example.com", x, nil)
		b3 := subPerson(t, env, "b3@example.com", d, nil)
		b4 := subPerson(t, env, "b4@example.com", m4, nil)
		_, a := o.app(t, "A", enum.FulfillmentManual, []*ent.User{oa}, enum.ReviewerKindManager)
		_, b := o.app(t, "B", enum.FulfillmentManual, []*ent.User{ob}, enum.ReviewerKindManager)
		tok := func(u *ent.User) string { return env.Token(t, u) }
		rTok := tok(r)
		submitFor := func(beneficiary *ent.User, e *ent.Entitlement) string {
			var out struct{ SubmitAccessRequest struct{ ID string } }
			env.MustDo(t, rTok, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"action": "GRANT", "beneficiaryId": beneficiary.ID,
					"entitlementIds": []string{string(e.ID)}}}, &out)
			return out.SubmitAccessRequest.ID
		}

		r1 := submitFor(b1, a)
		r2 := submitFor(b2, a)
		env.MustDo(t, tok(x), `mutation($id: ID!, $to: ID!) { reassignReviewTask(id: $id, toUserId: $to, comment: "away") { id } }`,
			map[string]any{"id": o.progress(t, rTok, r2).task(t, "A users", "x@example.com"), "to": y.ID}, nil)
		env.MustDo(t, tok(d), rvSetDelegate, map[string]any{"u": dd.ID}, nil)
		r3 := submitFor(b3, a)
		require.NotEmpty(t, o.progress(t, rTok, r3).task(t, "A users", "dd@example.com"))
		r4 := submitFor(b4, b)
		env.MustDo(t, tok(m4), decide, map[string]any{"id": o.progress(t, rTok, r4).task(t, "B users", "m4@example.com"), "d": "APPROVE"}, nil)
		require.Equal(t, "APPROVED", o.progress(t, rTok, r4).item(t, "B users"))
		all := []string{r1, r2, r3, r4}
		none := []string{}
		viewers := []struct {
			who             string
			user            *ent.User
			visible, review []string
			why             string
		}{
			{"requester", r, all, none, "R asked for every request"},
			{"beneficiary", b1, []string{r1}, none, "R1 is for B1"},
			{"pending reviewer", m1, []string{r1}, []string{r1}, "M1 has a PENDING task on R1"},
			{"reassigned reviewer", x, []string{r2}, []string{r2}, "X's REASSIGNED task is still on R2: any task counts"},
			{"new assignee", y, []string{r2}, []string{r2}, "Y has the PENDING task X passed on"},
			{"delegator", d, none, none, "D's task went to DD: D holds no task"},
			{"delegate", dd, []string{r3}, []string{r3}, "DD holds the task on behalf of D"},
			{"reviewer who approved", m4, []string{r4}, []string{r4}, "M4's APPROVED task is on R4"},
			{"owner, item approved", ob, []string{r4}, none, "R4's item of B waits for OB to fulfil it"},
			{"owner, items not approved", oa, none, none, "no item of A is APPROVED: nothing waits for OA"},
			{"unrelated user", u, none, none, "U stands in no relation to any request"},
			{"risk manager", rm, all, none, "risk managers read everything"},
			{"IT admin", o.admin, all, none, "IT admins read everything"},
		}

		// The query path.
		for _, v := range viewers {
			var out struct {
				Visible, ToReview struct {
					Edges []struct{ Node struct{ ID string } }
				}
				Nodes []*struct{ ID string }
			}
			res := env.Do(t, tok(v.user), `query($ids: [ID!]!) {
  visible: accessRequests(first: 100, scope: VISIBLE) { edges { node { id } } }
  toReview: accessRequests(first: 100, scope: TO_REVIEW) { edges { node { id } } }
  nodes(ids: $ids) { ... on AccessRequest { id } } }`, map[string]any{"ids": all})
			for _, e := range res.Errors {
				require.Equal(t, "NOT_FOUND", e.Extensions.Code, "%s: %s", v.who, e.Message)
			}
			require.NoError(t, json.Unmarshal(res.Data, &out))
			ids := func(c struct {
				Edges []struct{ Node struct{ ID string } }
			}) []string {
				out := []string{}
				for _, e := range c.Edges {
					out = append(out, e.Node.ID)
				}
				return out
			}
			require.ElementsMatch(t, v.visible, ids(out.Visible), "%s: accessRequests(VISIBLE): %s", v.who, v.why)
			require.ElementsMatch(t, v.review, ids(out.ToReview), "%s: accessRequests(TO_REVIEW): %s", v.who, v.why)
			nodes := []string{}
			for _, n := range out.Nodes {
				if n != nil {
					nodes = append(nodes, n.ID)
				}
			}
			require.ElementsMatch(t, v.visible, nodes, "%s: nodes: %s", v.who, v.why)
		}

		// The event path. A sentinel request S that every viewer reviews (a
		// DESIGNATED stage) follows the table's events: each subscription has
		// received all of them once S's event arrives.
		var designated []*ent.User
		for _, v := range viewers {
			designated = append(designated, v.user)
		}
		sApp, s := o.app(t, "S", enum.FulfillmentManual, nil)
		_, err := env.Client.ReviewStageTemplate.Create().SetApplication(sApp).SetLevel(1).
			SetReviewerKind(enum.ReviewerKindDesignated).AddDesignatedReviewers(designated...).Save(apitest.Sys())
		require.NoError(t, err)
		env.MustDo(t, tok(d), rvSetDelegate, map[string]any{"u": nil}, nil) // D reviews S in person
		sentinel := submit(t, env, tok(user("s0@example.com")), s)
		// A second server over the same database, started after every change,
		// has computed no event yet: told of the requests as the workflow
		// tells of a change (workflow.Changes), it sends each event once.
		env2 := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		publish := func(ids ...string) {
			t.Helper()
			pids := make([]pulid.ID, len(ids))
			for i, id := range ids {
				pids[i] = pulid.ID(id)
			}
			ctx := context.Background()
			tx, err := db.SQL.BeginTx(ctx, nil)
			require.NoError(t, err)
			require.NoError(t, env2.Feed.NotifyTx(ctx, tx, pids))
			require.NoError(t, tx.Commit())
			env2.Feed.Published(pids...)
		}
		type stream struct {
			scope string
			sub   *wsSub
			got   []string
		}
		streams := make([][]*stream, len(viewers))
		for i, v := range viewers {
			ws := connectWS(t, env2.WebsocketURL(), tok(v.user))
			for _, scope := range []string{"VISIBLE", "TO_REVIEW"} {
				streams[i] = append(streams[i], &stream{scope: scope,
					sub: ws.subscribe(subAccessRequestChange, map[string]any{"scope": scope})})
			}
		}
		waitSubscribers(t, env2, 2*len(viewers))
		publish(all...)
		// The IT admin receives every event: once they have, the table's
		// batch is out, and S's comes after it.
		admin := streams[len(viewers)-1][0]
		for len(admin.got) < len(all) {
			var ch liveChange
			admin.sub.data(&ch)
			admin.got = append(admin.got, ch.AccessRequestChanged.ID)
		}
		publish(sentinel)
		for i, v := range viewers {
			for _, st := range streams[i] {
				for {
					var ch liveChange
					st.sub.data(&ch)
					if ch.AccessRequestChanged.ID == sentinel {
						break
					}
					st.got = append(st.got, ch.AccessRequestChanged.ID)
				}
				want := v.visible
				if st.scope == "TO_REVIEW" {
					want = v.review
				}
				require.ElementsMatch(t, want, st.got, "%s: accessRequestChanged(%s): %s", v.who, st.scope, v.why)
			}
		}
	})
}

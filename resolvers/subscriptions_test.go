package resolvers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

const (
	subRequestProgress = `subscription($id: ID!) { requestProgress(id: $id) {
  request { id } status overall { done total percent } mine { done total percent }
  reviewers { reviewer { email } completion { done total percent } } } }`
	subMyTaskProgress      = `subscription { myTaskProgress { request { id } mine { done total percent } overall { done total percent } } }`
	subAccessRequestChange = `subscription($scope: RequestScope) { accessRequestChanged(scope: $scope) { id status } }`
)

type liveProgress struct {
	RequestProgress struct {
		Request   struct{ ID string }
		Status    string
		Overall   completion
		Mine      completion
		Reviewers []struct {
			Reviewer   struct{ Email string }
			Completion completion
		}
	}
}

type liveTask struct {
	MyTaskProgress struct {
		Request struct{ ID string }
		Mine    completion
		Overall completion
	}
}

type liveChange struct {
	AccessRequestChanged struct{ ID, Status string }
}

// numbers is what a test compares between events: the overall and the
// viewer's completion.
type numbers struct{ overall, mine completion }

// progressStream reads requestProgress events, skipping those whose numbers
// repeat the previous event's (fulfilment moves statuses, not numbers). It
// reads from sub, or from gql, a subscription of gqlgen's client.
type progressStream struct {
	sub  *wsSub
	gql  *client.Subscription
	last *numbers
	ev   liveProgress
}

func (p *progressStream) expect(t *testing.T, step string, overall, mine completion) {
	t.Helper()
	for {
		var ev liveProgress
		if p.gql != nil {
			require.NoError(t, p.gql.Next(&ev), "requestProgress after %s", step)
		} else {
			p.sub.data(&ev)
		}
		got := numbers{ev.RequestProgress.Overall, ev.RequestProgress.Mine}
		p.ev = ev
		if p.last != nil && got == *p.last {
			continue
		}
		p.last = &got
		require.Equal(t, numbers{overall, mine}, got, "requestProgress after %s", step)
		return
	}
}

// taskStream does the same for myTaskProgress.
type taskStream struct {
	sub  *wsSub
	last *numbers
}

func (p *taskStream) expect(t *testing.T, step, requestID string, overall, mine completion) {
	t.Helper()
	for {
		var ev liveTask
		p.sub.data(&ev)
		require.Equal(t, requestID, ev.MyTaskProgress.Request.ID)
		got := numbers{ev.MyTaskProgress.Overall, ev.MyTaskProgress.Mine}
		if p.last != nil && got == *p.last {
			continue
		}
		p.last = &got
		require.Equal(t, numbers{overall, mine}, got, "myTaskProgress after %s", step)
		return
	}
}

// waitSubscribers waits until the server holds n subscriptions, so that no
// event is published before a subscription exists.
func waitSubscribers(t *testing.T, env *apitest.Env, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return env.Feed.Subscribers() == n }, time.Minute, 5*time.Millisecond,
		"want %d subscriptions, have %d", n, env.Feed.Subscribers())
}

// TestSubscriptionsWorkedExample plays DESIGN §4.3's worked example through
// GraphQL while the requester, each reviewer, a risk manager and an outsider
// are subscribed over websockets (graphql-transport-ws), and checks every
// pushed number and that nobody receives what they may not see.
func TestSubscriptionsWorkedExample(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		o1 := env.User(t, "o1@example.com", enum.PlatformRoleUser)
		o2 := env.User(t, "o2@example.com", enum.PlatformRoleUser)
		o3 := env.User(t, "o3@example.com", enum.PlatformRoleUser)
		outsider := env.User(t, "u@example.com", enum.PlatformRoleUser)
		risk := env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		_, x := o.app(t, "X", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		_, y := o.app(t, "Y", enum.FulfillmentDirect, []*ent.User{o2, o3}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)

		tok := map[string]string{}
		ws := map[string]*wsClient{}
		for _, u := range []*ent.User{m, o1, o2, o3, r, outsider, risk} {
			tok[u.Email] = env.Token(t, u)
			ws[u.Email] = connectWS(t, env.WebsocketURL(), tok[u.Email])
		}
		c := func(done, total int, pct float64) completion { return completion{done, total, pct} }

		// Before submission: each reviewer's My Tasks, the requester's own
		// requests, a risk manager's view of everything, and the outsider.
		myTasks := map[string]*taskStream{}
		for _, who := range []string{"m@example.com", "o1@example.com", "o2@example.com", "o3@example.com", "r@example.com", "u@example.com"} {
			myTasks[who] = &taskStream{sub: ws[who].subscribe(subMyTaskProgress, nil)}
		}
		mine := ws["r@example.com"].subscribe(subAccessRequestChange, map[string]any{"scope": "MINE"})
		outsiderChanges := ws["u@example.com"].subscribe(subAccessRequestChange, nil)
		riskChanges := ws["risk@example.com"].subscribe(subAccessRequestChange, map[string]any{"scope": "VISIBLE"})
		waitSubscribers(t, env, 9)

		var sub struct{ SubmitAccessRequest struct{ ID, Status string } }
		env.MustDo(t, tok["r@example.com"], `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id status } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(x.ID), string(y.ID)}, "justification": "worked example"}}, &sub)
		id := sub.SubmitAccessRequest.ID

		step := "submission"
		myTasks["m@example.com"].expect(t, step, id, c(0, 5, 0), c(0, 2, 0))
		for _, who := range []string{"o1@example.com", "o2@example.com", "o3@example.com"} {
			myTasks[who].expect(t, step, id, c(0, 5, 0), c(0, 1, 0)) // WAITING tasks are theirs already
		}
		for _, s := range []*wsSub{mine, riskChanges} {
			var ch liveChange
			s.data(&ch)
			require.Equal(t, liveChange{AccessRequestChanged: struct{ ID, Status string }{id, "PENDING_REVIEW"}}, ch)
		}

		// requestProgress sends the current snapshot at once.
		progress := map[string]*progressStream{}
		for _, who := range []string{"r@example.com", "m@example.com", "o3@example.com"} {
			progress[who] = &progressStream{sub: ws[who].subscribe(subRequestProgress, map[string]any{"id": id})}
		}
		progress["r@example.com"].expect(t, "subscribing", c(0, 5, 0), c(0, 0, 100))
		snap := progress["r@example.com"].ev.RequestProgress
		require.Equal(t, id, snap.Request.ID)
		require.Equal(t, "PENDING_REVIEW", snap.Status)
		reviewers := map[string]completion{}
		for _, rc := range snap.Reviewers {
			reviewers[rc.Reviewer.Email] = rc.Completion
		}
		require.Equal(t, map[string]completion{"m@example.com": c(0, 2, 0), "o1@example.com": c(0, 1, 0),
			"o2@example.com": c(0, 1, 0), "o3@example.com": c(0, 1, 0)}, reviewers)
		progress["m@example.com"].expect(t, "subscribing", c(0, 5, 0), c(0, 2, 0))
		progress["o3@example.com"].expect(t, "subscribing", c(0, 5, 0), c(0, 1, 0))
		// The requester again, through gqlgen's own client (coder/websocket,
		// no subprotocol: the legacy protocol).
		gql := client.New(env.Handler, client.Path("/query")).WebsocketWithPayload(subRequestProgress,
			map[string]any{"authorization": "Bearer " + tok["r@example.com"]}, client.Var("id", id))
		t.Cleanup(func() { _ = gql.Close() })
		viaGqlgen := &progressStream{gql: gql}
		viaGqlgen.expect(t, "subscribing", c(0, 5, 0), c(0, 0, 100))

		// The outsider may not see the request: NOT_FOUND, then complete.
		denied := ws["u@example.com"].subscribe(subRequestProgress, map[string]any{"id": id})
		msg := denied.next(10 * time.Second)
		require.Contains(t, []string{"next", "error"}, msg.Type)
		require.Contains(t, string(msg.Payload), "NOT_FOUND")
		require.Equal(t, "complete", denied.next(10*time.Second).Type)
		waitSubscribers(t, env, 13)

		p := o.progress(t, tok["r@example.com"], id)
		decideAs := func(who, entitlement, d string) {
			t.Helper()
			env.MustDo(t, tok[who], decide, map[string]any{"id": p.task(t, entitlement, who), "d": d}, nil)
		}

		step = "M approves X"
		decideAs("m@example.com", "X users", "APPROVE")
		progress["r@example.com"].expect(t, step, c(1, 5, 20), c(0, 0, 100))
		viaGqlgen.expect(t, step, c(1, 5, 20), c(0, 0, 100))
		progress["m@example.com"].expect(t, step, c(1, 5, 20), c(1, 2, 50))
		progress["o3@example.com"].expect(t, step, c(1, 5, 20), c(0, 1, 0))
		myTasks["m@example.com"].expect(t, step, id, c(1, 5, 20), c(1, 2, 50))
		myTasks["o1@example.com"].expect(t, step, id, c(1, 5, 20), c(0, 1, 0))

		step = "M approves Y"
		decideAs("m@example.com", "Y users", "APPROVE")
		progress["r@example.com"].expect(t, step, c(2, 5, 40), c(0, 0, 100))
		viaGqlgen.expect(t, step, c(2, 5, 40), c(0, 0, 100))
		progress["m@example.com"].expect(t, step, c(2, 5, 40), c(2, 2, 100))
		myTasks["m@example.com"].expect(t, step, id, c(2, 5, 40), c(2, 2, 100))
		myTasks["o2@example.com"].expect(t, "M approves X", id, c(1, 5, 20), c(0, 1, 0))
		myTasks["o2@example.com"].expect(t, step, id, c(2, 5, 40), c(0, 1, 0))

		step = "O2 approves Y"
		decideAs("o2@example.com", "Y users", "APPROVE")
		progress["r@example.com"].expect(t, step, c(4, 5, 80), c(0, 0, 100))
		viaGqlgen.expect(t, step, c(4, 5, 80), c(0, 0, 100))
		progress["o3@example.com"].expect(t, "M approves Y", c(2, 5, 40), c(0, 1, 0))
		progress["o3@example.com"].expect(t, step, c(4, 5, 80), c(1, 1, 100)) // O3's task SKIPPED
		myTasks["o2@example.com"].expect(t, step, id, c(4, 5, 80), c(1, 1, 100))
		myTasks["o3@example.com"].expect(t, "M approves X", id, c(1, 5, 20), c(0, 1, 0))
		myTasks["o3@example.com"].expect(t, "M approves Y", id, c(2, 5, 40), c(0, 1, 0))
		myTasks["o3@example.com"].expect(t, step, id, c(4, 5, 80), c(1, 1, 100))

		step = "O1 denies X"
		decideAs("o1@example.com", "X users", "DENY")
		progress["r@example.com"].expect(t, step, c(5, 5, 100), c(0, 0, 100))
		viaGqlgen.expect(t, step, c(5, 5, 100), c(0, 0, 100))
		myTasks["o1@example.com"].expect(t, "M approves Y", id, c(2, 5, 40), c(0, 1, 0))
		myTasks["o1@example.com"].expect(t, "O2 approves Y", id, c(4, 5, 80), c(0, 1, 0))
		myTasks["o1@example.com"].expect(t, step, id, c(5, 5, 100), c(1, 1, 100))
		myTasks["m@example.com"].expect(t, "O2 approves Y", id, c(4, 5, 80), c(2, 2, 100))
		myTasks["m@example.com"].expect(t, step, id, c(5, 5, 100), c(2, 2, 100))

		// Y is fulfilled: the status moves on with the numbers unchanged.
		rp := progress["r@example.com"]
		for rp.ev.RequestProgress.Status != "PARTIALLY_COMPLETED" {
			var ev liveProgress
			rp.sub.data(&ev)
			require.Equal(t, numbers{c(5, 5, 100), c(0, 0, 100)}, numbers{ev.RequestProgress.Overall, ev.RequestProgress.Mine})
			rp.ev = ev
		}
		reviewers = map[string]completion{}
		for _, rc := range rp.ev.RequestProgress.Reviewers {
			reviewers[rc.Reviewer.Email] = rc.Completion
		}
		require.Equal(t, map[string]completion{"m@example.com": c(2, 2, 100), "o1@example.com": c(1, 1, 100),
			"o2@example.com": c(1, 1, 100), "o3@example.com": c(1, 1, 100)}, reviewers)

		// The requester has no tasks, and the outsider sees nothing.
		myTasks["r@example.com"].sub.quiet(300 * time.Millisecond)
		myTasks["u@example.com"].sub.quiet(0)
		outsiderChanges.quiet(0)
		for {
			var ch liveChange
			riskChanges.data(&ch)
			require.Equal(t, id, ch.AccessRequestChanged.ID)
			if ch.AccessRequestChanged.Status == "PARTIALLY_COMPLETED" {
				break
			}
		}
	})
}

// TestSubscriptionReassignedReviewerLeavesMyTasks checks that the events
// are recomputed for every change: a reviewer whose task is reassigned away
// has no task of theirs on the request any more, so myTaskProgress tells
// them nothing more about it, while the new assignee's does. They may still
// read the request (their REASSIGNED task is on it, authz.Reviewer), so
// their requestProgress goes on, with no task of theirs counted.
func TestSubscriptionReassignedReviewerLeavesMyTasks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		m2 := env.User(t, "m2@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		_, x := o.app(t, "X", enum.FulfillmentManual, []*ent.User{o.admin}, enum.ReviewerKindManager)

		rTok, mTok, m2Tok := env.Token(t, r), env.Token(t, m), env.Token(t, m2)
		mWS, m2WS := connectWS(t, env.WebsocketURL(), mTok), connectWS(t, env.WebsocketURL(), m2Tok)
		mTasks := &taskStream{sub: mWS.subscribe(subMyTaskProgress, nil)}
		m2Tasks := &taskStream{sub: m2WS.subscribe(subMyTaskProgress, nil)}
		waitSubscribers(t, env, 2)
		var sub struct{ SubmitAccessRequest struct{ ID string } }
		env.MustDo(t, rTok, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(x.ID)}}}, &sub)
		id := sub.SubmitAccessRequest.ID
		mTasks.expect(t, "submission", id, completion{0, 1, 0}, completion{0, 1, 0})
		mProgress := &progressStream{sub: mWS.subscribe(subRequestProgress, map[string]any{"id": id})}
		mProgress.expect(t, "subscribing", completion{0, 1, 0}, completion{0, 1, 0})
		waitSubscribers(t, env, 3)

		task := o.progress(t, rTok, id).task(t, "X users", "m@example.com")
		env.MustDo(t, mTok, `mutation($id: ID!, $to: ID!) { reassignReviewTask(id: $id, toUserId: $to, comment: "on leave") { id } }`,
			map[string]any{"id": task, "to": m2.ID}, nil)
		m2Tasks.expect(t, "reassignment", id, completion{0, 1, 0}, completion{0, 1, 0})
		mProgress.expect(t, "reassignment", completion{0, 1, 0}, completion{0, 0, 100})

		newTask := o.progress(t, rTok, id).task(t, "X users", "m2@example.com")
		env.MustDo(t, m2Tok, decide, map[string]any{"id": newTask, "d": "APPROVE"}, nil)
		m2Tasks.expect(t, "approval", id, completion{1, 1, 100}, completion{1, 1, 100})
		mProgress.expect(t, "approval", completion{1, 1, 100}, completion{0, 0, 100})

		mTasks.sub.quiet(300 * time.Millisecond)
	})
}

// TestSubscriptionEventsFollowCommit checks that a change that fails (and
// rolls back) sends nothing, and that an event reads committed data.
func TestSubscriptionRollbackSendsNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		other := env.User(t, "other@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		_, x := o.app(t, "X", enum.FulfillmentManual, []*ent.User{o.admin}, enum.ReviewerKindManager)
		rTok, mTok := env.Token(t, r), env.Token(t, m)
		var sub struct{ SubmitAccessRequest struct{ ID string } }
		env.MustDo(t, rTok, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(x.ID)}}}, &sub)
		id := sub.SubmitAccessRequest.ID
		task := o.progress(t, rTok, id).task(t, "X users", "m@example.com")

		p := &progressStream{sub: connectWS(t, env.WebsocketURL(), rTok).subscribe(subRequestProgress, map[string]any{"id": id})}
		p.expect(t, "subscribing", completion{0, 1, 0}, completion{0, 0, 100})

		// All or nothing: one task the viewer may not decide fails the batch.
		res := env.Do(t, env.Token(t, other), `mutation($ids: [ID!]!) { decideReviewTasks(ids: $ids, decision: APPROVE) { id } }`,
			map[string]any{"ids": []string{task}})
		require.NotEmpty(t, res.Errors)
		res = env.Do(t, mTok, `mutation($ids: [ID!]!) { decideReviewTasks(ids: $ids, decision: APPROVE) { id } }`,
			map[string]any{"ids": []string{task, "tsk_01J00000000000000000000000"}})
		require.NotEmpty(t, res.Errors)
		p.sub.quiet(300 * time.Millisecond)

		env.MustDo(t, mTok, decide, map[string]any{"id": task, "d": "APPROVE"}, nil)
		p.expect(t, "approval", completion{1, 1, 100}, completion{0, 0, 100})
		raw, err := json.Marshal(p.ev)
		require.NoError(t, err)
		require.Contains(t, string(raw), id)
	})
}

// TestSubscriptionsSendOnlyWhatChanged: one approval of a WEBHOOK item
// moves the request through FULFILLING (decision, then the fulfilment
// starting) to COMPLETED. Each subscriber receives an event only when
// something it selected changed: requestProgress { status, numbers } gets
// FULFILLING once and COMPLETED once; myTaskProgress { request { id }, mine,
// overall } gets the decision once (the fulfilment moves no number);
// accessRequestChanged { id status } gets FULFILLING once and COMPLETED
// once; a reader that selects the items' statuses gets the fulfilment
// starting too. The fulfilment is held at the connector until that reader
// has seen it, so the three changes reach the feed one by one; a second
// request, submitted last, is the next event where nothing else may come.
func TestSubscriptionsSendOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m, _, r, _ := o.cast(t)
		_, x := o.app(t, "X", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		_, y := o.app(t, "Y", enum.FulfillmentDirect, nil, enum.ReviewerKindManager)
		rTok, mTok, aTok := env.Token(t, r), env.Token(t, m), env.Token(t, o.admin)
		release := make(chan struct{})
		o.receiver.BeforeAnswer(func(ctx context.Context, _ webhook.Payload, _ bool) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		})
		rWS := connectWS(t, env.WebsocketURL(), rTok)
		changes := rWS.subscribe(subAccessRequestChange, map[string]any{"scope": "MINE"})
		tasks := connectWS(t, env.WebsocketURL(), mTok).subscribe(subMyTaskProgress, nil)
		items := connectWS(t, env.WebsocketURL(), aTok).subscribe(
			`subscription { accessRequestChanged { id status items { status } } }`, nil)
		waitSubscribers(t, env, 3)
		id := submit(t, env, rTok, x)
		prog := rWS.subscribe(subRequestProgress, map[string]any{"id": id})
		var snap liveProgress
		prog.data(&snap)
		require.Equal(t, "PENDING_REVIEW", snap.RequestProgress.Status)

		task := o.progress(t, rTok, id).task(t, "X users", "m@example.com")
		env.MustDo(t, mTok, decide, map[string]any{"id": task, "d": "APPROVE"}, nil)
		for { // the reader of item statuses sees the fulfilment start
			var ev struct {
				AccessRequestChanged struct{ Items []struct{ Status string } }
			}
			items.data(&ev)
			if ev.AccessRequestChanged.Items[0].Status == "FULFILLING" {
				break
			}
		}
		close(release)
		require.Eventually(t, func() bool {
			req, err := env.Client.AccessRequest.Get(apitest.Sys(), pulid.ID(id))
			return err == nil && req.Status == enum.RequestStatusCompleted
		}, fulWait, 10*time.Millisecond)
		second := submit(t, env, rTok, y)

		var statuses []string
		for len(statuses) < 2 {
			var ev liveProgress
			prog.data(&ev)
			statuses = append(statuses, ev.RequestProgress.Status)
			require.Equal(t, completion{1, 1, 100}, ev.RequestProgress.Overall)
		}
		require.Equal(t, []string{"FULFILLING", "COMPLETED"}, statuses, "requestProgress")

		var got []string
		for {
			var ev liveChange
			changes.data(&ev)
			got = append(got, ev.AccessRequestChanged.ID[:4]+" "+ev.AccessRequestChanged.Status)
			if ev.AccessRequestChanged.ID == second {
				break
			}
		}
		require.Equal(t, []string{"req_ PENDING_REVIEW", "req_ FULFILLING", "req_ COMPLETED", "req_ PENDING_REVIEW"}, got, "accessRequestChanged")

		var mine []string
		for {
			var ev liveTask
			tasks.data(&ev)
			p := ev.MyTaskProgress
			mine = append(mine, fmt.Sprintf("%v %d/%d", p.Request.ID == second, p.Mine.Done, p.Mine.Total))
			if p.Request.ID == second {
				break
			}
		}
		require.Equal(t, []string{"false 0/1", "false 1/1", "true 0/1"}, mine, "myTaskProgress")
	})
}

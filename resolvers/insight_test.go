package resolvers_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/insight"
)

// The reviewer insight tests (issue 15, item 4): peer coverage on a seeded
// cohort, small cohorts hidden, past holdings, days since start, who sees
// them, and the statements a page of items costs.

const insFields = `id
  peerCoverage { cohort name hidden size holders percent summary }
  heldBefore { grantedAt endedAt reason timesEnded }
  daysSinceBeneficiaryStart
  entitlement { privileged }`

type insCoverage struct {
	Cohort  string
	Name    string
	Hidden  bool
	Size    *int
	Holders *int
	Percent *float64
	Summary string
}

type insItem struct {
	ID           string
	PeerCoverage []insCoverage
	HeldBefore   *struct {
		GrantedAt  time.Time
		EndedAt    time.Time
		Reason     string
		TimesEnded int
	}
	DaysSinceBeneficiaryStart *int
	Entitlement               struct{ Privileged bool }
}

// insItemAs reads an item through node as the viewer of token; nil when
// the viewer does not see it.
func insItemAs(t *testing.T, env *apitest.Env, token, id string) *insItem {
	t.Helper()
	var out struct{ Node *insItem }
	env.MustDo(t, token, `query($id: ID!) { node(id: $id) { ... on RequestItem { `+insFields+` } } }`,
		map[string]any{"id": id}, &out)
	return out.Node
}

// insPerson creates an active user with a job title, a department and a
// manager (each optional).
func insPerson(t *testing.T, env *apitest.Env, email string, title *ent.JobTitle, department string, manager *ent.User) *ent.User {
	t.Helper()
	u := subPerson(t, env, email, manager, title)
	require.NoError(t, env.Client.User.UpdateOne(u).SetDepartment(department).Exec(apitest.Sys()))
	return u
}

func TestReviewerInsight(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		now := env.Clock.Now()
		analyst, err := env.Client.JobTitle.Create().SetName("Data Analyst").Save(ctx)
		require.NoError(t, err)
		accountant, err := env.Client.JobTitle.Create().SetName("Accountant").Save(ctx)
		require.NoError(t, err)
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		boss := env.User(t, "boss@example.com", enum.PlatformRoleUser)
		app, e := o.app(t, "Ledger", enum.FulfillmentManual, nil)
		_, other := o.app(t, "Wiki", enum.FulfillmentManual, nil)

		// The beneficiary B: a Data Analyst in Finance reporting to M, with
		// R (in Sales) as M's only other report.
		b := insPerson(t, env, "b@example.com", analyst, "Finance", m)
		r := insPerson(t, env, "r@example.com", nil, "Sales", m)
		// 9 other Data Analysts in Finance, 7 of whom hold the entitlement.
		for i := range 9 {
			u := insPerson(t, env, fmt.Sprintf("analyst%d@example.com", i), analyst, "Finance", boss)
			if i < 7 {
				subHold(t, env, u, e, nil)
			}
		}
		// 21 accountants in Finance, 5 of whom hold it: 12 of 30 in Finance.
		for i := range 21 {
			u := insPerson(t, env, fmt.Sprintf("accountant%d@example.com", i), accountant, "Finance", boss)
			if i < 5 {
				subHold(t, env, u, e, nil)
			}
			if i < 10 {
				subHold(t, env, u, other, nil) // holdings of another entitlement count nowhere
			}
		}
		// Counted nowhere: a terminated analyst holding it, an analyst whose
		// grant ended.
		gone := insPerson(t, env, "gone@example.com", analyst, "Finance", boss)
		subHold(t, env, gone, e, nil)
		subSetStatus(t, env, gone, enum.UserStatusTerminated)
		// B held it twice; the second holding ended last.
		first := subHold(t, env, b, e, nil)
		require.NoError(t, first.Update().SetGrantedAt(now.AddDate(0, 0, -100)).
			SetRevokedAt(now.AddDate(0, 0, -90)).SetRevokeReason("expired").Exec(ctx))
		second := subHold(t, env, b, e, nil)
		secondEnd := now.AddDate(0, 0, -50).UTC().Truncate(time.Second)
		require.NoError(t, second.Update().SetGrantedAt(now.AddDate(0, 0, -60)).
			SetRevokedAt(secondEnd).SetRevokeReason("revoked by an access review").Exec(ctx))

		// The start date is the IT admin's to set.
		start := now.AddDate(0, 0, -40)
		adminTok := env.Token(t, o.admin)
		env.MustDo(t, adminTok, `mutation($id: ID!, $d: Time!) { updateUser(id: $id, input: {startDate: $d}) { startDate } }`,
			map[string]any{"id": b.ID, "d": start.Format(time.RFC3339)}, nil)
		require.Equal(t, "FORBIDDEN", env.Do(t, env.Token(t, r), `mutation($id: ID!, $d: Time!) {
		  updateUser(id: $id, input: {startDate: $d}) { id } }`, map[string]any{"id": b.ID, "d": start.Format(time.RFC3339)}).Code(),
			"a USER may not set anyone's start date")

		req := subSubmit(t, env, env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(e)})
		itemID := req.Items[0].ID
		_ = app

		// The reviewer M reads it from their task.
		var tasks struct {
			MyTasks struct {
				Edges []struct {
					Node struct{ Stage struct{ Item insItem } }
				}
			}
		}
		env.MustDo(t, env.Token(t, m), `{ myTasks { edges { node { stage { item { `+insFields+` } } } } } }`, nil, &tasks)
		require.Len(t, tasks.MyTasks.Edges, 1)
		in := tasks.MyTasks.Edges[0].Node.Stage.Item
		require.Equal(t, itemID, in.ID)
		require.Len(t, in.PeerCoverage, 3)

		title := in.PeerCoverage[0]
		require.Equal(t, "JOB_TITLE", title.Cohort)
		require.Equal(t, "Data Analyst", title.Name)
		require.False(t, title.Hidden)
		require.Equal(t, 9, *title.Size, "the beneficiary and the terminated analyst are not peers")
		require.Equal(t, 7, *title.Holders)
		require.InDelta(t, 700.0/9, *title.Percent, 1e-9)
		require.Equal(t, "7 of 9 Data Analysts hold this", title.Summary)

		dept := in.PeerCoverage[1]
		require.Equal(t, "DEPARTMENT", dept.Cohort)
		require.Equal(t, "Finance", dept.Name)
		require.Equal(t, 30, *dept.Size)
		require.Equal(t, 12, *dept.Holders)
		require.Equal(t, "12 of 30 people in Finance hold this", dept.Summary)

		team := in.PeerCoverage[2]
		require.Equal(t, "MANAGER", team.Cohort)
		require.Equal(t, "m@example.com", team.Name)
		require.True(t, team.Hidden, "R is M's only other report")
		require.Nil(t, team.Size)
		require.Nil(t, team.Holders)
		require.Nil(t, team.Percent)
		require.Equal(t, "Fewer than 3 people reporting to m@example.com: not shown", team.Summary)

		require.NotNil(t, in.HeldBefore, "the reviewer is told B held it")
		require.Equal(t, 2, in.HeldBefore.TimesEnded)
		require.Equal(t, "revoked by an access review", in.HeldBefore.Reason)
		require.WithinDuration(t, secondEnd, in.HeldBefore.EndedAt, time.Second, "the last ended holding")
		require.NotNil(t, in.DaysSinceBeneficiaryStart)
		require.Equal(t, 40, *in.DaysSinceBeneficiaryStart)
		require.False(t, in.Entitlement.Privileged)

		// The requester sees the item and its peer coverage, but is not told
		// what B held: R may not read B's grants.
		asR := insItemAs(t, env, env.Token(t, r), itemID)
		require.NotNil(t, asR)
		require.Equal(t, in.PeerCoverage, asR.PeerCoverage)
		require.Nil(t, asR.HeldBefore)
		require.Equal(t, 40, *asR.DaysSinceBeneficiaryStart)

		// B and the IT admin read B's holdings.
		require.NotNil(t, insItemAs(t, env, env.Token(t, b), itemID).HeldBefore)
		require.NotNil(t, insItemAs(t, env, adminTok, itemID).HeldBefore)

		// Someone with no part in the request sees neither item nor insight.
		stranger := env.User(t, "stranger@example.com", enum.PlatformRoleUser)
		require.Nil(t, insItemAs(t, env, env.Token(t, stranger), itemID))

		// Once B holds it, a REVOKE item's coverage still leaves B out, and
		// a new peer holding it counts.
		subHold(t, env, b, e, nil)
		newcomer := insPerson(t, env, "newcomer@example.com", analyst, "Finance", boss)
		subHold(t, env, newcomer, e, nil)
		again := insItemAs(t, env, adminTok, itemID)
		require.Equal(t, "8 of 10 Data Analysts hold this", again.PeerCoverage[0].Summary)
		require.Equal(t, "13 of 31 people in Finance hold this", again.PeerCoverage[1].Summary)

		// A beneficiary with no job title, department or manager has no
		// cohort; with no start date, no days.
		loner := env.User(t, "loner@example.com", enum.PlatformRoleUser)
		lonerReq := subSubmit(t, env, env.Token(t, loner), map[string]any{"action": "GRANT", "entitlementIds": subIDs(e)})
		alone := insItemAs(t, env, env.Token(t, loner), lonerReq.Items[0].ID)
		require.Empty(t, alone.PeerCoverage)
		require.Nil(t, alone.HeldBefore)
		require.Nil(t, alone.DaysSinceBeneficiaryStart)
	})
}

// TestInsightStatementsDoNotGrowWithRows: the insight of a page of items
// costs the same two statements for 5 and for 50 rows, whether an IT admin
// reads a page of requests or a reviewer (a USER, whose items are read
// through the visibility filter) a page of tasks.
func TestInsightStatementsDoNotGrowWithRows(t *testing.T) {
	t.Parallel()
	const tasksQuery = `query($n: Int!) { myTasks(first: $n, status: ALL) { edges { node {
	  id status stage { level item { id status entitlement { name } %s } } } } } }`
	const insight = `peerCoverage { cohort size holders summary } heldBefore { endedAt } daysSinceBeneficiaryStart`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.NewWith(t, db, apitest.Options{NoJobs: true})
		ctx := apitest.Sys()
		admin := seedRequests(t, env, 60)
		// Give the people cohorts, start dates and holdings.
		title, err := env.Client.JobTitle.Create().SetName("Engineer").Save(ctx)
		require.NoError(t, err)
		users, err := env.Client.User.Query().All(ctx)
		require.NoError(t, err)
		ents, err := env.Client.Entitlement.Query().All(ctx)
		require.NoError(t, err)
		for i, u := range users {
			require.NoError(t, u.Update().SetJobTitle(title).SetDepartment(fmt.Sprintf("Dept %d", i%2)).
				SetStartDate(env.Clock.Now().AddDate(0, 0, -i)).Exec(ctx))
			g := subHold(t, env, u, ents[i%len(ents)], nil)
			if i%3 == 0 {
				require.NoError(t, g.Update().SetRevokedAt(env.Clock.Now()).Exec(ctx))
			}
		}
		reviewer, err := env.Client.User.Query().Where().All(ctx)
		require.NoError(t, err)
		var userTok string
		for _, u := range reviewer {
			if u.Email == "user1@example.com" {
				userTok = env.Token(t, u)
			}
		}
		require.NotEmpty(t, userTok)
		adminTok := env.Token(t, admin)

		count := func(token, query string, n int) int64 {
			env.Statements.Reset()
			var out map[string]any
			env.MustDo(t, token, query, map[string]any{"n": n}, &out)
			return env.Statements.Count()
		}
		requestsWith := `query($n: Int!) { accessRequests(first: $n) { edges { node { id items { id ` + insight + ` } } } } }`
		requestsWithout := `query($n: Int!) { accessRequests(first: $n) { edges { node { id items { id } } } } }`
		for _, tc := range []struct {
			name, token, with, without string
		}{
			{"IT admin, page of requests", adminTok, requestsWith, requestsWithout},
			{"reviewer, page of tasks", userTok, fmt.Sprintf(tasksQuery, insight), fmt.Sprintf(tasksQuery, "")},
		} {
			five, fifty := count(tc.token, tc.with, 5), count(tc.token, tc.with, 50)
			base5, base50 := count(tc.token, tc.without, 5), count(tc.token, tc.without, 50)
			t.Logf("%s: %d statements for 5 rows, %d for 50 (without insight: %d, %d)", tc.name, five, fifty, base5, base50)
			require.Equal(t, five, fifty, tc.name)
			require.Equal(t, base5+2, five, "%s: the insight costs two statements", tc.name)
			require.Equal(t, base50+2, fifty, "%s: the insight costs two statements", tc.name)
		}

		// And the answer is there: every item of a reviewer's page has its
		// job-title cohort (6 users, the beneficiary left out: 5 peers).
		var out struct {
			MyTasks struct {
				Edges []struct {
					Node struct {
						Stage struct {
							Item struct {
								PeerCoverage []struct {
									Cohort string
									Size   *int
								}
								DaysSinceBeneficiaryStart *int
							}
						}
					}
				}
			}
		}
		env.MustDo(t, userTok, fmt.Sprintf(tasksQuery, insight), map[string]any{"n": 50}, &out)
		require.Len(t, out.MyTasks.Edges, 50)
		for _, e := range out.MyTasks.Edges {
			it := e.Node.Stage.Item
			require.NotEmpty(t, it.PeerCoverage)
			require.Equal(t, "JOB_TITLE", it.PeerCoverage[0].Cohort)
			require.NotNil(t, it.DaysSinceBeneficiaryStart)
		}
	})
}

// TestInsightVisibilityFilter asks internal/insight itself, past the
// GraphQL layer's privacy, for an item's insight as each kind of viewer:
// its own filter gives peer coverage to whoever sees the item (authz's
// VisibleItems) and past holdings to those authz.SeesPastHoldings names (a
// reviewer: a task on the request), nothing to anyone else.
func TestInsightVisibilityFilter(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env, ctx := o.env, apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		_, e := o.app(t, "Ledger", enum.FulfillmentManual, nil)
		b := insPerson(t, env, "b@example.com", nil, "Finance", m)
		r := insPerson(t, env, "r@example.com", nil, "Finance", m)
		for i := range 3 {
			subHold(t, env, insPerson(t, env, fmt.Sprintf("peer%d@example.com", i), nil, "Finance", nil), e, nil)
		}
		past := subHold(t, env, b, e, nil)
		require.NoError(t, past.Update().SetRevokedAt(env.Clock.Now().AddDate(0, 0, -5)).SetRevokeReason("expired").Exec(ctx))
		req := subSubmit(t, env, env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": b.ID, "entitlementIds": subIDs(e)})
		itemID := pulid.ID(req.Items[0].ID)
		stranger := env.User(t, "stranger@example.com", enum.PlatformRoleUser)
		risk := env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)

		reader := insight.NewReader(env.Client)
		as := func(u *ent.User) *insight.Insight {
			t.Helper()
			byID, err := reader.Items(authz.NewContext(context.Background(), &authz.Viewer{UserID: u.ID, Role: u.PlatformRole}), []pulid.ID{itemID})
			require.NoError(t, err)
			return byID[itemID]
		}
		for _, tc := range []struct {
			who        string
			viewer     *ent.User
			coverage   bool
			heldBefore bool
			why        string
		}{
			{"reviewer", m, true, true, "the beneficiary's manager reviews the request and decides on it"},
			{"beneficiary", b, true, true, "the beneficiary reads their own grants"},
			{"requester", r, true, false, "the requester sees the item but may not read the beneficiary's grants"},
			{"risk manager", risk, true, true, "risk managers read every item and grant"},
			{"IT admin", o.admin, true, true, "IT admins read every item and grant"},
			{"stranger", stranger, false, false, "someone with no part in the request sees no item, so no insight"},
		} {
			in := as(tc.viewer)
			require.NotNil(t, in, tc.who)
			require.Equal(t, tc.coverage, len(in.Coverage) > 0, "%s: peer coverage: %s", tc.who, tc.why)
			if tc.coverage {
				require.Equal(t, "3 of 4 people in Finance hold this", in.Coverage[0].Summary, tc.who)
			}
			require.Equal(t, tc.heldBefore, in.HeldBefore != nil, "%s: held before: %s", tc.who, tc.why)
		}
		byID, err := reader.Items(context.Background(), []pulid.ID{itemID})
		require.NoError(t, err)
		require.Empty(t, byID[itemID].Coverage, "no viewer, no insight")
	})
}

// TestInsightStatementsPerEvent: a subscription event that shows the
// insight of a request's items costs the same statements for one item as
// for four (two for the insight, not two per item).
func TestInsightStatementsPerEvent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		r := insPerson(t, env, "r@example.com", nil, "Finance", m)
		for i := range 3 {
			insPerson(t, env, fmt.Sprintf("peer%d@example.com", i), nil, "Finance", nil)
		}
		var ents []*ent.Entitlement
		for i := range 5 {
			_, e := o.app(t, fmt.Sprintf("App %d", i), enum.FulfillmentManual, nil)
			ents = append(ents, e)
		}
		rTok := env.Token(t, r)
		sub := connectWS(t, env.WebsocketURL(), env.Token(t, o.admin)).subscribe(`subscription { accessRequestChanged {
		  id status items { id peerCoverage { summary } heldBefore { endedAt } daysSinceBeneficiaryStart } } }`, nil)
		waitSubscribers(t, env, 1)
		type event struct {
			AccessRequestChanged struct {
				ID, Status string
				Items      []struct{ PeerCoverage []struct{ Summary string } }
			}
		}
		// next reads events until one of request id in status.
		next := func(id, status string) event {
			for {
				var ev event
				sub.data(&ev)
				if ev.AccessRequestChanged.ID == id && ev.AccessRequestChanged.Status == status {
					return ev
				}
			}
		}
		one := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(ents[0])})
		four := subSubmit(t, env, rTok, map[string]any{"action": "GRANT", "entitlementIds": subIDs(ents[1:]...)})
		next(one.ID, "PENDING_REVIEW")
		next(four.ID, "PENDING_REVIEW")
		rCtx := authz.NewContext(context.Background(), &authz.Viewer{UserID: r.ID, Role: enum.PlatformRoleUser})
		cancel := func(id string, items int) int64 {
			env.Statements.Reset()
			_, err := env.Workflow.Cancel(rCtx, pulid.ID(id), "")
			require.NoError(t, err)
			ev := next(id, "CANCELLED")
			require.Len(t, ev.AccessRequestChanged.Items, items)
			for _, it := range ev.AccessRequestChanged.Items {
				require.Equal(t, "0 of 3 people in Finance hold this", it.PeerCoverage[0].Summary)
			}
			return env.Statements.Count()
		}
		ofOne, ofFour := cancel(one.ID, 1), cancel(four.ID, 4)
		t.Logf("statements of an event: %d with one item, %d with four", ofOne, ofFour)
		require.Equal(t, ofOne, ofFour)
	})
}

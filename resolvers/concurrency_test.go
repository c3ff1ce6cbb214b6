package resolvers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
)

// Concurrency tests for DESIGN §4.2: many reviewers deciding one stage at
// the same instant advance it exactly once and fulfil the item once, on both
// databases with River running; and the SQL cost of a page of requests with
// their completions does not grow with the page size (§4.3).

// concSize is one size of the decision stress.
type concSize struct {
	name      string
	reviewers int
	trials    int
}

// concRule is a stage rule under test and what a trial must end with.
type concRule struct {
	name      string
	rule      enum.StageRule
	quorum    int
	approvals func(reviewers int) int // tasks APPROVED; the others are SKIPPED
}

var concRules = []concRule{
	{name: "ALL", rule: enum.StageRuleAll, approvals: func(n int) int { return n }},
	{name: "QUORUM-5", rule: enum.StageRuleQuorum, quorum: 5, approvals: func(int) int { return 5 }},
}

// TestConcurrentDecisions: every designated reviewer of a one-stage item
// decides at the same instant (goroutines released by closing a channel),
// trial after trial. The stage advances exactly once, the item is approved
// once and fulfilled by one job with one grant delivered; the only errors
// are CONFLICTs for QUORUM deciders who came after the quorum (their tasks
// were SKIPPED). PostgreSQL runs 32 reviewers × 20 trials per rule; SQLite
// runs 8 × 10 (a process's state changes take turns, IMMEDIATE transactions
// serialise writers and River works on its own connection: no "database is
// locked" may surface, in answers or in jobs, however loaded the machine).
// The two rules run side by side (on SQLite one after the other), trials
// one after the other.
func TestConcurrentDecisions(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
		t.Cleanup(hc.CloseIdleConnections)
		sizes := []concSize{{"32x20", 32, 20}}
		if db.Name == "sqlite" {
			sizes = []concSize{{"8x10", 8, 10}, {"32x20", 32, 20}}
		}
		for _, size := range sizes {
			t.Run(size.name, func(t *testing.T) {
				if size.reviewers == 32 && db.Name == "sqlite" {
					t.Skip("the 32-reviewer × 20-trial stress needs PostgreSQL's row locks to be meaningful and " +
						"fast; SQLite serialises every writer, and the 8 × 10 run covers it")
				}
				for _, rule := range concRules {
					t.Run(rule.name, func(t *testing.T) {
						// Two requests, so the rules do not contend with each
						// other on PostgreSQL. On SQLite they take turns: the
						// test's own writes (users, applications) do not take
						// turns with the server's writers, and one rule's set-up
						// waited past the busy timeout on the other's trials on
						// a loaded machine.
						if db.Name != "sqlite" {
							t.Parallel()
						}
						concStress(t, o, db, hc, size, rule)
					})
				}
			})
		}
	})
}

// concStress runs the trials of one size and rule, then checks what they
// left in the database, the audit trails, the job table and the receiver.
func concStress(t *testing.T, o *org, db *dbtest.DB, hc *http.Client, size concSize, rule concRule) {
	env := o.env
	ctx := apitest.Sys()
	prefix := fmt.Sprintf("%s-%s", size.name, rule.name)

	reviewers := make([]*ent.User, size.reviewers)
	tokens := map[pulid.ID]string{}
	for i := range reviewers {
		reviewers[i] = env.User(t, fmt.Sprintf("%s-rev%02d@example.com", prefix, i), enum.PlatformRoleUser)
		tokens[reviewers[i].ID] = env.Token(t, reviewers[i])
	}
	app, err := env.Client.Application.Create().SetName(prefix).SetFulfillment(enum.FulfillmentDirect).
		SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(o.receiver.Config()).Save(ctx)
	require.NoError(t, err)
	e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(prefix).SetName(prefix).Save(ctx)
	require.NoError(t, err)
	tpl := env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).
		SetReviewerKind(enum.ReviewerKindDesignated).SetRule(rule.rule).AddDesignatedReviewers(reviewers...)
	if rule.quorum > 0 {
		tpl.SetQuorum(rule.quorum)
	}
	_, err = tpl.Save(ctx)
	require.NoError(t, err)

	approvals := rule.approvals(size.reviewers)
	var (
		requests  []pulid.ID
		items     []pulid.ID
		durations []time.Duration
	)
	for trial := range size.trials {
		b := env.User(t, fmt.Sprintf("%s-b%02d@example.com", prefix, trial), enum.PlatformRoleUser)
		req := o.fulSubmit(t, env.Token(t, b), map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}})
		requests = append(requests, pulid.ID(req.ID))
		items = append(items, pulid.ID(req.Items[0].ID))
		tasks, err := env.Client.ReviewTask.Query().Where(reviewtask.RequestID(pulid.ID(req.ID))).All(ctx)
		require.NoError(t, err)
		require.Len(t, tasks, size.reviewers)

		start := make(chan struct{})
		results := make([]concResult, len(tasks))
		var wg sync.WaitGroup
		for i, task := range tasks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = concDecide(hc, env.URL, tokens[task.ReviewerID], string(task.ID))
			}()
		}
		began := time.Now()
		close(start)
		wg.Wait()
		durations = append(durations, time.Since(began))

		ok, conflicts := 0, 0
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Fatalf("trial %d, task %s: %v", trial, tasks[i].ID, r.err)
			case r.code == "":
				ok++
			case r.code == "CONFLICT" && rule.rule == enum.StageRuleQuorum:
				conflicts++
			default:
				t.Fatalf("trial %d, task %s: unexpected error %s: %s", trial, tasks[i].ID, r.code, r.message)
			}
		}
		require.Equal(t, approvals, ok, "trial %d: successful decisions", trial)
		require.Equal(t, size.reviewers-approvals, conflicts, "trial %d: late QUORUM deciders get CONFLICT", trial)

		after, err := env.Client.ReviewTask.Query().Where(reviewtask.RequestID(pulid.ID(req.ID))).All(ctx)
		require.NoError(t, err)
		statuses := map[enum.TaskStatus]int{}
		for _, task := range after {
			statuses[task.Status]++
		}
		want := map[enum.TaskStatus]int{enum.TaskStatusApproved: approvals}
		if approvals < size.reviewers {
			want[enum.TaskStatusSkipped] = size.reviewers - approvals
		}
		require.Equal(t, want, statuses, "trial %d: task statuses", trial)
	}
	slices.Sort(durations)
	var total time.Duration
	for _, d := range durations {
		total += d
	}
	t.Logf("%s on %s: %d trials of %d simultaneous decisions: min %s, median %s, max %s, total %s",
		rule.name, db.Name, size.trials, size.reviewers,
		durations[0].Round(time.Millisecond), durations[len(durations)/2].Round(time.Millisecond),
		durations[len(durations)-1].Round(time.Millisecond), total.Round(time.Millisecond))

	// Every item is fulfilled, by one job that needed one attempt.
	var js []fulJob
	require.Eventually(t, func() bool {
		n, err := env.Client.RequestItem.Query().
			Where(requestitem.IDIn(items...), requestitem.StatusEQ(enum.ItemStatusFulfilled)).Count(ctx)
		if err != nil || n != len(items) {
			return false
		}
		js = concJobsOf(t, db, items)
		for _, j := range js {
			if j.State != "completed" {
				return false
			}
		}
		return len(js) >= len(items)
	}, fulWait, 50*time.Millisecond, "every item is FULFILLED and its job completed")
	perItem := map[string]int{}
	for _, j := range js {
		perItem[fmt.Sprint(j.Args["item_id"])]++
		require.Equalf(t, 1, j.Attempt, "job %d worked at the first attempt (errors: %s)", j.ID, j.Errors)
	}
	grants := map[string]int{}
	for _, key := range fulDeliveries(o.receiver, webhook.TypeGrant) {
		grants[key]++
	}
	for _, id := range items {
		require.Equalf(t, 1, perItem[string(id)], "one fulfilment job for item %s", id)
		require.Equalf(t, 1, grants[webhook.IdempotencyKey(webhook.TypeGrant, string(id))], "one grant delivered for item %s", id)
	}

	// The audit trails: every step once, chains intact.
	events, err := env.Client.AuditEvent.Query().Where(auditevent.RequestIDIn(requests...)).All(ctx)
	require.NoError(t, err)
	byRequest := map[pulid.ID][]*ent.AuditEvent{}
	for _, ev := range events {
		byRequest[*ev.RequestID] = append(byRequest[*ev.RequestID], ev)
	}
	for _, id := range requests {
		count := map[string]int{}
		for _, ev := range byRequest[id] {
			count[ev.Action]++
		}
		wantCounts := map[string]int{
			"STAGE_APPROVED": 1, "ITEM_APPROVED": 1, "TASK_APPROVED": approvals,
			"TASK_SKIPPED": size.reviewers - approvals, "STAGE_DENIED": 0,
			"FULFILLMENT_STARTED": 1, "ACCESS_GRANTED": 1, "REQUEST_COMPLETED": 1,
		}
		for action, n := range wantCounts {
			require.Equalf(t, n, count[action], "request %s: %s events (all: %v)", id, action, count)
		}
		v := audit.Verify(string(id), byRequest[id])
		require.Truef(t, v.Valid, "request %s: audit chain: %+v", id, v)
	}
}

// concJobsOf returns the fulfilment jobs of items.
func concJobsOf(t *testing.T, db *dbtest.DB, items []pulid.ID) []fulJob {
	var out []fulJob
	for _, j := range fulJobs(t, db, "fulfill_item") {
		if slices.Contains(items, pulid.ID(fmt.Sprint(j.Args["item_id"]))) {
			out = append(out, j)
		}
	}
	return out
}

// concResult is the outcome of one decision.
type concResult struct {
	code, message string
	err           error // transport or decoding failure
}

// concDecide approves a task over HTTP. It reports instead of failing, for it
// runs off the test goroutine.
func concDecide(hc *http.Client, url, token, taskID string) concResult {
	body, _ := json.Marshal(map[string]any{"query": decide, "variables": map[string]any{"id": taskID, "d": "APPROVE"}})
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return concResult{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := hc.Do(req)
	if err != nil {
		return concResult{err: err}
	}
	defer res.Body.Close()
	var out apitest.Response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return concResult{err: fmt.Errorf("status %d: %w", res.StatusCode, err)}
	}
	if len(out.Errors) > 0 {
		return concResult{code: out.Code(), message: out.Errors[0].Message}
	}
	var data struct{ DecideReviewTask struct{ Status string } }
	if err := json.Unmarshal(out.Data, &data); err != nil {
		return concResult{err: err}
	}
	if data.DecideReviewTask.Status != "APPROVED" {
		return concResult{err: fmt.Errorf("decided task is %s", data.DecideReviewTask.Status)}
	}
	return concResult{}
}

// TestConcurrencyCompletionStatements: a page of requests with their items,
// overall completion and the viewer's completion costs the same number of
// SQL statements for 5 and for 50 requests (counts come from aggregate SQL
// through a per-request loader, never per row).
func TestConcurrencyCompletionStatements(t *testing.T) {
	t.Parallel()
	const query = `query($n: Int!) { accessRequests(first: $n) { edges { node {
	  items { id status } completion { done total } myCompletion { done total } } } } }`
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := fulOrg(t, db, apitest.Options{NoJobs: true})
		env := o.env
		ctx := apitest.Sys()
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		tokM := env.Token(t, m)
		_, x := o.app(t, "X", enum.FulfillmentManual, nil, enum.ReviewerKindManager)
		_, y := o.app(t, "Y", enum.FulfillmentManual, nil, enum.ReviewerKindManager)
		for i := range 50 {
			b, err := env.Client.User.Create().SetEmail(fmt.Sprintf("b%02d@example.com", i)).SetName("B").SetManager(m).Save(ctx)
			require.NoError(t, err)
			var out struct{ SubmitAccessRequest fulRequest }
			env.MustDo(t, env.Token(t, b), fulSubmitMutation, map[string]any{"in": map[string]any{
				"action": "GRANT", "entitlementIds": []string{string(x.ID), string(y.ID)}}}, &out)
			if i%3 == 0 { // some progress, so that the counts differ between rows
				tasks, err := env.Client.ReviewTask.Query().Where(reviewtask.RequestID(pulid.ID(out.SubmitAccessRequest.ID))).IDs(ctx)
				require.NoError(t, err)
				env.MustDo(t, tokM, decide, map[string]any{"id": string(tasks[0]), "d": "APPROVE"}, nil)
			}
		}

		for _, who := range []struct {
			name  string
			token string
		}{{"reviewer", tokM}, {"IT admin", env.Token(t, o.admin)}} {
			count := func(n int) int64 {
				var out struct {
					AccessRequests struct {
						Edges []struct {
							Node struct {
								Items        []struct{ ID string }
								Completion   struct{ Done, Total int }
								MyCompletion struct{ Done, Total int }
							}
						}
					}
				}
				env.Statements.Reset()
				env.MustDo(t, who.token, query, map[string]any{"n": n}, &out)
				stmts := env.Statements.Count()
				require.Len(t, out.AccessRequests.Edges, n)
				done := 0
				for _, e := range out.AccessRequests.Edges {
					require.Len(t, e.Node.Items, 2)
					require.Equal(t, 2, e.Node.Completion.Total)
					done += e.Node.Completion.Done
				}
				if n == 50 {
					require.Equal(t, 17, done, "requests 0, 3, …, 48 have one approval")
				}
				return stmts
			}
			// Three rounds: the count must not depend on how the resolvers of
			// the rows happen to be scheduled either.
			var five, fifty []int64
			for range 3 {
				five, fifty = append(five, count(5)), append(fifty, count(50))
			}
			t.Logf("%s on %s: SQL statements for 5 requests %v, for 50 %v", who.name, db.Name, five, fifty)
			for i := range five {
				require.Equal(t, five[0], five[i], "%s: statements for 5 requests vary: %v", who.name, five)
				require.Equal(t, five[0], fifty[i], "%s: statements for 5 requests: %v, for 50: %v", who.name, five, fifty)
			}
		}
	})
}

package resolvers_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// Audit log API (DESIGN §4.5, issue 6): auditTrail and verifyAuditTrail for
// whoever sees the request, auditEvents and verifyAuditLog for risk
// managers and IT admins, checkpoints written by the River job, not by the
// decision's transaction.

// audScene: B asks for GitHub and Jira users; manager M approves GitHub and
// denies Jira. Both applications are MANUAL, so nothing runs after review.
type audScene struct {
	env                            *apitest.Env
	b, m, outsider                 *ent.User
	tokB, tokM, tokO, tokRM, tokIT string
	github, jira                   *ent.Application
	reqID                          string
	ghItem, jiraItem               string
}

func newAudScene(t *testing.T, db *dbtest.DB, opts apitest.Options) *audScene {
	t.Helper()
	env := apitest.NewWith(t, db, opts)
	s := &audScene{env: env}
	s.m = env.User(t, "m@example.com", enum.PlatformRoleUser)
	s.outsider = env.User(t, "o@example.com", enum.PlatformRoleUser)
	rm := env.User(t, "rm@example.com", enum.PlatformRoleRiskManager)
	it := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	var err error
	s.b, err = env.Client.User.Create().SetEmail("b@example.com").SetName("B").SetManager(s.m).Save(apitest.Sys())
	require.NoError(t, err)
	s.tokB, s.tokM, s.tokO, s.tokRM, s.tokIT = env.Token(t, s.b), env.Token(t, s.m), env.Token(t, s.outsider), env.Token(t, rm), env.Token(t, it)
	var ents []string
	for _, name := range []string{"GitHub", "Jira"} {
		app, err := env.Client.Application.Create().SetName(name).SetFulfillment(enum.FulfillmentManual).
			SetConnectorKind(enum.ConnectorKindManual).AddOwners(it).Save(apitest.Sys())
		require.NoError(t, err)
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name).SetName(name + " users").Save(apitest.Sys())
		require.NoError(t, err)
		ents = append(ents, string(e.ID))
		if name == "GitHub" {
			s.github = app
		} else {
			s.jira = app
		}
	}
	var sub struct {
		SubmitAccessRequest struct {
			ID    string
			Items []struct {
				ID          string
				Application struct{ Name string }
				Stages      []struct{ Tasks []struct{ ID string } }
			}
		}
	}
	env.MustDo(t, s.tokB, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
		id items { id application { name } stages { tasks { id } } } } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": ents}}, &sub)
	s.reqID = sub.SubmitAccessRequest.ID
	for _, item := range sub.SubmitAccessRequest.Items {
		d := "APPROVE"
		if item.Application.Name == "Jira" {
			d, s.jiraItem = "DENY", item.ID
		} else {
			s.ghItem = item.ID
		}
		env.MustDo(t, s.tokM, `mutation($id: ID!, $d: Decision!) { decideReviewTask(id: $id, decision: $d, comment: "c") { id } }`,
			map[string]any{"id": item.Stages[0].Tasks[0].ID, "d": d}, nil)
	}
	return s
}

type audEvent struct {
	Seq    int
	Chain  string
	Action string
	Actor  string
	ItemID *string
	At     time.Time
}

type audEvents struct {
	AuditEvents struct {
		TotalCount int
		Edges      []struct{ Node audEvent }
	}
}

const audEventsQuery = `query($f: AuditLogFilter, $first: Int, $o: [AuditEventOrder!]) {
  auditEvents(filter: $f, first: $first, orderBy: $o) { totalCount edges { node { seq chain action actor itemID at } } } }`

func (s *audScene) events(t *testing.T, token string, filter map[string]any) []audEvent {
	t.Helper()
	var out audEvents
	s.env.MustDo(t, token, audEventsQuery, map[string]any{"f": filter, "first": 500}, &out)
	var evs []audEvent
	for _, e := range out.AuditEvents.Edges {
		evs = append(evs, e.Node)
	}
	require.Equal(t, len(evs), out.AuditEvents.TotalCount)
	return evs
}

func (s *audScene) trail(t *testing.T, token string) []audEvent {
	t.Helper()
	var out struct{ AuditTrail []audEvent }
	s.env.MustDo(t, token, `query($id: ID!) { auditTrail(requestId: $id) { seq chain action actor itemID at } }`,
		map[string]any{"id": s.reqID}, &out)
	return out.AuditTrail
}

func TestAuditTrailAccess(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newAudScene(t, db, apitest.Options{})
		want := s.trail(t, s.tokB)
		require.NotEmpty(t, want)
		for _, tok := range []string{s.tokM, s.tokRM, s.tokIT} {
			require.Equal(t, want, s.trail(t, tok))
		}
		for _, q := range []string{
			`query($id: ID!) { auditTrail(requestId: $id) { seq } }`,
			`query($id: ID!) { verifyAuditTrail(requestId: $id) { valid } }`,
		} {
			res := s.env.Do(t, s.tokO, q, map[string]any{"id": s.reqID})
			require.Equal(t, "NOT_FOUND", res.Code(), "an outsider does not see the request")
		}
	})
}

func TestAuditEventsQuery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newAudScene(t, db, apitest.Options{})
		trail := s.trail(t, s.tokB)

		for _, tok := range []string{s.tokB, s.tokM, s.tokO} {
			res := s.env.Do(t, tok, audEventsQuery, nil)
			require.Equal(t, "FORBIDDEN", res.Code())
			res = s.env.Do(t, tok, `{ verifyAuditLog { valid } }`, nil)
			require.Equal(t, "FORBIDDEN", res.Code())
		}

		// Everything, newest first: the request's chain and the system
		// chain (catalog and user changes of the set-up).
		all := s.events(t, s.tokRM, nil)
		chains := map[string]int{}
		for i, e := range all {
			chains[e.Chain]++
			if i > 0 {
				require.False(t, e.At.After(all[i-1].At), "newest first")
			}
		}
		require.Equal(t, len(trail), chains[s.reqID])
		require.Positive(t, chains[audit.SystemChain])

		// Pages of 3 (events of one append share their time) give the same.
		var paged []audEvent
		var after any
		for {
			var pg struct {
				AuditEvents struct {
					Edges    []struct{ Node audEvent }
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
			s.env.MustDo(t, s.tokRM, `query($after: Cursor) { auditEvents(first: 3, after: $after) {
				edges { node { seq chain action actor itemID at } } pageInfo { hasNextPage endCursor } } }`,
				map[string]any{"after": after}, &pg)
			for _, e := range pg.AuditEvents.Edges {
				paged = append(paged, e.Node)
			}
			if !pg.AuditEvents.PageInfo.HasNextPage {
				break
			}
			after = pg.AuditEvents.PageInfo.EndCursor
		}
		require.Equal(t, all, paged)

		// By request, in seq order when asked.
		var byReq audEvents
		s.env.MustDo(t, s.tokIT, audEventsQuery, map[string]any{
			"f": map[string]any{"requestId": s.reqID}, "first": 500, "o": []any{map[string]any{"field": "SEQ", "direction": "ASC"}},
		}, &byReq)
		require.Len(t, byReq.AuditEvents.Edges, len(trail))
		for i, e := range byReq.AuditEvents.Edges {
			require.Equal(t, trail[i], e.Node)
		}
		// By action.
		denied := s.events(t, s.tokRM, map[string]any{"actions": []string{"TASK_DENIED", "ITEM_DENIED"}})
		require.Len(t, denied, 2)
		for _, e := range denied {
			require.Equal(t, s.jiraItem, *e.ItemID)
		}
		// By actor: the manager's decisions.
		byM := s.events(t, s.tokRM, map[string]any{"actor": string(s.m.ID)})
		require.NotEmpty(t, byM)
		for _, e := range byM {
			require.Equal(t, string(s.m.ID), e.Actor)
		}
		// By application: the Jira item's events and the request-wide ones,
		// never the GitHub item's.
		jira := s.events(t, s.tokRM, map[string]any{"applicationId": string(s.jira.ID)})
		seen := map[string]bool{}
		for _, e := range jira {
			require.Equal(t, s.reqID, e.Chain)
			if e.ItemID != nil {
				require.Equal(t, s.jiraItem, *e.ItemID)
			}
			seen[e.Action] = true
		}
		require.True(t, seen["REQUEST_SUBMITTED"] && seen["TASK_DENIED"], "%v", seen)
		require.False(t, seen["TASK_APPROVED"], "the GitHub item's approval is not about Jira")
		// By time.
		future := time.Now().Add(time.Hour).Format(time.RFC3339)
		require.Empty(t, s.events(t, s.tokRM, map[string]any{"from": future}))
		require.Len(t, s.events(t, s.tokRM, map[string]any{"to": future, "chain": s.reqID}), len(trail))
		res := s.env.Do(t, s.tokRM, audEventsQuery, map[string]any{"f": map[string]any{"from": future, "to": time.Now().Format(time.RFC3339)}})
		require.Equal(t, "INVALID_INPUT", res.Code())
	})
}

type audLog struct {
	VerifyAuditLog struct {
		Valid                       bool
		Checkpoints, Chains, Events int
		Problems                    []struct {
			Chain  string
			Seq    *int
			Reason string
		}
	}
}

const audVerifyLog = `query($from: Time, $to: Time) { verifyAuditLog(from: $from, to: $to) {
  valid checkpoints chains events problems { chain seq reason } } }`

// TestCheckpointsAndTampering: the decision's transaction writes no
// checkpoint (jobs stopped here, so nothing else does either); a checkpoint
// run folds the heads; after the tail of the request's chain is cut (the
// triggers disabled first), both verifications say where.
func TestCheckpointsAndTampering(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newAudScene(t, db, apitest.Options{NoJobs: true})
		n, err := s.env.Client.AuditCheckpoint.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n, "no checkpoint is written in a change's transaction")

		folded, err := s.env.AuditLog.Checkpoint(t.Context())
		require.NoError(t, err)
		require.Equal(t, 2, folded, "the request's chain and the system chain")
		trail := s.trail(t, s.tokB)

		var v audLog
		s.env.MustDo(t, s.tokIT, audVerifyLog, nil, &v)
		require.True(t, v.VerifyAuditLog.Valid, "%+v", v.VerifyAuditLog.Problems)
		require.Equal(t, 2, v.VerifyAuditLog.Checkpoints)
		require.Equal(t, 2, v.VerifyAuditLog.Chains)
		var count struct{ AuditEvents struct{ TotalCount int } }
		s.env.MustDo(t, s.tokRM, `{ auditEvents { totalCount } }`, nil, &count)
		require.Equal(t, count.AuditEvents.TotalCount, v.VerifyAuditLog.Events)
		// A period before everything holds nothing.
		s.env.MustDo(t, s.tokRM, audVerifyLog, map[string]any{"to": time.Now().Add(-time.Hour).Format(time.RFC3339)}, &v)
		require.True(t, v.VerifyAuditLog.Valid)
		require.Zero(t, v.VerifyAuditLog.Chains)

		db.DisableAuditTriggers(t)
		last := len(trail)
		q := fmt.Sprintf(`DELETE FROM audit_events WHERE chain = '%s' AND seq >= %d`, s.reqID, last-1)
		_, err = db.SQL.Exec(q)
		require.NoError(t, err)

		var one struct {
			VerifyAuditTrail struct {
				Valid          bool
				Checked        int
				FirstBrokenSeq *int
				Reason         *string
			}
		}
		s.env.MustDo(t, s.tokB, `query($id: ID!) { verifyAuditTrail(requestId: $id) { valid checked firstBrokenSeq reason } }`,
			map[string]any{"id": s.reqID}, &one)
		require.False(t, one.VerifyAuditTrail.Valid)
		require.Equal(t, last-1, *one.VerifyAuditTrail.FirstBrokenSeq)
		require.Equal(t, last-2, one.VerifyAuditTrail.Checked)
		require.Equal(t, fmt.Sprintf("seq %d missing: checkpoint %d recorded head seq %d, the chain ends at seq %d (tail cut)",
			last-1, checkpointOf(t, s, s.reqID), last, last-2), *one.VerifyAuditTrail.Reason)

		s.env.MustDo(t, s.tokRM, audVerifyLog, nil, &v)
		require.False(t, v.VerifyAuditLog.Valid)
		require.Len(t, v.VerifyAuditLog.Problems, 1)
		p := v.VerifyAuditLog.Problems[0]
		require.Equal(t, s.reqID, p.Chain)
		require.Equal(t, last-1, *p.Seq)
		require.Equal(t, *one.VerifyAuditTrail.Reason, p.Reason)
	})
}

func checkpointOf(t *testing.T, s *audScene, chain string) int64 {
	t.Helper()
	cps, err := s.env.Client.AuditCheckpoint.Query().All(authz.SystemContext(t.Context()))
	require.NoError(t, err)
	for _, c := range cps {
		if c.Chain == chain {
			return c.Seq
		}
	}
	t.Fatalf("no checkpoint of %s", chain)
	return 0
}

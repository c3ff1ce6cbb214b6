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

// org is a small organisation for workflow tests.
type org struct {
	env      *apitest.Env
	receiver *apitest.Receiver
	admin    *ent.User
}

func newOrg(t *testing.T, db *dbtest.DB) *org {
	t.Helper()
	rcv := apitest.NewReceiver(t)
	env := apitest.NewWith(t, db, apitest.Options{Env: rcv.Env()})
	return &org{env: env, receiver: rcv, admin: env.User(t, "it@example.com", enum.PlatformRoleITAdmin)}
}

// cast creates the usual people of a workflow test: a manager M, an
// application owner O1, and a requester R and a beneficiary B who both
// report to M.
func (o *org) cast(t *testing.T) (m, o1, r, b *ent.User) {
	t.Helper()
	m = o.env.User(t, "m@example.com", enum.PlatformRoleUser)
	o1 = o.env.User(t, "o1@example.com", enum.PlatformRoleUser)
	return m, o1, subPerson(t, o.env, "r@example.com", m, nil), subPerson(t, o.env, "b@example.com", m, nil)
}

// app creates an application with one entitlement, the given owners and
// review stages (kinds with rule ANY).
func (o *org) app(t *testing.T, name string, f enum.Fulfillment, owners []*ent.User, stages ...enum.ReviewerKind) (*ent.Application, *ent.Entitlement) {
	t.Helper()
	ctx := apitest.Sys()
	c := o.env.Client.Application.Create().SetName(name).SetFulfillment(f).AddOwners(owners...)
	if f == enum.FulfillmentManual {
		c.SetConnectorKind(enum.ConnectorKindManual)
	} else {
		c.SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(o.receiver.Config())
	}
	app, err := c.Save(ctx)
	require.NoError(t, err)
	e, err := o.env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name + "-users").SetName(name + " users").Save(ctx)
	require.NoError(t, err)
	for i, k := range stages {
		_, err := o.env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(i + 1).SetReviewerKind(k).Save(ctx)
		require.NoError(t, err)
	}
	return app, e
}

type completion struct {
	Done    int
	Total   int
	Percent float64
}

type progress struct {
	Node struct {
		Status       string
		Completion   completion
		MyCompletion completion
		Items        []struct {
			ID          string
			Status      string
			Entitlement struct{ Name string }
			Stages      []struct {
				Level  int
				Status string
				Tasks  []struct {
					ID       string
					Status   string
					Reviewer struct{ Email string }
				}
			}
		}
	}
}

const progressQuery = `query($id: ID!) { node(id: $id) { ... on AccessRequest {
  status completion { done total percent } myCompletion { done total percent }
  items { id status entitlement { name } stages { level status tasks { id status reviewer { email } } } }
} } }`

func (o *org) progress(t *testing.T, token, id string) progress {
	t.Helper()
	var p progress
	o.env.MustDo(t, token, progressQuery, map[string]any{"id": id}, &p)
	return p
}

// task returns the ID of the task of reviewer on the item for entitlement.
func (p progress) task(t *testing.T, entitlement, reviewer string) string {
	t.Helper()
	for _, it := range p.Node.Items {
		if it.Entitlement.Name != entitlement {
			continue
		}
		for _, st := range it.Stages {
			for _, task := range st.Tasks {
				if task.Reviewer.Email == reviewer {
					return task.ID
				}
			}
		}
	}
	t.Fatalf("no task of %s on %s", reviewer, entitlement)
	return ""
}

func (p progress) item(t *testing.T, entitlement string) string {
	t.Helper()
	for _, it := range p.Node.Items {
		if it.Entitlement.Name == entitlement {
			return it.Status
		}
	}
	t.Fatalf("no item for %s", entitlement)
	return ""
}

func (p progress) taskStatus(t *testing.T, id string) string {
	t.Helper()
	for _, it := range p.Node.Items {
		for _, st := range it.Stages {
			for _, task := range st.Tasks {
				if task.ID == id {
					return task.Status
				}
			}
		}
	}
	t.Fatalf("no task %s", id)
	return ""
}

const decide = `mutation($id: ID!, $d: Decision!) { decideReviewTask(id: $id, decision: $d) { id status } }`

// TestWorkedExample plays DESIGN §4.3's worked example through GraphQL and
// checks every number at every step.
func TestWorkedExample(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		o1 := env.User(t, "o1@example.com", enum.PlatformRoleUser)
		o2 := env.User(t, "o2@example.com", enum.PlatformRoleUser)
		o3 := env.User(t, "o3@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		_, x := o.app(t, "X", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)
		_, y := o.app(t, "Y", enum.FulfillmentDirect, []*ent.User{o2, o3}, enum.ReviewerKindManager, enum.ReviewerKindApplicationOwner)

		var sub struct{ SubmitAccessRequest struct{ ID, Status string } }
		env.MustDo(t, env.Token(t, r), `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id status } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(x.ID), string(y.ID)}, "justification": "worked example"}}, &sub)
		id := sub.SubmitAccessRequest.ID
		require.Equal(t, "PENDING_REVIEW", sub.SubmitAccessRequest.Status)

		tok := map[string]string{}
		for _, u := range []*ent.User{m, o1, o2, o3, r} {
			tok[u.Email] = env.Token(t, u)
		}
		check := func(step string, overall, mine map[string]completion) {
			t.Helper()
			for who, want := range mine {
				p := o.progress(t, tok[who], id)
				require.Equal(t, overall["all"], p.Node.Completion, "%s: overall seen by %s", step, who)
				require.Equal(t, want, p.Node.MyCompletion, "%s: myCompletion of %s", step, who)
			}
		}
		c := func(done, total int, pct float64) completion { return completion{done, total, pct} }

		p := o.progress(t, tok["r@example.com"], id)
		check("start", map[string]completion{"all": c(0, 5, 0)}, map[string]completion{
			"m@example.com": c(0, 2, 0), "r@example.com": c(0, 0, 100),
		})

		env.MustDo(t, tok["m@example.com"], decide, map[string]any{"id": p.task(t, "X users", "m@example.com"), "d": "APPROVE"}, nil)
		check("M approves X", map[string]completion{"all": c(1, 5, 20)}, map[string]completion{"m@example.com": c(1, 2, 50)})

		env.MustDo(t, tok["m@example.com"], decide, map[string]any{"id": p.task(t, "Y users", "m@example.com"), "d": "APPROVE"}, nil)
		check("M approves Y", map[string]completion{"all": c(2, 5, 40)}, map[string]completion{"m@example.com": c(2, 2, 100)})

		p = o.progress(t, tok["r@example.com"], id)
		o3Task := p.task(t, "Y users", "o3@example.com")
		env.MustDo(t, tok["o2@example.com"], decide, map[string]any{"id": p.task(t, "Y users", "o2@example.com"), "d": "APPROVE"}, nil)
		check("O2 approves Y", map[string]completion{"all": c(4, 5, 80)}, map[string]completion{
			"o2@example.com": c(1, 1, 100), "o3@example.com": c(1, 1, 100),
		})
		p = o.progress(t, tok["r@example.com"], id)
		require.Equal(t, "SKIPPED", p.taskStatus(t, o3Task))

		res := env.Do(t, tok["o3@example.com"], decide, map[string]any{"id": o3Task, "d": "APPROVE"})
		require.Equal(t, "CONFLICT", res.Code(), "a skipped task cannot be decided")

		env.MustDo(t, tok["o1@example.com"], decide, map[string]any{"id": p.task(t, "X users", "o1@example.com"), "d": "DENY"}, nil)
		check("O1 denies X", map[string]completion{"all": c(5, 5, 100)}, map[string]completion{
			"o1@example.com": c(1, 1, 100), "r@example.com": c(0, 0, 100),
		})

		// The query reads the request and its items with separate
		// statements, so one answer may show the request before the
		// fulfilment's commit and the items after it: wait for both.
		require.Eventually(t, func() bool {
			p = o.progress(t, tok["r@example.com"], id)
			return p.item(t, "Y users") == "FULFILLED" && p.Node.Status != "FULFILLING"
		}, time.Minute, 50*time.Millisecond, "Y is fulfilled and the request settled")
		require.Equal(t, "DENIED", p.item(t, "X users"))
		require.Equal(t, "PARTIALLY_COMPLETED", p.Node.Status)
		require.Len(t, o.receiver.Deliveries("grant"), 1, "one grant reached the application")
		require.Len(t, o.receiver.Deliveries("ensure_identity"), 1)

		var trail struct {
			VerifyAuditTrail struct {
				Valid   bool
				Checked int
			}
		}
		env.MustDo(t, tok["r@example.com"], `query($id: ID!) { verifyAuditTrail(requestId: $id) { valid checked } }`, map[string]any{"id": id}, &trail)
		require.True(t, trail.VerifyAuditTrail.Valid)
		require.Greater(t, trail.VerifyAuditTrail.Checked, 10)
	})
}

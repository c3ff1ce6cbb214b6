package resolvers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/audit"
	"gatehouse/internal/dbtest"
)

// Lifecycle tests (issue 14, reminders, escalation, pending expiry, expiry
// warnings, extension): the policies are set through GraphQL, the clock is
// the Env's, and the sweep is run by hand after each step (the periodic job
// runs the same method).

const lcSetPolicy = `mutation($app: ID, $in: LifecyclePolicyInput!) { setLifecyclePolicy(applicationId: $app, input: $in) {
  application { name }
  remindEveryHours { value source } maxReminders { value source } escalateAfterHours { value source }
  expirePendingDays { value source } warnBeforeEndDays { value source } extensionReview { value source } } }`

const lcPolicy = `query($app: ID) { lifecyclePolicy(applicationId: $app) {
  application { name }
  remindEveryHours { value source } maxReminders { value source } escalateAfterHours { value source }
  expirePendingDays { value source } warnBeforeEndDays { value source } extensionReview { value source } } }`

type lcSourced struct {
	Value  any
	Source string
}

type lcEffective struct {
	Application        *struct{ Name string }
	RemindEveryHours   lcSourced
	MaxReminders       lcSourced
	EscalateAfterHours lcSourced
	ExpirePendingDays  lcSourced
	WarnBeforeEndDays  lcSourced
	ExtensionReview    lcSourced
}

// lcSet sets a lifecycle policy as an IT admin (app nil: the global one).
func (o *org) lcSet(t *testing.T, app *ent.Application, in map[string]any) lcEffective {
	t.Helper()
	var out struct{ SetLifecyclePolicy lcEffective }
	vars := map[string]any{"in": in}
	if app != nil {
		vars["app"] = string(app.ID)
	}
	o.env.MustDo(t, o.env.Token(t, o.admin), lcSetPolicy, vars, &out)
	return out.SetLifecyclePolicy
}

// lcSweep runs the lifecycle sweep at the Env's clock.
func (o *org) lcSweep(t *testing.T) {
	t.Helper()
	_, err := o.env.Workflow.SweepLifecycle(apitest.Sys())
	require.NoError(t, err)
}

// lcCompletion reads a request's overall completion and the viewer's own.
func (o *org) lcCompletion(t *testing.T, token, id string) (overall, mine completion) {
	t.Helper()
	p := o.progress(t, token, id)
	return p.Node.Completion, p.Node.MyCompletion
}

func TestLifecyclePolicyValidationAndAuthorization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		app, _ := o.app(t, "Wiki", enum.FulfillmentManual, nil)
		user := env.User(t, "u@example.com", enum.PlatformRoleUser)
		risk := env.User(t, "risk@example.com", enum.PlatformRoleRiskManager)
		uTok, riskTok, aTok := env.Token(t, user), env.Token(t, risk), env.Token(t, o.admin)

		// Nothing set: the built-in policy, everything off.
		var got struct{ LifecyclePolicy lcEffective }
		env.MustDo(t, riskTok, lcPolicy, map[string]any{"app": string(app.ID)}, &got)
		require.Equal(t, lcSourced{0.0, "BUILT_IN"}, got.LifecyclePolicy.RemindEveryHours)
		require.Equal(t, lcSourced{"FULL", "BUILT_IN"}, got.LifecyclePolicy.ExtensionReview)

		// Who may read and set.
		require.Equal(t, "FORBIDDEN", env.Do(t, uTok, lcPolicy, nil).Code(), "a USER reads no policy")
		require.Equal(t, "FORBIDDEN", env.Do(t, uTok, lcSetPolicy, map[string]any{"in": map[string]any{"remindEveryHours": 1}}).Code())
		require.Equal(t, "FORBIDDEN", env.Do(t, riskTok, lcSetPolicy, map[string]any{"in": map[string]any{"remindEveryHours": 1}}).Code(),
			"a risk manager reads but does not set")
		require.Equal(t, "NOT_FOUND", env.Do(t, aTok, lcSetPolicy, map[string]any{"app": "app_nope", "in": map[string]any{}}).Code())

		// Validation, each naming its field; nothing is written.
		for _, tc := range []struct {
			in    map[string]any
			field string
		}{
			{map[string]any{"remindEveryHours": -1}, "remindEveryHours"},
			{map[string]any{"maxReminders": 101}, "maxReminders"},
			{map[string]any{"escalateAfterHours": 0.0001}, "escalateAfterHours"},
			{map[string]any{"expirePendingDays": 400}, "expirePendingDays"},
			{map[string]any{"warnBeforeEndDays": -2}, "warnBeforeEndDays"},
			{map[string]any{"remindEveryHours": 4, "maxReminders": 0}, "maxReminders"},
		} {
			res := env.Do(t, aTok, lcSetPolicy, map[string]any{"in": tc.in})
			require.Equal(t, "INVALID_INPUT", res.Code(), "%v", tc.in)
			require.Contains(t, res.Errors[0].Message, tc.field)
		}
		n, err := env.Client.LifecyclePolicy.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n, "refused settings write nothing")

		// The global row, then the application's: each value says where it
		// comes from.
		before, err := env.Client.AuditEvent.Query().Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.CatalogChanged))).Count(apitest.Sys())
		require.NoError(t, err)
		g := o.lcSet(t, nil, map[string]any{"remindEveryHours": 24, "escalateAfterHours": 48, "warnBeforeEndDays": 7})
		require.Nil(t, g.Application)
		require.Equal(t, lcSourced{24.0, "GLOBAL"}, g.RemindEveryHours)
		require.Equal(t, lcSourced{3.0, "BUILT_IN"}, g.MaxReminders)
		a := o.lcSet(t, app, map[string]any{"remindEveryHours": 2, "extensionReview": "APPLICATION_OWNER"})
		require.Equal(t, "Wiki", a.Application.Name)
		require.Equal(t, lcSourced{2.0, "APPLICATION"}, a.RemindEveryHours)
		require.Equal(t, lcSourced{48.0, "GLOBAL"}, a.EscalateAfterHours)
		require.Equal(t, lcSourced{"APPLICATION_OWNER", "APPLICATION"}, a.ExtensionReview)
		require.Equal(t, lcSourced{0.0, "BUILT_IN"}, a.ExpirePendingDays)
		// Setting again replaces: what the input leaves out inherits.
		a = o.lcSet(t, app, map[string]any{"maxReminders": 5})
		require.Equal(t, lcSourced{24.0, "GLOBAL"}, a.RemindEveryHours, "no longer the application's own")
		require.Equal(t, lcSourced{5.0, "APPLICATION"}, a.MaxReminders)
		env.MustDo(t, riskTok, lcPolicy, map[string]any{"app": string(app.ID)}, &got)
		require.Equal(t, a, got.LifecyclePolicy, "the query shows what the mutation returned")
		after, err := env.Client.AuditEvent.Query().Where(auditevent.Chain(audit.SystemChain), auditevent.Action(string(audit.CatalogChanged))).Count(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, before+3, after, "each change is audited on the system chain")
	})
}

// TestLifecycleReminders: the assignee is reminded every N hours while the
// task is pending, at most the maximum number of times, and a sweep run
// twice at the same time reminds once.
func TestLifecycleReminders(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		m, _, r, b := o.cast(t)
		app, e := o.app(t, "Wiki", enum.FulfillmentManual, nil, enum.ReviewerKindManager)
		o.lcSet(t, app, map[string]any{"remindEveryHours": 1, "maxReminders": 2})
		req := o.fulSubmit(t, o.env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})

		// Tokens are minted at the clock's time: a fresh one after each advance.
		reminders := func() []rvEvent { return rvEvents(t, o.env, o.env.Token(t, r), req.ID, string(audit.TaskReminded)) }
		o.env.Clock.Advance(30 * time.Minute)
		o.lcSweep(t)
		require.Empty(t, reminders(), "not yet an hour pending")
		o.env.Clock.Advance(31 * time.Minute)
		o.lcSweep(t)
		o.lcSweep(t)
		require.Len(t, reminders(), 1, "an hour pending: one reminder, however many sweeps")
		o.env.Clock.Advance(time.Hour)
		o.lcSweep(t)
		o.env.Clock.Advance(10 * time.Hour)
		o.lcSweep(t)
		got := reminders()
		require.Len(t, got, 2, "bounded by maxReminders")
		for i, ev := range got {
			require.Equal(t, string(m.ID), ev.Data["assignee"])
			require.EqualValues(t, i+1, ev.Data["count"])
		}
		overall, _ := o.lcCompletion(t, o.env.Token(t, r), req.ID)
		require.Equal(t, completion{0, 1, 0}, overall, "a reminder changes no task")
	})
}

// TestLifecycleEscalation: a task pending too long moves to the assignee's
// manager, then to an application owner, then to an IT admin, passing over
// the requester and the beneficiary at each step; the trail records each
// move, the request's completion counts the task once throughout, and each
// reviewer's own completion has it only while they hold it.
func TestLifecycleEscalation(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		boss := env.User(t, "boss@example.com", enum.PlatformRoleUser)
		m := subPerson(t, env, "m@example.com", boss, nil)
		// The requester is an IT admin whose address sorts first, and the
		// beneficiary owns the application: both come first in their steps
		// and must be passed over.
		r := env.User(t, "a-requester@example.com", enum.PlatformRoleITAdmin)
		b := subPerson(t, env, "b@example.com", m, nil)
		o1 := env.User(t, "o1@example.com", enum.PlatformRoleUser)
		app, e := o.app(t, "Wiki", enum.FulfillmentManual, []*ent.User{b, o1}, enum.ReviewerKindManager)
		o.lcSet(t, app, map[string]any{"escalateAfterHours": 2})
		req := o.fulSubmit(t, env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})
		// Tokens are minted at the clock's time: a fresh one after each advance.
		people := map[string]*ent.User{"r": r, "m": m, "boss": boss, "o1": o1, "it": o.admin}
		tok := func(who string) string { return env.Token(t, people[who]) }
		mine := func(who string) completion {
			_, c := o.lcCompletion(t, tok(who), req.ID)
			return c
		}
		nobody := completion{0, 0, 100}
		require.Equal(t, completion{0, 1, 0}, mine("m"))

		escalations := func() []rvEvent { return rvEvents(t, env, tok("r"), req.ID, string(audit.TaskEscalated)) }
		env.Clock.Advance(119 * time.Minute)
		o.lcSweep(t)
		require.Empty(t, escalations(), "not yet two hours pending")

		steps := []struct {
			from, to *ent.User
			who      string
			why      string
		}{
			{m, boss, "boss", "first the assignee's manager"},
			{boss, o1, "o1", "then an application owner other than the beneficiary"},
			{o1, o.admin, "it", "then an IT admin other than the requester"},
		}
		prev := "m"
		for i, st := range steps {
			env.Clock.Advance(2 * time.Hour)
			o.lcSweep(t)
			got := escalations()
			require.Len(t, got, i+1, st.why)
			ev := got[i]
			require.Equal(t, string(st.from.ID), ev.Data["from"], st.why)
			require.Equal(t, string(st.to.ID), ev.Data["to"], st.why)
			require.EqualValues(t, i+1, ev.Data["step"], st.why)
			overall, _ := o.lcCompletion(t, tok("r"), req.ID)
			require.Equal(t, completion{0, 1, 0}, overall, "the moved task counts once in the request: %s", st.why)
			require.Equal(t, nobody, mine(prev), "the old assignee's own progress no longer has it: %s", st.why)
			require.Equal(t, completion{0, 1, 0}, mine(st.who), "the new assignee's has it: %s", st.why)
			prev = st.who
		}
		env.Clock.Advance(10 * time.Hour)
		o.lcSweep(t)
		require.Len(t, escalations(), 3, "no step after the IT admins")

		p := o.progress(t, tok("it"), req.ID)
		env.MustDo(t, tok("it"), decide, map[string]any{"id": p.task(t, "Wiki users", o.admin.Email), "d": "APPROVE"}, nil)
		overall, _ := o.lcCompletion(t, tok("r"), req.ID)
		require.Equal(t, completion{1, 1, 100}, overall)
		require.Equal(t, completion{1, 1, 100}, mine("it"))
		require.Equal(t, nobody, mine("boss"))
	})
}

// TestLifecycleEscalationFollowsDelegate: an escalation to a person whose
// delegation is in force goes to the delegate, on that person's behalf, as
// a task that becomes PENDING does.
func TestLifecycleEscalationFollowsDelegate(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		env := o.env
		boss := env.User(t, "boss@example.com", enum.PlatformRoleUser)
		deputy := env.User(t, "deputy@example.com", enum.PlatformRoleUser)
		m := subPerson(t, env, "m@example.com", boss, nil)
		r := env.User(t, "r@example.com", enum.PlatformRoleUser)
		b := subPerson(t, env, "b@example.com", m, nil)
		app, e := o.app(t, "Wiki", enum.FulfillmentManual, nil, enum.ReviewerKindManager)
		o.lcSet(t, app, map[string]any{"escalateAfterHours": 2})
		env.MustDo(t, env.Token(t, boss), rvSetDelegate, map[string]any{"u": string(deputy.ID)}, nil)
		req := o.fulSubmit(t, env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})

		env.Clock.Advance(2 * time.Hour)
		o.lcSweep(t)
		got := rvEvents(t, env, env.Token(t, r), req.ID, string(audit.TaskEscalated))
		require.Len(t, got, 1)
		require.Equal(t, string(m.ID), got[0].Data["from"])
		require.Equal(t, string(deputy.ID), got[0].Data["to"], "the boss's delegate takes the escalated task")
		require.Equal(t, string(boss.ID), got[0].Data["onBehalfOf"])
		_, mine := o.lcCompletion(t, env.Token(t, deputy), req.ID)
		require.Equal(t, completion{0, 1, 0}, mine)
		task, err := env.Client.ReviewTask.Query().Where(reviewtask.ReviewerID(deputy.ID)).Only(apitest.Sys())
		require.NoError(t, err)
		require.Equal(t, boss.ID, *task.OnBehalfOfID)
	})
}

// TestLifecyclePendingExpiry: a request with no decision after D days is
// cancelled with reason EXPIRED_PENDING and its tasks skipped.
func TestLifecyclePendingExpiry(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		_, _, r, b := o.cast(t)
		o.app(t, "Other", enum.FulfillmentManual, nil)
		app, e := o.app(t, "Wiki", enum.FulfillmentManual, nil, enum.ReviewerKindManager)
		o.lcSet(t, app, map[string]any{"expirePendingDays": 2})
		req := o.fulSubmit(t, o.env.Token(t, r), map[string]any{"action": "GRANT", "beneficiaryId": string(b.ID), "entitlementIds": []string{string(e.ID)}})

		o.env.Clock.Advance(47 * time.Hour)
		o.lcSweep(t)
		require.Equal(t, "PENDING_REVIEW", o.progress(t, o.env.Token(t, r), req.ID).Node.Status, "not yet two days")
		o.env.Clock.Advance(time.Hour)
		o.lcSweep(t)
		o.lcSweep(t)
		rTok := o.env.Token(t, r)
		p := o.progress(t, rTok, req.ID)
		require.Equal(t, "CANCELLED", p.Node.Status)
		require.Equal(t, "SKIPPED", p.Node.Items[0].Stages[0].Tasks[0].Status)
		require.Equal(t, "CANCELLED", p.Node.Items[0].Status)
		expired := rvEvents(t, o.env, rTok, req.ID, string(audit.RequestExpired))
		require.Len(t, expired, 1, "expired once")
		require.Equal(t, "EXPIRED_PENDING", expired[0].Data["reason"])
		cancelled := rvEvents(t, o.env, rTok, req.ID, string(audit.RequestCancelled))
		require.Len(t, cancelled, 1)
		require.Equal(t, "EXPIRED_PENDING", cancelled[0].Data["reason"])
		require.Len(t, rvEvents(t, o.env, rTok, req.ID, string(audit.TaskSkipped)), 1)
	})
}

// TestLifecycleGrantExpiryWarning: N days before a temporary grant ends,
// GRANT_EXPIRING is recorded once on its request, naming beneficiary and
// requester.
func TestLifecycleGrantExpiryWarning(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		_, e := o.app(t, "Wiki", enum.FulfillmentDirectAutoApproved, nil)
		o.lcSet(t, nil, map[string]any{"warnBeforeEndDays": 3})
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "P10D"})
		o.fulAwait(t, c.tokB, req.Items[0].ID, "FULFILLED")

		// Tokens are minted at the clock's time: a fresh one after each advance.
		warnings := func() []rvEvent { return rvEvents(t, o.env, o.env.Token(t, c.b), req.ID, string(audit.GrantExpiring)) }
		o.env.Clock.Advance(6*24*time.Hour + 23*time.Hour)
		o.lcSweep(t)
		require.Empty(t, warnings(), "more than 3 days before the end")
		o.env.Clock.Advance(2 * time.Hour)
		o.lcSweep(t)
		o.env.Clock.Advance(time.Hour)
		o.lcSweep(t)
		got := warnings()
		require.Len(t, got, 1, "warned once per end")
		require.Equal(t, string(c.b.ID), got[0].Data["beneficiary"])
		require.Equal(t, string(c.b.ID), got[0].Data["requester"])
		require.Equal(t, o.fulGrants(t, o.env.Token(t, c.b), e.ID)[0].ID, got[0].Data["grant"])
	})
}

const lcExtend = `mutation($g: ID!, $d: String, $e: Time, $j: String!) {
  requestExtension(grantId: $g, duration: $d, endsAt: $e, justification: $j) { id status extendsGrantID
    items { id status stages { reviewerKind tasks { id reviewer { email } } } } } }`

type lcExtension struct {
	ID             string
	Status         string
	ExtendsGrantID *string
	Items          []struct {
		ID     string
		Status string
		Stages []struct {
			ReviewerKind string
			Tasks        []struct {
				ID       string
				Reviewer struct{ Email string }
			}
		}
	}
}

// TestLifecycleExtension: an approved extension moves the grant's end
// (ACCESS_EXTENDED with the old and new end) and the expiry job of the old
// end leaves the grant alone; a denied one leaves the end; the policy's
// lighter review sends extensions to the owners alone; only the holder, the
// requester of the grant or an IT admin may ask.
func TestLifecycleExtension(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		o := newOrg(t, db)
		c := o.fulCast(t)
		env := o.env
		o1 := env.User(t, "o1@example.com", enum.PlatformRoleUser)
		other := env.User(t, "x@example.com", enum.PlatformRoleUser)
		app, e := o.app(t, "Wiki", enum.FulfillmentDirect, []*ent.User{o1}, enum.ReviewerKindManager)
		req := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT1H"})
		o.fulApprove(t, c, req.ID, "Wiki users")
		o.fulAwait(t, c.tokB, req.Items[0].ID, "FULFILLED")
		g := o.fulGrants(t, c.tokB, e.ID)[0]
		oldEnd := *g.EndsAt

		// Who may ask, and what.
		xTok := env.Token(t, other)
		require.Equal(t, "NOT_FOUND", env.Do(t, xTok, lcExtend, map[string]any{"g": g.ID, "d": "PT1H", "j": "more"}).Code(),
			"someone who cannot see the grant")
		require.Equal(t, "INVALID_INPUT", env.Do(t, c.tokB, lcExtend, map[string]any{"g": g.ID, "d": "PT1H", "e": oldEnd.Add(time.Hour), "j": "more"}).Code())
		require.Equal(t, "INVALID_INPUT", env.Do(t, c.tokB, lcExtend, map[string]any{"g": g.ID, "e": oldEnd.Add(-time.Minute), "j": "more"}).Code(),
			"an end before the current one")

		// Denied: the end stays.
		var out struct{ RequestExtension lcExtension }
		env.MustDo(t, c.tokB, lcExtend, map[string]any{"g": g.ID, "d": "PT2H", "j": "the migration runs late"}, &out)
		ext := out.RequestExtension
		require.Equal(t, g.ID, *ext.ExtendsGrantID)
		require.Equal(t, "MANAGER", ext.Items[0].Stages[0].ReviewerKind, "the full review by default")
		env.MustDo(t, c.tokM, decide, map[string]any{"id": ext.Items[0].Stages[0].Tasks[0].ID, "d": "DENY"}, nil)
		require.Equal(t, "DENIED", o.fulItem(t, c.tokB, ext.Items[0].ID).Status)
		require.Equal(t, oldEnd, *o.fulGrants(t, c.tokB, e.ID)[0].EndsAt, "a denied extension leaves the end")

		// Approved: the end moves by the duration, with no call to the
		// application (the access exists).
		grantsSent := len(o.receiver.Deliveries(webhook.TypeGrant))
		env.MustDo(t, c.tokB, lcExtend, map[string]any{"g": g.ID, "d": "PT2H", "j": "the migration runs late"}, &out)
		ext = out.RequestExtension
		env.MustDo(t, c.tokM, decide, map[string]any{"id": ext.Items[0].Stages[0].Tasks[0].ID, "d": "APPROVE"}, nil)
		o.fulAwait(t, c.tokB, ext.Items[0].ID, "FULFILLED")
		require.Len(t, o.receiver.Deliveries(webhook.TypeGrant), grantsSent, "no connector call for an extension of held access")
		gs := o.fulGrants(t, c.tokB, e.ID)
		require.Len(t, gs, 1, "the same grant, extended")
		require.Equal(t, g.ID, gs[0].ID)
		newEnd := oldEnd.Add(2 * time.Hour)
		require.WithinDuration(t, newEnd, *gs[0].EndsAt, time.Second)
		extended := rvEvents(t, env, c.tokB, ext.ID, string(audit.AccessExtended))
		require.Len(t, extended, 1)
		require.Equal(t, oldEnd.UTC().Format(time.RFC3339), extended[0].Data["oldEndsAt"])
		require.Equal(t, gs[0].EndsAt.UTC().Format(time.RFC3339), extended[0].Data["newEndsAt"])
		require.Equal(t, true, extended[0].Data["extension"])

		// The old end comes: its expiry job leaves the grant; the new end
		// ends it.
		env.Clock.Advance(oldEnd.Sub(env.Clock.Now()) + time.Minute)
		require.Equal(t, 1, env.RunDue(t, "expire_grant"), "the old end is due")
		fulAwaitJob(t, db, "expire_grant", 0, 1, "the old expiry job ran")
		require.Nil(t, o.fulGrants(t, env.Token(t, c.b), e.ID)[0].RevokedAt, "not revoked at the old end")
		env.Clock.Advance(2 * time.Hour)
		require.Equal(t, 1, env.RunDue(t, "expire_grant"), "the new end is due")
		// Tokens are minted at the clock's time: fresh ones after the advances.
		c = fulCast{m: c.m, b: c.b, tokM: env.Token(t, c.m), tokB: env.Token(t, c.b)}
		require.Eventually(t, func() bool { return o.fulGrants(t, c.tokB, e.ID)[0].RevokedAt != nil }, fulWait, 10*time.Millisecond,
			"revoked at the new end")

		// The lighter review: the application's owners alone.
		o.lcSet(t, app, map[string]any{"extensionReview": "APPLICATION_OWNER"})
		again := o.fulSubmit(t, c.tokB, map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "duration": "PT1H"})
		o.fulApprove(t, c, again.ID, "Wiki users")
		o.fulAwait(t, c.tokB, again.Items[0].ID, "FULFILLED")
		g2 := o.fulGrants(t, c.tokB, e.ID)
		var live string
		for _, x := range g2 {
			if x.RevokedAt == nil {
				live = x.ID
			}
		}
		require.NotEmpty(t, live)
		env.MustDo(t, env.Token(t, o.admin), lcExtend, map[string]any{"g": live, "d": "PT1H", "j": "asked by IT"}, &out)
		require.Equal(t, "APPLICATION_OWNER", out.RequestExtension.Items[0].Stages[0].ReviewerKind)
		require.Equal(t, "o1@example.com", out.RequestExtension.Items[0].Stages[0].Tasks[0].Reviewer.Email)
		assert.Len(t, out.RequestExtension.Items[0].Stages, 1, "one stage")
	})
}

// TestLifecycleSweepJobRuns: the sweep is a periodic River job of the
// server's runner.
func TestLifecycleSweepJobRuns(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		newOrg(t, db)
		require.Eventually(t, func() bool { return len(fulJobs(t, db, "lifecycle_sweep")) > 0 }, fulWait, 20*time.Millisecond,
			"the sweep runs when the runner starts")
	})
}

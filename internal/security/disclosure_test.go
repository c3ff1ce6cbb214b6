package security_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/grant"
	"gatehouse/ent/identity"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/workflow/rules"
)

// Disclosure through preview and submit (issue "Security hardening" §4,
// DESIGN §4.1): a USER must learn nothing through previewAccessRequest or
// submitAccessRequest that they could not read through queries. Each case
// below answers the same question twice for a plain USER — once while the
// victim does not hold the grant (has no pending request, no account), once
// while they do — and requires the two HTTP response bodies to be
// byte-identical. The beneficiary and an IT admin must still get the truth.

const discPreview = `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) {
  action mode beneficiary { email }
  items { action entitlement { name } application { name } privileged autoApproved
    stages { level reviewerKind rule quorum reviewers { email } } }
  excluded { entitlement { name } reason }
  accountsToCreate { name }
  notes autoApproved
  errors { code message field }
} }`

// discSubmit selects everything of the new request but its IDs, which
// differ from one request to the next.
const discSubmit = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) {
  status action mode requester { email } beneficiary { email }
  completion { done total percent }
  items { action status entitlement { name } application { name }
    stages { level reviewerKind rule quorum status tasks { status reviewer { email } } } }
} }`

const discSubmitID = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`

const discCancel = `mutation($id: ID!) { cancelAccessRequest(id: $id) { id } }`

// discRaw posts one operation and returns the response body as sent.
func discRaw(t *testing.T, env *apitest.Env, token, query string, vars map[string]any) []byte {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, env.URL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return out
}

// discAnswers is what a caller learns from one input: the preview's body
// and the submission's body.
type discAnswers struct{ preview, submit string }

// discWorld is the organisation of the disclosure tests.
type discWorld struct {
	env                          *apitest.Env
	admin, attacker, peer        *ent.User
	victim, victimMgr, colleague *ent.User
	vault, ledger                *ent.Application
	vaultRead, vaultRoot         *ent.Entitlement
	ledgerUsers, ledgerAudit     *ent.Entitlement
	adminTok, attackerTok        string
	victimTok, victimMgrTok      string
}

func discSeed(t *testing.T, db *dbtest.DB) *discWorld {
	t.Helper()
	rcv := apitest.NewReceiver(t)
	env := apitest.NewWith(t, db, apitest.Options{Env: rcv.Env()})
	ctx := apitest.Sys()
	w := &discWorld{env: env}
	person := func(email, dept string, mgr *ent.User) *ent.User {
		c := env.Client.User.Create().SetEmail(email).SetName(email).SetDepartment(dept)
		if mgr != nil {
			c.SetManager(mgr)
		}
		u, err := c.Save(ctx)
		require.NoError(t, err)
		return u
	}
	w.admin = env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	attackerMgr := person("amgr@example.com", "Sales", nil)
	w.attacker = person("attacker@example.com", "Sales", attackerMgr)
	w.peer = person("peer@example.com", "Sales", attackerMgr)
	w.victimMgr = person("vmgr@example.com", "Finance", nil)
	w.victim = person("victim@example.com", "Finance", w.victimMgr)
	w.colleague = person("colleague@example.com", "Finance", w.victimMgr)
	app := func(name string) *ent.Application {
		a, err := env.Client.Application.Create().SetName(name).SetFulfillment(enum.FulfillmentDirect).
			SetConnectorKind(enum.ConnectorKindWebhook).SetConnectorConfig(rcv.Config()).Save(ctx)
		require.NoError(t, err)
		return a
	}
	entitlement := func(a *ent.Application, name string, privileged bool) *ent.Entitlement {
		e, err := env.Client.Entitlement.Create().SetApplication(a).SetExternalID(name).SetName(name).
			SetPrivileged(privileged).SetRequestable(true).Save(ctx)
		require.NoError(t, err)
		return e
	}
	w.vault, w.ledger = app("Vault"), app("Ledger")
	w.vaultRead = entitlement(w.vault, "Vault read", false)
	w.vaultRoot = entitlement(w.vault, "Vault root", true)
	w.ledgerUsers = entitlement(w.ledger, "Ledger users", false)
	w.ledgerAudit = entitlement(w.ledger, "Ledger audit", false)
	w.adminTok, w.attackerTok = env.Token(t, w.admin), env.Token(t, w.attacker)
	w.victimTok, w.victimMgrTok = env.Token(t, w.victim), env.Token(t, w.victimMgr)
	return w
}

// account gives u an account in app (once) and returns it.
func (w *discWorld) account(t *testing.T, u *ent.User, app *ent.Application) *ent.Identity {
	t.Helper()
	ctx := apitest.Sys()
	idn, err := w.env.Client.Identity.Query().Where(identity.UserID(u.ID), identity.ApplicationID(app.ID)).Only(ctx)
	if ent.IsNotFound(err) {
		idn, err = w.env.Client.Identity.Create().SetUserID(u.ID).SetApplicationID(app.ID).
			SetExternalID("ext-" + string(u.ID)).SetLogin(u.Email).Save(ctx)
	}
	require.NoError(t, err)
	return idn
}

// hold makes u hold e permanently, with an account in e's application.
func (w *discWorld) hold(t *testing.T, u *ent.User, e *ent.Entitlement) *ent.Grant {
	t.Helper()
	idn := w.account(t, u, w.appOf(e))
	g, err := w.env.Client.Grant.Create().SetIdentityID(idn.ID).SetEntitlementID(e.ID).Save(apitest.Sys())
	require.NoError(t, err)
	return g
}

func (w *discWorld) appOf(e *ent.Entitlement) *ent.Application {
	if e.ApplicationID == w.vault.ID {
		return w.vault
	}
	return w.ledger
}

// answers previews and submits in as token; a request that was created is
// cancelled again, so that the next question meets the same state.
func (w *discWorld) answers(t *testing.T, token string, in map[string]any) discAnswers {
	t.Helper()
	vars := map[string]any{"in": in}
	a := discAnswers{preview: string(discRaw(t, w.env, token, discPreview, vars))}
	a.submit = string(discRaw(t, w.env, token, discSubmit, vars))
	w.cancelOpen(t, token)
	return a
}

// cancelOpen cancels the open requests of the token's user.
func (w *discWorld) cancelOpen(t *testing.T, token string) {
	t.Helper()
	var out struct {
		Viewer struct {
			Requests []struct{ ID, Status string }
		}
	}
	w.env.MustDo(t, token, `{ viewer { requests { id status } } }`, nil, &out)
	for _, r := range out.Viewer.Requests {
		if r.Status == "PENDING_REVIEW" {
			w.env.MustDo(t, token, discCancel, map[string]any{"id": r.ID}, nil)
		}
	}
}

// preview returns the decoded preview of in as token.
func (w *discWorld) preview(t *testing.T, token string, in map[string]any) discPreviewResult {
	t.Helper()
	var out struct{ PreviewAccessRequest discPreviewResult }
	w.env.MustDo(t, token, discPreview, map[string]any{"in": in}, &out)
	return out.PreviewAccessRequest
}

type discPreviewResult struct {
	Items []struct {
		Entitlement struct{ Name string }
	}
	AccountsToCreate []struct{ Name string }
	Notes            []string
	Errors           []struct{ Code, Message string }
}

func (p discPreviewResult) items() []string {
	out := []string{}
	for _, it := range p.Items {
		out = append(out, it.Entitlement.Name)
	}
	return out
}

func (p discPreviewResult) code() string {
	if len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0].Code
}

func discIDs(es ...*ent.Entitlement) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.ID)
	}
	return out
}

// TestDisclosureHoldings plays the cases where the victim's holdings,
// accounts or open requests decided the answer: ALREADY_HELD, NOT_HELD,
// DUPLICATE_PENDING and accountsToCreate.
func TestDisclosureHoldings(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		w := discSeed(t, db)
		grantRead := map[string]any{"action": "GRANT", "beneficiaryId": w.victim.ID, "entitlementIds": discIDs(w.vaultRead)}
		revokeRead := map[string]any{"action": "REVOKE", "beneficiaryId": w.victim.ID, "entitlementIds": discIDs(w.vaultRead)}
		grantLedger := map[string]any{"action": "GRANT", "beneficiaryId": w.victim.ID, "entitlementIds": discIDs(w.ledgerUsers)}

		// Before: the victim holds nothing, has no account, no request.
		before := map[string]discAnswers{
			"grant":  w.answers(t, w.attackerTok, grantRead),
			"revoke": w.answers(t, w.attackerTok, revokeRead),
			"ledger": w.answers(t, w.attackerTok, grantLedger),
		}
		require.Equal(t, "NOT_HELD", w.preview(t, w.victimTok, revokeRead).code(), "the beneficiary learns the truth")
		require.Equal(t, "NOT_HELD", w.preview(t, w.adminTok, revokeRead).code(), "an IT admin learns the truth")
		require.Equal(t, []struct{ Name string }{{"Ledger"}}, w.preview(t, w.adminTok, grantLedger).AccountsToCreate)

		// After: the victim holds Vault read permanently, has an account
		// in Ledger, and has an open request of their own for Ledger users.
		w.hold(t, w.victim, w.vaultRead)
		w.account(t, w.victim, w.ledger)
		var own struct{ SubmitAccessRequest struct{ ID string } }
		w.env.MustDo(t, w.victimTok, discSubmitID, map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": discIDs(w.ledgerUsers)}}, &own)
		ownID := own.SubmitAccessRequest.ID

		after := map[string]discAnswers{
			"grant":  w.answers(t, w.attackerTok, grantRead),
			"revoke": w.answers(t, w.attackerTok, revokeRead),
			"ledger": w.answers(t, w.attackerTok, grantLedger),
		}
		for k := range before {
			require.Equal(t, before[k].preview, after[k].preview, "%s: the preview must not depend on what the victim holds", k)
			require.Equal(t, before[k].submit, after[k].submit, "%s: the submission must not depend on what the victim holds", k)
		}
		require.NotContains(t, after["ledger"].preview+after["ledger"].submit, ownID, "never a request ID the caller cannot read")
		require.Contains(t, before["grant"].submit, `"status":"PENDING_REVIEW"`, "accepted: fulfilment settles it")
		require.Contains(t, before["ledger"].preview, `"accountsToCreate":[]`, "accounts are hidden")

		// The truth for those who may read it.
		p := w.preview(t, w.victimTok, grantRead)
		require.Equal(t, "ALREADY_HELD", p.code())
		p = w.preview(t, w.adminTok, grantRead)
		require.Equal(t, "ALREADY_HELD", p.code())
		require.Contains(t, p.Errors[0].Message, "victim@example.com")
		require.Empty(t, w.preview(t, w.adminTok, revokeRead).Errors)
		p = w.preview(t, w.adminTok, grantLedger)
		require.Equal(t, "DUPLICATE_PENDING", p.code())
		require.Contains(t, p.Errors[0].Message, ownID, "an IT admin reads every request")
		p = w.preview(t, w.victimMgrTok, grantLedger)
		require.Equal(t, "DUPLICATE_PENDING", p.code(), "the reviewer of the open request reads it")
		require.Contains(t, p.Errors[0].Message, ownID)
		w.env.MustDo(t, w.victimTok, discCancel, map[string]any{"id": ownID}, nil)
		require.Empty(t, w.preview(t, w.adminTok, grantLedger).AccountsToCreate, "the victim has a Ledger account")
	})
}

// TestDisclosureLikeModes plays LIKE_USER and LIKE_JOB_TITLE: a stranger as
// reference, a peer's privileged access, a job title one person holds, and
// an entitlement one member of a cohort holds.
func TestDisclosureLikeModes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		w := discSeed(t, db)
		ctx := apitest.Sys()
		treasurer, err := w.env.Client.JobTitle.Create().SetName("Treasurer").Save(ctx)
		require.NoError(t, err)
		analyst, err := w.env.Client.JobTitle.Create().SetName("Analyst").AddBaselineEntitlements(w.ledgerUsers).Save(ctx)
		require.NoError(t, err)
		require.NoError(t, w.victim.Update().SetJobTitle(treasurer).Exec(ctx))
		// Analysts: the victim's colleague, the victim's manager and the
		// peer: a cohort of three.
		for _, u := range []*ent.User{w.colleague, w.victimMgr, w.peer} {
			require.NoError(t, u.Update().SetJobTitle(analyst).Exec(ctx))
		}
		w.hold(t, w.peer, w.vaultRead)

		cases := map[string]map[string]any{
			"stranger as reference": {"action": "GRANT", "mode": "LIKE_USER", "referenceUserId": w.victim.ID},
			"beneficiary as reference": {"action": "GRANT", "mode": "LIKE_USER", "beneficiaryId": w.colleague.ID,
				"referenceUserId": w.colleague.ID},
			"peer's privileged access": {"action": "GRANT", "mode": "LIKE_USER", "referenceUserId": w.peer.ID},
			"title held by one person": {"action": "GRANT", "mode": "LIKE_JOB_TITLE", "jobTitleId": treasurer.ID, "threshold": 0.01},
			"one holder in a cohort":   {"action": "GRANT", "mode": "LIKE_JOB_TITLE", "jobTitleId": analyst.ID, "threshold": 0.01},
		}
		before := map[string]discAnswers{}
		for name, in := range cases {
			before[name] = w.answers(t, w.attackerTok, in)
		}

		// Now the victim holds Vault read and Vault root; every analyst
		// holds Vault root; the colleague alone holds Ledger audit (one
		// analyst of three, as the peer alone holds Vault read).
		for _, g := range []struct {
			u *ent.User
			e *ent.Entitlement
		}{
			{w.victim, w.vaultRead}, {w.victim, w.vaultRoot},
			{w.peer, w.vaultRoot}, {w.colleague, w.vaultRoot}, {w.victimMgr, w.vaultRoot},
			{w.colleague, w.ledgerAudit},
		} {
			w.hold(t, g.u, g.e)
		}
		for name, in := range cases {
			after := w.answers(t, w.attackerTok, in)
			require.Equal(t, before[name].preview, after.preview, "%s: the preview must not depend on what others hold", name)
			require.Equal(t, before[name].submit, after.submit, "%s: the submission must not depend on what others hold", name)
		}

		// What the USER is told, the same before and after.
		p := w.preview(t, w.attackerTok, cases["stranger as reference"])
		require.Equal(t, "INVALID_INPUT", p.code())
		require.Equal(t, "INVALID_INPUT", w.preview(t, w.attackerTok, cases["beneficiary as reference"]).code())
		p = w.preview(t, w.attackerTok, cases["peer's privileged access"])
		require.Equal(t, []string{"Vault read"}, p.items(), "the peer's access, without the privileged one")
		require.Equal(t, []string{rules.NotePrivilegedByName}, p.Notes)
		require.Equal(t, "INVALID_INPUT", w.preview(t, w.attackerTok, cases["title held by one person"]).code())
		p = w.preview(t, w.attackerTok, cases["one holder in a cohort"])
		require.Equal(t, []string{"Ledger users"}, p.items(), "the baseline only: Vault read and Ledger audit have one analyst holder each, Vault root is privileged")

		// An IT admin reads every grant, and gets the full resolution.
		asAdmin := func(in map[string]any) map[string]any {
			// Privileged entitlements need a justification (request policy).
			out := map[string]any{"beneficiaryId": w.attacker.ID, "justification": "the same access as the team"}
			for k, v := range in {
				out[k] = v
			}
			return out
		}
		p = w.preview(t, w.adminTok, asAdmin(cases["stranger as reference"]))
		require.ElementsMatch(t, []string{"Vault read", "Vault root"}, p.items())
		require.Empty(t, p.Notes)
		p = w.preview(t, w.adminTok, asAdmin(cases["peer's privileged access"]))
		require.ElementsMatch(t, []string{"Vault read", "Vault root"}, p.items())
		p = w.preview(t, w.adminTok, asAdmin(cases["title held by one person"]))
		require.ElementsMatch(t, []string{"Vault read", "Vault root"}, p.items())
		p = w.preview(t, w.adminTok, asAdmin(cases["one holder in a cohort"]))
		require.ElementsMatch(t, []string{"Ledger audit", "Ledger users", "Vault read", "Vault root"}, p.items())

		// A USER copying their own access onto a peer reads it all but
		// still passes on no privileged entitlement that way, and learns
		// nothing of what the peer holds: Vault read is proposed although
		// the peer holds it.
		w.hold(t, w.attacker, w.vaultRoot)
		w.hold(t, w.attacker, w.vaultRead)
		p = w.preview(t, w.attackerTok, map[string]any{"action": "GRANT", "mode": "LIKE_USER", "beneficiaryId": w.peer.ID,
			"referenceUserId": w.attacker.ID})
		require.Empty(t, p.Errors)
		require.Equal(t, []string{"Vault read"}, p.items())
	})
}

// TestDisclosureFulfilment follows to the end what a USER may now submit
// without learning the victim's holdings: a REVOKE of access the victim
// does not hold, and a GRANT (temporary) of access the victim holds
// permanently. Both are approved and fulfilled; the permanent grant stays
// permanent and single, and the trail says so.
func TestDisclosureFulfilment(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		w := discSeed(t, db)
		ctx := apitest.Sys()
		held := w.hold(t, w.victim, w.vaultRead)

		submit := func(in map[string]any) string {
			var out struct{ SubmitAccessRequest struct{ ID string } }
			w.env.MustDo(t, w.attackerTok, discSubmitID, map[string]any{"in": in}, &out)
			return out.SubmitAccessRequest.ID
		}
		type item struct {
			ID     string
			Status string
			Stages []struct {
				Tasks []struct {
					ID       string
					Status   string
					Reviewer struct{ Email string }
				}
			}
		}
		items := func(token, id string) []item {
			var out struct{ Node struct{ Items []item } }
			w.env.MustDo(t, token, `query($id: ID!) { node(id: $id) { ... on AccessRequest {
  items { id status stages { tasks { id status reviewer { email } } } } } } }`, map[string]any{"id": id}, &out)
			return out.Node.Items
		}
		approve := func(id string) {
			for _, it := range items(w.victimMgrTok, id) {
				task := it.Stages[0].Tasks[0]
				require.Equal(t, "vmgr@example.com", task.Reviewer.Email, "the victim's manager reviews")
				w.env.MustDo(t, w.victimMgrTok, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
					map[string]any{"id": task.ID}, nil)
			}
		}
		fulfilled := func(id string) {
			require.Eventually(t, func() bool {
				its := items(w.attackerTok, id)
				return len(its) == 1 && its[0].Status == "FULFILLED"
			}, time.Minute, 50*time.Millisecond)
		}

		// REVOKE of Vault root, which the victim does not hold (they have
		// an account in Vault), and of Ledger users (no account at all).
		rev := submit(map[string]any{"action": "REVOKE", "beneficiaryId": w.victim.ID, "entitlementIds": discIDs(w.vaultRoot)})
		revNoAccount := submit(map[string]any{"action": "REVOKE", "beneficiaryId": w.victim.ID, "entitlementIds": discIDs(w.ledgerUsers)})
		approve(rev)
		approve(revNoAccount)
		fulfilled(rev)
		fulfilled(revNoAccount)
		n, err := w.env.Client.Identity.Query().Where(identity.UserID(w.victim.ID), identity.ApplicationID(w.ledger.ID)).Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "revoking what was never there creates no account")

		// GRANT of Vault read for a day, which the victim holds for good.
		gr := submit(map[string]any{"action": "GRANT", "beneficiaryId": w.victim.ID, "entitlementIds": discIDs(w.vaultRead), "duration": "P1D"})
		approve(gr)
		fulfilled(gr)
		gs, err := w.env.Client.Grant.Query().Where(grant.EntitlementID(w.vaultRead.ID), grant.RevokedAtIsNil(),
			grant.HasIdentityWith(identity.UserID(w.victim.ID))).All(ctx)
		require.NoError(t, err)
		require.Len(t, gs, 1, "one grant, not two")
		require.Equal(t, held.ID, gs[0].ID)
		require.Nil(t, gs[0].EndsAt, "a permanent holding is not shortened by a temporary request")
		ev, err := w.env.Client.AuditEvent.Query().Where(auditevent.Action("ACCESS_GRANTED"), auditevent.RequestID(pulid.ID(gr))).Only(ctx)
		require.NoError(t, err)
		require.NotContains(t, ev.Data, "endsAt", "the trail records the grant's real end: none")
	})
}

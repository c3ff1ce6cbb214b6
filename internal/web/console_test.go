package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/auth"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
	"gatehouse/internal/web"
)

// TestConsoleBundleSize: the console's script stays under 200 KB gzipped.
func TestConsoleBundleSize(t *testing.T) {
	t.Parallel()
	js, err := os.ReadFile("dist/console.js")
	require.NoError(t, err)
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(js)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.Less(t, gz.Len(), 200<<10, "console.js gzipped: %d bytes", gz.Len())
}

// problemLog collects what a tab logs as an error.
type problemLog struct {
	mu       sync.Mutex
	problems []string
}

func (p *problemLog) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			p.problems = append(p.problems, ev.Entry.Text)
		}
	case *runtime.EventExceptionThrown:
		text := "exception: " + ev.ExceptionDetails.Text
		if e := ev.ExceptionDetails.Exception; e != nil {
			text += " " + e.Description // the error and its stack
		}
		p.problems = append(p.problems, text)
	}
}

// reset forgets what was logged so far.
func (p *problemLog) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = nil
}

func (p *problemLog) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

// signIn opens the console and signs in by pasting token.
func signIn(t *testing.T, ctx context.Context, base, token, email string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/app"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		voidEval(fmt.Sprintf(`(() => { const el = document.querySelector("#token"); el.value = %q; el.dispatchEvent(new Event("input", {bubbles: true})); })()`, token)),
		chromedp.Click(chromedp.CSS(`.signin form button[type=submit]`)),
		voidPoll(fmt.Sprintf(`!!document.querySelector('[data-viewer=%q]')`, email)),
	))
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("gatehouse.token")`))
	require.NoError(t, err)
	require.Equal(t, token, stored, "the console keeps the session token where GraphiQL reads it")
}

// percent is the expression of the percentage a completion bar shows.
func percent(sel string) string {
	return fmt.Sprintf(`document.querySelector(%q)?.dataset.percent`, sel)
}

// TestConsoleRequestReviewedLive runs the console in headless Chromium: a
// requester signs in, searches an entitlement, previews the request (its
// reviewers per stage) and submits it; a reviewer in a second browser
// context (its own storage and session) approves it from My Tasks. The
// request has one stage whose rule is ALL of the application's two owners:
// the requester's overall bar moves 0% → 50% → 100% without a reload,
// while the first reviewer's own completion is 0% before the decision and
// 100% after it (their done tasks over their tasks, DESIGN §4.3) and their
// view of the overall number follows it to 100% when the second owner
// approves. The audit PDF link of the request page downloads a PDF. Every
// page is saved as a screenshot. SQLite only: the pages do not depend on
// the database.
func TestConsoleRequestReviewedLive(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	sys := apitest.Sys()
	requester, err := env.Client.User.Create().SetEmail("rosa.requester@example.com").SetName("Rosa Requester").Save(sys)
	require.NoError(t, err)
	owners := make([]*ent.User, 2)
	for i, name := range []string{"Olga Owner", "Omar Owner"} {
		owners[i], err = env.Client.User.Create().SetEmail(strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com").SetName(name).Save(sys)
		require.NoError(t, err)
	}
	app, err := env.Client.Application.Create().SetName("Payroll").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).AddOwners(owners...).Save(sys)
	require.NoError(t, err)
	_, err = env.Client.Entitlement.Create().SetApplication(app).SetExternalID("payroll-readers").SetName("Payroll readers").Save(sys)
	require.NoError(t, err)
	_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).
		SetReviewerKind(enum.ReviewerKindApplicationOwner).SetRule(enum.StageRuleAll).Save(sys)
	require.NoError(t, err)
	base := serve(t, env.Handler)

	var reqLog, revLog problemLog
	rq := browser(t, reqLog.listen)
	// The reviewer's tab: a second browser context of the same Chromium,
	// with storage of its own.
	rv, cancel := chromedp.NewContext(rq, chromedp.WithNewBrowserContext(), chromedp.WithListener(revLog.listen))
	t.Cleanup(cancel)
	t.Cleanup(func() {
		if t.Failed() {
			for name, ctx := range map[string]context.Context{"requester": rq, "reviewer": rv} {
				text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
				t.Logf("the %s's page when the test failed:\n%s", name, text)
			}
		}
	})

	// The requester signs in, and previews the request before submitting.
	require.NoError(t, chromedp.Do(rq, chromedp.Navigate(base+"/app"), chromedp.WaitVisible(chromedp.CSS(`#token`))))
	screenshot(t, rq, "console-sign-in")
	signIn(t, rq, base, env.Token(t, requester), requester.Email)
	screenshot(t, rq, "console-my-requests-empty")
	require.NoError(t, chromedp.Do(rq,
		chromedp.Click(chromedp.CSS(`nav a[href="#/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#entitlement`)),
		chromedp.SendKeys(chromedp.CSS(`#entitlement`), "payroll"),
		chromedp.WaitVisible(chromedp.CSS(`.hits button`)),
		chromedp.Click(chromedp.CSS(`.hits button`)),
		chromedp.SendKeys(chromedp.CSS(`#justification`), "Quarter-end payroll checks"),
		voidPoll(`(() => { const p = document.querySelector(".preview")?.innerText ?? "";
			return p.includes("Payroll: Payroll readers") && p.includes("Olga Owner, Omar Owner") && p.includes("(all)"); })()`),
		voidPoll(`!document.querySelector(".new-request button[type=submit]").disabled`),
	))
	screenshot(t, rq, "console-new-request")
	require.NoError(t, chromedp.Do(rq,
		chromedp.Click(chromedp.CSS(`.new-request button[type=submit]`)),
		voidPoll(`location.hash.startsWith("#/requests/") && !!document.querySelector("main.request")`),
		voidPoll(percent(`main.request .completion.overall`)+` === "0"`),
	))
	id, err := chromedp.Run(rq, chromedp.Evaluate[string](`document.querySelector("main.request").dataset.request`))
	require.NoError(t, err)
	require.NotEmpty(t, id)
	require.NoError(t, chromedp.Do(rq,
		voidPoll(percent(`[data-reviewer="olga.owner@example.com"] .completion`)+` === "0"`),
		voidPoll(`document.querySelector(".timeline")?.innerText.includes("REQUEST_SUBMITTED")`),
	))
	screenshot(t, rq, "console-request")

	// The first owner, in the second context, sees the task with both
	// numbers at 0% and approves it.
	signIn(t, rv, base, env.Token(t, owners[0]), owners[0].Email)
	card := fmt.Sprintf(`[data-request=%q]`, id)
	require.NoError(t, chromedp.Do(rv,
		chromedp.Click(chromedp.CSS(`nav a[href="#/tasks"]`)),
		chromedp.WaitVisible(chromedp.CSS(card+` [data-task]`)),
		voidPoll(percent(card+` .completion.mine`)+` === "0"`),
		voidPoll(percent(card+` .completion.overall`)+` === "0"`),
	))
	screenshot(t, rv, "console-my-tasks")
	require.NoError(t, chromedp.Do(rv,
		chromedp.SendKeys(chromedp.CSS(card+` [data-task] input[type=text]`), "fine for the quarter"),
		chromedp.Click(chromedp.CSS(card+` [data-task] button.approve`)),
		voidPoll(`!document.querySelector(`+fmt.Sprintf("%q", card+` [data-task]`)+`)`),
		voidPoll(percent(card+` .completion.mine`)+` === "100"`),
		voidPoll(percent(card+` .completion.overall`)+` === "50"`),
	))
	screenshot(t, rv, "console-my-tasks-decided")

	// The requester's page, never reloaded, moved to 50%; Olga's own
	// number is 100%, Omar's still 0%.
	require.NoError(t, chromedp.Do(rq,
		voidPoll(percent(`main.request .completion.overall`)+` === "50"`),
		voidPoll(percent(`[data-reviewer="olga.owner@example.com"] .completion`)+` === "100"`),
		voidPoll(percent(`[data-reviewer="omar.owner@example.com"] .completion`)+` === "0"`),
	))
	screenshot(t, rq, "console-request-half")

	// The second owner approves (through the API): 100% on both pages.
	var tasks struct {
		MyTasks struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}
	omar := env.Token(t, owners[1])
	env.MustDo(t, omar, `{ myTasks { edges { node { id } } } }`, nil, &tasks)
	require.Len(t, tasks.MyTasks.Edges, 1)
	env.MustDo(t, omar, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
		map[string]any{"id": tasks.MyTasks.Edges[0].Node.ID}, nil)
	require.NoError(t, chromedp.Do(rq,
		voidPoll(percent(`main.request .completion.overall`)+` === "100"`),
		voidPoll(percent(`[data-reviewer="omar.owner@example.com"] .completion`)+` === "100"`),
	))
	require.NoError(t, chromedp.Do(rv,
		voidPoll(percent(card+` .completion.overall`)+` === "100"`),
		voidPoll(percent(card+` .completion.mine`)+` === "100"`),
	))
	screenshot(t, rq, "console-request-done")

	// Payroll is fulfilled by hand: Olga, an owner, confirms it from the
	// fulfilment queue, and the requester's page shows the request
	// completed.
	require.NoError(t, chromedp.Do(rv,
		chromedp.Click(chromedp.CSS(`nav a[href="#/fulfilment"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-item] button.approve`)),
	))
	screenshot(t, rv, "console-fulfilment")
	require.NoError(t, chromedp.Do(rv,
		chromedp.SendKeys(chromedp.CSS(`[data-item] input[id^="ext-"]`), "PR-1042"),
		chromedp.Click(chromedp.CSS(`[data-item] button.approve`)),
		voidPoll(`!document.querySelector("[data-item]") && document.querySelector("main").innerText.includes("Nothing waits for you")`),
	))
	require.NoError(t, chromedp.Do(rq,
		voidPoll(`document.querySelector("main.request h1 .status")?.innerText.toLowerCase() === "completed"`),
	))
	screenshot(t, rq, "console-request-completed")

	// The audit PDF link downloads a PDF.
	head, err := chromedp.Run(rq, chromedp.Evaluate[string](`fetch(document.querySelector('a.download[data-format="pdf"]').href,
		{headers: {Authorization: "Bearer " + localStorage.getItem("gatehouse.token")}})
		.then(r => r.arrayBuffer()).then(b => String.fromCharCode(...new Uint8Array(b).slice(0, 5)))`, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, "%PDF-", head)

	// Completed lists it at 100%; My Requests (open ones) no longer does.
	require.NoError(t, chromedp.Do(rq,
		chromedp.Click(chromedp.CSS(`nav a[href="#/completed"]`)),
		voidPoll(percent(`.cards `+card+` .completion.overall`)+` === "100"`),
	))
	screenshot(t, rq, "console-completed")
	require.NoError(t, chromedp.Do(rq,
		chromedp.Click(chromedp.CSS(`nav a[href="#/requests"]`)),
		voidPoll(`document.querySelector("main").innerText.includes("No requests here")`),
	))

	// The notifications page lists what the reviewer was told; the badge
	// counts the unread ones.
	require.NoError(t, chromedp.Do(rv,
		chromedp.Click(chromedp.CSS(`nav a[href="#/notifications"]`)),
		voidPoll(`document.querySelector("main h1")?.innerText.startsWith("Notifications")`),
		voidPoll(`!document.querySelector("main").innerText.includes("Loading")`),
	))
	screenshot(t, rv, "console-notifications")

	require.Empty(t, reqLog.all(), "the requester's page logs no error")
	require.Empty(t, revLog.all(), "the reviewer's page logs no error")
}

// TestConsoleDemoPicker: where the server runs the demo (the page names
// the demo sign-in), the console offers the demo users; picking one signs
// in as that person, and signing out comes back to the picker. Without
// the demo the page offers only the token field.
func TestConsoleDemoPicker(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	_, err := demo.Seed(context.Background(), env.Client)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/", env.Handler)
	mux.Handle("GET "+web.AppPath, web.Handler(web.Config{DemoSignIn: true}))
	mux.Handle(demo.SignInPath, demo.SignIn(env.Client, func(id pulid.ID) (string, error) { return env.Auth.IssueJWT(id, time.Hour) }))
	demoBase := serve(t, mux)
	plainBase := serve(t, env.Handler)
	var log problemLog
	ctx := browser(t, log.listen)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(plainBase+web.AppPath),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
	))
	picker, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector(".demo-users")`))
	require.NoError(t, err)
	require.False(t, picker, "no picker without the demo")
	// A token the server refuses leads back to the sign-in, saying so.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#token`), "not-a-token"),
		chromedp.Click(chromedp.CSS(`.signin form button[type=submit]`)),
		voidPoll(`document.querySelector(".signin .error")?.innerText.includes("sign in again")`),
	))
	require.Equal(t, []string{"Failed to load resource: the server responded with a status of 401 (Unauthorized)"}, log.all())
	log.reset()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(demoBase+web.AppPath),
		chromedp.WaitVisible(chromedp.CSS(`.demo-users button[data-email="admin@example.com"]`)),
	))
	screenshot(t, ctx, "console-sign-in-demo")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.demo-users button[data-email="margaret.chen@example.com"]`)),
		voidPoll(`!!document.querySelector('[data-viewer="margaret.chen@example.com"]')`),
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.CSS(`.demo-users`)),
	))
	stored, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`localStorage.getItem("gatehouse.token") === null`))
	require.NoError(t, err)
	require.True(t, stored, "signing out forgets the token")
	require.Empty(t, log.all(), "the page logs no error")
}

// TestConsoleOIDCSignIn: with an OpenID Connect provider configured (a
// real one in the test process, mockoidc), the console's sign-in button runs
// the authorization code flow with PKCE as a public client: the browser
// goes to the provider, comes back to /app with a code, exchanges it with
// its code verifier at the token endpoint (the provider checks the
// challenge), and the ID token signs the person in. The provider stands for
// one that registers the console as a public client: it is told the
// client's secret only by the test, never by the browser, and answers the
// console's origin (CORS).
func TestConsoleOIDCSignIn(t *testing.T) {
	t.Parallel()
	m, err := mockoidc.NewServer(nil)
	require.NoError(t, err)
	var mu sync.Mutex
	var exchanges []url.Values
	require.NoError(t, m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			if r.URL.Path == mockoidc.TokenEndpoint && r.Method == http.MethodPost {
				require.NoError(t, r.ParseForm())
				mu.Lock()
				exchanges = append(exchanges, maps.Clone(r.PostForm))
				mu.Unlock()
				if r.PostForm.Get("client_secret") == "" {
					r.PostForm.Set("client_secret", m.ClientSecret)
					r.Form.Set("client_secret", m.ClientSecret)
				}
			}
			next.ServeHTTP(w, r)
		})
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, m.Start(ln, nil))
	t.Cleanup(func() { _ = m.Shutdown() })
	o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{Issuer: m.Issuer(), Audience: m.ClientID}, nil, time.Now)
	require.NoError(t, err)
	env := apitest.NewWith(t, dbtest.NewSQLite(t), apitest.Options{OIDC: o})
	env.User(t, "ines.oidc@example.com", enum.PlatformRoleUser)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-ines", Email: "ines.oidc@example.com", EmailVerified: true})
	base := serve(t, env.Handler)
	var log problemLog
	ctx := browser(t, log.listen)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+web.AppPath),
		chromedp.WaitVisible(chromedp.CSS(`.signin button.primary`)),
		chromedp.Click(chromedp.CSS(`.signin button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-viewer="ines.oidc@example.com"]`)),
	))
	location, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, base+web.AppPath, location, "the code leaves the address bar")
	token, err := chromedp.Run(ctx, chromedp.Evaluate[string](`localStorage.getItem("gatehouse.token")`))
	require.NoError(t, err)
	require.Equal(t, 3, len(strings.Split(token, ".")), "the ID token is the session's token")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, exchanges, 1)
	ex := exchanges[0]
	require.Equal(t, "authorization_code", ex.Get("grant_type"))
	require.Equal(t, m.ClientID, ex.Get("client_id"))
	require.Empty(t, ex.Get("client_secret"), "a public client has no secret")
	require.GreaterOrEqual(t, len(ex.Get("code_verifier")), 43, "PKCE: the verifier of the challenge sent to the provider")
	require.Equal(t, base+web.AppPath, ex.Get("redirect_uri"))
	require.Empty(t, log.all(), "the page logs no error")
}

// TestConsoleBulkDecide: a reviewer selects tasks of two requests in My
// Tasks and approves them at once (decideReviewTasks); both requests show
// the reviewer's part done. On a phone's width the page fits the screen. A
// request "like a person" shows the preview's error before any submission.
func TestConsoleBulkDecide(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	sys := apitest.Sys()
	requester, err := env.Client.User.Create().SetEmail("rita.requester@example.com").SetName("Rita Requester").Save(sys)
	require.NoError(t, err)
	owner, err := env.Client.User.Create().SetEmail("otto.owner@example.com").SetName("Otto Owner").Save(sys)
	require.NoError(t, err)
	app, err := env.Client.Application.Create().SetName("Ledger").SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).AddOwners(owner).Save(sys)
	require.NoError(t, err)
	_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).SetReviewerKind(enum.ReviewerKindApplicationOwner).Save(sys)
	require.NoError(t, err)
	token := env.Token(t, requester)
	var ids []string
	for _, name := range []string{"Ledger readers", "Ledger writers"} {
		e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name).SetName(name).Save(sys)
		require.NoError(t, err)
		var sub struct{ SubmitAccessRequest struct{ ID string } }
		env.MustDo(t, token, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": "month-end close"}}, &sub)
		ids = append(ids, sub.SubmitAccessRequest.ID)
	}
	base := serve(t, env.Handler)
	var log problemLog
	ctx := browser(t, log.listen)
	signIn(t, ctx, base, env.Token(t, owner), owner.Email)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="#/tasks"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-request=%q] [data-task] input[type=checkbox]`, ids[0]))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`[data-request=%q] [data-task] input[type=checkbox]`, ids[1]))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-request=%q] [data-task] input[type=checkbox]`, ids[0]))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-request=%q] [data-task] input[type=checkbox]`, ids[1]))),
		chromedp.WaitVisible(chromedp.CSS(`.bulk button.approve`)),
	))
	screenshot(t, ctx, "console-my-tasks-bulk")
	// On a phone's width the page is one column.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)))
	screenshot(t, ctx, "console-my-tasks-narrow")
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	require.NoError(t, err)
	require.False(t, wide, "nothing wider than the screen")
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.bulk button.approve`)),
		voidPoll(percent(fmt.Sprintf(`[data-request=%q] .completion.mine`, ids[0]))+` === "100"`),
		voidPoll(percent(fmt.Sprintf(`[data-request=%q] .completion.mine`, ids[1]))+` === "100"`),
		voidPoll(`!document.querySelector("[data-task]") && !document.querySelector(".bulk")`),
	))
	// New request, like a person: Otto is no peer of Rita's (same manager
	// or department), so the live preview shows the error submission would
	// give, and Submit stays disabled.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`nav a[href="#/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=mode][value=LIKE_USER]`)),
		chromedp.Click(chromedp.CSS(`input[name=mode][value=LIKE_USER]`)),
		chromedp.SendKeys(chromedp.CSS(`#like`), "rita"),
		chromedp.WaitVisible(chromedp.CSS(`.hits button`)),
		chromedp.Click(chromedp.CSS(`.hits button`)),
		voidPoll(`document.querySelector(".new-request")?.innerText.includes("What this person holds: Rita Requester")`),
		voidPoll(`document.querySelector(".preview .errors")?.innerText.includes("INVALID_INPUT, referenceUserId")`),
		voidPoll(`document.querySelector(".new-request button[type=submit]").disabled`),
	))
	screenshot(t, ctx, "console-new-request-like")
	for _, id := range ids {
		var got struct{ Node struct{ Status string } }
		env.MustDo(t, token, `query($id: ID!) { node(id: $id) { ... on AccessRequest { status } } }`, map[string]any{"id": id}, &got)
		require.NotEqual(t, "PENDING_REVIEW", got.Node.Status, "approved in bulk")
	}
	require.Empty(t, log.all(), "the page logs no error")
}

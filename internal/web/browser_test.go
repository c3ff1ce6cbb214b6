package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/httpserver"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium that can reach loopback only, and
// returns a context driving one tab; listen gets the tab's events. Without
// the binary the test is skipped, unless CI is set: there it fails.
func browser(t testing.TB, listen func(ev any)) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set): install Debian's chromium package (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is missing: install Debian's chromium package (apt-get install -y chromium) to run the browser tests", chromiumPath)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		// Every name but loopback's fails to resolve: nothing beyond this
		// machine can be reached, CDN included.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	copts := []chromedp.ContextOption{chromedp.WithLogf(t.Logf)}
	if listen != nil {
		copts = append(copts, chromedp.WithListener(listen))
	}
	ctx, cancel := chromedp.NewContext(actx, copts...)
	t.Cleanup(cancel)
	// The first Run starts the browser, which lives as long as ctx.
	_, err := chromedp.Run(ctx, chromedp.Steps())
	require.NoError(t, err, "start chromium")
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// serve runs handler behind the production HTTP server (security headers,
// CORS) on a loopback port and returns its base URL.
func serve(t testing.TB, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpserver.New(httpserver.Config{Handler: handler, Timeouts: httpserver.DefaultTimeouts})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// screenshot saves the page as name.png in GATEHOUSE_SCREENSHOTS (which
// .ci/run sets and lists at the end), else in gatehouse-screenshots under
// the temporary directory: files that outlive the test, their paths logged.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "gatehouse-screenshots")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// TestGraphiQLInChromium loads /graphiql from the real server handler in
// headless Chromium that can reach nothing but loopback, with a session
// token in localStorage, runs { viewer { email } } and sees the answer.
// A subscription runs over graphql-ws. Every request the page makes stays
// on the server's origin, and the page logs no error (a Content-Security-
// Policy violation, a failed load, an exception). The page and its scripts do
// not depend on the database: this runs on SQLite only.
func TestGraphiQLInChromium(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	token := env.Token(t, env.User(t, "ada.browser@example.com", enum.PlatformRoleUser))
	base := serve(t, env.Handler)

	var mu sync.Mutex
	var requests, problems, frames []string
	ctx := browser(t, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		case *network.EventWebSocketCreated:
			requests = append(requests, ev.URL)
		case *network.EventWebSocketFrameSent:
			frames = append(frames, "sent "+string(ev.Response.PayloadData))
		case *network.EventWebSocketFrameReceived:
			frames = append(frames, "received "+string(ev.Response.PayloadData))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError {
				problems = append(problems, ev.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		}
	})

	// The session token the console keeps; GraphiQL pre-fills its header.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		voidEval(fmt.Sprintf(`localStorage.setItem("gatehouse.token", %q)`, token)),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/graphiql?query="+url.QueryEscape("{ viewer { email } }")),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
		voidPoll(`document.querySelector(".graphiql-editor-tool")?.innerText.includes("Bearer")`),
		chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)),
		voidPoll(`document.querySelector(".graphiql-response")?.innerText.includes("ada.browser@example.com")`),
	))
	location, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, base+"/graphiql?query="+url.QueryEscape("{ viewer { email } }"), location)
	screenshot(t, ctx, "graphiql")

	// A subscription goes over graphql-ws, the header editor's
	// Authorization in connection_init; the server's answer (here, that
	// the request does not exist) reaches the response pane.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/graphiql?query="+url.QueryEscape(`subscription { requestProgress(id: "RQ_none") { status } }`)),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)),
		voidPoll(`document.querySelector(".graphiql-editor-tool")?.innerText.includes("Bearer")`),
		chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)),
		voidPoll(`document.querySelector(".graphiql-response")?.innerText.includes("NOT_FOUND")`),
	))
	screenshot(t, ctx, "graphiql-subscription")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, requests)
	ws := "ws" + strings.TrimPrefix(base, "http") + "/query"
	require.Contains(t, requests, ws, "the subscription opened a websocket to /query")
	for _, u := range requests {
		if strings.HasPrefix(u, "data:") || strings.HasPrefix(u, "blob:") || u == ws {
			continue
		}
		require.True(t, strings.HasPrefix(u, base+"/"), "the page loads only from its own server: %s", u)
	}
	log := strings.Join(frames, "\n")
	require.Contains(t, log, `sent {"type":"connection_init","payload":{"Authorization":"Bearer `+token+`"}}`)
	require.Contains(t, log, `received {"type":"connection_ack"}`)
	require.Contains(t, log, `"type":"subscribe"`)
	require.Empty(t, problems, "the page logs no error: no policy violation, no failed load, no exception")
}

// voidEval evaluates expression for its effect.
func voidEval(expression string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expression)(ctx, t)
		return err
	})
}

// voidPoll waits until expression is true, for at most 30 s.
func voidPoll(expression string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expression, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
		return err
	})
}

// TestForeignOriginRefusedInChromium: a page of another origin, in a real
// browser, can neither read /query (CORS) nor open its websocket (the
// origin check), even with a valid token.
func TestForeignOriginRefusedInChromium(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	token := env.Token(t, env.User(t, "eve.browser@example.com", enum.PlatformRoleUser))
	base := serve(t, env.Handler)
	// The foreign page is served as localhost, the API as 127.0.0.1: two
	// origins.
	foreign := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<!doctype html><title>elsewhere</title>")
	}))
	foreign = strings.Replace(foreign, "127.0.0.1", "localhost", 1)
	ctx := browser(t, nil)

	_, err := chromedp.Run(ctx, chromedp.Navigate(foreign+"/"))
	require.NoError(t, err)
	fetched, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q, {method: "POST",
		headers: {"Authorization": "Bearer %s", "Content-Type": "application/json"},
		body: JSON.stringify({query: "{ viewer { email } }"})}).then(r => r.text()).then(t => "read: " + t, e => "refused: " + e.name)`,
		base+"/query", token), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, "refused: TypeError", fetched, "CORS keeps the answer from the foreign page")
	socket, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`new Promise(done => {
		const ws = new WebSocket(%q, "graphql-transport-ws");
		ws.onopen = () => ws.send(JSON.stringify({type: "connection_init", payload: {authorization: "Bearer %s"}}));
		ws.onmessage = m => done("message: " + m.data);
		ws.onerror = () => done("refused");
	})`, "ws"+strings.TrimPrefix(base, "http")+"/query", token), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, "refused", socket, "the websocket origin check refuses the foreign page")

	// The same calls from the server's own origin work.
	_, err = chromedp.Run(ctx, chromedp.Navigate(base+"/graphiql"))
	require.NoError(t, err)
	fetched, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch("/query", {method: "POST",
		headers: {"Authorization": "Bearer %s", "Content-Type": "application/json"},
		body: JSON.stringify({query: "{ viewer { email } }"})}).then(r => r.text()).then(t => "read: " + t, e => "refused: " + e.name)`,
		token), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	socket, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`new Promise(done => {
		const ws = new WebSocket(%q, "graphql-transport-ws");
		ws.onopen = () => ws.send(JSON.stringify({type: "connection_init", payload: {authorization: "Bearer %s"}}));
		ws.onmessage = m => { done("message: " + m.data); ws.close(); };
		ws.onerror = () => done("refused");
	})`, "ws"+strings.TrimPrefix(base, "http")+"/query", token), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, `message: {"type":"connection_ack"}`, socket)
	require.Contains(t, fetched, "eve.browser@example.com")
}

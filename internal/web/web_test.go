package web_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/web"
)

func get(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = "gatehouse.example:8443"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// directives splits a Content-Security-Policy into its directives.
func directives(policy string) map[string]string {
	out := map[string]string{}
	for d := range strings.SplitSeq(policy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		out[name] = value
	}
	return out
}

// TestGraphiQLPagePolicy: the page's Content-Security-Policy allows
// scripts, style sheets, workers and connections (websockets included) from
// the server's origin only, no inline script, style elements only with the
// response's own nonce, which the page names; the page itself has no
// inline script and loads nothing from elsewhere.
func TestGraphiQLPagePolicy(t *testing.T) {
	t.Parallel()
	h := web.Handler(web.Config{})
	res := get(t, h, web.GraphiQLPath)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	page := string(body)

	csp := directives(res.Header.Get("Content-Security-Policy"))
	require.Equal(t, "'none'", csp["default-src"])
	require.Equal(t, "'self'", csp["script-src"], "scripts from this origin only, none inline")
	require.Equal(t, "'self'", csp["style-src"])
	require.Equal(t, "'self'", csp["worker-src"])
	require.Equal(t, "'self' ws://gatehouse.example:8443 wss://gatehouse.example:8443", csp["connect-src"], "connections to this origin, websockets included")
	require.Equal(t, "'none'", csp["frame-ancestors"])
	require.Equal(t, "'none'", csp["base-uri"])
	require.NotContains(t, csp["script-src"], "unsafe")

	nonce := regexp.MustCompile(`<meta name="csp-nonce" content="([A-Za-z0-9]+)">`).FindStringSubmatch(page)
	require.Len(t, nonce, 2, "the page names its nonce")
	require.Equal(t, "'self' 'nonce-"+nonce[1]+"'", csp["style-src-elem"])
	again := directives(get(t, h, web.GraphiQLPath).Header.Get("Content-Security-Policy"))
	require.NotEqual(t, csp["style-src-elem"], again["style-src-elem"], "a nonce per response")

	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		require.Regexp(t, `src="/assets/[a-z.]+\.js"`, tag, "no inline script")
	}
	require.NotContains(t, page, "<style", "no inline style element")
	require.NotRegexp(t, `(src|href)="(https?:)?//`, page, "nothing from another origin")

	// A Host header that could break the policy is left out of it.
	req := httptest.NewRequest(http.MethodGet, web.GraphiQLPath, nil)
	req.Host = "evil; script-src *"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, "'self'", directives(rec.Header().Get("Content-Security-Policy"))["connect-src"])
}

// TestHomeAndAssets: / redirects to web.Home; the built files are served
// with their type, gzipped when accepted, revalidated by ETag; other names
// are not found.
func TestHomeAndAssets(t *testing.T) {
	t.Parallel()
	h := web.Handler(web.Config{})
	res := get(t, h, "/")
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, web.Home, res.Header.Get("Location"))

	for _, name := range []string{"console.js", "console.css", "graphiql.js", "graphiql.css", "editor.worker.js", "json.worker.js", "graphql.worker.js"} {
		res := get(t, h, web.AssetsPath+name, "Accept-Encoding", "gzip")
		require.Equal(t, http.StatusOK, res.StatusCode, name)
		require.Equal(t, "gzip", res.Header.Get("Content-Encoding"), name)
		zr, err := gzip.NewReader(res.Body)
		require.NoError(t, err)
		raw, err := io.ReadAll(zr)
		require.NoError(t, err)
		require.NotEmpty(t, raw)
		require.NotContains(t, string(raw), "cdn.jsdelivr.net", name)
		if strings.HasSuffix(name, ".js") {
			require.Equal(t, "text/javascript; charset=utf-8", res.Header.Get("Content-Type"))
		}
		etag := res.Header.Get("ETag")
		require.NotEmpty(t, etag)
		require.Equal(t, http.StatusNotModified, get(t, h, web.AssetsPath+name, "Accept-Encoding", "gzip", "If-None-Match", etag).StatusCode)
		plain := get(t, h, web.AssetsPath+name)
		require.Empty(t, plain.Header.Get("Content-Encoding"))
		require.NotEqual(t, etag, plain.Header.Get("ETag"), "each encoding has its own ETag")
	}
	require.Equal(t, http.StatusNotFound, get(t, h, web.AssetsPath+"nothing.js").StatusCode)
	require.Equal(t, http.StatusNotFound, get(t, h, web.AssetsPath+"..%2fweb.go").StatusCode)
}

// TestConsolePage: the console at web.AppPath runs under the same policy
// (its scripts from this origin only, no inline script); it is told of the
// demo sign-in and of the OpenID Connect provider only when the server has
// them, the provider's values escaped, and then its token endpoint's origin
// joins connect-src (the console exchanges the authorization code there).
func TestConsolePage(t *testing.T) {
	t.Parallel()
	body := func(res *http.Response) string {
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return string(b)
	}
	res := get(t, web.Handler(web.Config{}), web.AppPath)
	require.Equal(t, http.StatusOK, res.StatusCode)
	page := body(res)
	csp := directives(res.Header.Get("Content-Security-Policy"))
	require.Equal(t, "'self'", csp["script-src"])
	require.Equal(t, "'self' ws://gatehouse.example:8443 wss://gatehouse.example:8443", csp["connect-src"])
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		require.Regexp(t, `src="/assets/console\.js"`, tag, "no inline script")
	}
	require.Contains(t, page, `<link rel="stylesheet" href="/assets/console.css">`)
	require.NotContains(t, page, "gatehouse-oidc")
	require.NotContains(t, page, "gatehouse-demo-sign-in")
	require.NotContains(t, page, "{{")
	deep := get(t, web.Handler(web.Config{}), web.AppPath+"/requests/req_01")
	require.Equal(t, http.StatusOK, deep.StatusCode, "links into the console load it")
	require.Contains(t, body(deep), `<script src="/assets/console.js" defer></script>`)

	res = get(t, web.Handler(web.Config{DemoSignIn: true, OIDC: &web.OIDCClient{
		Issuer: "https://id.example.com/realms/corp", ClientID: `console"><script>`,
		AuthURL: "https://id.example.com/auth", TokenURL: "https://tokens.example.com:8443/token",
	}}), web.AppPath)
	page = body(res)
	require.Contains(t, page, `<meta name="gatehouse-demo-sign-in" content="/demo/sign-in">`)
	require.Contains(t, page, `data-client-id="console&#34;&gt;&lt;script&gt;"`)
	require.Contains(t, page, `data-auth-url="https://id.example.com/auth" data-token-url="https://tokens.example.com:8443/token"`)
	require.Equal(t, "'self' https://tokens.example.com:8443 ws://gatehouse.example:8443 wss://gatehouse.example:8443",
		directives(res.Header.Get("Content-Security-Policy"))["connect-src"])
	require.Len(t, regexp.MustCompile(`<script`).FindAllString(page, -1), 1, "the escaped client ID adds no script")
}

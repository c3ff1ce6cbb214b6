// Package web serves Gatehouse's browser pages from files embedded in the
// binary: the console at /app, GraphiQL at /graphiql, their scripts, styles
// and editor workers under /assets/, and / redirecting to Home. The files under dist are built
// from web/ (npm run build, checked by .ci/run web); nothing is loaded from
// another origin, and the pages run no inline script.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Home is where / redirects: the console.
const Home = AppPath

// AppPath is the console, a single-page application over the public
// GraphQL API; GraphiQLPath is the GraphQL IDE.
const (
	AppPath      = "/app"
	GraphiQLPath = "/graphiql"
)

// AssetsPath prefixes the built files.
const AssetsPath = "/assets/"

//go:embed dist graphiql.html app.html
var files embed.FS

// Config is what the console is told about the server.
type Config struct {
	// OIDC, when set, is the OpenID Connect provider the console signs
	// people in with (authorization code with PKCE, a public client).
	OIDC *OIDCClient
	// DemoSignIn says that the demo sign-in is mounted (demo mode): the
	// console offers its picker of demo users.
	DemoSignIn bool
}

// OIDCClient is the console's view of an OpenID Connect provider: the
// client ID it is registered as (the audience the server checks), and the
// provider's endpoints from its discovery document.
type OIDCClient struct {
	Issuer, ClientID, AuthURL, TokenURL string
}

// Handler serves the pages, the assets and the redirect of /. Anyone may
// load them: they hold no data, the API they call checks the credentials.
func Handler(cfg Config) http.Handler {
	dist, err := fs.Sub(files, "dist")
	if err != nil {
		panic(err) // the embedded tree always has dist
	}
	a := &assets{fs: dist, files: map[string]*asset{}}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", http.RedirectHandler(Home, http.StatusFound))
	mux.Handle("GET "+GraphiQLPath, page("graphiql.html", nil, ""))
	var meta []byte
	connect := ""
	if cfg.DemoSignIn {
		meta = append(meta, `<meta name="gatehouse-demo-sign-in" content="/demo/sign-in">`...)
	}
	if o := cfg.OIDC; o != nil {
		meta = fmt.Appendf(meta, `<meta name="gatehouse-oidc" data-issuer="%s" data-client-id="%s" data-auth-url="%s" data-token-url="%s">`,
			html.EscapeString(o.Issuer), html.EscapeString(o.ClientID), html.EscapeString(o.AuthURL), html.EscapeString(o.TokenURL))
		// The console exchanges the authorization code at the token
		// endpoint: its origin joins connect-src.
		if u, err := url.Parse(o.TokenURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && hostPattern.MatchString(u.Host) {
			connect = u.Scheme + "://" + u.Host
		}
	}
	app := page("app.html", meta, connect)
	mux.Handle("GET "+AppPath, app)
	// Links into the console (notifications name /app/requests/req_…)
	// load the same page, which routes by the rest of the path.
	mux.Handle("GET "+AppPath+"/{rest...}", app)
	mux.Handle("GET "+AssetsPath+"{file}", a)
	return mux
}

// page serves an HTML page under ContentSecurityPolicy, with a nonce of
// its own for the style elements its scripts create (the page's
// {{nonce}}), meta in place of {{meta}}, and connect (an origin) allowed
// for connections besides this one.
func page(name string, meta []byte, connect string) http.Handler {
	body, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	body = bytes.Replace(body, []byte("{{meta}}"), meta, 1)
	before, after, ok := bytes.Cut(body, []byte("{{nonce}}"))
	if !ok {
		panic(name + " names no {{nonce}}")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := rand.Text()
		h := w.Header()
		csp := ContentSecurityPolicy(r.Host, nonce)
		if connect != "" {
			csp = strings.Replace(csp, "connect-src 'self'", "connect-src 'self' "+connect, 1)
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		_, _ = w.Write(slices.Concat(before, []byte(nonce), after))
	})
}

// hostPattern is what a Host header may hold to be named in a policy.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// ContentSecurityPolicy is the policy of a page served with nonce: scripts,
// style sheets, workers and connections from this origin only ('self',
// and the websocket form of the page's host, which browsers before CSP
// level 3 do not count as 'self'); no inline script at all; style elements
// only when they carry the nonce (the editor writes its theme into style
// elements its scripts create; markup injected into the page has no
// nonce). Style attributes are allowed (style-src-attr): the editor
// positions its lines with them, and an attribute can neither run script
// nor select what to leak. Fonts and images may also be data: URLs
// (GraphiQL's stylesheet embeds its fonts). No framing, no plugins, no
// base, forms only here.
func ContentSecurityPolicy(host, nonce string) string {
	connect := "'self'"
	if hostPattern.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; style-src-elem 'self' 'nonce-" + nonce + "'; " +
		"style-src-attr 'unsafe-inline'; worker-src 'self'; connect-src " + connect + "; img-src 'self' data:; " +
		"font-src 'self' data:; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// assets serves the built files, with an ETag of their content, gzipped
// for clients that accept it (the compressed form is made on first use and
// kept).
type assets struct {
	fs fs.FS
	mu sync.Mutex
	// files are the files read so far, by name.
	files map[string]*asset
}

type asset struct {
	raw, gz []byte
	etag    string
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	f := a.load(name)
	if f == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	// Names are stable between builds (no content hash): revalidate.
	h.Set("Cache-Control", "no-cache")
	h.Add("Vary", "Accept-Encoding")
	if ct := contentTypes[path.Ext(name)]; ct != "" {
		h.Set("Content-Type", ct)
	}
	body, etag := f.raw, f.etag
	if f.gz != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		body, etag = f.gz, f.etag[:len(f.etag)-1]+"-gz\""
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".ttf": "font/ttf",
}

// load returns the file name, nil when there is none. The first load of a
// file compresses it outside the lock, so that other files are served
// meanwhile (graphiql.js takes ~0.4 s).
func (a *assets) load(name string) *asset {
	a.mu.Lock()
	f, ok := a.files[name]
	a.mu.Unlock()
	if ok {
		return f
	}
	raw, err := fs.ReadFile(a.fs, name)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(raw)
	f = &asset{raw: raw, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	if path.Ext(name) != ".ttf" {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(raw)
		_ = zw.Close()
		f.gz = buf.Bytes()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if first, ok := a.files[name]; ok { // loaded meanwhile by another request
		return first
	}
	a.files[name] = f
	return f
}

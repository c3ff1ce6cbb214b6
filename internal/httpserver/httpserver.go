// Package httpserver builds Gatehouse's HTTP server around the routes that
// server.go assembles: timeouts that close stalled connections, security
// headers on every response, and CORS for the origins allowed to call the API
// from a browser.
package httpserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Timeouts bound how long a connection may stall.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers.
	ReadHeader time.Duration
	// Body bounds reading a request's body, counted from the end of its
	// headers. Websocket upgrades are not bound by it: their connections
	// keep their own read deadlines.
	Body time.Duration
	// Idle bounds the wait for the next request on a kept-alive connection.
	Idle time.Duration
}

// DefaultTimeouts are the timeouts of a production server. A 1 MiB body,
// the largest /query accepts, takes under a second at 10 Mbit/s.
var DefaultTimeouts = Timeouts{
	ReadHeader: 10 * time.Second,
	Body:       30 * time.Second,
	Idle:       2 * time.Minute,
}

// Config configures New.
type Config struct {
	Handler  http.Handler
	Timeouts Timeouts
	// AllowedOrigins may call the API from a browser (scheme://host[:port],
	// as browsers send Origin); same-origin requests need no entry.
	AllowedOrigins []string
	// BaseContext is the context of every request; nil is
	// context.Background.
	BaseContext context.Context
}

// New returns an HTTP server serving cfg.Handler behind the body deadline,
// security headers and CORS.
func New(cfg Config) *http.Server {
	t := cfg.Timeouts
	srv := &http.Server{
		Handler:           Headers(CORS(cfg.AllowedOrigins, bodyDeadline(t.Body, cfg.Handler))),
		ReadHeaderTimeout: t.ReadHeader,
		IdleTimeout:       t.Idle,
	}
	if cfg.BaseContext != nil {
		srv.BaseContext = func(net.Listener) context.Context { return cfg.BaseContext }
	}
	return srv
}

// bodyDeadline sets a read deadline for the request's body. It is the body
// half of http.Server.ReadTimeout, which would also cut the websockets that
// upgrade from a request. The deadline is lifted once the body has been read
// to its end, and requests without a body get none: net/http's read that
// watches an idle connection for the client going away would hit it while a
// slow handler runs, and cancel the context of the connection, so of that
// request and of every later one the connection carries.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsWebsocketUpgrade(r) || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// Fails only for writers without deadlines (HTTP/2 over some
		// transports, test recorders), which have their own bounds.
		if rc.SetReadDeadline(time.Now().Add(d)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline when the body ends.
// (A body cut short by the deadline keeps it: the connection is closed.)
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// ContentSecurityPolicy is sent with every response that does not set its
// own: nothing may be loaded, and no page may frame the response.
const ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Headers sets the security headers of every response: no MIME sniffing, no
// referrer, no framing, and ContentSecurityPolicy unless the handler sets a
// policy of its own (HTML pages that load scripts).
func Headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		next.ServeHTTP(w, r)
	})
}

// IsLoopback reports whether hostport (host:port, or a host alone: a
// listener's or a peer's address, or a Host header) names this machine: a
// loopback IP, or localhost.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// corsMaxAge is how long a browser may cache a preflight answer, seconds.
const corsMaxAge = "600"

// CORS answers browsers calling from the allowed origins: a preflight
// (OPTIONS with Access-Control-Request-Method) from an allowed origin gets
// 204 with the methods GET and POST and the headers Authorization and
// Content-Type; other requests from an allowed origin get
// Access-Control-Allow-Origin naming it. Foreign origins get no CORS header
// at all (their preflight 403), so browsers keep their pages from reading
// the answers. Same-origin requests need no CORS and pass through.
func CORS(allowed []string, next http.Handler) http.Handler {
	allow := AllowOrigins(allowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" || SameOrigin(r) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !allow(r) {
			if preflight {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// AllowOrigins returns the Origin check of CORS and websocket upgrades: it
// allows requests without an Origin header (non-browser clients),
// same-origin requests, and the allowed origins (scheme://host[:port], as
// browsers send them).
func AllowOrigins(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		return origin == "" || slices.Contains(allowed, origin) || SameOrigin(r)
	}
}

// SameOrigin reports whether the request's Origin header names the host it
// was sent to.
func SameOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// IsWebsocketUpgrade reports whether r asks to upgrade to a websocket.
func IsWebsocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

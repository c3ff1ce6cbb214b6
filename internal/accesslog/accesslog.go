// Package accesslog writes one log line per HTTP request and per GraphQL
// operation: what was asked (route, operation name and type), by whom (the
// principal's ID), how it ended (status, error codes) and how long it took.
// It never writes request bodies, query strings, variables or credentials.
//
// server.go and internal/server wrap each route with HTTP and add GraphQL to
// the GraphQL handler. An operation sent over HTTP is written on its
// request's line ("http request"); an operation sent over a websocket gets a
// line of its own ("graphql operation") when it ends, and the websocket's
// upgrade request its line when the upgrade is answered.
package accesslog

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/authz"
	"gatehouse/internal/httpserver"
)

// entry is what the handlers of one HTTP request tell its line.
type entry struct {
	websocket bool

	mu        sync.Mutex
	principal string
	operation string
	opType    string
	codes     []string
}

type entryKey struct{}

func entryOf(ctx context.Context) *entry {
	e, _ := ctx.Value(entryKey{}).(*entry)
	return e
}

// SetPrincipal names the authenticated caller of the request ctx belongs to,
// for handlers that authenticate without GraphQL (the reports). A context
// outside HTTP wraps it is left alone.
func SetPrincipal(ctx context.Context, id string) {
	if e := entryOf(ctx); e != nil {
		e.mu.Lock()
		e.principal = id
		e.mu.Unlock()
	}
}

// HTTP wraps h so that each request writes one line at level when it ends
// (at WARN when it ends with a 5xx status), with route — the mount pattern,
// never the raw URL — the method, the path without its query string, the
// status, the duration, and whatever the GraphQL extension or SetPrincipal
// recorded.
func HTTP(log *slog.Logger, level slog.Level, route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		e := &entry{websocket: httpserver.IsWebsocketUpgrade(r)}
		r = r.WithContext(context.WithValue(r.Context(), entryKey{}, e))
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		lvl := level
		if status >= 500 {
			lvl = slog.LevelWarn
		}
		if !log.Enabled(r.Context(), lvl) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", ms(time.Since(start))),
		}
		e.mu.Lock()
		if e.principal != "" {
			attrs = append(attrs, slog.String("principal", e.principal))
		}
		if e.opType != "" {
			attrs = append(attrs, slog.String("operation", e.operation), slog.String("type", e.opType))
		}
		if len(e.codes) > 0 {
			attrs = append(attrs, slog.Any("errors", e.codes))
		}
		e.mu.Unlock()
		log.LogAttrs(context.WithoutCancel(r.Context()), lvl, "http request", attrs...)
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// Hijack hands the connection to a websocket upgrader, which writes its
// 101 Switching Protocols on it; an upgrade refused before (a bad origin,
// a missing header) writes its status through WriteHeader instead.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.status == 0 {
		r.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

// Flush lets streamed responses (multipart @defer) through.
func (r *recorder) Flush() {
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the writer underneath.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// GraphQL returns the gqlgen handler extension that records operations: on
// their HTTP request's line, or — over a websocket — on a line of their own
// at INFO when the operation ends (a subscription when its stream ends or
// its websocket closes). Operations refused before they ran (bad variables,
// limits) are recorded with their error codes too.
func GraphQL(log *slog.Logger) graphql.HandlerExtension { return extension{log} }

type extension struct{ log *slog.Logger }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = extension{}

// seenKey marks, in the context of an operation's responses, that
// InterceptOperation saw the operation.
type seenKey struct{}

func (extension) ExtensionName() string                   { return "GatehouseAccessLog" }
func (extension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation records the operation once its last response is out,
// or — for a subscription — when its context ends, whichever comes first.
func (x extension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	start := opCtx.Stats.OperationStart
	if start.IsZero() {
		start = time.Now()
	}
	name, typ := operation(opCtx)
	responses := next(context.WithValue(ctx, seenKey{}, true))
	var (
		mu    sync.Mutex // the transport may end the context while a response is read
		codes []string
		done  bool
	)
	if typ == "subscription" {
		// A subscription that ends because its websocket closed (the
		// client left, a revoked credential) is not asked for its last,
		// nil response: it is recorded when its context ends.
		context.AfterFunc(ctx, func() {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				done = true
				x.record(ctx, name, typ, codes, time.Since(start))
			}
		})
	}
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		mu.Lock()
		defer mu.Unlock()
		if done {
			return resp
		}
		if resp != nil {
			codes = addCodes(codes, resp.Errors)
		}
		if resp == nil || typ != "subscription" && (resp.HasNext == nil || !*resp.HasNext) {
			done = true
			x.record(ctx, name, typ, codes, time.Since(start))
		}
		return resp
	}
}

// InterceptResponse records operations refused before they ran: their error
// response is the only one, and InterceptOperation never saw them.
func (x extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if ctx.Value(seenKey{}) != nil || resp == nil {
		return resp
	}
	var name, typ string
	start := time.Now()
	if graphql.HasOperationContext(ctx) {
		opCtx := graphql.GetOperationContext(ctx)
		name, typ = operation(opCtx)
		if !opCtx.Stats.OperationStart.IsZero() {
			start = opCtx.Stats.OperationStart
		}
	}
	x.record(ctx, name, typ, addCodes(nil, resp.Errors), time.Since(start))
	return resp
}

// record puts the operation on its HTTP request's line, or writes its own.
func (x extension) record(ctx context.Context, name, typ string, codes []string, d time.Duration) {
	principal := ""
	if v := authz.FromContext(ctx); v != nil {
		principal = string(v.UserID)
	}
	if typ == "" {
		typ = "unknown"
	}
	if e := entryOf(ctx); e != nil && !e.websocket {
		e.mu.Lock()
		e.operation, e.opType, e.codes = name, typ, codes
		if principal != "" {
			e.principal = principal
		}
		e.mu.Unlock()
		return
	}
	attrs := []slog.Attr{slog.String("operation", name), slog.String("type", typ)}
	if principal != "" {
		attrs = append(attrs, slog.String("principal", principal))
	}
	attrs = append(attrs, slog.Float64("duration_ms", ms(d)))
	if len(codes) > 0 {
		attrs = append(attrs, slog.Any("errors", codes))
	}
	x.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "graphql operation", attrs...)
}

// maxName bounds the client-chosen operation names written.
const maxName = 100

// operation returns the operation's name ("" when anonymous) and type.
func operation(opCtx *graphql.OperationContext) (name, typ string) {
	name = opCtx.OperationName
	if opCtx.Operation != nil {
		name, typ = opCtx.Operation.Name, string(opCtx.Operation.Operation)
	}
	if len(name) > maxName {
		name = name[:maxName] + "…"
	}
	return name, typ
}

// addCodes adds the distinct extensions.code values of errs to codes.
func addCodes(codes []string, errs gqlerror.List) []string {
	for _, e := range errs {
		code, _ := e.Extensions["code"].(string)
		if code == "" {
			code = "UNCODED"
		}
		if !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	return codes
}

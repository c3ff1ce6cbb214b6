package resolvers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/ent"
	"gatehouse/internal/auth"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/gqlexec"
	"gatehouse/internal/gqlhttp"
	"gatehouse/internal/gqllimit"
	"gatehouse/internal/httpserver"
	"gatehouse/internal/insight"
	"gatehouse/internal/progress"
	"gatehouse/resolvers/wsgorilla"
)

// Authenticator turns a bearer token into a viewer; it returns an
// UNAUTHENTICATED *errcode.Error for refused credentials. Current reports,
// for viewers authenticated earlier, whether their credentials still hold
// (open websockets are rechecked with it periodically); Check reports it
// for one viewer, cheaply (from a cache that revocations invalidate), before
// each websocket operation.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*authz.Viewer, error)
	Current(ctx context.Context, viewers []*authz.Viewer) ([]bool, error)
	Check(ctx context.Context, v *authz.Viewer) (bool, error)
}

// Revocations reports credentials revoked on any replica (onRevoke), and
// that some reports may have been lost (onLoss); *auth.Revocations is one.
type Revocations interface {
	Watch(onRevoke func(auth.Revocation), onLoss func())
}

// Limits bounds what one request may ask of the server.
type Limits struct {
	BodyBytes  int64 // request body, bytes
	Complexity int   // gqlgen query complexity
	// Document bounds a document and its variables (bytes, tokens, fields,
	// aliases, directives, depth, input nesting, list and string lengths,
	// errors per response).
	Document      gqllimit.Limits
	WebsocketRead int64 // one websocket message, bytes
	// Subscriptions is the number of subscriptions one websocket connection
	// may hold at once.
	Subscriptions int
	// WebsocketInit is how long a websocket may take to send
	// connection_init (then 4408).
	WebsocketInit time.Duration
	// WebsocketKeepAlive is the ping interval (graphql-transport-ws; a
	// client silent for two intervals, pongs included, is closed) and the
	// "ka" interval (graphql-ws).
	WebsocketKeepAlive time.Duration
	// WebsocketWrite bounds one websocket write: a client that stops
	// reading is disconnected after it, and its subscriptions end.
	WebsocketWrite time.Duration
	// WebsocketRecheck is how often open websockets' credentials are
	// checked again (expiry, user terminated or role changed, API token
	// revoked); a connection whose no longer hold is closed with 4401.
	WebsocketRecheck time.Duration

	// Websocket connection bounds.
	//
	// WebsocketPerPrincipal is how many websockets one user (all their
	// credentials together) may hold open; one more is closed at
	// connection_init with 4429. Zero means no limit.
	WebsocketPerPrincipal int
	// WebsocketPending is how many websockets, server-wide, may wait for
	// connection_init or its answer; one more upgrade is answered 503.
	// Zero means no limit.
	WebsocketPending int
}

// DefaultLimits are the limits of a production server.
var DefaultLimits = Limits{
	BodyBytes:          1 << 20,
	Complexity:         1000,
	Document:           gqllimit.DefaultLimits,
	WebsocketRead:      64 << 10,
	Subscriptions:      50,
	WebsocketInit:      10 * time.Second,
	WebsocketKeepAlive: 25 * time.Second,
	WebsocketWrite:     10 * time.Second,
	WebsocketRecheck:   time.Minute,

	WebsocketPerPrincipal: 20,
	WebsocketPending:      1000,
}

// HandlerConfig configures the /query handler.
type HandlerConfig struct {
	Schema graphql.ExecutableSchema
	// Client backs the per-operation data loaders.
	Client        *ent.Client
	Auth          Authenticator
	Log           *slog.Logger
	Limits        Limits
	Introspection bool
	// Extensions are added to the gqlgen server, e.g. metrics.
	Extensions []graphql.HandlerExtension
	// CheckOrigin decides websocket upgrades; nil allows requests without an
	// Origin header and same-origin ones.
	CheckOrigin func(*http.Request) bool
	// Context closes every websocket when it ends (server shutdown); nil
	// never does.
	Context context.Context
	// Revocations, when set, closes at once (4401) the websockets of a
	// revoked API token, and every websocket of a user terminated or given
	// another platform role, whichever replica made the change.
	Revocations Revocations
	// Websockets, when set, is given the functions that count the open
	// websockets and those still waiting for connection_init (metrics read
	// them at scrape time).
	Websockets func(open, pending func() int)
}

// NewHandler returns the GraphQL endpoint: POST, GET (queries only) and
// websocket transports, authentication, limits and the error presenter.
func NewHandler(cfg HandlerConfig) http.Handler {
	srv := handler.New(cfg.Schema)
	ws := wsgorilla.New(wsgorilla.Config{
		CheckOrigin:     cfg.CheckOrigin, // nil: gorilla's same-origin rule
		Init:            websocketInit(cfg.Auth),
		InitTimeout:     cfg.Limits.WebsocketInit,
		KeepAlive:       cfg.Limits.WebsocketKeepAlive,
		ReadLimit:       cfg.Limits.WebsocketRead,
		WriteTimeout:    cfg.Limits.WebsocketWrite,
		MaxOperations:   cfg.Limits.Subscriptions,
		Recheck:         websocketRecheck(cfg.Auth),
		RecheckEvery:    cfg.Limits.WebsocketRecheck,
		Keys:            websocketKeys,
		MaxPerPrincipal: cfg.Limits.WebsocketPerPrincipal,
		MaxPending:      cfg.Limits.WebsocketPending,
		Check:           websocketCheck(cfg.Auth),
		Log:             cfg.Log,
		Context:         cfg.Context,
	})
	if cfg.Revocations != nil {
		cfg.Revocations.Watch(func(r auth.Revocation) {
			n := 0
			for _, key := range revocationKeys(r) {
				n += ws.CloseKey(key, wsgorilla.CloseUnauthorized, revocationReason(r))
			}
			if n > 0 {
				cfg.Log.Info("websockets closed on revocation", "kind", r.Kind, "id", r.ID, "connections", n)
			}
		}, ws.Recheck)
	}
	if cfg.Websockets != nil {
		cfg.Websockets(ws.Connections, ws.Pending)
	}
	srv.AddTransport(ws)
	document := gqllimit.NewDocument(cfg.Limits.Document, 1000)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	// The body is checked (document length, JSON nesting) before it is decoded.
	srv.AddTransport(gqlhttp.POST{Check: document.Limits().CheckBody})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(document.Limits().Tokens)
	srv.SetValidationRulesFn(gqllimit.ValidationRules(document.Limits().Errors))
	srv.SetErrorPresenter(ErrorPresenter(cfg.Log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return errors.New("panic in resolver")
	})
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	// After the persisted query is filled in, before parsing and validation.
	srv.Use(document)
	srv.Use(gqllimit.ErrorCap{Max: document.Limits().Errors})
	srv.Use(&gqllimit.Complexity{Max: cfg.Limits.Complexity})
	for _, ext := range cfg.Extensions {
		srv.Use(ext)
	}
	srv.AroundOperations(readOnlyGuard)
	srv.AroundOperations(subscriptionGuard)
	srv.AroundOperations(insightEvents)
	// Loaders batch the reads of one response. Subscription events carry
	// their numbers already; a field that needs more gets fresh loaders of
	// its own (progress.LoadersFrom), never ones cached by an earlier event,
	// and the fan-out of an event to thousands of subscribers allocates none
	// — except for a subscription that selects the reviewer insight of items
	// (insightEvents), whose every event gets an insight loader of its own,
	// so that an event's items cost two statements however many they are.
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		if graphql.HasOperationContext(ctx) && isSubscription(graphql.GetOperationContext(ctx)) {
			if ctx.Value(insightEventsKey{}) != nil {
				ctx = insight.WithLoader(ctx, insight.NewLoader(cfg.Client))
			}
			return next(ctx)
		}
		ctx = insight.WithLoader(ctx, insight.NewLoader(cfg.Client))
		ctx = gqlexec.WithLoaded(ctx)
		return next(progress.WithLoaders(ctx, progress.NewLoaders(cfg.Client)))
	})
	checkOrigin := cfg.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = httpserver.AllowOrigins(nil)
	}
	return refuseForeignOrigins(checkOrigin,
		authenticate(cfg.Auth, cfg.Log, requestErrors(cfg.Limits.BodyBytes, srv)))
}

// requestErrors makes gqlgen's HTTP answers to request errors (a body that
// is not a GraphQL request, a document that fails to parse or validate,
// variables that fail to coerce) follow GraphQL over HTTP: no "data" entry,
// since nothing was executed; with application/json, 200 for document
// errors (gqlgen sends 422) and 400 for a body that is not a GraphQL request;
// with application/graphql-response+json, 400. A body longer than maxBody
// bytes gets 413 and INVALID_INPUT. Other responses pass through
// unbuffered. Websocket upgrades are not touched.
func requestErrors(maxBody int64, next http.Handler) http.Handler {
	tooLarge := fmt.Errorf("the request body is larger than %d bytes", maxBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpserver.IsWebsocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, errcode.InvalidInput, tooLarge)
			return
		}
		body := &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, maxBody)}
		r.Body = body
		rw := &requestErrorWriter{ResponseWriter: w, input: body}
		next.ServeHTTP(rw, r)
		if body.exceeded {
			rw.ResponseWriter.Header().Del("Content-Length")
			writeError(rw.ResponseWriter, http.StatusRequestEntityTooLarge, errcode.InvalidInput, tooLarge)
			return
		}
		rw.finish()
	})
}

// limitedBody records whether a request body went past its limit (bodies
// sent without a Content-Length).
type limitedBody struct {
	io.ReadCloser
	exceeded bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		b.exceeded = true
	}
	return n, err
}

// requestErrorWriter holds back a 400 or 422 response, or any response to a
// body over the limit, to rewrite it.
type requestErrorWriter struct {
	http.ResponseWriter
	input       *limitedBody
	wroteHeader bool
	held        int // the held status; 0 passes through
	body        bytes.Buffer
}

func (w *requestErrorWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if code == http.StatusBadRequest || code == http.StatusUnprocessableEntity || w.input.exceeded {
		w.held = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *requestErrorWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.held != 0 {
		return w.body.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *requestErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *requestErrorWriter) finish() {
	if w.held == 0 {
		return
	}
	status := w.held
	body := w.body.Bytes()
	var res map[string]json.RawMessage
	if err := json.Unmarshal(body, &res); err == nil {
		if d, ok := res["data"]; ok && string(d) == "null" {
			delete(res, "data")
		}
		graphqlResponse := strings.HasPrefix(w.Header().Get("Content-Type"), "application/graphql-response+json")
		switch {
		case graphqlResponse || notAGraphQLRequest(res["errors"]):
			status = http.StatusBadRequest
		case w.held == http.StatusUnprocessableEntity:
			status = http.StatusOK
		}
		if b, err := json.Marshal(res); err == nil {
			body = b
		}
	}
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(status)
	_, _ = w.ResponseWriter.Write(body)
}

// notAGraphQLRequest reports whether gqlgen refused the request for lacking
// a query rather than for the query's content.
func notAGraphQLRequest(errs json.RawMessage) bool {
	var list []struct{ Message string }
	_ = json.Unmarshal(errs, &list)
	for _, e := range list {
		if e.Message == "no operation provided" {
			return true
		}
	}
	return false
}

// refuseForeignOrigins answers 403 to websocket upgrades from an Origin that
// checkOrigin refuses, before gqlgen logs a failed upgrade. (The gorilla
// upgrader applies the same check.)
func refuseForeignOrigins(checkOrigin func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpserver.IsWebsocketUpgrade(r) && !checkOrigin(r) {
			http.Error(w, "websocket origin not allowed", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readOnlyGuard refuses mutations to READ-scope API tokens before any
// resolver runs.
func readOnlyGuard(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if v := authz.FromContext(ctx); v != nil && v.ReadOnly && oc.Operation != nil && oc.Operation.Operation == ast.Mutation {
		err := gqlerror.Errorf("a READ token cannot run mutations")
		err.Extensions = map[string]any{"code": string(errcode.Forbidden)}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{err}})
	}
	return next(ctx)
}

// authenticate puts the viewer of the request's bearer token in the context.
// Requests without valid credentials get 401 with a GraphQL error body;
// websocket upgrades authenticate in connection_init instead.
func authenticate(a Authenticator, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions || httpserver.IsWebsocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		v, err := a.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")))
		if err != nil {
			code, status := errcode.Unauthenticated, http.StatusUnauthorized
			if errcode.Of(err) != errcode.Unauthenticated {
				code, status = errcode.Internal, http.StatusInternalServerError
				// A cancelled request (its client went away, or the
				// server is stopping) failed for that: no fault to
				// alert on. It is answered all the same.
				level := slog.LevelError
				if r.Context().Err() != nil {
					level = slog.LevelDebug
				}
				log.Log(r.Context(), level, "authenticate", "error", err)
			}
			writeError(w, status, code, err)
			return
		}
		ctx := context.WithValue(authz.NewContext(r.Context(), v), oneResponseKey{}, true)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// oneResponseKey marks the context of a plain HTTP request (POST or GET),
// which carries one response: a subscription cannot run on it.
type oneResponseKey struct{}

// subscriptionGuard refuses a subscription sent over plain HTTP with
// INVALID_INPUT instead of holding the request open until its first event.
func subscriptionGuard(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oneResponse, _ := ctx.Value(oneResponseKey{}).(bool); oneResponse && isSubscription(graphql.GetOperationContext(ctx)) {
		err := gqlerror.Errorf("subscriptions run over a websocket (graphql-transport-ws) at this URL, not over HTTP POST")
		err.Extensions = map[string]any{"code": string(errcode.InvalidInput)}
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{err}})
	}
	return next(ctx)
}

type insightEventsKey struct{}

// insightEvents marks a subscription that selects the reviewer insight of
// items, once when it starts, so that each of its events gets an insight
// loader (see NewHandler).
func insightEvents(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if isSubscription(oc) && selectsInsightAnywhere(oc.Doc, oc.Operation.SelectionSet, map[string]bool{}) {
		ctx = context.WithValue(ctx, insightEventsKey{}, true)
	}
	return next(ctx)
}

// websocketInit authenticates a websocket from the connection_init payload
// {"authorization": "Bearer …"}; refused credentials close the socket with
// 4401 (4500 when the database fails).
func websocketInit(a Authenticator) wsgorilla.InitFunc {
	return func(ctx context.Context, p map[string]any) (context.Context, error) {
		header, _ := p["authorization"].(string)
		if header == "" {
			header, _ = p["Authorization"].(string)
		}
		v, err := a.Authenticate(ctx, bearer(header))
		if err != nil {
			if errcode.Of(err) != errcode.Unauthenticated {
				return nil, &wsgorilla.CloseError{Code: wsgorilla.CloseInternalError, Reason: "internal error"}
			}
			return nil, &wsgorilla.CloseError{Code: wsgorilla.CloseUnauthorized, Reason: err.Error()}
		}
		v.User = nil // the connection outlives what was read
		return authz.NewContext(ctx, v), nil
	}
}

// websocketRecheck checks the viewers of open websockets again, all in one
// call to Current.
func websocketRecheck(a Authenticator) func(context.Context, []context.Context) ([]bool, error) {
	return func(ctx context.Context, conns []context.Context) ([]bool, error) {
		viewers := make([]*authz.Viewer, len(conns))
		for i, c := range conns {
			viewers[i] = authz.FromContext(c)
		}
		return a.Current(ctx, viewers)
	}
}

// websocketCheck re-checks a websocket's credentials before each of its
// operations: queries and subscriptions from the authenticator's cache
// (which revocations from any replica empty), mutations from the database,
// so that no change is made with a credential revoked a moment ago on
// another replica. Credentials that no longer hold close the socket with
// 4401 and the operation does not run; a database error fails the
// operation (the transport logs it).
func websocketCheck(a Authenticator) func(context.Context) error {
	return func(ctx context.Context) error {
		v := authz.FromContext(ctx)
		var ok bool
		var err error
		switch {
		case v == nil:
		case graphql.HasOperationContext(ctx) && isMutation(graphql.GetOperationContext(ctx)):
			var current []bool
			if current, err = a.Current(ctx, []*authz.Viewer{v}); err == nil {
				ok = current[0]
			}
		default:
			ok, err = a.Check(ctx, v)
		}
		if err != nil {
			return fmt.Errorf("websocket credential check: %w", err)
		}
		if !ok {
			return &wsgorilla.CloseError{Code: wsgorilla.CloseUnauthorized, Reason: "Credentials no longer valid"}
		}
		return nil
	}
}

// websocketKeys files a websocket under its user (the principal, whose
// connections Limits.WebsocketPerPrincipal counts) and its API token.
func websocketKeys(ctx context.Context) []string {
	v := authz.FromContext(ctx)
	if v == nil {
		return nil
	}
	keys := []string{"user:" + string(v.UserID)}
	if v.TokenID != "" {
		keys = append(keys, "token:"+string(v.TokenID))
	}
	if m := v.MintedByOther(); m != "" {
		// A service account's token dies with the person who minted it.
		// (A key of its own: the cap counts keys[0], and a role change of
		// the minter leaves the token alone.)
		keys = append(keys, "minter:"+string(m))
	}
	return keys
}

// revocationKeys are the websocketKeys keys of what a revocation revokes: a
// token; a user's connections; and, when the user is terminated, those of
// the service account tokens they minted.
func revocationKeys(r auth.Revocation) []string {
	switch {
	case r.Kind == auth.UserTerminated:
		return []string{"user:" + string(r.ID), "minter:" + string(r.ID)}
	case r.User():
		return []string{"user:" + string(r.ID)}
	}
	return []string{"token:" + string(r.ID)}
}

func revocationReason(r auth.Revocation) string {
	switch r.Kind {
	case auth.TokenRevoked:
		return "API token revoked"
	case auth.RoleChanged:
		return "Platform role changed; authenticate again"
	}
	return "User no longer active"
}

func bearer(header string) string {
	const prefix = "bearer "
	if len(header) > len(prefix) && strings.EqualFold(header[:len(prefix)], prefix) {
		return strings.TrimSpace(header[len(prefix):])
	}
	return ""
}

// writeError writes a GraphQL response holding one coded error.
func writeError(w http.ResponseWriter, status int, code errcode.Code, err error) {
	msg := err.Error()
	if code == errcode.Internal {
		msg = "internal error"
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}

func isSubscription(oc *graphql.OperationContext) bool {
	return oc.Operation != nil && oc.Operation.Operation == ast.Subscription
}

func isMutation(oc *graphql.OperationContext) bool {
	return oc.Operation != nil && oc.Operation.Operation == ast.Mutation
}

package resolvers

import (
	"context"
	"encoding/json"
	"errors"
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
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/gqllimit"
	"gatehouse/internal/workflow"
	"gatehouse/resolvers/wsgorilla"
)

// Authenticator turns a bearer token into a viewer; it returns an
// UNAUTHENTICATED *errcode.Error for refused credentials.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*authz.Viewer, error)
}

// Limits bounds what one request may ask of the server.
type Limits struct {
	BodyBytes     int64 // request body, bytes
	ParserTokens  int   // tokens in a query document
	Complexity    int   // gqlgen query complexity
	Depth         int   // selection depth
	WebsocketRead int64 // one websocket message, bytes
}

// DefaultLimits are the limits of a production server.
var DefaultLimits = Limits{
	BodyBytes:     1 << 20,
	ParserTokens:  15000,
	Complexity:    1000,
	Depth:         gqllimit.DefaultMax,
	WebsocketRead: 64 << 10,
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
}

// NewHandler returns the GraphQL endpoint: POST, GET (queries only) and
// websocket transports, authentication, limits and the error presenter.
func NewHandler(cfg HandlerConfig) http.Handler {
	srv := handler.New(cfg.Schema)
	srv.AddTransport(transport.Websocket{
		Implementation: wsgorilla.New(wsgorilla.Options{
			CheckOrigin:     cfg.CheckOrigin,
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
		}),
		InitFunc:         websocketInit(cfg.Auth),
		InitTimeout:      10 * time.Second,
		PingPongInterval: 25 * time.Second,
		PayloadReadLimit: &cfg.Limits.WebsocketRead,
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(cfg.Limits.ParserTokens)
	srv.SetErrorPresenter(ErrorPresenter(cfg.Log))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Log.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return errors.New("panic in resolver")
	})
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(extension.FixedComplexityLimit(cfg.Limits.Complexity))
	srv.Use(gqllimit.Depth{Max: cfg.Limits.Depth})
	for _, ext := range cfg.Extensions {
		srv.Use(ext)
	}
	srv.AroundOperations(readOnlyGuard)
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(workflow.WithLoaders(ctx, workflow.NewLoaders(cfg.Client)))
	})
	return authenticate(cfg.Auth, cfg.Log, http.MaxBytesHandler(srv, cfg.Limits.BodyBytes))
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
		if r.Method == http.MethodOptions || isWebsocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		v, err := a.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")))
		if err != nil {
			code, status := errcode.Unauthenticated, http.StatusUnauthorized
			if errcode.Of(err) != errcode.Unauthenticated {
				log.ErrorContext(r.Context(), "authenticate", "error", err)
				code, status = errcode.Internal, http.StatusInternalServerError
			}
			writeError(w, status, code, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(authz.NewContext(r.Context(), v)))
	})
}

// websocketInit authenticates a websocket from the connection_init payload
// {"authorization": "Bearer …"}; refused credentials close the socket with
// 4401 (4500 when the database fails).
func websocketInit(a Authenticator) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		token := bearer(p.GetString("authorization"))
		if token == "" {
			token = bearer(p.Authorization())
		}
		v, err := a.Authenticate(ctx, token)
		if err != nil {
			code := 4401
			if errcode.Of(err) != errcode.Unauthenticated {
				code = 4500
				err = errors.New("internal error")
			}
			return transport.WithWebsocketCloseCode(ctx, code), nil, err
		}
		return authz.NewContext(ctx, v), nil, nil
	}
}

func bearer(header string) string {
	const prefix = "bearer "
	if len(header) > len(prefix) && strings.EqualFold(header[:len(prefix)], prefix) {
		return strings.TrimSpace(header[len(prefix):])
	}
	return ""
}

func isWebsocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
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

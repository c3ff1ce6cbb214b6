// Package metrics instruments Gatehouse for Prometheus: HTTP requests,
// GraphQL operations and database pool statistics, exposed with Go runtime
// and process metrics on a registry of its own, and the business figures an
// operator alerts on. Those of the whole deployment (requests by status,
// pending review tasks, the job queue, the audit checkpoint lag) are read
// from the database at scrape time (RegisterState); those of one process
// are fed by the code that does the work (fulfilment attempts and
// expiries, as the workflow's Observer) or read from it at scrape time
// (websockets, subscriptions, the progress feed). internal/server creates
// one Metrics with New and hands it to what it instruments. Every label has
// a bounded set of values: no IDs.
package metrics

import (
	"context"
	"database/sql"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const (
	// MaxOperationNames is how many distinct GraphQL operation names get a
	// label value of their own; later new names are recorded as "other".
	MaxOperationNames = 200
	// MaxOperationNameLen is the longest operation name recorded as such;
	// longer names are recorded as "other".
	MaxOperationNameLen = 64
)

// Metrics holds Gatehouse's collectors and the registry they are exposed
// from. Its methods are safe for concurrent use.
type Metrics struct {
	registry          *prometheus.Registry
	httpRequests      *prometheus.CounterVec
	httpDuration      *prometheus.HistogramVec
	operations        *prometheus.CounterVec
	operationDuration *prometheus.HistogramVec
	business          business

	mu    sync.Mutex
	names map[string]struct{} // operation names with a label value of their own
}

// New returns Metrics with a fresh registry holding the Go runtime and
// process collectors and Gatehouse's HTTP and GraphQL metrics.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route and method; a websocket upgrade counts until its handshake is done.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_graphql_operations_total",
			Help: "GraphQL operations, by operation name, type (query, mutation, subscription) and result (ok, error).",
		}, []string{"operation", "type", "result"}),
		operationDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_graphql_operation_duration_seconds",
			Help:    "Time from receiving a GraphQL operation to its last response; a subscription counts until it ends.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation", "type"}),
		business: newBusiness(),
		names:    map[string]struct{}{},
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration, m.operations, m.operationDuration,
	)
	m.registry.MustRegister(m.business.collectors()...)
	return m
}

// Registry returns the registry the metrics are exposed from, for
// components that bring their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition formats; mount
// it at /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// InstrumentHTTP wraps h so that each request counts in
// gatehouse_http_requests_total and gatehouse_http_request_duration_seconds
// under route, which should be the mount pattern (e.g. "/graphql"), never
// the raw URL path. Methods outside the standard set are recorded as
// "unknown"; a hijacked request (a websocket upgrade) is recorded with code 200.
func (m *Metrics) InstrumentHTTP(route string, h http.Handler) http.Handler {
	labels := prometheus.Labels{"route": route}
	return promhttp.InstrumentHandlerCounter(m.httpRequests.MustCurryWith(labels),
		promhttp.InstrumentHandlerDuration(m.httpDuration.MustCurryWith(labels), h))
}

// RegisterDB exposes the connection pool statistics of db as
// go_sql_* metrics labelled db_name="gatehouse". Call it once per Metrics;
// a second call panics.
func (m *Metrics) RegisterDB(db *sql.DB) {
	m.registry.MustRegister(collectors.NewDBStatsCollector(db, "gatehouse"))
}

// GraphQL returns a gqlgen handler extension recording
// gatehouse_graphql_operations_total and
// gatehouse_graphql_operation_duration_seconds. An operation fails (result
// "error") when any of its responses carries errors. An operation refused
// after it was identified but before it ran (bad variables, a depth or
// complexity limit) counts as an error, without a duration. Documents that
// do not parse or validate name no operation and are not counted; the HTTP
// metrics still see them. Anonymous operations are recorded as "anonymous".
// It also keeps gatehouse_graphql_subscriptions, the open subscriptions by
// field, each counted until its operation's context ends.
func (m *Metrics) GraphQL() graphql.HandlerExtension { return graphqlExtension{m} }

// operationLabels returns the operation and type label values for opCtx.
func (m *Metrics) operationLabels(opCtx *graphql.OperationContext) (name, typ string) {
	return m.nameLabel(opCtx.Operation.Name), string(opCtx.Operation.Operation)
}

// nameLabel bounds the cardinality of client-chosen operation names.
func (m *Metrics) nameLabel(name string) string {
	switch {
	case name == "":
		return "anonymous"
	case len(name) > MaxOperationNameLen:
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.names[name]; !ok {
		if len(m.names) >= MaxOperationNames {
			return "other"
		}
		m.names[name] = struct{}{}
	}
	return name
}

const extensionName = "GatehouseMetrics"

// graphqlExtension is the handler extension returned by Metrics.GraphQL.
type graphqlExtension struct{ m *Metrics }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationInterceptor
	graphql.ResponseInterceptor
} = graphqlExtension{}

// executedKey marks, in the context of an operation's responses, that
// InterceptOperation saw the operation. (A context value rather than an
// entry in the operation's stats, which would allocate a map for every
// operation and keep it as long as a subscription lives.)
type executedKey struct{}

func (graphqlExtension) ExtensionName() string                   { return extensionName }
func (graphqlExtension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation records an operation that runs once its last response
// is out: the first one for a query or mutation without @defer, the end of
// the stream otherwise.
func (e graphqlExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	opCtx := graphql.GetOperationContext(ctx)
	name, typ := e.m.operationLabels(opCtx)
	start := opCtx.Stats.OperationStart
	if start.IsZero() {
		start = time.Now()
	}
	if typ == "subscription" {
		e.m.trackSubscription(ctx, opCtx)
	}
	responses := next(context.WithValue(ctx, executedKey{}, true))
	failed, done := false, false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if done {
			return resp
		}
		if resp != nil && len(resp.Errors) > 0 {
			failed = true
		}
		last := resp == nil || typ != "subscription" && (resp.HasNext == nil || !*resp.HasNext)
		if last {
			done = true
			e.m.operations.WithLabelValues(name, typ, result(failed)).Inc()
			e.m.operationDuration.WithLabelValues(name, typ).Observe(time.Since(start).Seconds())
		}
		return resp
	}
}

// InterceptResponse counts operations the executor refused before running
// them: their error response is the only one, and InterceptOperation never
// saw them.
func (e graphqlExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	opCtx := graphql.GetOperationContext(ctx)
	if opCtx.Operation == nil || ctx.Value(executedKey{}) != nil {
		return resp
	}
	name, typ := e.m.operationLabels(opCtx)
	e.m.operations.WithLabelValues(name, typ, result(true)).Inc()
	return resp
}

func result(failed bool) string {
	if failed {
		return "error"
	}
	return "ok"
}

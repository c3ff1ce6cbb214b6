package metrics

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/connectors"
)

// business holds the counters fed by the code that does the work. Their
// labels are bounded: connector kinds and error classes are fixed sets,
// subscription fields are the schema's.
type business struct {
	attempts      *prometheus.CounterVec
	failures      *prometheus.CounterVec
	expiries      *prometheus.CounterVec
	subscriptions *prometheus.GaugeVec
	webhooks      *prometheus.CounterVec
}

// webhookOutcomes are the outcomes of webhook delivery attempts, exposed
// at zero from the start.
var webhookOutcomes = []string{"succeeded", "retrying", "failed", "cancelled"}

func newBusiness() business {
	b := business{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_fulfillment_attempts_total",
			Help: "Fulfilment attempts that reached the connector stage, by connector kind.",
		}, []string{"connector_kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_fulfillment_failures_total",
			Help: "Connector calls that failed — fulfilment attempts and revocations at expiry — by connector kind and error class (config, auth, http_3xx, http_4xx, http_5xx, timeout, tls, protocol, network, canceled, other). Transient failures are retried; gatehouse_requests{status=\"FAILED\"} counts the requests given up on.",
		}, []string{"connector_kind", "error_class"}),
		expiries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_grant_expiries_total",
			Help: "Temporary grants ended by their expiry, by connector kind.",
		}, []string{"connector_kind"}),
		subscriptions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_graphql_subscriptions",
			Help: "GraphQL subscriptions open on this process, by subscription field.",
		}, []string{"field"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_webhook_deliveries_total",
			Help: "Event webhook delivery attempts by outcome: succeeded, retrying (failed, tried again), failed (the last attempt failed), cancelled (the endpoint was disabled).",
		}, []string{"outcome"}),
	}
	for _, o := range webhookOutcomes {
		b.webhooks.WithLabelValues(o)
	}
	return b
}

func (b business) collectors() []prometheus.Collector {
	return []prometheus.Collector{b.attempts, b.failures, b.expiries, b.subscriptions, b.webhooks}
}

// FulfillmentAttempted counts one fulfilment attempt of an application with
// the given connector kind and, when err is not nil, its failure under the
// error's class (connectors.Class). It implements workflow.Observer.
func (m *Metrics) FulfillmentAttempted(connectorKind string, err error) {
	m.business.attempts.WithLabelValues(connectorKind).Inc()
	if err != nil {
		m.business.failures.WithLabelValues(connectorKind, connectors.Class(err)).Inc()
	}
}

// WebhookDelivered counts one event webhook delivery attempt by outcome
// (a fixed set). It implements webhooks.Observer.
func (m *Metrics) WebhookDelivered(outcome string) {
	m.business.webhooks.WithLabelValues(outcome).Inc()
}

// GrantExpired counts a temporary grant ended by its expiry. It implements
// workflow.Observer.
func (m *Metrics) GrantExpired(connectorKind string) {
	m.business.expiries.WithLabelValues(connectorKind).Inc()
}

// ExpiryFailed counts a failed connector call that was to end a temporary
// grant at its expiry, under the error's class (connectors.Class). It
// implements workflow.Observer.
func (m *Metrics) ExpiryFailed(connectorKind string, err error) {
	m.business.failures.WithLabelValues(connectorKind, connectors.Class(err)).Inc()
}

// RegisterWebsockets exposes the websocket transport's connection counts,
// read at scrape time: open reports the open connections, pending those
// still waiting for connection_init or its answer. Call it once per
// Metrics; a second call panics.
func (m *Metrics) RegisterWebsockets(open, pending func() int) {
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_websocket_connections",
			Help: "Websocket connections open on this process.",
		}, func() float64 { return float64(open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_websocket_connections_pending",
			Help: "Websocket connections on this process waiting for connection_init or its answer.",
		}, func() float64 { return float64(pending()) }),
	)
}

// Feed is what the metrics read of the progress feed (progress.Feed).
type Feed interface {
	// Subscribers is the number of subscriptions the feed serves.
	Subscribers() int
	// Dropped is how many subscriptions were ended for not keeping up.
	Dropped() int64
	// EventsPublished is how many events the feed published.
	EventsPublished() uint64
}

// RegisterFeed exposes the progress feed's counts, read at scrape time.
// Call it once per Metrics; a second call panics.
func (m *Metrics) RegisterFeed(f Feed) {
	m.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_events_published_total",
			Help: "Progress events published by this process's feed (one per request change that moved a number or a status).",
		}, func() float64 { return float64(f.EventsPublished()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "gatehouse_events_subscribers_dropped_total",
			Help: "Subscriptions this process dropped because they did not keep up with their events (slow consumers).",
		}, func() float64 { return float64(f.Dropped()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatehouse_events_subscribers",
			Help: "Subscriptions this process's feed delivers events to.",
		}, func() float64 { return float64(f.Subscribers()) }),
	)
}

// trackSubscription counts an open subscription under its root field until
// ctx, the operation's, ends (every transport ends it with the operation).
func (m *Metrics) trackSubscription(ctx context.Context, opCtx *graphql.OperationContext) {
	g := m.business.subscriptions.WithLabelValues(subscriptionField(opCtx))
	g.Inc()
	context.AfterFunc(ctx, g.Dec)
}

// subscriptionField returns the root field of a subscription (a
// subscription has exactly one), or "other".
func subscriptionField(opCtx *graphql.OperationContext) string {
	fields := graphql.CollectFields(opCtx, opCtx.Operation.SelectionSet, []string{"Subscription"})
	if len(fields) == 0 {
		return "other"
	}
	return fields[0].Name
}

// Package webhooks delivers the workflow's events to integrations
// (ticketing, chat, SIEM): IT admins register endpoints, each subscribed to
// some audit actions; every state change that writes a subscribed event
// leads to one delivery per endpoint and event, posted by a River job with
// retries and recorded in the delivery log.
//
// Deliveries of a STANDARD endpoint are JSON ({type, timestamp, data})
// signed to the Standard Webhooks specification (webhook-id,
// webhook-timestamp, webhook-signature); those of a SLACK endpoint are a
// Slack incoming-webhook message ({"text": …}), unsigned. An endpoint whose
// deliveries fail DisableAfter times in a row (each after its MaxAttempts)
// is disabled, which the system chain records as WEBHOOK_ENDPOINT_DISABLED,
// until an IT admin enables it again.
//
// The path of an event: the workflow's transaction hands its audit events
// to the Service as one of its outboxes, which puts their IDs in the
// change's outbox job (inserted with the change's own jobs, so it exists
// if and only if the change commits); when the job runs, the fan-out
// writes the deliveries of the enabled, subscribed endpoints and one
// delivery job each, and is idempotent when it runs again.
package webhooks

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/webhookdelivery"
	"gatehouse/ent/webhookendpoint"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/jobs"
	"gatehouse/internal/workflow"
)

// EventTypes are the audit actions an endpoint may subscribe to: those of
// the request chains, which every request's life writes. "*" subscribes to
// all of them.
var EventTypes = []audit.Action{
	audit.RequestSubmitted, audit.ItemAdded, audit.TaskAssigned, audit.TaskDelegated,
	audit.TaskReassigned, audit.TaskApproved, audit.TaskDenied, audit.TaskSkipped,
	audit.StageApproved, audit.StageDenied, audit.ItemApproved, audit.ItemAutoApproved,
	audit.ItemDenied, audit.ItemCancelled, audit.RequestCancelled, audit.FulfillmentStarted,
	audit.IdentityCreated, audit.AccessGranted, audit.AccessRevoked, audit.FulfillmentFailed,
	audit.FulfillmentRetried, audit.ManualFulfillmentWaiting, audit.ManualFulfillmentCompleted,
	audit.AccessExpired, audit.RequestCompleted, audit.TaskReminded, audit.TaskEscalated,
	audit.RequestExpired, audit.GrantExpiring, audit.AccessExtended,
	audit.BreakGlassInvoked, audit.BreakGlassConfirmed, audit.BreakGlassRevoked,
	audit.SodConflictWarned, audit.SodConflictBlocked,
}

// AllEvents subscribes an endpoint to every event type.
const AllEvents = "*"

const (
	// MaxAttempts is how often one delivery is tried before it FAILED.
	MaxAttempts = 8
	// DisableAfter is how many deliveries in a row may fail before their
	// endpoint is disabled.
	DisableAfter = 5
	// AttemptTimeout bounds one attempt: connecting, sending and reading
	// the answer.
	AttemptTimeout = 10 * time.Second
	// maxResponse is how much of an answer is read (and kept, in part, as
	// the delivery's error).
	maxResponse = 4 << 10
	// secretPrefix starts every signing secret.
	secretPrefix = "whsec_"
)

// Observer is told of each delivery attempt's outcome, for metrics
// (*metrics.Metrics implements it): "succeeded", "retrying", "failed" or
// "cancelled". It must not block.
type Observer interface {
	WebhookDelivered(outcome string)
}

type noObserver struct{}

func (noObserver) WebhookDelivered(string) {}

// Config holds what a Service needs.
type Config struct {
	// Client writes the endpoints (audited on the system chain by the
	// schema's hook) and the delivery log.
	Client *ent.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// PublicURL, without a trailing slash, makes the links of Slack
	// messages; "" leaves them out.
	PublicURL string
	// Log receives a line per failed attempt; nil discards them.
	Log *slog.Logger
	// Observer counts the attempts; nil counts nothing.
	Observer Observer
	// Transport, when set, replaces the HTTP transport of deliveries
	// (which refuses link-local addresses).
	Transport http.RoundTripper
}

// Failures records an endpoint's failed deliveries and disables it after
// too many in a row, as a state change whose audit event reaches the
// outboxes; *workflow.Service is one.
type Failures interface {
	RecordWebhookFailure(ctx context.Context, endpointID pulid.ID, disableAfter int) (failures int, disabled bool, err error)
}

var _ Failures = (*workflow.Service)(nil)

// Service manages the endpoints and delivers the events. It is the
// workflow's outboxes and the job runner's Extension; Attach gives it the
// workflow that records failed deliveries.
type Service struct {
	client    *ent.Client
	failures  Failures
	now       func() time.Time
	publicURL string
	log       *slog.Logger
	observer  Observer
	http      *http.Client
	// fanOuts runs the fan-outs of the jobs worked at the same time
	// together.
	fanOuts jobs.Group[[]pulid.ID]
}

// New returns a Service.
func New(cfg Config) *Service {
	transport := cfg.Transport
	if transport == nil {
		transport = guardedTransport()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{
		client:    cfg.Client,
		now:       now,
		publicURL: cfg.PublicURL,
		log:       cmp.Or(cfg.Log, slog.New(slog.DiscardHandler)),
		observer:  cmp.Or[Observer](cfg.Observer, noObserver{}),
		http: &http.Client{
			Transport: transport,
			// A redirect is an answer, not a 2xx: it is not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	s.fanOuts.Run = s.fanOutJobs
	return s
}

// Attach gives the service the workflow that records failed deliveries
// (the workflow is built after it: the service is one of its outboxes).
// Call it before the job runner starts.
func (s *Service) Attach(f Failures) { s.failures = f }

// CreateInput is a new endpoint.
type CreateInput struct {
	URL        string
	EventTypes []string
	// Secret is a whsec_ secret to sign with; nil generates one.
	Secret      *string
	Kind        enum.WebhookKind
	Description *string
}

// UpdateInput changes an endpoint; nil fields stay.
type UpdateInput struct {
	URL         *string
	EventTypes  []string
	Description *string
}

var admin = authz.Need{Role: authz.Admin, Write: true, To: "manage event webhooks"}

// RequireAdmin checks that the viewer of ctx may read the endpoints and
// their delivery log. Errors: UNAUTHENTICATED, FORBIDDEN (not an IT admin).
func RequireAdmin(ctx context.Context) error {
	_, err := authz.Require(ctx, authz.Need{Role: authz.Admin, To: "read event webhooks"})
	return err
}

// Endpoints returns the query of every endpoint; the caller orders and
// pages it. IT admins only. Errors: UNAUTHENTICATED, FORBIDDEN.
func (s *Service) Endpoints(ctx context.Context) (*ent.WebhookEndpointQuery, error) {
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return s.client.WebhookEndpoint.Query(), nil
}

// Types returns the event types an endpoint may subscribe to (EventTypes),
// in their order. IT admins only. Errors: UNAUTHENTICATED, FORBIDDEN.
func (s *Service) Types(ctx context.Context) ([]string, error) {
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	out := make([]string, len(EventTypes))
	for i, a := range EventTypes {
		out[i] = string(a)
	}
	return out, nil
}

// Create registers an endpoint and returns it with its signing secret,
// which no later read returns. IT admins only. Errors: UNAUTHENTICATED,
// FORBIDDEN, INVALID_INPUT naming the field (url, eventTypes, secret).
func (s *Service) Create(ctx context.Context, in CreateInput) (*ent.WebhookEndpoint, string, error) {
	if _, err := authz.Require(ctx, admin); err != nil {
		return nil, "", err
	}
	u, err := CheckURL(in.URL)
	if err != nil {
		return nil, "", err
	}
	types, err := CheckEventTypes(in.EventTypes)
	if err != nil {
		return nil, "", err
	}
	secret := ""
	if in.Secret != nil {
		if _, err := decodeSecret(*in.Secret); err != nil {
			return nil, "", err
		}
		secret = *in.Secret
	} else {
		secret = NewSecret()
	}
	kind := cmp.Or(in.Kind, enum.WebhookKindStandard)
	ep, err := s.client.WebhookEndpoint.Create().
		SetURL(u).SetEventTypes(types).SetSecret(secret).SetKind(kind).
		SetNillableDescription(in.Description).Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("create webhook endpoint: %w", err)
	}
	return ep, secret, nil
}

// Update changes an endpoint's URL, event types or description. IT admins
// only. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, INVALID_INPUT
// naming the field.
func (s *Service) Update(ctx context.Context, id pulid.ID, in UpdateInput) (*ent.WebhookEndpoint, error) {
	if _, err := authz.Require(ctx, admin); err != nil {
		return nil, err
	}
	upd := s.client.WebhookEndpoint.UpdateOneID(id)
	if in.URL != nil {
		u, err := CheckURL(*in.URL)
		if err != nil {
			return nil, err
		}
		upd.SetURL(u)
	}
	if in.EventTypes != nil {
		types, err := CheckEventTypes(in.EventTypes)
		if err != nil {
			return nil, err
		}
		upd.SetEventTypes(types)
	}
	if in.Description != nil {
		upd.SetDescription(*in.Description)
	}
	return s.save(ctx, upd)
}

// RotateSecret gives an endpoint a new generated signing secret and
// returns it, once. IT admins only. Errors: UNAUTHENTICATED, FORBIDDEN,
// NOT_FOUND.
func (s *Service) RotateSecret(ctx context.Context, id pulid.ID) (*ent.WebhookEndpoint, string, error) {
	if _, err := authz.Require(ctx, admin); err != nil {
		return nil, "", err
	}
	secret := NewSecret()
	ep, err := s.save(ctx, s.client.WebhookEndpoint.UpdateOneID(id).SetSecret(secret))
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// Enable enables an endpoint (one disabled after failed deliveries) with
// a clean failure count; deliveries of events from then on reach it. IT
// admins only. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND.
func (s *Service) Enable(ctx context.Context, id pulid.ID) (*ent.WebhookEndpoint, error) {
	if _, err := authz.Require(ctx, admin); err != nil {
		return nil, err
	}
	return s.save(ctx, s.client.WebhookEndpoint.UpdateOneID(id).
		SetEnabled(true).SetConsecutiveFailures(0).ClearDisabledAt())
}

// Delete removes an endpoint and its delivery log; its pending deliveries
// are dropped. IT admins only. Errors: UNAUTHENTICATED, FORBIDDEN,
// NOT_FOUND.
func (s *Service) Delete(ctx context.Context, id pulid.ID) error {
	if _, err := authz.Require(ctx, admin); err != nil {
		return err
	}
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.WebhookDelivery.Delete().Where(webhookdelivery.EndpointID(id)).Exec(ctx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("delete webhook deliveries: %w", err)
	}
	if err := tx.WebhookEndpoint.DeleteOneID(id).Exec(ctx); err != nil {
		_ = tx.Rollback()
		if ent.IsNotFound(err) {
			return errcode.New(errcode.NotFound, "webhook endpoint %s not found", id)
		}
		return fmt.Errorf("delete webhook endpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Deliveries is the delivery log of an endpoint, newest first. IT admins
// only. Errors: UNAUTHENTICATED, FORBIDDEN, NOT_FOUND.
func (s *Service) Deliveries(ctx context.Context, endpointID pulid.ID) (*ent.WebhookDeliveryQuery, error) {
	if err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	ok, err := s.client.WebhookEndpoint.Query().Where(webhookendpoint.ID(endpointID)).Exist(ctx)
	if err != nil {
		return nil, fmt.Errorf("find webhook endpoint: %w", err)
	}
	if !ok {
		return nil, errcode.New(errcode.NotFound, "webhook endpoint %s not found", endpointID)
	}
	return s.client.WebhookDelivery.Query().Where(webhookdelivery.EndpointID(endpointID)), nil
}

func (s *Service) save(ctx context.Context, upd *ent.WebhookEndpointUpdateOne) (*ent.WebhookEndpoint, error) {
	ep, err := upd.Save(ctx)
	if ent.IsNotFound(err) {
		return nil, errcode.New(errcode.NotFound, "webhook endpoint not found")
	}
	if err != nil {
		return nil, fmt.Errorf("update webhook endpoint: %w", err)
	}
	return ep, nil
}

// CheckURL validates an endpoint URL: absolute http(s), no credentials,
// and not a link-local or unspecified address (cloud metadata services
// live at 169.254.169.254). It returns the URL as given. Error:
// INVALID_INPUT naming url.
func CheckURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return "", errcode.New(errcode.InvalidInput, "url must be an absolute http(s) URL")
	case u.User != nil:
		return "", errcode.New(errcode.InvalidInput, "url must not hold credentials; the secret signs deliveries")
	case len(raw) > 2000:
		return "", errcode.New(errcode.InvalidInput, "url is longer than 2000 characters")
	}
	host := strings.ToLower(u.Hostname())
	if ip := net.ParseIP(host); ip != nil && forbiddenIP(ip) {
		return "", errcode.New(errcode.InvalidInput, "url must not point at a link-local or unspecified address")
	}
	if host == "metadata.google.internal" || host == "metadata" {
		return "", errcode.New(errcode.InvalidInput, "url must not point at a metadata service")
	}
	return u.String(), nil
}

// forbiddenIP reports addresses deliveries never reach: link-local
// (169.254.0.0/16, fe80::/10, the metadata services' home), multicast and
// unspecified ones.
func forbiddenIP(ip net.IP) bool {
	return ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
}

// CheckEventTypes validates and sorts an endpoint's event types: each is
// one of EventTypes or "*", at least one. Error: INVALID_INPUT naming
// eventTypes and the unknown value.
func CheckEventTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, errcode.New(errcode.InvalidInput, "eventTypes must name at least one event type, or \"*\"")
	}
	out := make([]string, 0, len(types))
	for _, t := range types {
		if t != AllEvents && !slices.Contains(EventTypes, audit.Action(t)) {
			return nil, errcode.New(errcode.InvalidInput, "eventTypes: %q is not a known event type", t)
		}
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// subscribed reports whether an endpoint with these event types receives
// an event of type action.
func subscribed(types []string, action string) bool {
	return slices.Contains(types, AllEvents) || slices.Contains(types, action)
}

// NewSecret returns a new signing secret: "whsec_" and 32 random bytes in
// base64.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// decodeSecret returns the key of a whsec_ secret: 24 to 64 bytes, as the
// specification asks. Error: INVALID_INPUT naming secret, never showing it.
func decodeSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	key, err := base64.StdEncoding.DecodeString(rest)
	if !ok || err != nil || len(key) < 24 || len(key) > 64 {
		return nil, errcode.New(errcode.InvalidInput, "secret must be whsec_ followed by 24 to 64 bytes in base64")
	}
	return key, nil
}

package webhooks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/webhookdelivery"
	"gatehouse/ent/webhookendpoint"
	"gatehouse/internal/authz"
	"gatehouse/internal/jobs"
	"gatehouse/internal/workflow"
)

var (
	_ workflow.Outbox = (*Service)(nil)
	_ jobs.Extension  = (*Service)(nil)
)

// FanOutArgs is the job, inserted by earlier versions, that turned one
// state change's events into deliveries: a change now hands them to its
// outbox job (Enqueue). Jobs of this kind still waiting are worked as
// before.
type FanOutArgs struct {
	// Events are the audit events' IDs, in the order written.
	Events []pulid.ID `json:"events"`
}

// Kind implements river.JobArgs.
func (FanOutArgs) Kind() string { return "webhook_fanout" }

// InsertOpts implements river.JobArgsWithInsertOpts: the job is worked in
// the queue of grouped jobs (fanOutWorker).
func (FanOutArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.GroupedQueue} }

// DeliverArgs is the job that posts one delivery.
type DeliverArgs struct {
	Delivery pulid.ID `json:"delivery"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook_deliver" }

// InsertOpts implements river.JobArgsWithInsertOpts: MaxAttempts attempts
// with River's backoff, and one job per delivery however often the
// fan-out runs.
func (DeliverArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: MaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Name implements workflow.Outbox.
func (*Service) Name() string { return "webhooks" }

// Enqueue implements workflow.Outbox: a change's part of its outbox job is
// the IDs of its events of a subscribable type, none when it wrote none.
// It sends no statement of its own.
func (*Service) Enqueue(_ context.Context, _ *ent.Client, events []workflow.Event) (any, error) {
	var ids []pulid.ID
	for _, e := range events {
		if e.ID != "" && slices.Contains(EventTypes, e.Action) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

// Work implements workflow.Outbox: it fans out the change's events with
// those of the other outbox jobs worked at the same time (jobs.Group: one
// FanOut for all of them).
func (s *Service) Work(ctx context.Context, _ workflow.OutboxJob, part json.RawMessage) error {
	var ids []pulid.ID
	if err := json.Unmarshal(part, &ids); err != nil {
		return fmt.Errorf("decode webhooks part: %w", err)
	}
	return s.fanOuts.Do(ctx, ids)
}

// Register implements jobs.Extension: the delivery worker, and the worker
// of earlier versions' fan-out jobs.
func (s *Service) Register(workers *river.Workers) []*river.PeriodicJob {
	river.AddWorker(workers, &fanOutWorker{s: s})
	river.AddWorker(workers, &deliverWorker{s: s})
	return nil
}

type fanOutWorker struct {
	river.WorkerDefaults[FanOutArgs]
	s *Service
}

// Work fans out the job's events as Work does.
func (w *fanOutWorker) Work(ctx context.Context, job *river.Job[FanOutArgs]) error {
	return w.s.fanOuts.Do(ctx, job.Args.Events)
}

// fanOutJobs fans out the events of the jobs worked at the same time and
// inserts the jobs of their deliveries, outside any transaction: FanOut is
// idempotent.
func (s *Service) fanOutJobs(ctx context.Context, events [][]pulid.ID) error {
	params, err := s.FanOut(ctx, slices.Concat(events...))
	if err != nil || len(params) == 0 {
		return err
	}
	c, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil {
		return err
	}
	if _, err := c.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("insert webhook deliveries: %w", err)
	}
	return nil
}

// FanOut writes one delivery per enabled endpoint subscribed to each of the
// events (none twice: a delivery exists once per endpoint and event) and
// returns the jobs that post the ones still pending. Running it again for
// the same events writes nothing new. The endpoints are read first: with
// none enabled it reads nothing else (one statement), which is every
// change's fan-out on a server without webhooks.
func (s *Service) FanOut(ctx context.Context, eventIDs []pulid.ID) ([]river.InsertManyParams, error) {
	ctx = authz.SystemContext(ctx)
	endpoints, err := s.client.WebhookEndpoint.Query().Where(webhookendpoint.Enabled(true)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read webhook endpoints: %w", err)
	}
	if len(endpoints) == 0 {
		return nil, nil
	}
	events, err := s.client.AuditEvent.Query().Where(auditevent.IDIn(eventIDs...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var creates []*ent.WebhookDeliveryCreate
	for _, ev := range events {
		var body []byte
		for _, ep := range endpoints {
			if !subscribed(ep.EventTypes, ev.Action) {
				continue
			}
			if body == nil {
				if body, err = json.Marshal(payloadOf(ev)); err != nil {
					return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
				}
			}
			creates = append(creates, s.client.WebhookDelivery.Create().
				SetEndpointID(ep.ID).SetEventID(ev.ID).SetEventType(ev.Action).SetPayload(string(body)))
		}
	}
	if len(creates) == 0 {
		return nil, nil
	}
	err = s.client.WebhookDelivery.CreateBulk(creates...).
		OnConflictColumns(webhookdelivery.FieldEndpointID, webhookdelivery.FieldEventID).
		DoNothing().Exec(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("write webhook deliveries: %w", err)
	}
	ids, err := s.client.WebhookDelivery.Query().
		Where(webhookdelivery.EventIDIn(eventIDs...), webhookdelivery.StatusEQ(enum.WebhookDeliveryPending)).
		Order(webhookdelivery.ByID()).IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("read webhook deliveries: %w", err)
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: DeliverArgs{Delivery: id}}
	}
	return params, nil
}

// Payload is the JSON body of a STANDARD delivery.
type Payload struct {
	// Type is the audit action, e.g. ITEM_APPROVED.
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	// Data holds the event's IDs (event, request, item, actor) and its
	// audit data (task, reviewer, status, …).
	Data map[string]any `json:"data"`
}

// payloadOf describes an audit event. Audit data holds IDs, statuses and
// people's comments, never secrets (connector secrets are references).
func payloadOf(ev *ent.AuditEvent) Payload {
	data := make(map[string]any, len(ev.Data)+4)
	for k, v := range ev.Data {
		data[k] = v
	}
	data["event"] = string(ev.ID)
	data["actor"] = ev.Actor
	if ev.RequestID != nil {
		data["request"] = string(*ev.RequestID)
	}
	if ev.ItemID != nil {
		data["item"] = string(*ev.ItemID)
	}
	return Payload{Type: ev.Action, Timestamp: ev.At.UTC(), Data: data}
}

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Service
}

// Timeout bounds the job a little above one attempt.
func (w *deliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return AttemptTimeout + 5*time.Second
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.s.Deliver(ctx, job.Args.Delivery, job.Attempt, job.MaxAttempts)
}

// Deliver makes attempt (of maxAttempts) of a delivery and records it. It
// returns an error when River should try again; after the last attempt
// the delivery is FAILED, and the endpoint's DisableAfter-th failed
// delivery in a row disables it. A delivery whose endpoint is disabled or
// gone is CANCELLED without an attempt.
func (s *Service) Deliver(ctx context.Context, id pulid.ID, attempt, maxAttempts int) error {
	sys := authz.SystemContext(ctx)
	d, err := s.client.WebhookDelivery.Query().Where(webhookdelivery.ID(id)).WithEndpoint().Only(sys)
	if ent.IsNotFound(err) {
		return nil // the endpoint was deleted, with its log
	}
	if err != nil {
		return fmt.Errorf("read webhook delivery: %w", err)
	}
	switch d.Status {
	case enum.WebhookDeliverySucceeded, enum.WebhookDeliveryFailed, enum.WebhookDeliveryCancelled:
		return nil
	}
	ep := d.Edges.Endpoint
	if !ep.Enabled {
		s.observer.WebhookDelivered("cancelled")
		return s.client.WebhookDelivery.UpdateOne(d).SetStatus(enum.WebhookDeliveryCancelled).
			SetLastError("endpoint disabled").Exec(sys)
	}
	code, cause := s.post(ctx, ep, d)
	now := s.now()
	upd := s.client.WebhookDelivery.UpdateOne(d).SetAttempts(attempt).SetLastAttemptAt(now)
	if code != 0 {
		upd.SetResponseCode(code)
	}
	if cause == nil {
		s.observer.WebhookDelivered("succeeded")
		if err := upd.SetStatus(enum.WebhookDeliverySucceeded).SetDeliveredAt(now).SetLastError("").Exec(sys); err != nil {
			return fmt.Errorf("record webhook delivery: %w", err)
		}
		if ep.ConsecutiveFailures > 0 {
			err := s.client.WebhookEndpoint.Update().
				Where(webhookendpoint.ID(ep.ID), webhookendpoint.ConsecutiveFailuresGT(0)).
				SetConsecutiveFailures(0).Exec(sys)
			if err != nil {
				return fmt.Errorf("record webhook endpoint success: %w", err)
			}
		}
		return nil
	}
	final := attempt >= maxAttempts
	msg := cause.Error()
	if len(msg) > 1000 {
		msg = msg[:1000]
	}
	status, outcome := enum.WebhookDeliveryRetrying, "retrying"
	if final {
		status, outcome = enum.WebhookDeliveryFailed, "failed"
	}
	s.observer.WebhookDelivered(outcome)
	s.log.LogAttrs(context.WithoutCancel(ctx), levelOf(final), "webhook delivery failed",
		slogAttrs(ep, d, attempt, maxAttempts, code, msg)...)
	if err := upd.SetStatus(status).SetLastError(msg).Exec(sys); err != nil {
		return fmt.Errorf("record webhook delivery: %w", err)
	}
	if !final {
		return cause
	}
	return s.failed(ctx, ep.ID)
}

// failed counts a failed delivery of an endpoint; the endpoint's
// DisableAfter-th in a row disables it (Failures).
func (s *Service) failed(ctx context.Context, endpointID pulid.ID) error {
	if s.failures == nil {
		return errors.New("record webhook endpoint failure: no workflow attached")
	}
	n, disabled, err := s.failures.RecordWebhookFailure(ctx, endpointID, DisableAfter)
	if err != nil {
		return err
	}
	if disabled {
		s.log.WarnContext(ctx, "webhook endpoint disabled after failed deliveries",
			"endpoint", string(endpointID), "failures", n)
	}
	return nil
}

// post sends one attempt and returns the answer's status code (0 without
// one) and, unless it is 2xx, the failure.
func (s *Service) post(ctx context.Context, ep *ent.WebhookEndpoint, d *ent.WebhookDelivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	body := []byte(d.Payload)
	if ep.Kind == enum.WebhookKindSlack {
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			return 0, fmt.Errorf("decode payload: %w", err)
		}
		body, _ = json.Marshal(map[string]string{"text": s.slackText(p)})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhooks/1")
	if ep.Kind != enum.WebhookKindSlack {
		key, err := decodeSecret(ep.Secret)
		if err != nil {
			return 0, errors.New("the endpoint's secret is not a valid whsec_ secret")
		}
		ts := strconv.FormatInt(s.now().Unix(), 10)
		req.Header.Set("webhook-id", string(d.ID))
		req.Header.Set("webhook-timestamp", ts)
		req.Header.Set("webhook-signature", Sign(key, string(d.ID), ts, body))
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	snippet := strings.TrimSpace(string(answer))
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	return resp.StatusCode, fmt.Errorf("unexpected status %d: %s", resp.StatusCode, snippet)
}

// Sign is the Standard Webhooks signature of a delivery: "v1," and the
// base64 HMAC-SHA256, keyed by the secret's bytes, of "id.timestamp.body".
func Sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// slackText is the one-line Slack message of an event, with a link to its
// request when the server's public URL is known.
func (s *Service) slackText(p Payload) string {
	words := strings.ToLower(strings.ReplaceAll(p.Type, "_", " "))
	text := "Gatehouse: " + words
	req, _ := p.Data["request"].(string)
	if req != "" {
		text += " on request " + req
	}
	if actor, _ := p.Data["actor"].(string); actor != "" {
		text += " by " + actor
	}
	if req != "" && s.publicURL != "" {
		text += " <" + s.publicURL + "/app/requests/" + req + "|open>"
	}
	return text
}

// guardedTransport is an HTTP transport whose connections never reach a
// forbidden address, whatever the URL's name resolves to, and that uses no
// proxy (a proxy would reach the address for it).
func guardedTransport() *http.Transport {
	dialer := &net.Dialer{
		Timeout: AttemptTimeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || forbiddenIP(ip) {
				return fmt.Errorf("webhooks: refusing to connect to %s", host)
			}
			return nil
		},
	}
	return &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   AttemptTimeout,
		ResponseHeaderTimeout: AttemptTimeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
	}
}

// levelOf is the level of a failed attempt's line: WARN while River tries
// again, ERROR when the delivery failed.
func levelOf(final bool) slog.Level {
	if final {
		return slog.LevelError
	}
	return slog.LevelWarn
}

// slogAttrs describe a failed attempt: IDs, the attempt, the answer's code
// and the error; never the secret or the payload.
func slogAttrs(ep *ent.WebhookEndpoint, d *ent.WebhookDelivery, attempt, maxAttempts, code int, msg string) []slog.Attr {
	return []slog.Attr{
		slog.String("endpoint", string(ep.ID)),
		slog.String("delivery", string(d.ID)),
		slog.String("event", string(d.EventID)),
		slog.String("type", d.EventType),
		slog.Int("attempt", attempt),
		slog.Int("max_attempts", maxAttempts),
		slog.Int("status", code),
		slog.String("error", msg),
	}
}

// Command loadsubs measures Gatehouse's live progress under load. Run it as
// its own process against a running server (raise `ulimit -n` in both for
// thousands of connections):
//
//	loadsubs -url http://127.0.0.1:8080/query -token "$ADMIN_TOKEN" -n 10000
//
// Every subscriber is the same user, so the server must run without its
// per-user websocket cap (GATEHOUSE_WS_MAX_PER_USER=0).
//
// With an IT admin's token it creates its own reviewer, requester,
// application and request through GraphQL (so it works on any server, demo
// or not), opens n websocket connections (graphql-transport-ws) each holding
// one subscription as the reviewer — requestProgress of the request, or
// myTaskProgress, by -mix — waits until every subscription is live, makes
// one decision over HTTP, and reports how long each subscriber took to
// receive its event (p50, p99, max) and how much resident memory and how
// many goroutines the server gained per subscription (from its /metrics).
// It exits 1 when a subscriber misses the event, or when -max-p99 or
// -max-kb is exceeded.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type config struct {
	url        string
	token      string
	n          int
	mix        float64
	dialers    int
	timeout    time.Duration
	settle     time.Duration
	maxP99     time.Duration
	maxKB      float64
	maxGor     float64
	jsonOutput bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "http://127.0.0.1:8080/query", "GraphQL endpoint of the server")
	flag.StringVar(&cfg.token, "token", os.Getenv("GATEHOUSE_TOKEN"), "bearer token of an IT admin (GATEHOUSE_TOKEN)")
	flag.IntVar(&cfg.n, "n", 1000, "number of websocket subscribers")
	flag.Float64Var(&cfg.mix, "mix", 0.5, "share of subscribers on myTaskProgress (the rest on requestProgress)")
	flag.IntVar(&cfg.dialers, "dialers", 64, "connections opened concurrently")
	flag.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "how long to wait for the event")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "pause between the last subscriber going live and measuring memory")
	flag.DurationVar(&cfg.maxP99, "max-p99", 0, "fail when the p99 delivery time exceeds this (0: no limit)")
	flag.Float64Var(&cfg.maxKB, "max-kb", 0, "fail when the resident memory per subscription exceeds this many KB (0: no limit)")
	flag.Float64Var(&cfg.maxGor, "max-goroutines", 0, "fail when the server's goroutines per subscription exceed this (0: no limit)")
	flag.BoolVar(&cfg.jsonOutput, "json", false, "print the result as one JSON line too")
	flag.Parse()
	if cfg.token == "" {
		fmt.Fprintln(os.Stderr, "loadsubs: -token (or GATEHOUSE_TOKEN) of an IT admin is required")
		os.Exit(2)
	}
	res, err := run(context.Background(), cfg)
	if res != nil {
		res.print(os.Stdout)
		if cfg.jsonOutput {
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadsubs:", err)
		os.Exit(1)
	}
}

// result is what one run measured.
type result struct {
	Subscribers    int     `json:"subscribers"`
	RequestSubs    int     `json:"request_progress"`
	TaskSubs       int     `json:"my_task_progress"`
	Received       int     `json:"received"`
	ConnectSeconds float64 `json:"connect_seconds"`
	DecisionMS     float64 `json:"decision_ms"`
	P50MS          float64 `json:"p50_ms"`
	P99MS          float64 `json:"p99_ms"`
	MaxMS          float64 `json:"max_ms"`
	RSSBeforeMB    float64 `json:"rss_before_mb"`
	RSSAfterMB     float64 `json:"rss_after_mb"`
	KBPerSub       float64 `json:"kb_per_subscription"`
	HeapKBPerSub   float64 `json:"heap_kb_per_subscription"`
	StackKBPerSub  float64 `json:"stack_kb_per_subscription"`
	GoroutinesPer  float64 `json:"goroutines_per_subscription"`
	// EventKBPerSub is what the server allocated from the decision until
	// every subscriber had its event, per subscriber (garbage included).
	EventKBPerSub  float64 `json:"event_alloc_kb_per_subscription"`
	GCsDuringEvent float64 `json:"gcs_during_event"`
}

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "subscribers        %d (%d requestProgress, %d myTaskProgress), connected in %.1fs\n",
		r.Subscribers, r.RequestSubs, r.TaskSubs, r.ConnectSeconds)
	fmt.Fprintf(w, "event received by  %d of %d\n", r.Received, r.Subscribers)
	fmt.Fprintf(w, "decision (HTTP)    %.1f ms\n", r.DecisionMS)
	fmt.Fprintf(w, "delivery after the decision was sent: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.P50MS, r.P99MS, r.MaxMS)
	fmt.Fprintf(w, "server allocated   %.1f KB per subscriber for the event; %.0f garbage collections ran meanwhile\n", r.EventKBPerSub, r.GCsDuringEvent)
	fmt.Fprintf(w, "server RSS         %.1f MB -> %.1f MB: %.1f KB per subscription (Go heap in use %.1f KB, stacks %.1f KB), %.2f goroutines per subscription\n",
		r.RSSBeforeMB, r.RSSAfterMB, r.KBPerSub, r.HeapKBPerSub, r.StackKBPerSub, r.GoroutinesPer)
}

func run(ctx context.Context, cfg config) (*result, error) {
	g := &graphQL{url: cfg.url, http: &http.Client{Timeout: 30 * time.Second}}
	s, err := setup(ctx, g, cfg.token)
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	metricsURL := strings.TrimSuffix(cfg.url, "/query") + "/metrics"
	before, err := scrape(ctx, g.http, metricsURL)
	if err != nil {
		return nil, err
	}

	res := &result{Subscribers: cfg.n}
	subs := make([]*subscriber, cfg.n)
	for i := range subs {
		kind := kindRequest
		if float64(i%100) < cfg.mix*100 {
			kind = kindTask
			res.TaskSubs++
		} else {
			res.RequestSubs++
		}
		subs[i] = &subscriber{kind: kind, request: s.request, probes: s.probes}
	}
	wsURL := "ws" + strings.TrimPrefix(cfg.url, "http")
	start := time.Now()
	if err := connectAll(ctx, wsURL, s.reviewerToken, subs, cfg.dialers); err != nil {
		closeAll(subs)
		return nil, err
	}
	defer closeAll(subs)

	// requestProgress subscriptions are live once their snapshot arrived;
	// myTaskProgress ones once a probe request reached them.
	if err := waitFor(subs, cfg.timeout, func(s *subscriber) bool { return s.kind == kindTask || s.ready.Load() }); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	for i := 0; ; i++ {
		if i == 20 {
			return nil, errors.New("probes: some myTaskProgress subscriptions never became live")
		}
		if err := s.probe(ctx, g, i); err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		if waitFor(subs, 3*time.Second, func(s *subscriber) bool { return s.ready.Load() }) == nil {
			break
		}
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	time.Sleep(cfg.settle) // let the server settle before measuring memory
	after, err := scrape(ctx, g.http, metricsURL)
	if err != nil {
		return nil, err
	}
	n := float64(cfg.n)
	res.RSSBeforeMB = before["process_resident_memory_bytes"] / (1 << 20)
	res.RSSAfterMB = after["process_resident_memory_bytes"] / (1 << 20)
	res.KBPerSub = (after["process_resident_memory_bytes"] - before["process_resident_memory_bytes"]) / 1024 / n
	delta := func(name string) float64 { return (after[name] - before[name]) / 1024 / n }
	res.HeapKBPerSub = delta("go_memstats_heap_inuse_bytes")
	res.StackKBPerSub = delta("go_memstats_stack_inuse_bytes")
	res.GoroutinesPer = (after["go_goroutines"] - before["go_goroutines"]) / n

	// The measured decision: the reviewer approves one of two items.
	t0 := time.Now()
	for _, sub := range subs {
		sub.since.Store(t0.UnixNano())
	}
	if err := g.do(ctx, s.reviewerToken, `mutation($id: ID!) { decideReviewTask(id: $id, decision: APPROVE) { id } }`,
		map[string]any{"id": s.task}, nil); err != nil {
		return nil, fmt.Errorf("decide: %w", err)
	}
	res.DecisionMS = ms(time.Since(t0))
	waitErr := waitFor(subs, cfg.timeout, func(s *subscriber) bool { return s.got.Load() != 0 })
	if event, err := scrape(ctx, g.http, metricsURL); err == nil {
		res.EventKBPerSub = (event["go_memstats_alloc_bytes_total"] - after["go_memstats_alloc_bytes_total"]) / 1024 / n
		res.GCsDuringEvent = event["go_gc_duration_seconds_count"] - after["go_gc_duration_seconds_count"]
	}

	var lat []time.Duration
	for _, sub := range subs {
		if at := sub.got.Load(); at != 0 {
			lat = append(lat, time.Duration(at-t0.UnixNano()))
		}
	}
	res.Received = len(lat)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50MS = ms(lat[len(lat)*50/100])
		res.P99MS = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		res.MaxMS = ms(lat[len(lat)-1])
	}
	switch {
	case waitErr != nil:
		return res, fmt.Errorf("event: %w", waitErr)
	case cfg.maxP99 > 0 && res.P99MS > ms(cfg.maxP99):
		return res, fmt.Errorf("p99 %.1f ms exceeds %s", res.P99MS, cfg.maxP99)
	case cfg.maxKB > 0 && res.KBPerSub > cfg.maxKB:
		return res, fmt.Errorf("%.1f KB per subscription exceeds %.1f KB", res.KBPerSub, cfg.maxKB)
	case cfg.maxGor > 0 && res.GoroutinesPer > cfg.maxGor:
		return res, fmt.Errorf("%.2f goroutines per subscription exceed %.2f", res.GoroutinesPer, cfg.maxGor)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// waitFor waits until ok holds for every subscriber.
func waitFor(subs []*subscriber, timeout time.Duration, ok func(*subscriber) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, s := range subs {
			if !ok(s) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d subscribers still waiting after %s", missing, len(subs), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scenario is what setup created.
type scenario struct {
	run           string
	admin         string
	app           string
	requesterTok  string
	reviewerToken string
	request       string
	task          string
	probes        *probeSet
}

// probeSet holds the IDs of the probe requests, read by every subscriber.
type probeSet struct {
	mu  sync.RWMutex
	ids map[string]bool
}

func (p *probeSet) has(id string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ids[id]
}

// setup creates a reviewer M, a requester R (managed by M), a MANUAL
// application whose single review stage is the manager, and R's request
// for two of its entitlements: M has two tasks, and one decision moves the
// request from 0/2 to 1/2.
func setup(ctx context.Context, g *graphQL, admin string) (*scenario, error) {
	s := &scenario{run: strconv.FormatInt(time.Now().UnixNano(), 36), admin: admin, probes: &probeSet{ids: map[string]bool{}}}
	user := func(key, manager string) (string, string, error) {
		var u struct{ CreateUser struct{ ID string } }
		in := map[string]any{"email": key + "." + s.run + "@loadsubs.example", "name": "loadsubs " + key}
		if manager != "" {
			in["managerID"] = manager
		}
		if err := g.do(ctx, admin, `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`, map[string]any{"in": in}, &u); err != nil {
			return "", "", err
		}
		var t struct{ CreateApiToken struct{ Token string } }
		err := g.do(ctx, admin, `mutation($in: CreateApiTokenInput!) { createApiToken(input: $in) { token } }`,
			map[string]any{"in": map[string]any{"name": "loadsubs", "scope": "WRITE", "ownerID": u.CreateUser.ID}}, &t)
		return u.CreateUser.ID, t.CreateApiToken.Token, err
	}
	m, mTok, err := user("reviewer", "")
	if err != nil {
		return nil, err
	}
	_, rTok, err := user("requester", m)
	if err != nil {
		return nil, err
	}
	s.reviewerToken, s.requesterTok = mTok, rTok
	var app struct{ CreateApplication struct{ ID string } }
	if err := g.do(ctx, admin, `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "loadsubs " + s.run, "fulfillment": "MANUAL", "connectorKind": "MANUAL"}}, &app); err != nil {
		return nil, err
	}
	s.app = app.CreateApplication.ID
	if err := g.do(ctx, admin, `mutation($in: CreateReviewStageTemplateInput!) { createReviewStageTemplate(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"applicationID": s.app, "level": 1, "reviewerKind": "MANAGER"}}, nil); err != nil {
		return nil, err
	}
	e1, err := s.entitlement(ctx, g, admin, "one")
	if err != nil {
		return nil, err
	}
	e2, err := s.entitlement(ctx, g, admin, "two")
	if err != nil {
		return nil, err
	}
	s.request, err = s.submit(ctx, g, e1, e2)
	if err != nil {
		return nil, err
	}
	var tasks struct {
		MyTasks struct {
			Edges []struct {
				Node struct {
					ID      string
					Request struct{ ID string }
				}
			}
		}
	}
	if err := g.do(ctx, mTok, `{ myTasks(first: 10) { edges { node { id request { id } } } } }`, nil, &tasks); err != nil {
		return nil, err
	}
	for _, e := range tasks.MyTasks.Edges {
		if e.Node.Request.ID == s.request {
			s.task = e.Node.ID
		}
	}
	if s.task == "" {
		return nil, errors.New("the reviewer has no task on the request")
	}
	return s, nil
}

func (s *scenario) entitlement(ctx context.Context, g *graphQL, admin, name string) (string, error) {
	var e struct{ CreateEntitlement struct{ ID string } }
	err := g.do(ctx, admin, `mutation($in: CreateEntitlementInput!) { createEntitlement(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"externalID": name + "-" + s.run, "name": "loadsubs " + name, "applicationID": s.app}}, &e)
	return e.CreateEntitlement.ID, err
}

func (s *scenario) submit(ctx context.Context, g *graphQL, entitlements ...string) (string, error) {
	var r struct{ SubmitAccessRequest struct{ ID string } }
	err := g.do(ctx, s.requesterTok, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": entitlements}}, &r)
	return r.SubmitAccessRequest.ID, err
}

// probe submits a request for a new entitlement, which every
// myTaskProgress subscriber receives once its subscription is live. The
// probe's ID is recorded before any subscriber can look it up.
func (s *scenario) probe(ctx context.Context, g *graphQL, i int) error {
	e, err := s.entitlement(ctx, g, s.admin, fmt.Sprintf("probe-%d", i))
	if err != nil {
		return err
	}
	s.probes.mu.Lock()
	defer s.probes.mu.Unlock()
	id, err := s.submit(ctx, g, e)
	if err != nil {
		return err
	}
	s.probes.ids[id] = true
	return nil
}

// graphQL posts operations.
type graphQL struct {
	url  string
	http *http.Client
}

func (g *graphQL) do(ctx context.Context, token, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := g.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %w", res.Status, err)
	}
	if len(r.Errors) > 0 {
		return fmt.Errorf("%s", r.Errors[0].Message)
	}
	if out != nil {
		return json.Unmarshal(r.Data, out)
	}
	return nil
}

// scrape reads the server's Prometheus metrics (unlabelled samples only).
func scrape(ctx context.Context, c *http.Client, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	if _, ok := out["process_resident_memory_bytes"]; !ok {
		return nil, errors.New("metrics: no process_resident_memory_bytes")
	}
	return out, nil
}

const (
	kindRequest = iota
	kindTask
)

// subscriber is one websocket connection with one subscription.
type subscriber struct {
	kind    int
	request string
	probes  *probeSet
	conn    *websocket.Conn
	ready   atomic.Bool  // live: snapshot or probe received
	since   atomic.Int64 // when the measured decision was sent (unix ns)
	got     atomic.Int64 // when its event arrived (unix ns)
}

const (
	requestProgressQuery = `subscription($id: ID!) { requestProgress(id: $id) { request { id } overall { done total percent } mine { done total percent } } }`
	myTaskProgressQuery  = `subscription { myTaskProgress { request { id } overall { done total percent } mine { done total percent } } }`
)

func connectAll(ctx context.Context, url, token string, subs []*subscriber, concurrency int) error {
	sem := make(chan struct{}, concurrency)
	errc := make(chan error, len(subs))
	var wg sync.WaitGroup
	for _, s := range subs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errc <- s.connect(ctx, url, token)
		})
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d connections failed, first: %w", len(errs), len(subs), errs[0])
	}
	return nil
}

func (s *subscriber) connect(ctx context.Context, url, token string) error {
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 30 * time.Second,
		ReadBufferSize: 1024, WriteBufferSize: 1024}
	c, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return err
	}
	s.conn = c
	init := fmt.Sprintf(`{"type":"connection_init","payload":{"authorization":"Bearer %s"}}`, token)
	if err := c.WriteMessage(websocket.TextMessage, []byte(init)); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var ack struct{ Type string }
	if err := c.ReadJSON(&ack); err != nil {
		return fmt.Errorf("connection_init: %w", err)
	}
	if ack.Type != "connection_ack" {
		return fmt.Errorf("connection_init: got %s", ack.Type)
	}
	_ = c.SetReadDeadline(time.Time{})
	payload := map[string]any{"query": myTaskProgressQuery}
	if s.kind == kindRequest {
		payload = map[string]any{"query": requestProgressQuery, "variables": map[string]any{"id": s.request}}
	}
	if err := c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": payload}); err != nil {
		return err
	}
	go s.read()
	return nil
}

// read handles the connection's messages: pings, and the subscription's
// events. It scans bytes rather than decoding JSON, to keep the load tool's
// own CPU use (on the same machine as the server) small.
func (s *subscriber) read() {
	var mu sync.Mutex
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		switch {
		case bytes.Contains(data, []byte(`"type":"ping"`)):
			mu.Lock()
			_ = s.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
			mu.Unlock()
		case bytes.Contains(data, []byte(`"type":"next"`)):
			id := requestID(data)
			switch {
			case id == s.request && bytes.Contains(data, []byte(`"overall":{"done":0`)):
				s.ready.Store(true) // the snapshot
			case id == s.request && s.since.Load() != 0:
				s.got.CompareAndSwap(0, now)
			case s.probes.has(id):
				s.ready.Store(true)
			}
		}
	}
}

// requestID returns the request ID of an event: the value after
// "request":{"id":".
func requestID(data []byte) string {
	const key = `"request":{"id":"`
	i := bytes.Index(data, []byte(key))
	if i < 0 {
		return ""
	}
	rest := data[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func closeAll(subs []*subscriber) {
	for _, s := range subs {
		if s.conn != nil {
			_ = s.conn.Close()
		}
	}
}

package resolvers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	"gatehouse/resolvers"
)

// The subscriptions of the fan-out benchmark: cmd/loadsubs's two, and a
// scope subscription selecting more of the request than its status (so
// that a change of counts reaches it).
const (
	benchRequestProgress = `subscription($id: ID!) { requestProgress(id: $id) { request { id } overall { done total percent } mine { done total percent } } }`
	benchMyTaskProgress  = `subscription { myTaskProgress { request { id } overall { done total percent } mine { done total percent } } }`
	benchRequestChanged  = `subscription { accessRequestChanged { id status submittedAt updatedAt } }`
)

// BenchmarkSubscriptionFanOut measures what one event costs per subscriber
// it reaches: N websocket subscribers (one connection each, in process,
// graphql-transport-ws) on one request, then per iteration one change of a
// task's status (written directly, then told to the feed as the workflow
// does after commit), until every subscriber has read its event. B/event
// and allocs/event are the process's allocations over the loop divided by
// the events delivered: the feed's computation of the event (a fixed number
// of queries), the fan-out, gqlgen's execution per subscriber, the write,
// and the benchmark's own reading of each message (a few small objects).
// BENCH_SUBSCRIBERS sets N (default 500).
func BenchmarkSubscriptionFanOut(b *testing.B) {
	n := 500
	if s := os.Getenv("BENCH_SUBSCRIBERS"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err)
		n = v
	}
	for _, kind := range []string{"requestProgress", "myTaskProgress", "accessRequestChanged"} {
		b.Run(kind, func(b *testing.B) {
			benchEach(b, func(b *testing.B, db *dbtest.DB) { benchFanOut(b, db, kind, n) })
		})
	}
}

func benchFanOut(b *testing.B, db *dbtest.DB, kind string, n int) {
	limits := resolvers.DefaultLimits
	limits.WebsocketPerPrincipal = 0
	limits.WebsocketPending = 0
	env := apitest.NewWith(b, db, apitest.Options{NoJobs: true, Limits: &limits})
	admin := seedRequests(b, env, 1)
	ctx := apitest.Sys()
	req := env.Client.AccessRequest.Query().OnlyX(ctx)
	// A level-1 task (approved) flips between APPROVED and PENDING; the
	// myTaskProgress subscriber reviews a level-2 task, which stays pending.
	tasks := env.Client.ReviewTask.Query().Where(reviewtask.RequestID(req.ID)).
		WithStage().Order(ent.Asc(reviewtask.FieldID)).AllX(ctx)
	var flip, mine *ent.ReviewTask
	for _, t := range tasks {
		switch {
		case t.Edges.Stage.Level == 1 && flip == nil:
			flip = t
		case t.Edges.Stage.Level == 2 && mine == nil && t.ReviewerID != flip.ReviewerID:
			mine = t
		}
	}
	require.NotNil(b, flip)
	require.NotNil(b, mine)

	query, vars, token := benchRequestProgress, map[string]any{"id": string(req.ID)}, env.Token(b, admin)
	switch kind {
	case "myTaskProgress":
		query, vars, token = benchMyTaskProgress, nil, env.Token(b, env.Client.User.GetX(ctx, mine.ReviewerID))
	case "accessRequestChanged":
		query, vars = benchRequestChanged, nil
	}
	payload, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(b, err)
	sub, err := json.Marshal(wsMessage{ID: "1", Type: "subscribe", Payload: payload})
	require.NoError(b, err)

	got := make(chan []byte, n)
	for range n {
		conn, _, err := dialWS(b, env.WebsocketURL(), nil, "graphql-transport-ws")
		require.NoError(b, err)
		initWS(b, conn, token)
		require.NoError(b, conn.WriteMessage(websocket.TextMessage, sub))
		go benchRead(conn, got)
	}
	require.Eventually(b, func() bool { return env.Feed.Subscribers() == n }, time.Minute, 5*time.Millisecond)
	if kind == "requestProgress" {
		wait(b, got, n, "snapshot") // sent at once
	}
	status := enum.TaskStatusPending
	change := func() {
		env.Client.ReviewTask.UpdateOneID(flip.ID).SetStatus(status).ExecX(ctx)
		if status == enum.TaskStatusPending {
			status = enum.TaskStatusApproved
		} else {
			status = enum.TaskStatusPending
		}
		env.Feed.Published(req.ID)
	}
	// One event outside the measurement, checked.
	change()
	last := wait(b, got, n, "first event")
	require.Contains(b, string(last), string(req.ID))
	require.Contains(b, string(last), `"type":"next"`)

	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"}}
	metrics.Read(sample)
	bytes0, objects0 := sample[0].Value.Uint64(), sample[1].Value.Uint64()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		change()
		wait(b, got, n, "event")
	}
	b.StopTimer()
	metrics.Read(sample)
	events := float64(b.N * n)
	b.ReportMetric(float64(sample[0].Value.Uint64()-bytes0)/events, "B/event")
	b.ReportMetric(float64(sample[1].Value.Uint64()-objects0)/events, "allocs/event")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
}

// benchRead reads a subscriber's messages until its connection closes and
// hands each operation message to got (the last subscriber's buffer is
// then reused, so got's receiver may only look at it before the next
// event). It answers pings, and allocates as little as gorilla lets it.
func benchRead(conn *websocket.Conn, got chan<- []byte) {
	buf := make([]byte, 0, 1024)
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			m, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
		}
		switch {
		case bytes.HasPrefix(buf, []byte(`{"type":"ping"`)):
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`))
		case bytes.HasPrefix(buf, []byte(`{"id":`)):
			got <- buf
		}
	}
}

// wait takes n messages from got and returns the last.
func wait(b *testing.B, got <-chan []byte, n int, what string) []byte {
	var last []byte
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for i := range n {
		select {
		case last = <-got:
		case <-timeout.C:
			b.Fatalf("%s: %d of %d subscribers received it within a minute", what, i, n)
		}
	}
	return last
}

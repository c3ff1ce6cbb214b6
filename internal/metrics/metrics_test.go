package metrics_test

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/metrics"
)

// scrape returns the text exposition of m's handler.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// series returns the sample lines of the named metric (without HELP and TYPE).
func series(body, name string) []string {
	var lines []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestRegistryHasRuntimeCollectors(t *testing.T) {
	t.Parallel()
	body := scrape(t, metrics.New())
	require.NotEmpty(t, series(body, "go_goroutines"))
	require.NotEmpty(t, series(body, "process_cpu_seconds_total"))
}

func TestInstrumentHTTP(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	h := m.InstrumentHTTP("/graphql", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			return
		}
		http.NotFound(w, r)
	}))
	for _, method := range []string{http.MethodPost, http.MethodPost, http.MethodGet, "BREW"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, "/graphql?x=1", nil))
	}

	body := scrape(t, m)
	require.ElementsMatch(t, []string{
		`gatehouse_http_requests_total{code="201",method="post",route="/graphql"} 2`,
		`gatehouse_http_requests_total{code="404",method="get",route="/graphql"} 1`,
		`gatehouse_http_requests_total{code="404",method="unknown",route="/graphql"} 1`,
	}, series(body, "gatehouse_http_requests_total"))
	require.Contains(t, body, `gatehouse_http_request_duration_seconds_count{method="post",route="/graphql"} 2`)
	require.Contains(t, body, `gatehouse_http_request_duration_seconds_count{method="get",route="/graphql"} 1`)
	require.Contains(t, body, `gatehouse_http_request_duration_seconds_bucket{method="post",route="/graphql",le="+Inf"} 2`)
}

// graphqlServer returns gqlgen's test server with the metrics extension,
// a complexity limit of 10, and the POST and SSE transports.
func graphqlServer(m *metrics.Metrics) *testserver.TestServer {
	h := testserver.New()
	h.AddTransport(transport.SSE{})
	h.AddTransport(transport.POST{})
	h.Use(m.GraphQL())
	h.Use(extension.FixedComplexityLimit(10))
	return h
}

func post(t *testing.T, h http.Handler, query string) {
	t.Helper()
	body, err := json.Marshal(map[string]string{"query": query})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), req)
}

func TestGraphQLOperations(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	h := graphqlServer(m)

	post(t, h, `query Viewer { name }`)
	post(t, h, `query Viewer { name }`)
	post(t, h, `{ name }`)
	post(t, h, `mutation Rename { name }`) // the test server refuses mutations with an error
	post(t, h, `{ nope }`)                 // fails validation: no operation, not counted
	h.SetCalculatedComplexity(50)
	post(t, h, `query TooComplex { name }`) // refused by the complexity limit before it runs
	h.SetCalculatedComplexity(0)

	// A subscription over SSE: two events, then the server completes it.
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL,
		strings.NewReader(`{"query":"subscription Watch { name }"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	readEvent := func() string {
		for {
			line, err := events.ReadString('\n')
			require.NoError(t, err)
			if strings.HasPrefix(line, "event: ") {
				return strings.TrimSpace(strings.TrimPrefix(line, "event: "))
			}
		}
	}
	h.SendNextSubscriptionMessage()
	require.Equal(t, "next", readEvent())
	h.SendNextSubscriptionMessage()
	require.Equal(t, "next", readEvent())
	h.SendCompleteSubscriptionMessage()
	require.Equal(t, "complete", readEvent())
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)

	body := scrape(t, m)
	require.ElementsMatch(t, []string{
		`gatehouse_graphql_operations_total{operation="Viewer",result="ok",type="query"} 2`,
		`gatehouse_graphql_operations_total{operation="anonymous",result="ok",type="query"} 1`,
		`gatehouse_graphql_operations_total{operation="Rename",result="error",type="mutation"} 1`,
		`gatehouse_graphql_operations_total{operation="TooComplex",result="error",type="query"} 1`,
		`gatehouse_graphql_operations_total{operation="Watch",result="ok",type="subscription"} 1`,
	}, series(body, "gatehouse_graphql_operations_total"))
	require.ElementsMatch(t, []string{
		`gatehouse_graphql_operation_duration_seconds_count{operation="Viewer",type="query"} 2`,
		`gatehouse_graphql_operation_duration_seconds_count{operation="anonymous",type="query"} 1`,
		`gatehouse_graphql_operation_duration_seconds_count{operation="Rename",type="mutation"} 1`,
		`gatehouse_graphql_operation_duration_seconds_count{operation="Watch",type="subscription"} 1`,
	}, series(body, "gatehouse_graphql_operation_duration_seconds_count"))
}

func TestGraphQLOperationNameCardinality(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	h := graphqlServer(m)

	for i := range metrics.MaxOperationNames + 5 {
		post(t, h, fmt.Sprintf(`query Op%d { name }`, i))
	}
	post(t, h, `query Op0 { name }`) // a name seen before the bound keeps its label
	post(t, h, `query `+strings.Repeat("L", metrics.MaxOperationNameLen+1)+` { name }`)
	post(t, h, `query `+strings.Repeat("S", metrics.MaxOperationNameLen)+` { name }`) // past the bound: other

	lines := series(scrape(t, m), "gatehouse_graphql_operations_total")
	require.Len(t, lines, metrics.MaxOperationNames+1, "200 names plus other")
	require.Contains(t, lines, `gatehouse_graphql_operations_total{operation="Op0",result="ok",type="query"} 2`)
	require.Contains(t, lines, fmt.Sprintf(`gatehouse_graphql_operations_total{operation="Op%d",result="ok",type="query"} 1`, metrics.MaxOperationNames-1))
	require.Contains(t, lines, `gatehouse_graphql_operations_total{operation="other",result="ok",type="query"} 7`)
	for _, line := range lines {
		require.NotRegexp(t, regexp.MustCompile(`operation="Op20[0-4]"`), line)
	}
}

func TestRegisterDB(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	db := sql.OpenDB(nullConnector{})
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	m.RegisterDB(db)

	body := scrape(t, m)
	require.Contains(t, body, `go_sql_max_open_connections{db_name="gatehouse"} 0`)
	require.Contains(t, body, `go_sql_open_connections{db_name="gatehouse"} 0`)
	require.Panics(t, func() { m.RegisterDB(db) }, "a second registration is a programming error")
}

// nullConnector lets sql.OpenDB build a pool that never connects.
type nullConnector struct{}

func (nullConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("no database")
}
func (nullConnector) Driver() driver.Driver { return nil }

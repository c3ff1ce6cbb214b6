package gqlhttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/gqlexec"
	"gatehouse/internal/gqlhttp"
)

// TestWriteAsEncodingJSON: a response is written as encoding/json writes
// it (what gqlgen's transport sends), with a Content-Length.
func TestWriteAsEncodingJSON(t *testing.T) {
	t.Parallel()
	yes := true
	withCode := gqlerror.Errorf("no such request")
	withCode.Path = ast.Path{ast.PathName("node"), ast.PathIndex(2)}
	withCode.Extensions = map[string]any{"code": "NOT_FOUND"}
	for name, res := range map[string]*graphql.Response{
		"data":                {Data: json.RawMessage(`{"viewer":{"email":"a@example.com"}}`)},
		"no data":             {},
		"errors":              {Errors: gqlerror.List{gqlerror.Errorf("one"), withCode}},
		"errors and data":     {Errors: gqlerror.List{withCode}, Data: json.RawMessage(`{"node":null}`)},
		"extensions":          {Data: json.RawMessage(`{}`), Extensions: map[string]any{"cost": 3}},
		"label, path, next":   {Data: json.RawMessage(`{"a":1}`), Label: "x", Path: ast.Path{ast.PathName("a")}, HasNext: &yes},
		"errors, extensions":  {Errors: gqlerror.List{withCode}, Extensions: map[string]any{"k": "v"}},
		"data with a <script": {Data: json.RawMessage(`{"s":"\u003cscript\u003e"}`)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := json.Marshal(res)
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			gqlhttp.Write(rec, res)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, string(want), rec.Body.String())
			require.Equal(t, strconv.Itoa(len(want)), rec.Header().Get("Content-Length"))
		})
	}
}

// TestWriteUnencodable: extensions that are not JSON get 500 and one
// INTERNAL error, not a panic.
func TestWriteUnencodable(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	gqlhttp.Write(rec, &graphql.Response{Data: json.RawMessage(`{}`), Extensions: map[string]any{"f": func() {}}})
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.JSONEq(t, `{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}],"data":null}`, rec.Body.String())
}

// discard is a response writer that drops what it is given.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// TestWriteCopiesNoData: the data is written as it is, not re-encoded: a
// response of 1 MB of data allocates a small fraction of that
// (encoding/json copies and compacts all of it).
func TestWriteCopiesNoData(t *testing.T) {
	data := []byte(`{"s":"` + strings.Repeat("x", 1<<20) + `"}`)
	res := &graphql.Response{Data: data, Errors: gqlerror.List{gqlerror.Errorf("e")}}
	w := discard{h: http.Header{}}
	gqlhttp.Write(w, res) // the pooled buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		gqlhttp.Write(w, res)
	}
	runtime.ReadMemStats(&after)
	perWrite := (after.TotalAlloc - before.TotalAlloc) / n
	require.Less(t, perWrite, uint64(16<<10), "bytes allocated per write of 1 MB of data")
}

var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `type Query { user: User } type User { name: String }`})

// ada is what the test servers answer unless a test says otherwise.
func ada() []byte { return []byte(`{"user":{"name":"Ada"}}`) }

// server serves tr over schema, every operation answered with data().
func server(t *testing.T, tr graphql.Transport, data func() []byte) *httptest.Server {
	h := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			return graphql.OneShot(&graphql.Response{Data: data()})
		},
	})
	h.AddTransport(tr)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// post sends body to url with the given Accept (none when empty) and
// Content-Type, and returns the response and its body.
func post(t *testing.T, url, accept, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(raw)
}

// TestPOSTAnswersAsGqlgen: every kind of request gets the status, content
// type and body that gqlgen's transport.POST gives it.
func TestPOSTAnswersAsGqlgen(t *testing.T) {
	t.Parallel()
	ours, theirs := server(t, gqlhttp.POST{}, ada), server(t, transport.POST{}, ada)
	type answer struct {
		status      int
		contentType string
		body        any // decoded JSON, or the text when it is not JSON
	}
	ask := func(url, accept, contentType, body string) answer {
		res, raw := post(t, url, accept, contentType, body)
		a := answer{status: res.StatusCode, contentType: res.Header.Get("Content-Type")}
		if json.Unmarshal([]byte(raw), &a.body) != nil {
			a.body = raw
		}
		return a
	}
	const query = `{"query":"{ user { name } }"}`
	for _, c := range []struct{ name, accept, contentType, body string }{
		{"query", "", "application/json", query},
		{"query, charset", "", "application/json; charset=utf-8", query},
		{"accept any", "*/*", "application/json", query},
		{"accept graphql-response", "application/graphql-response+json", "application/json", query},
		{"accept both", "application/graphql-response+json, application/json;q=0.9", "application/json", query},
		{"accept other", "text/html", "application/json", query},
		{"syntax error", "", "application/json", `{"query":"{ user { "}`},
		{"syntax error, graphql-response", "application/graphql-response+json", "application/json", `{"query":"{ user { "}`},
		{"unknown field", "", "application/json", `{"query":"{ nobody }"}`},
		{"no query", "", "application/json", `{}`},
		{"not JSON", "", "application/json", `{"query":`},
		{"variables", "", "application/json", `{"query":"query($n: Int) { user { name } }","variables":{"n":1.5}}`},
		{"form", "", "application/x-www-form-urlencoded", `query=x`},
	} {
		require.Equal(t, ask(theirs.URL, c.accept, c.contentType, c.body), ask(ours.URL, c.accept, c.contentType, c.body), c.name)
	}
}

// TestPOSTCheck: a body that Check refuses is answered with its error
// (200, or 400 with application/graphql-response+json) and never decoded or
// run; Check sees the body as sent.
func TestPOSTCheck(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	srv := server(t, gqlhttp.POST{Check: func(body []byte) *gqlerror.Error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, string(body))
		if strings.Contains(string(body), "refuse") {
			return &gqlerror.Error{Message: "refused", Extensions: map[string]any{"code": "INVALID_INPUT"}}
		}
		return nil
	}}, ada)
	res, body := post(t, srv.URL, "application/json", "application/json", `{"query":"{ user { name } }","refuse":1}`)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.JSONEq(t, `{"errors":[{"message":"refused","extensions":{"code":"INVALID_INPUT"}}],"data":null}`, body)
	res, _ = post(t, srv.URL, "application/graphql-response+json", "application/json", `{"query":"{ user { name } }","refuse":1}`)
	require.Equal(t, http.StatusBadRequest, res.StatusCode)
	res, body = post(t, srv.URL, "application/json", "application/json", `{"query":"{ user { name } }"}`)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.JSONEq(t, `{"data":{"user":{"name":"Ada"}}}`, body)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{`{"query":"{ user { name } }","refuse":1}`, `{"query":"{ user { name } }","refuse":1}`, `{"query":"{ user { name } }"}`}, seen)
}

// TestPOSTReleasesData: once a response is written, the buffer of its data
// goes back to gqlexec's pool for the next response's data.
func TestPOSTReleasesData(t *testing.T) {
	var mu sync.Mutex
	seen := map[*byte]bool{}
	reused := false
	name := strings.Repeat("a", 4000)
	srv := server(t, gqlhttp.POST{}, func() []byte {
		data := gqlexec.Marshal(graphql.WriterFunc(func(w io.Writer) {
			_, _ = io.WriteString(w, `{"user":{"name":"`+name+`"}}`)
		}))
		mu.Lock()
		defer mu.Unlock()
		reused = reused || seen[&data[0]]
		seen[&data[0]] = true
		return data
	})

	// The pool may drop what it is given, so a reuse is looked for over a
	// few requests.
	for i := 0; i < 20 && !reused; i++ {
		res, body := post(t, srv.URL, "", "application/json", `{"query":"{ user { name } }"}`)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, `{"data":{"user":{"name":"`+name+`"}}}`, body)
	}
	require.True(t, reused, "no response's data buffer was reused")
}

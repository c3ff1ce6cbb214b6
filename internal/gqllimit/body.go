package gqllimit

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Body is a POST transport that reads a request body once, at its
// announced length, and refuses before any JSON is decoded a body whose
// "query" is longer than DocumentBytes or whose JSON nests deeper than
// input objects may (a filter's variable nested thousands of levels costs a
// map per level to decode). Other bodies go to Next (a POST transport such
// as gqlhttp.POST) unchanged; a body that cannot be read (too large, cut
// off) goes to Next with the same read error.
//
// A refused body is answered with one INVALID_INPUT error: status 200 with
// application/json, 400 with application/graphql-response+json.
type Body struct {
	Next   graphql.Transport
	Limits Limits
}

var _ graphql.Transport = Body{}

// Supports reports whether Next takes the request.
func (b Body) Supports(r *http.Request) bool { return b.Next.Supports(r) }

// Do checks the body and hands the request to Next.
func (b Body) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, readErr := readBody(r)
	if readErr == nil {
		l := b.Limits.withDefaults()
		if err := checkBody(body, l); err != nil {
			writeRefusal(w, r, exec, err)
			return
		}
	}
	var rest io.Reader = bytes.NewReader(body)
	if readErr != nil {
		rest = io.MultiReader(rest, errReader{readErr})
	}
	r.Body = io.NopCloser(rest)
	b.Next.Do(w, r, exec)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// readBody reads the body, in one allocation when its length is announced.
// The handler in front bounds the body (resolvers' requestErrors answers
// 413 past its limit), and net/http ends it at its Content-Length.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 0)+bytes.MinRead))
	_, err := buf.ReadFrom(r.Body)
	return buf.Bytes(), err
}

// checkBody scans the JSON of a request body without decoding it.
func checkBody(body []byte, l Limits) *gqlerror.Error {
	// Objects and the lists between them: {"variables": {"w": {"and": [{…
	maxDepth := 2*l.InputDepth + 4
	depth := 0
	var (
		query    []byte // the raw JSON string of the top-level "query"
		keys     [3]string
		isQuery  bool // the next string is the value of the top-level "query"
		variable string
	)
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{', '[':
			depth++
			if depth > maxDepth {
				if keys[1] == "variables" {
					variable = keys[2]
				}
				return refuseDeepBody(body, query, variable, l)
			}
		case '}', ']':
			depth--
		case '"':
			start := i
			for i++; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
			}
			s := body[start+1 : min(i, len(body))]
			// Only a key is followed by a colon.
			j := i + 1
			for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n' || body[j] == '\r') {
				j++
			}
			key := j < len(body) && body[j] == ':'
			switch {
			case isQuery:
				isQuery = false
				query = body[start:min(i+1, len(body))]
				if len(s) > l.DocumentBytes {
					return refuse("", "the document has %d bytes; the limit is %d", len(s), l.DocumentBytes)
				}
			case key && depth >= 1 && depth <= 2:
				keys[depth] = string(s)
				isQuery = depth == 1 && keys[1] == "query"
			}
		}
	}
	return nil
}

// refuseDeepBody refuses a body nested too deep, naming the variable and,
// when the document says, the argument it fills.
func refuseDeepBody(body, rawQuery []byte, variable string, l Limits) *gqlerror.Error {
	if variable == "" {
		return refuse("", "the request's JSON nests more than %d deep; input objects may nest %d deep", 2*l.InputDepth+4, l.InputDepth)
	}
	var arg argument
	var query string
	if rawQuery != nil && json.Unmarshal(rawQuery, &query) == nil && len(query) <= l.DocumentBytes {
		if doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.Tokens); err == nil {
			w := newWalker(l, doc)
			_ = w.document()
			arg = w.uses[variable]
		}
	}
	return refuseAt(inputPath{"$" + variable}, arg, "input objects nested more than %d deep; the limit is %d", l.InputDepth, l.InputDepth)
}

// writeRefusal answers a refused body as gqlgen answers a request error.
func writeRefusal(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, err *gqlerror.Error) {
	const graphqlResponse = "application/graphql-response+json"
	contentType, status := "application/json", http.StatusOK
	for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
		t, _, _ := mime.ParseMediaType(strings.TrimSpace(a))
		if t == "application/json" || t == "*/*" || t == "application/*" {
			break
		}
		if t == graphqlResponse {
			contentType, status = graphqlResponse, http.StatusBadRequest
			break
		}
	}
	res := exec.DispatchError(r.Context(), gqlerror.List{err})
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	b, mErr := json.Marshal(res)
	if mErr != nil {
		return
	}
	_, _ = w.Write(b)
}

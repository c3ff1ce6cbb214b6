package gqllimit

import (
	"encoding/json"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// CheckBody refuses, before any JSON is decoded, a request body whose
// "query" is longer than DocumentBytes or whose JSON nests deeper than
// input objects may (a filter's variable nested thousands of levels costs a
// map per level to decode), with one INVALID_INPUT error. The POST
// transport (gqlhttp.POST) calls it on the body it has read.
func (l Limits) CheckBody(body []byte) *gqlerror.Error {
	return checkBody(body, l.withDefaults())
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

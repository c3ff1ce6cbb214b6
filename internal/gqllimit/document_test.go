package gqllimit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

var testSchema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query { user(id: ID): User, users(where: UserWhere, ids: [ID!]): [User!]! }
	type User { id: ID!, name: String!, email: String!, manager: User, reports(first: Int): [User!]! }
	input UserWhere { not: UserWhere, and: [UserWhere!], nameContains: String, idIn: [ID!] }
`})

func TestDocumentLimits(t *testing.T) {
	t.Parallel()
	small := Limits{SelectionFields: 4, Fields: 10, Aliases: 2, Directives: 2, Depth: 3, InputDepth: 2,
		InputFields: 4, ListLength: 3, StringLength: 12, DocumentBytes: 400, Tokens: 80}
	for _, tc := range []struct {
		name  string
		query string
		vars  map[string]any
		want  string // part of the message; empty when the request passes
	}{
		{"a small query passes", `{ user { id name } }`, nil, ""},
		{"fields in one set", `{ user { id name email id name } }`, nil, "a selection set has 5 fields; the limit is 4"},
		{"fields of fragments count in the set they are spread in",
			`{ user { id ...F } } fragment F on User { name email id name }`, nil, "a selection set has 5 fields"},
		{"fields of the document", `{ a: user { ...F } users { ...F } } fragment F on User { id name manager { id } }`, nil, ""},
		{"fields of the document after expansion",
			`{ user { ...F manager { ...F manager { ...F } } } } fragment F on User { id name email }`, nil,
			"the document selects 11 fields once fragments are expanded; the limit is 10"},
		{"aliases", `{ a: user { b: id c: name } }`, nil, "the document has 3 aliases"},
		{"aliases in a fragment count each time it is spread",
			`{ user { ...F manager { ...F } } } fragment F on User { a: id }`, nil, ""},
		{"aliases in a fragment spread three times",
			`{ user { ...F manager { ...F manager { ...F } } } } fragment F on User { a: id }`, nil, "the document has 3 aliases"},
		{"directives", `{ user @include(if: true) { id @skip(if: false) name @skip(if: false) } }`, nil, "3 directives"},
		{"depth", `{ user { manager { manager { id } } } }`, nil, "query depth 4 exceeds the limit of 3"},
		{"introspection roots add no depth", `{ __schema { types { fields { type { name } } } } }`, nil, ""},
		{"a fragment cycle counts nothing", `{ user { ...A } } fragment A on User { id ...B } fragment B on User { ...A }`, nil, ""},
		{"fan-out stops early", `{ user { ...F0 } } fragment F0 on User { id ...F1 ...F1 } fragment F1 on User { id ...F2 ...F2 } fragment F2 on User { id }`,
			nil, "fields; the limit is 4"},
		{"a literal nested too deep", `{ users(where: {not: {not: {nameContains: "a"}}}) { id } }`, nil,
			`argument "where" of users: input objects nested more than 2 deep`},
		{"a variable nested too deep", `query($w: UserWhere) { users(where: $w) { id } }`,
			map[string]any{"w": map[string]any{"not": map[string]any{"not": map[string]any{}}}},
			`$w (argument "where" of users): input objects nested more than 2 deep`},
		{"a list too long", `{ users(ids: ["a", "b", "c", "d"]) { id } }`, nil, `argument "ids" of users: a list of 4 items; the limit is 3`},
		{"a variable list too long", `query($w: UserWhere) { users(where: $w) { id } }`,
			map[string]any{"w": map[string]any{"idIn": []any{"a", "b", "c", "d"}}}, `$w.idIn (argument "where" of users): a list of 4 items`},
		{"a string too long", `{ users(where: {nameContains: "abcdefghijklm"}) { id } }`, nil, `where.nameContains (argument "where" of users): a string of 13 characters; the limit is 12`},
		{"characters, not bytes", `{ users(where: {nameContains: "éééééééééééé"}) { id } }`, nil, ""},
		{"a NUL byte in a literal", `{ user(id: "a\u0000") { id } }`, nil, `argument "id" of user: a string must not contain NUL bytes`},
		{"a NUL byte in a variable", `query($id: ID) { user(id: $id) { id } }`, map[string]any{"id": "a\x00"}, "$id (argument \"id\" of user): a string must not contain NUL bytes"},
		{"a NUL byte in a key", `query($w: UserWhere) { users(where: $w) { id } }`, map[string]any{"w": map[string]any{"a\x00": 1}}, "NUL"},
		{"invalid UTF-8 in a literal", "{ user(id: \"\xff\") { id } }", nil, "valid UTF-8"},
		{"input fields across literals and variables", `query($w: UserWhere) { users(where: $w) { id } a: users(where: {nameContains: "a", idIn: []}) { id } }`,
			map[string]any{"w": map[string]any{"and": []any{map[string]any{"nameContains": "a"}, map[string]any{"nameContains": "b"}}}},
			"the request has more than 4 input fields"},
		{"tokens", "{ user {" + strings.Repeat(" id", 80) + " } }", nil, "the document has more than 80 tokens; the limit is 80"},
		{"bytes", "{ user { id } }" + strings.Repeat(" ", 400), nil, "the document has 415 bytes; the limit is 400"},
		{"a default value is checked", `query($w: UserWhere = {not: {not: {}}}) { users(where: $w) { id } }`, nil, "$w: input objects nested more than 2 deep"},
		{"a document that does not parse", `{ user { id }`, nil, "Expected Name, found <EOF>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := NewDocument(small, 10).Check(tc.query, tc.vars)
			if tc.want == "" {
				require.Nil(t, err)
				return
			}
			require.NotNil(t, err)
			require.Contains(t, err.Message, tc.want)
		})
	}
}

func TestPassedDocumentsAreCached(t *testing.T) {
	t.Parallel()
	d := NewDocument(Limits{InputFields: 2}, 10)
	q := `query($w: UserWhere) { users(where: $w) { id } }`
	require.Nil(t, d.Check(q, map[string]any{"w": map[string]any{"nameContains": "a"}}))
	// The cached document still counts its variables.
	err := d.Check(q, map[string]any{"w": map[string]any{"nameContains": "a", "idIn": []any{}, "not": nil}})
	require.NotNil(t, err)
	require.Contains(t, err.Message, `$w (argument "where" of users): the request has more than 2 input fields`)
	require.Equal(t, "where", err.Extensions["field"])
}

func TestCheckBody(t *testing.T) {
	t.Parallel()
	l := Limits{InputDepth: 2, DocumentBytes: 60}.withDefaults()
	require.Nil(t, checkBody([]byte(`{"query":"{ user { id } }","variables":{"w":{"not":{"a":[1]}}}}`), l))
	require.Nil(t, checkBody([]byte(`{"variables":{"query":"`+strings.Repeat("x", 70)+`"},"query":"{ a }"}`), l), "only the top-level query counts")
	require.Nil(t, checkBody([]byte(`{"query" : "{ \"\\\" }"}`), l))
	err := checkBody([]byte(`{"query" : "`+strings.Repeat("x", 61)+`"}`), l)
	require.NotNil(t, err)
	require.Contains(t, err.Message, "the document has 61 bytes; the limit is 60")
	err = checkBody([]byte(`{"query":"query($w: UserWhere) { users(where: $w) { id } }","variables":{"w":`+strings.Repeat(`[`, 9)+`]}}`), l)
	require.NotNil(t, err)
	require.Equal(t, `$w (argument "where" of users): input objects nested more than 2 deep; the limit is 2`, err.Message)
	require.Equal(t, "where", err.Extensions["field"])
	err = checkBody([]byte(`{"variables":{"w":`+strings.Repeat(`[`, 9)+`]}}`), l)
	require.NotNil(t, err)
	require.Equal(t, `$w: input objects nested more than 2 deep; the limit is 2`, err.Message)
	err = checkBody([]byte(`{"query":"{ a }","extensions":`+strings.Repeat(`[`, 9)+`]}`), l)
	require.NotNil(t, err)
	require.Contains(t, err.Message, "the request's JSON nests more than 8 deep")
	require.Nil(t, checkBody([]byte(`{"query":"[[[[[[[[[[[[[[","x":"{{{{{{{{{{{"}`), Limits{InputDepth: 2}.withDefaults()), "brackets in strings do not count")
}

func TestValidationErrorsAreCapped(t *testing.T) {
	t.Parallel()
	doc, err := parser.ParseQuery(&ast.Source{Input: "{ user {" + strings.Repeat(" x: id x: name", 10) + " } }"})
	require.NoError(t, err)
	errs := validator.ValidateWithRules(testSchema, doc, ValidationRules(5)())
	require.Len(t, errs, 6)
	require.Equal(t, "95 more errors were dropped", errs[5].Message)
	capped := CapErrors(errs, 3)
	require.Len(t, capped, 4)
	require.Equal(t, "97 more errors were dropped", capped[3].Message)
	require.Equal(t, 97, capped[3].Extensions["dropped"])
	require.Len(t, CapErrors(errs[:2], 3), 2)
}

// FuzzRequest runs a request body through the checks of the POST
// transport and the Document extension, then (when they pass) gqlgen's
// parser and the capped validator, as the server does. None may panic; a
// document the limits let through must parse with the same token limit,
// and validation must stop at the error limit.
func FuzzRequest(f *testing.F) {
	for _, body := range []string{
		`{"query":"{ user { id name } }"}`,
		`{"query":"query($w: UserWhere) { users(where: $w) { id } }","variables":{"w":{"not":{"nameContains":"a"}}}}`,
		`{"query":"{ user { ...F } } fragment F on User { id ...G ...G } fragment G on User { id }"}`,
		`{"query":"{ user { x: id x: name x: email } }"}`,
		`{"query":"{ users(ids: [\"a\", \"b\"], where: {and: [{idIn: []}]}) { id } }"}`,
		`{"query":"{ user(id: \"\\u0000\") { id } }"}`,
		`{"query":"query($id: ID = \"x\") { user(id: $id) @include(if: true) { id } }","variables":{"id":"a\u0000"}}`,
		`{"query":"{ __schema { types { name } } }"}`,
		`{"query":"{ user { ...A } } fragment A on User { ...A }"}`,
		`{"query":"{","variables":[]}`,
	} {
		f.Add([]byte(body))
	}
	l := Limits{Tokens: 300, SelectionFields: 20, Fields: 60, InputFields: 30, ListLength: 20, Errors: 5}.withDefaults()
	d := NewDocument(l, 100)
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := checkBody(body, l); err != nil {
			require.Equal(t, "INVALID_INPUT", err.Extensions["code"])
			return
		}
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&req) != nil {
			return
		}
		if err := d.Check(req.Query, req.Variables); err != nil {
			require.NotEmpty(t, err.Message)
			if code := err.Extensions["code"]; code != "GRAPHQL_PARSE_FAILED" {
				require.Equal(t, "INVALID_INPUT", code, "%s", err.Message)
			}
			return
		}
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: req.Query}, l.Tokens)
		require.NoError(t, err, "the limits passed a document the parser refuses")
		errs := validator.ValidateWithRules(testSchema, doc, ValidationRules(l.Errors)())
		// gqlgen's own FieldsOnCorrectType and ScalarLeafs are not capped
		// here (gqlgen swaps them in); the default ones are.
		require.LessOrEqual(t, len(errs), l.Errors+1, fmt.Sprint(errs))
	})
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	l, err := ParseLimits(" aliases=50, list-length = 2000 ,", DefaultLimits)
	require.NoError(t, err)
	want := DefaultLimits
	want.Aliases, want.ListLength = 50, 2000
	require.Equal(t, want, l)
	l, err = ParseLimits("", DefaultLimits)
	require.NoError(t, err)
	require.Equal(t, DefaultLimits, l)
	for _, bad := range []string{"alias=3", "aliases", "aliases=0", "aliases=x", "tokens=-5"} {
		_, err := ParseLimits(bad, DefaultLimits)
		require.Error(t, err, bad)
	}
}

package gqllimit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/gqllimit"
)

var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query { user: User, users: [User!]! }
	type User { name: String!, manager: User, reports: [User!]! }
	type Subscription { userChanged: User! }
`})

// nest returns a selection of depth n below the root: user { manager { … name } }.
func nest(n int) string {
	return "user {" + strings.Repeat(" manager {", n-2) + " name" + strings.Repeat(" }", n-2) + " }"
}

// introspectionQuery mirrors graphql-js's getIntrospectionQuery with TypeRef
// nesting ofType the given number of times. graphql-js nests it nine times,
// so __schema.types.fields.args.type...ofType.name reaches depth 15.
func introspectionQuery(ofTypes int) string {
	typeRef := "kind name" + strings.Repeat(" ofType { kind name", ofTypes) + strings.Repeat(" }", ofTypes)
	return `query IntrospectionQuery {
		__schema {
			queryType { name } mutationType { name } subscriptionType { name }
			types { ...FullType }
			directives { name description locations args { ...InputValue } }
		}
	}
	fragment FullType on __Type {
		kind name description
		fields(includeDeprecated: true) {
			name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
		}
		inputFields { ...InputValue }
		interfaces { ...TypeRef }
		enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
		possibleTypes { ...TypeRef }
	}
	fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
	fragment TypeRef on __Type { ` + typeRef + ` }`
}

// depthLimit is a depth limit for the Document checks; zero is the default.
type depthLimit struct{ Max int }

func (d depthLimit) document() *gqllimit.Document {
	return gqllimit.NewDocument(gqllimit.Limits{Depth: d.Max}, 1)
}

func check(t *testing.T, d depthLimit, query string) *gqlerror.Error {
	t.Helper()
	_, errs := gqlparser.LoadQuery(schema, query)
	require.Empty(t, errs, "the test query must be valid")
	return d.document().Check(query, nil)
}

func TestDepth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		limit depthLimit
		query string
		want  string // the error message; empty when the operation passes
	}{
		{"a flat query passes", depthLimit{}, `{ users { name } }`, ""},
		{"depth equal to the default limit passes", depthLimit{}, `{ ` + nest(12) + ` }`, ""},
		{"one level past the default limit fails", depthLimit{}, `{ ` + nest(13) + ` }`,
			"query depth 13 exceeds the limit of 12"},
		{"the deepest branch counts, not the first", depthLimit{}, `{ users { name } ` + nest(14) + ` }`,
			"query depth 14 exceeds the limit of 12"},
		{"a custom limit applies", depthLimit{Max: 3}, `{ user { manager { manager { name } } } }`,
			"query depth 4 exceeds the limit of 3"},
		{"fragment spreads are followed and add no level of their own", depthLimit{Max: 4},
			`{ user { ...M } } fragment M on User { manager { ...N } } fragment N on User { manager { name } }`, ""},
		{"nested fragment spreads count their fields", depthLimit{Max: 3},
			`{ user { ...M } } fragment M on User { manager { ...N } } fragment N on User { manager { name } }`,
			"query depth 4 exceeds the limit of 3"},
		{"inline fragments are followed", depthLimit{Max: 2},
			`{ user { ... on User { manager { ... { name } } } } }`, "query depth 3 exceeds the limit of 2"},
		{"a fragment spread at the root is followed", depthLimit{Max: 2},
			`{ ...Q } fragment Q on Query { user { manager { name } } }`, "query depth 3 exceeds the limit of 2"},
		{"a fragment used many times is measured once and counted where it is deepest", depthLimit{Max: 3},
			`{ users { ...R } user { reports { ...R } } } fragment R on User { name manager { name } }`,
			"query depth 4 exceeds the limit of 3"},
		{"subscriptions are measured too", depthLimit{Max: 2},
			`subscription { userChanged { manager { name } } }`, "query depth 3 exceeds the limit of 2"},
		{"the standard introspection query (depth 15) passes", depthLimit{}, introspectionQuery(9), ""},
		{"introspection is not measured, even under a tiny limit", depthLimit{Max: 1}, introspectionQuery(20), ""},
		{"introspection reached through a root fragment is not measured", depthLimit{Max: 1},
			`{ ...I } fragment I on Query { __type(name: "User") { fields { type { name } } } }`, ""},
		{"application fields beside introspection are measured", depthLimit{Max: 1},
			`{ __schema { types { name } } user { name } }`, "query depth 2 exceeds the limit of 1"},
		{"__typename is an ordinary leaf field", depthLimit{Max: 2}, `{ user { __typename manager { __typename } } }`,
			"query depth 3 exceeds the limit of 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := check(t, tt.limit, tt.query)
			if tt.want == "" {
				require.Nil(t, err)
				return
			}
			require.NotNil(t, err)
			require.Equal(t, tt.want, err.Message)
			require.Equal(t, map[string]any{"code": "INVALID_INPUT"}, err.Extensions)
		})
	}
}

func TestIntrospectionBesideFieldsIsNotMeasured(t *testing.T) {
	t.Parallel()
	query := `{ ` + nest(5) + ` __schema { types { fields { type { ofType { ofType { name } } } } } } }`
	require.Nil(t, check(t, depthLimit{Max: 5}, query))
	require.Equal(t, "query depth 5 exceeds the limit of 4", check(t, depthLimit{Max: 4}, query).Message)
}

// TestIntrospectionCyclesAreRefusedByValidation pins the gqlparser rule that
// lets Depth leave introspection unmeasured.
func TestIntrospectionCyclesAreRefusedByValidation(t *testing.T) {
	t.Parallel()
	_, errs := gqlparser.LoadQuery(schema,
		`{ __type(name: "User") { fields { type { fields { type { fields { type { fields { name } } } } } } } } }`)
	require.Len(t, errs, 1)
	require.Equal(t, "Maximum introspection depth exceeded", errs[0].Message)
}

func TestValidateRefusesANegativeLimit(t *testing.T) {
	t.Parallel()
	require.Error(t, depthLimit{Max: -1}.document().Validate(nil))
	require.NoError(t, depthLimit{}.document().Validate(nil))
}

// TestDepthThroughServer runs the document checks in a gqlgen server over the
// test schema and checks what a client sees.
func TestDepthThroughServer(t *testing.T) {
	t.Parallel()
	var executed atomic.Int32
	h := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			executed.Add(1)
			return graphql.OneShot(&graphql.Response{Data: []byte(`{"user":null}`)})
		},
	})
	h.AddTransport(transport.POST{})
	h.Use(depthLimit{Max: 3}.document())
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	post := func(query string) map[string]any {
		body, err := json.Marshal(map[string]string{"query": query})
		require.NoError(t, err)
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}

	require.Equal(t, map[string]any{"data": map[string]any{"user": nil}}, post(`{ `+nest(3)+` }`))
	require.Equal(t, int32(1), executed.Load())

	require.Equal(t, map[string]any{
		"data": nil,
		"errors": []any{map[string]any{
			"message":    "query depth 4 exceeds the limit of 3",
			"extensions": map[string]any{"code": "INVALID_INPUT"},
		}},
	}, post(`{ `+nest(4)+` }`))
	require.Equal(t, int32(1), executed.Load(), "a refused operation never runs")
}

// TestComplexityThroughServer: each field costs one plus its children, and
// an operation over the limit is refused before it runs.
func TestComplexityThroughServer(t *testing.T) {
	t.Parallel()
	var executed atomic.Int32
	h := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 0, false // gqlgen's default: 1 + children
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			executed.Add(1)
			return graphql.OneShot(&graphql.Response{Data: []byte(`{"user":null}`)})
		},
	})
	h.AddTransport(transport.POST{})
	h.Use(&gqllimit.Complexity{Max: 3})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	post := func(query string) map[string]any {
		body, err := json.Marshal(map[string]string{"query": query})
		require.NoError(t, err)
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}

	require.Equal(t, map[string]any{"data": map[string]any{"user": nil}}, post(`{ user { manager { name } } }`))
	require.Equal(t, int32(1), executed.Load())
	require.Equal(t, map[string]any{
		"data": nil,
		"errors": []any{map[string]any{
			"message":    "query complexity 5 exceeds the limit of 3",
			"extensions": map[string]any{"code": "INVALID_INPUT"},
		}},
	}, post(`{ user { manager { name } } a: user { name } }`))
	require.Equal(t, int32(1), executed.Load(), "a refused operation never runs")
	require.Error(t, (&gqllimit.Complexity{}).Validate(nil))
}

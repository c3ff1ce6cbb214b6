package security_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// post sends a raw JSON body and decodes the GraphQL response.
func post(t *testing.T, env *apitest.Env, token, body string) *apitest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.URL, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := &apitest.Response{Status: res.StatusCode}
	require.NoError(t, json.Unmarshal(raw, out), "%s", raw)
	return out
}

func queryJSON(query string, vars map[string]any) string {
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return string(b)
}

// TestExpensiveDocumentsAreRefused plays the documents that once cost
// seconds to minutes of CPU (quadratic field merging, fragment fan-out, a
// filter nested thousands of levels) and the other shapes the limits
// bound. Each must be refused before validation with INVALID_INPUT and a
// message naming the limit, even from a READ token; the benchmarks of
// internal/gqllimit time the refusals.
func TestExpensiveDocumentsAreRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		user := env.User(t, "u@example.com", enum.PlatformRoleUser)
		created := struct {
			CreateApiToken struct{ Token string }
		}{}
		env.MustDo(t, env.Token(t, user), `mutation { createApiToken(input: {name: "ro", scope: READ}) { token } }`, nil, &created)
		readToken := created.CreateApiToken.Token

		var aliases, fanOut strings.Builder
		for i := range 3500 {
			aliases.WriteString([]string{" x: id", " x: email"}[i%2])
		}
		fanOut.WriteString("{ viewer { ...F0 } }")
		for i := range 22 {
			fmt.Fprintf(&fanOut, " fragment F%d on User { id ...F%d ...F%d }", i, i+1, i+1)
		}
		fanOut.WriteString(" fragment F22 on User { id }")
		deep := map[string]any{"nameContains": "a"}
		for range 5000 {
			deep = map[string]any{"not": deep}
		}
		spreads := make([]string, 60)
		for i := range spreads {
			spreads[i] = fmt.Sprintf("a%d: id", i)
		}
		directives := strings.Repeat(" id @include(if: true)", 51)
		nestedFields := "{ viewer {" + strings.Repeat(" manager {", 12) + " id" + strings.Repeat(" }", 12) + " } }"

		for _, tc := range []struct {
			name, body, message string
		}{
			{"3,500 conflicting aliases", queryJSON("{ viewer {"+aliases.String()+" } }", nil),
				"the document has more than 2000 tokens; the limit is 2000"},
			{"4,000 repeated fields", queryJSON("{ viewer {"+strings.Repeat(" id", 4000)+" } }", nil),
				"the document has more than 2000 tokens; the limit is 2000"},
			{"500 repeated fields under the token limit", queryJSON("{ viewer {"+strings.Repeat(" id", 500)+" } }", nil),
				"a selection set has 500 fields; the limit is 100"},
			{"fragment fan-out", queryJSON(fanOut.String(), nil), "fields; the limit is 100"},
			{"a filter nested 5,000 levels in the variables", queryJSON(`query($w: UserWhereInput) { users(where: $w) { totalCount } }`, map[string]any{"w": deep}),
				`$w (argument "where" of users): input objects nested more than 10 deep; the limit is 10`},
			{"a filter nested 11 levels in the variables", queryJSON(`query($w: UserWhereInput) { users(where: $w) { totalCount } }`,
				map[string]any{"w": nested(11, map[string]any{"nameContains": "a"})}),
				`$w (argument "where" of users): input objects nested more than 10 deep; the limit is 10`},
			{"60 aliases", queryJSON("{ viewer { "+strings.Join(spreads, " ")+" } }", nil),
				"the document has 31 aliases once fragments are expanded; the limit is 30"},
			{"51 directives", queryJSON("{ viewer {"+directives+" } }", nil),
				"the document has 51 directives once fragments are expanded; the limit is 50"},
			{"selection depth 14", queryJSON(nestedFields, nil), "query depth 14 exceeds the limit of 12"},
			{"a document over 64 KiB", queryJSON("{ viewer { id } }"+strings.Repeat(" ", 70<<10), nil),
				"the document has 71697 bytes; the limit is 65536"},
			{"a fragment cycle", queryJSON("{ viewer { ...A } } fragment A on User { id ...B } fragment B on User { id ...A }", nil),
				"Cannot spread fragment"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := post(t, env, readToken, tc.body)
				require.NotEmpty(t, res.Errors)
				require.Equal(t, "INVALID_INPUT", res.Code(), "%+v", res.Errors[0])
				require.Contains(t, res.Errors[0].Message, tc.message)
				require.LessOrEqual(t, len(res.Errors), 21)
			})
		}

		// The server still answers, and legitimate documents pass: the
		// standard introspection query and a fragment used many times.
		env.MustDo(t, readToken, introspectionQuery, nil, nil)
		env.MustDo(t, readToken, `{ viewer { ...U manager { ...U } } } fragment U on User { id email name }`, nil, nil)
	})
}

// TestErrorsPerResponseAreCapped sends documents with many errors: at most
// 20 come back, and a last one says how many were dropped.
func TestErrorsPerResponseAreCapped(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		token := env.Token(t, env.User(t, "u@example.com", enum.PlatformRoleUser))
		for _, tc := range []struct{ name, query, dropped string }{
			// 30 aliases conflict pairwise: 15 × 15 validation errors.
			{"conflicting aliases", "{ viewer {" + strings.Repeat(" x: id x: email", 15) + " } }", "205 more errors were dropped"},
			{"unknown fields", "{ viewer {" + strings.Repeat(" nope", 40) + " } }", "20 more errors were dropped"},
			{"resolver errors", "{" + func() string {
				var b strings.Builder
				for i := range 25 {
					fmt.Fprintf(&b, " n%d: users(first: -1) { totalCount }", i)
				}
				return b.String()
			}() + " }", "5 more errors were dropped"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := env.Do(t, token, tc.query, nil)
				require.Len(t, res.Errors, 21, "%+v", res.Errors)
				require.Equal(t, "INVALID_INPUT", res.Errors[20].Extensions.Code)
				require.Contains(t, res.Errors[20].Message, tc.dropped)
			})
		}
	})
}

// introspectionQuery is graphql-js's getIntrospectionQuery with every
// option GraphiQL sets (descriptions, specifiedByURL, directive
// repeatability, deprecated input values, oneOf).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name kind } mutationType { name kind } subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

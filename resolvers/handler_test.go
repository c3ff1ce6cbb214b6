package resolvers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// TestRequestErrorsFollowGraphQLOverHTTP checks the statuses and bodies the
// graphql-http audit expects (e2e runs the audit itself): request errors
// carry no "data" entry; with application/json, document errors are 200 and
// a body that is not a GraphQL request is 400; with
// application/graphql-response+json, request errors are 400.
func TestRequestErrorsFollowGraphQLOverHTTP(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	token := env.Token(t, env.User(t, "u@example.com", enum.PlatformRoleUser))
	const gqlJSON = "application/graphql-response+json"
	for _, tc := range []struct {
		name, accept, body string
		status             int
		data               bool
	}{
		{"parse failure", "application/json", `{"query":"{"}`, 200, false},
		{"validation failure", "application/json", `{"query":"{ nope }"}`, 200, false},
		{"variable coercion", "application/json", `{"query":"query($id: ID!) { node(id: $id) { id } }","variables":{"id":null}}`, 200, false},
		{"no accept header", "", `{"query":"{"}`, 200, false},
		{"missing query", "application/json", `{"qeury":"{ __typename }"}`, 400, false},
		{"not json", "application/json", `not json`, 400, false},
		{"parse failure", gqlJSON, `{"query":"{"}`, 400, false},
		{"validation failure", gqlJSON, `{"query":"{ nope }"}`, 400, false},
		{"variable coercion", gqlJSON, `{"query":"query($id: ID!) { node(id: $id) { id } }","variables":{"id":null}}`, 400, false},
		{"success", "application/json", `{"query":"{ __typename }"}`, 200, true},
		{"success", gqlJSON, `{"query":"{ __typename }"}`, 200, true},
		{"field error", "application/json", `{"query":"{ node(id: \"req_01J00000000000000000000000\") { id } accessRequests(first: 9999) { totalCount } }"}`, 200, true},
	} {
		req, err := http.NewRequest(http.MethodPost, env.URL, strings.NewReader(tc.body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, tc.status, res.StatusCode, "%s (%s): %s", tc.name, tc.accept, raw)
		var body map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &body), "%s", raw)
		_, hasData := body["data"]
		require.Equal(t, tc.data, hasData, "%s (%s): %s", tc.name, tc.accept, raw)
		if !tc.data {
			require.Contains(t, string(body["errors"]), "INVALID_INPUT")
		}
	}

	// Unauthenticated requests keep their 401.
	res := env.Do(t, "", `{ __typename }`, nil)
	require.Equal(t, http.StatusUnauthorized, res.Status)
}

// TestBodyCheckedBeforeDecoding: the POST transport hands the body to the
// document limits before decoding it, so a request whose JSON nests
// thousands of levels is refused by that check (its own message), 200 with
// application/json and 400 with application/graphql-response+json.
func TestBodyCheckedBeforeDecoding(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	token := env.Token(t, env.User(t, "u@example.com", enum.PlatformRoleUser))
	body := `{"query":"{ __typename }","extensions":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	for accept, status := range map[string]int{"application/json": 200, "application/graphql-response+json": 400} {
		req, err := http.NewRequest(http.MethodPost, env.URL, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", accept)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.Equal(t, status, res.StatusCode, "%s: %s", accept, raw)
		require.Contains(t, string(raw), "the request's JSON nests more than", accept)
		require.Contains(t, string(raw), "INVALID_INPUT", accept)
	}
}

// TestSubscriptionOverHTTPIsRefused: a subscription sent by POST is
// answered at once with INVALID_INPUT (it needs the websocket), instead of
// holding the request open until its first event.
func TestSubscriptionOverHTTPIsRefused(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	token := env.Token(t, env.User(t, "u@example.com", enum.PlatformRoleUser))
	const sub = `subscription { myTaskProgress { mine { percent } } }`
	res := env.Do(t, token, sub, nil)
	require.Equal(t, "INVALID_INPUT", res.Code(), "%+v", res.Errors)
	require.Contains(t, res.Errors[0].Message, "websocket")
}

// TestNodeOfATypeWithoutNode: an ID of a row the schema does not expose as
// a Node (a lifecycle policy) reads as not found through node and nodes,
// like an unknown ID, not as an internal error.
func TestNodeOfATypeWithoutNode(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dbtest.NewSQLite(t))
	token := env.Token(t, env.User(t, "admin@example.com", enum.PlatformRoleITAdmin))
	p, err := env.Client.LifecyclePolicy.Create().Save(apitest.Sys())
	require.NoError(t, err)

	var node struct{ Node *struct{ ID string } }
	env.MustDo(t, token, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": p.ID}, &node)
	require.Nil(t, node.Node)
	res := env.Do(t, token, `query($id: ID!) { nodes(ids: [$id]) { id } }`, map[string]any{"id": p.ID})
	require.Equal(t, "NOT_FOUND", res.Code(), "%+v", res.Errors)
}

package security_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// nested returns a where input with "not" nested n levels around leaf.
func nested(n int, leaf map[string]any) map[string]any {
	w := leaf
	for range n {
		w = map[string]any{"not": w}
	}
	return w
}

// ids returns n short strings for an idIn list.
func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "x"
	}
	return out
}

// predicates returns n leaf filters for an and/or list.
func predicates(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"nameContains": "a"}
	}
	return out
}

// nulCursor is entgql's encoding (msgpack, unpadded base64) of a cursor
// whose ID holds a NUL byte: {"i": "usr_\x00"}.
var nulCursor = base64.RawStdEncoding.EncodeToString([]byte("\x81\xa1i\xa5usr_\x00"))

// TestBadInputIsInvalidInput sends input that once reached the database or a
// scalar parser unchecked and came back INTERNAL (a PostgreSQL error on a NUL
// byte, SQLite's expression depth or LIKE pattern limits, a cursor or time
// that did not parse). Each must be refused with INVALID_INPUT and a message
// naming the field, before anything is written.
func TestBadInputIsInvalidInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		admin := env.User(t, "admin@example.com", enum.PlatformRoleITAdmin)
		boss := env.User(t, "boss@example.com", enum.PlatformRoleUser)
		require.NoError(t, env.Client.User.UpdateOne(admin).SetManagerID(boss.ID).Exec(apitest.Sys()))
		token := env.Token(t, admin)
		app, err := env.Client.Application.Create().SetName("Payroll").
			SetFulfillment(enum.FulfillmentManual).SetConnectorKind(enum.ConnectorKindManual).Save(apitest.Sys())
		require.NoError(t, err)
		entl, err := env.Client.Entitlement.Create().SetApplicationID(app.ID).SetExternalID("payroll-read").
			SetName("Read").Save(apitest.Sys())
		require.NoError(t, err)

		const (
			usersAfter  = `query($c: Cursor) { users(first: 1, after: $c) { totalCount } }`
			usersBefore = `query($c: Cursor) { users(last: 1, before: $c) { totalCount } }`
			usersWhere  = `query($w: UserWhereInput) { users(where: $w) { totalCount } }`
			submit      = `mutation($in: SubmitAccessRequestInput!, $key: String) {
				submitAccessRequest(input: $in, idempotencyKey: $key) { id } }`
			preview = `query($in: SubmitAccessRequestInput!) { previewAccessRequest(input: $in) { items { action } } }`
		)
		grant := func(extra map[string]any) map[string]any {
			in := map[string]any{"action": "GRANT", "entitlementIds": []string{string(entl.ID)}, "beneficiaryId": string(admin.ID)}
			for k, v := range extra {
				in[k] = v
			}
			return map[string]any{"in": in}
		}
		for _, tc := range []struct {
			name  string
			query string
			vars  map[string]any
			field string // extensions.field, also named in the message
		}{
			{"malformed after cursor", usersAfter, map[string]any{"c": "not a cursor"}, "after"},
			{"after cursor of the wrong shape", usersAfter, map[string]any{"c": "gqFp"}, "after"},
			{"malformed before cursor literal", `{ users(last: 1, before: "%%%") { totalCount } }`, nil, "before"},
			{"endsAt with a five-digit year", submit, grant(map[string]any{"endsAt": "10000-01-01T00:00:00Z"}), "endsAt"},
			{"endsAt with month 13", submit, grant(map[string]any{"endsAt": "2026-13-45T00:00:00Z"}), "endsAt"},
			{"endsAt that is not a time", submit, grant(map[string]any{"endsAt": "not a time"}), "endsAt"},
			{"endsAt that is a number", submit, grant(map[string]any{"endsAt": 1e20}), "endsAt"},
			{"endsAt that is a boolean", preview, grant(map[string]any{"endsAt": true}), "endsAt"},
			{"endsAt number literal", `mutation { submitAccessRequest(input: {action: GRANT, endsAt: 1e20}) { id } }`, nil, "endsAt"},
			{"where nested past SQLite's expression depth", usersWhere,
				map[string]any{"w": nested(1100, map[string]any{"nameContains": "a"})}, "where"},
			{"where nested 11 deep in a literal", `{ users(where: ` + strings.Repeat("{not: ", 11) + `{nameContains: "a"}` + strings.Repeat("}", 11) + `) { totalCount } }`, nil, "where"},
			{"where with 1,000 predicates past SQLite's expression depth", usersWhere,
				map[string]any{"w": map[string]any{"and": predicates(1000)}}, "where"},
			{"100 KB nameContains", usersWhere,
				map[string]any{"w": map[string]any{"nameContains": strings.Repeat("%_", 50_000)}}, "nameContains"},
			{"idIn past SQLite's variable limit", usersWhere, map[string]any{"w": map[string]any{"idIn": ids(32_767)}}, "idIn"},
			{"idIn past PostgreSQL's parameter limit", usersWhere, map[string]any{"w": map[string]any{"idIn": ids(65_536)}}, "idIn"},
			{"NUL in a node ID", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": "usr_\x00"}, "id"},
			{"node ID over 64 characters", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": "usr_" + strings.Repeat("0", 100)}, "id"},
			{"NUL in a node ID literal", `{ node(id: "usr_\u0000") { id } }`, nil, "id"},
			{"NUL in a filter", usersWhere, map[string]any{"w": map[string]any{"nameContains": "a\x00b"}}, "nameContains"},
			{"NUL in a justification", submit, grant(map[string]any{"justification": "because\x00"}), "justification"},
			{"NUL in an idempotency key", submit, map[string]any{"in": grant(nil)["in"], "key": "k\x00"}, "idempotencyKey"},
			{"idempotency key over 255 characters", submit, map[string]any{"in": grant(nil)["in"], "key": strings.Repeat("k", 256)}, "idempotencyKey"},
			{"justification over 4,000 characters", submit, grant(map[string]any{"justification": strings.Repeat("j", 4001)}), "justification"},
			{"duration that is not ISO-8601", submit, grant(map[string]any{"duration": "forever"}), "duration"},
			{"email over 254 characters", `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"email": strings.Repeat("a", 250) + "@example.com", "name": "A"}}, "email"},
			{"application name over 200 characters", `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"name": strings.Repeat("n", 201), "fulfillment": "MANUAL", "connectorKind": "MANUAL"}}, "name"},
			{"NUL in a connector configuration key", `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"name": "HR", "fulfillment": "MANUAL", "connectorKind": "MANUAL",
					"connectorConfig": map[string]any{"a\x00": "b"}}}, "connectorConfig"},
			{"time filter that is not a time", `query($w: AccessRequestWhereInput) { accessRequests(where: $w) { totalCount } }`,
				map[string]any{"w": map[string]any{"submittedAtGT": "yesterday"}}, "submittedAtGT"},
			{"cursor holding a NUL byte", usersAfter, map[string]any{"c": nulCursor}, "after"},
			{"cursor that panics the msgpack decoder", usersAfter,
				map[string]any{"c": "gqF2vn000000000000000000000000000000000000000aF2xAA000000000"}, "after"},
			{"NUL in an application name", `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"name": "Pay\x00roll", "fulfillment": "MANUAL", "connectorKind": "MANUAL"}}, "name"},
			{"NUL in an email", `mutation($in: CreateUserInput!) { createUser(input: $in) { id } }`,
				map[string]any{"in": map[string]any{"email": "a\x00@example.com", "name": "A"}}, "email"},
			{"NUL in a reference user ID", preview, map[string]any{"in": map[string]any{
				"action": "GRANT", "mode": "LIKE_USER", "referenceUserId": "usr_\x00"}}, "referenceUserId"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := env.Do(t, token, tc.query, tc.vars)
				require.NotEmpty(t, res.Errors, "%s", res.Data)
				require.Equal(t, "INVALID_INPUT", res.Code(), "%+v", res.Errors[0])
				require.Equal(t, tc.field, res.Errors[0].Extensions.Field, "%+v", res.Errors[0])
				require.Contains(t, res.Errors[0].Message, tc.field)
			})
		}
		n, err := env.Client.AccessRequest.Query().Count(apitest.Sys())
		require.NoError(t, err)
		require.Zero(t, n, "nothing is written")
		// The same submission without the bad input goes through.
		env.MustDo(t, token, submit, grant(map[string]any{"justification": "quarterly close"}), nil)
	})
}

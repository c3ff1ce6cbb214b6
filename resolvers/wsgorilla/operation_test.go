package wsgorilla

import (
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestAppendNextFramesDataWithoutEncoding: a response of data alone (with
// the empty extensions map the executor sets) is framed around its bytes,
// allocating nothing; anything else is encoded whole. Not parallel:
// testing.AllocsPerRun.
func TestAppendNextFramesDataWithoutEncoding(t *testing.T) {
	op := &operation{c: &conn{proto: transportWS}, idJSON: jsonString(`a"b`)}
	data := &graphql.Response{Data: json.RawMessage(`{"tick":"v"}`), Extensions: map[string]any{}}
	buf := make([]byte, 0, 256)
	require.Zero(t, testing.AllocsPerRun(100, func() { buf = op.appendNext(buf[:0], data) }))
	require.JSONEq(t, `{"id":"a\"b","type":"next","payload":{"data":{"tick":"v"}}}`, string(buf))

	withErrors := &graphql.Response{Data: json.RawMessage(`null`), Errors: gqlerror.List{{Message: "no"}}}
	require.JSONEq(t, `{"id":"a\"b","type":"next","payload":{"data":null,"errors":[{"message":"no"}]}}`,
		string(op.appendNext(nil, withErrors)))

	op.c.proto = legacyWS
	require.JSONEq(t, `{"id":"a\"b","type":"data","payload":{"data":{"tick":"v"}}}`, string(op.appendNext(nil, data)))
}

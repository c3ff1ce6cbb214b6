package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/jsonstr"
)

func TestWriteIsValidJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "req_01ABC", "APPROVE", `quo"te`, `back\slash`, "tab\tnew\nline", "\x01\x7f", "naïve ☃", "bad\xffutf8"} {
		var b strings.Builder
		jsonstr.Write(&b, s)
		var buf bytes.Buffer // a response's buffer
		jsonstr.Write(&buf, s)
		require.Equal(t, b.String(), buf.String())
		var got string
		require.NoError(t, json.Unmarshal([]byte(b.String()), &got), "%q wrote %s", s, b.String())
		if strings.ToValidUTF8(s, "\uFFFD") == s {
			require.Equal(t, s, got)
		}
	}
	var b strings.Builder
	jsonstr.Write(&b, "req_01ABC")
	require.Equal(t, `"req_01ABC"`, b.String())
}

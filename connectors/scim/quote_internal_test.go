package scim

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"ann@example.com", `"ann@example.com"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{`x" or userName pr or "`, `"x\" or userName pr or \""`},
		{"tab\tnew\nline\x1f", `"tab\u0009new\u000Aline\u001F"`},
		{"del\x7f", `"del\u007F"`},
		{"jürgen</b>&", `"jürgen</b>&"`},
		{"bad\xffutf8", "\"bad\uFFFDutf8\""},
		{"", `""`},
	}
	for _, tt := range tests {
		got := quote(tt.in)
		require.Equal(t, tt.want, got)
		var back string
		require.NoError(t, json.Unmarshal([]byte(got), &back), "a SCIM filter string is a JSON string")
		if tt.in != "bad\xffutf8" {
			require.Equal(t, tt.in, back)
		}
	}
}

package pulid_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// FuzzUnmarshalGQL checks that an ID the API accepts is valid UTF-8 without
// NUL bytes and at most 64 bytes, that every refusal is INVALID_INPUT, and
// that nothing panics.
func FuzzUnmarshalGQL(f *testing.F) {
	for _, s := range []string{string(pulid.MustNew("usr")), "", "usr_", "usr_\x00", "\xff", strings.Repeat("a", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var id pulid.ID
		if err := id.UnmarshalGQL(s); err != nil {
			require.Equal(t, errcode.InvalidInput, errcode.Of(err))
			return
		}
		require.Equal(t, s, string(id))
		require.True(t, utf8.ValidString(s))
		require.NotContains(t, s, "\x00")
		require.LessOrEqual(t, len(s), 64)
		_ = id.Prefix()
	})
}

func TestUnmarshalGQLRefusesNonStrings(t *testing.T) {
	t.Parallel()
	var id pulid.ID
	require.Equal(t, errcode.InvalidInput, errcode.Of(id.UnmarshalGQL(12)))
	require.Equal(t, errcode.InvalidInput, errcode.Of(id.UnmarshalGQL("usr_\x00")))
	require.NoError(t, id.UnmarshalGQL("usr_01J00000000000000000000000"))
}

// TestMarshalGQLQuotes checks that an ID is written as a JSON string, plain
// or escaped.
func TestMarshalGQLQuotes(t *testing.T) {
	t.Parallel()
	for id, want := range map[pulid.ID]string{
		"usr_01J0000000000000000000000": `"usr_01J0000000000000000000000"`,
		"":                              `""`,
		`a"b\c`:                         `"a\"b\\c"`,
		"é\n":                           `"é\n"`,
	} {
		var b strings.Builder
		id.MarshalGQL(&b)
		require.Equal(t, want, b.String())
		var back string
		require.NoError(t, json.Unmarshal([]byte(b.String()), &back))
		require.Equal(t, string(id), back)
	}
}

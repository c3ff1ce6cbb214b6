package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCopyCodes checks that the IDs of copies keep the ULID alphabet and
// its first character's bound (0–7), and sort after the seeded rows (whose
// ULIDs start "01") and copy by copy.
func TestCopyCodes(t *testing.T) {
	t.Parallel()
	prev := "01"
	for k := 1; k < maxScale; k++ {
		c := copyCode(k)
		require.Len(t, c, 2)
		require.True(t, strings.ContainsRune(crockford, rune(c[1])), c)
		require.LessOrEqual(t, c[0], byte('7'), c)
		require.Greater(t, c, prev, "copy %d", k)
		prev = c
	}
}

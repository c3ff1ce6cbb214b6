package gqlexec_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"

	"gatehouse/internal/gqlexec"
)

func TestMarshalReusesReleasedData(t *testing.T) {
	t.Parallel()
	value := func(s string) graphql.Marshaler {
		return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, s) })
	}
	first := gqlexec.Marshal(value(strings.Repeat("a", 5000)))
	require.Equal(t, strings.Repeat("a", 5000), string(first))

	// The pool may drop what it is given (always under the race detector
	// now and then), so the reuse is looked for over a few rounds.
	reused := false
	for range 20 {
		gqlexec.Release(first)
		next := gqlexec.Marshal(value(`{"b":1}`))
		require.Equal(t, `{"b":1}`, string(next))
		if cap(next) == cap(first) && &next[:1][0] == &first[:1][0] {
			reused = true
			break
		}
		first = next
	}
	require.True(t, reused, "a released buffer was never reused")
}

func TestReleaseKeepsNoLargeBuffer(t *testing.T) {
	t.Parallel()
	large := gqlexec.Marshal(graphql.WriterFunc(func(w io.Writer) { _, _ = w.Write(bytes.Repeat([]byte("x"), 2<<20)) }))
	for range 20 {
		gqlexec.Release(large)
		next := gqlexec.Marshal(graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, "1") }))
		require.NotSame(t, &large[0], &next[0])
	}
}

// Package jsonstr writes strings as JSON string literals for the GraphQL
// marshalers of IDs and enumerations.
package jsonstr

import (
	"bytes"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// Write writes s as a JSON string. Plain printable ASCII without quotes or
// backslashes (every ID and enumeration value) is written as it is, without
// building an escaped copy; anything else is escaped as gqlgen escapes
// strings.
func Write(w io.Writer, s string) {
	for i := range len(s) {
		if !plain[s[i]] {
			graphql.MarshalString(s).MarshalGQL(w)
			return
		}
	}
	b, ok := w.(*bytes.Buffer)
	if !ok {
		// Not a response's data (gqlexec.Marshal writes into a
		// *bytes.Buffer).
		b = new(bytes.Buffer)
		defer func() { _, _ = w.Write(b.Bytes()) }()
	}
	b.Grow(len(s) + 2)
	_ = b.WriteByte('"')
	_, _ = b.WriteString(s)
	_ = b.WriteByte('"')
}

// plain tells the bytes written as they are: printable ASCII but the quote
// and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c <= 0x7e; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

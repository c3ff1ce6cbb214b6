// Package jsonstr writes strings as JSON string literals for the GraphQL
// marshalers of IDs and enumerations.
package jsonstr

import (
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// Write writes s as a JSON string. Plain printable ASCII without quotes or
// backslashes (every ID and enumeration value) is written as it is, without
// building an escaped copy; anything else is escaped as gqlgen escapes
// strings.
func Write(w io.Writer, s string) {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			graphql.MarshalString(s).MarshalGQL(w)
			return
		}
	}
	_, _ = io.WriteString(w, `"`)
	_, _ = io.WriteString(w, s)
	_, _ = io.WriteString(w, `"`)
}

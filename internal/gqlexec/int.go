package gqlexec

import (
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
)

// intValue marshals an Int. Unlike gqlgen's graphql.MarshalInt, which
// returns a closure over the value (an allocation per value), it is the
// value itself: boxing it allocates nothing for 0–255, the counts a
// subscription event and most pages carry.
type intValue int

func (i intValue) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Itoa(int(i)))
}

// MarshalInt marshals an Int (gqlgen.yml binds Int to it).
func MarshalInt(i int) graphql.Marshaler { return intValue(i) }

// UnmarshalInt reads an Int as gqlgen's graphql.UnmarshalInt does.
func UnmarshalInt(v any) (int, error) { return graphql.UnmarshalInt(v) }

// Package gqlscalar holds the GraphQL scalars Gatehouse binds in place of
// gqlgen's and entgql's own (gqlgen.yml): Time and Cursor. They read what
// clients send strictly, and a value that does not parse is an errcode.Unparsable error,
// which the error presenter shows as INVALID_INPUT naming the argument or
// input field (the last name in the error's path). Marshalling is
// unchanged.
package gqlscalar

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

func invalid(format string, args ...any) *errcode.Error {
	return errcode.Unparsable(format, args...)
}

// shown quotes at most the first 40 characters of a client's value for a
// message.
func shown(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// describe names the JSON type of v for a message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, int, int64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		return shown(v)
	default:
		return fmt.Sprintf("%T", v)
	}
}

// MarshalTime writes t in RFC 3339 with nanoseconds, or null for the zero
// time, as gqlgen's Time does.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// timeLayouts are the layouts UnmarshalTime accepts, gqlgen's: RFC 3339
// (with or without fractional seconds) and "2006-01-02 15:04:05" (UTC).
var timeLayouts = []string{time.RFC3339Nano, time.RFC3339, time.DateTime}

// UnmarshalTime reads a Time: a string in RFC 3339, e.g.
// "2026-01-02T15:04:05Z", with a four-digit year; null and "" are the zero
// time. Anything else is an errcode.Unparsable error.
func UnmarshalTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case string:
		if v == "" {
			return time.Time{}, nil
		}
		if len(v) <= 64 {
			for _, layout := range timeLayouts {
				if t, err := time.Parse(layout, v); err == nil {
					return t, nil
				}
			}
		}
		return time.Time{}, invalid("%s is not a time; send RFC 3339, e.g. 2026-01-02T15:04:05Z", shown(v))
	case time.Time:
		return v, nil
	default:
		return time.Time{}, invalid("%s is not a time; send an RFC 3339 string, e.g. 2026-01-02T15:04:05Z", describe(v))
	}
}

// Cursor is the opaque position of an entgql connection edge.
type Cursor = entgql.Cursor[pulid.ID]

// MarshalCursor writes the cursor as entgql does.
func MarshalCursor(c Cursor) graphql.Marshaler { return c }

// maxCursor bounds a cursor's text: those the API hands out hold an ID and
// the values of the order fields, well under it.
const maxCursor = 1024

// UnmarshalCursor reads a cursor handed out by this API: entgql's encoding
// (msgpack in unpadded base64) of an ID and the order fields' values. A
// value that does not decode, or decodes to something no connection hands
// out (a malformed ID, nested values), is an errcode.Unparsable error.
func UnmarshalCursor(v any) (Cursor, error) {
	var c Cursor
	s, ok := v.(string)
	if !ok {
		return c, invalid("%s is not a cursor; send the cursor of an edge as given", describe(v))
	}
	bad := invalid("%s is not a cursor of this API; send the cursor of an edge as given", shown(s))
	if len(s) > maxCursor || s == "" {
		return c, bad
	}
	if err := decodeCursor(&c, s); err != nil {
		return Cursor{}, bad
	}
	// The ID must pass pulid's own input rule, as an ID argument would.
	if c.ID.UnmarshalGQL(string(c.ID)) != nil || c.ID.Prefix() == "" || !cursorValue(c.Value, true) {
		return Cursor{}, bad
	}
	return c, nil
}

// decodeCursor decodes s into c with entgql. The msgpack decoder panics on
// some crafted input (a reflect call on an unaddressable value); that is a
// bad cursor too.
func decodeCursor(c *Cursor, s string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cursor decoder panicked: %v", p)
		}
	}()
	return c.UnmarshalGQL(s)
}

// cursorValue reports whether v is what an order field's value decodes to:
// a scalar, or (for several order fields) a flat list of scalars.
func cursorValue(v any, top bool) bool {
	switch v := v.(type) {
	case nil, bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint, float32, float64, time.Time:
		return true
	case string:
		return cursorString(v)
	case []any:
		if !top {
			return false
		}
		for _, e := range v {
			if !cursorValue(e, false) {
				return false
			}
		}
		return true
	}
	return false
}

func cursorString(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

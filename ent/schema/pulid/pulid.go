// Package pulid implements prefixed ULIDs: opaque, sortable global IDs whose
// prefix names the type of the object (usr_01J…, req_01J…), so that node(id:)
// can find the table an ID belongs to without a lookup.
package pulid

import (
	"crypto/rand"
	"database/sql/driver"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"gatehouse/internal/errcode"
	"gatehouse/internal/jsonstr"
)

// ID is a prefixed ULID such as "usr_01JD3W2K6Q8N4V5T2M9X0Y7Z1A".
type ID string

var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// MustNew returns a new ID with the given prefix (without the underscore).
func MustNew(prefix string) ID {
	entropyMu.Lock()
	u := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	entropyMu.Unlock()
	return ID(prefix + "_" + u.String())
}

// Prefix returns the part of the ID before the underscore, or "" when the ID
// has none.
func (u ID) Prefix() string {
	p, _, ok := strings.Cut(string(u), "_")
	if !ok {
		return ""
	}
	return p
}

// maxGQL bounds the IDs UnmarshalGQL accepts; the IDs Gatehouse hands out
// have fewer than 40 characters.
const maxGQL = 64

// UnmarshalGQL implements graphql.Unmarshaler. An ID is a string of at most
// 64 bytes of valid UTF-8 without NUL bytes (PostgreSQL refuses those in
// text); anything else is INVALID_INPUT. An ID that names nothing passes
// here and is not found later.
func (u *ID) UnmarshalGQL(v any) error {
	switch v := v.(type) {
	case string:
		if len(v) > maxGQL || strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			return errcode.Unparsable("an ID is at most %d characters of valid UTF-8 without NUL bytes", maxGQL)
		}
		*u = ID(v)
	case ID:
		*u = v
	default:
		return errcode.Unparsable("an ID must be a string, not %T", v)
	}
	return nil
}

// MarshalGQL implements graphql.Marshaler.
func (u ID) MarshalGQL(w io.Writer) { jsonstr.Write(w, string(u)) }

// Scan implements sql.Scanner.
func (u *ID) Scan(src any) error {
	switch src := src.(type) {
	case string:
		*u = ID(src)
	case []byte:
		*u = ID(src)
	case nil:
		return fmt.Errorf("pulid: expected a value")
	default:
		return fmt.Errorf("pulid: unexpected type %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (u ID) Value() (driver.Value, error) {
	return string(u), nil
}

package gqlscalar_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
	"gatehouse/internal/gqlscalar"
)

func TestUnmarshalTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   any
		want string // RFC 3339; empty for an error
	}{
		{"2026-01-02T15:04:05Z", "2026-01-02T15:04:05Z"},
		{"2026-01-02T15:04:05.123+02:00", "2026-01-02T15:04:05.123+02:00"},
		{"2026-01-02 15:04:05", "2026-01-02T15:04:05Z"},
		{nil, "0001-01-01T00:00:00Z"},
		{"", "0001-01-01T00:00:00Z"},
		{"10000-01-01T00:00:00Z", ""},
		{"2026-13-45T00:00:00Z", ""},
		{"not a time", ""},
		{json.Number("1e20"), ""},
		{true, ""},
		{map[string]any{}, ""},
	} {
		got, err := gqlscalar.UnmarshalTime(tc.in)
		if tc.want == "" {
			var ie *errcode.Error
			require.True(t, errors.As(err, &ie), "%v: %v", tc.in, err)
			require.Contains(t, ie.Message, "is not a time")
			continue
		}
		require.NoError(t, err, "%v", tc.in)
		require.Equal(t, tc.want, got.Format(time.RFC3339Nano))
	}
}

func TestUnmarshalCursor(t *testing.T) {
	t.Parallel()
	c := gqlscalar.Cursor{ID: pulid.ID("usr_01J00000000000000000000000"), Value: "Alice"}
	var buf bytes.Buffer
	gqlscalar.MarshalCursor(c).MarshalGQL(&buf)
	s, err := strconv.Unquote(buf.String())
	require.NoError(t, err)
	got, err := gqlscalar.UnmarshalCursor(s)
	require.NoError(t, err)
	require.Equal(t, c, got)
	for _, bad := range []any{"", "not a cursor", "gqFp", 12, nil, string(make([]byte, 2000))} {
		_, err := gqlscalar.UnmarshalCursor(bad)
		var ie *errcode.Error
		require.True(t, errors.As(err, &ie), "%v: %v", bad, err)
	}
}

// FuzzUnmarshalTime checks that any string is either a time that survives
// a round trip or an errcode.Unparsable error, and never a panic.
func FuzzUnmarshalTime(f *testing.F) {
	for _, s := range []string{"2026-01-02T15:04:05Z", "2026-01-02T15:04:05.999999999-07:00", "2026-01-02 15:04:05",
		"10000-01-01T00:00:00Z", "2026-13-45T00:00:00Z", "not a time", "", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59+23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := gqlscalar.UnmarshalTime(s)
		if err != nil {
			var ie *errcode.Error
			require.True(t, errors.As(err, &ie), "%q: %v", s, err)
			return
		}
		if got.IsZero() {
			return
		}
		var buf bytes.Buffer
		gqlscalar.MarshalTime(got).MarshalGQL(&buf)
		out, err := strconv.Unquote(buf.String())
		require.NoError(t, err)
		again, err := gqlscalar.UnmarshalTime(out)
		require.NoError(t, err, "%q printed as %q", s, out)
		require.True(t, got.Equal(again), "%q printed as %q", s, out)
	})
}

// FuzzUnmarshalCursor checks that any string is either a cursor that
// survives a round trip or an errcode.Unparsable error, and never a panic.
func FuzzUnmarshalCursor(f *testing.F) {
	for _, c := range []gqlscalar.Cursor{
		{ID: "usr_01J00000000000000000000000"},
		{ID: "req_01J00000000000000000000000", Value: "name"},
		{ID: "req_01J00000000000000000000000", Value: []any{int64(3), "x"}},
		{ID: "req_01J00000000000000000000000", Value: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		var buf bytes.Buffer
		c.MarshalGQL(&buf)
		s, _ := strconv.Unquote(buf.String())
		f.Add(s)
	}
	f.Add("gqFp")
	f.Add("not a cursor")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := gqlscalar.UnmarshalCursor(s)
		if err != nil {
			var ie *errcode.Error
			require.True(t, errors.As(err, &ie), "%q: %v", s, err)
			return
		}
		var buf bytes.Buffer
		gqlscalar.MarshalCursor(got).MarshalGQL(&buf)
		out, err := strconv.Unquote(buf.String())
		require.NoError(t, err)
		_, err = gqlscalar.UnmarshalCursor(out)
		require.NoError(t, err, "%q printed as %q", s, out)
	})
}

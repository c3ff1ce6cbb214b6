package connectors_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
)

func TestWholeNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    any
		want int64
		ok   bool
		why  string
	}{
		{"int", 30, 30, true, "Go literals"},
		{"negative int", -5, -5, true, "range is the caller's business"},
		{"int32", int32(7), 7, true, ""},
		{"int64", int64(1) << 60, 1 << 60, true, ""},
		{"float64 integral", float64(30), 30, true, "encoding/json gives float64"},
		{"float64 negative zero", math.Copysign(0, -1), 0, true, ""},
		{"float64 2^53", float64(1 << 53), 1 << 53, true, "the largest float64 range where every integer is exact"},
		{"float64 beyond 2^53", float64(1<<53) * 2, 0, false, "no longer exact"},
		{"float64 huge", 1e300, 0, false, "would overflow int64"},
		{"float64 fraction", 2.5, 0, false, "not whole"},
		{"float64 +Inf", math.Inf(1), 0, false, ""},
		{"float64 NaN", math.NaN(), 0, false, ""},
		{"json.Number int", json.Number("60"), 60, true, "gqlgen variables give json.Number"},
		{"json.Number float integral", json.Number("1e1"), 10, true, "an integral float is whole"},
		{"json.Number float fraction", json.Number("2.5"), 0, false, ""},
		{"json.Number huge float", json.Number("1e300"), 0, false, ""},
		{"json.Number bad", json.Number("ten"), 0, false, ""},
		{"string", "30", 0, false, "a string is not a number, even when it reads as one"},
		{"bool", true, 0, false, ""},
		{"nil", nil, 0, false, ""},
		{"float32", float32(3), 0, false, "not a form a JSON configuration arrives as"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := connectors.WholeNumber(tt.v)
			require.Equal(t, tt.ok, ok, tt.why)
			require.Equal(t, tt.want, got, tt.why)
		})
	}
}

func TestSeconds(t *testing.T) {
	t.Parallel()
	const def = 10 * time.Second
	const msg = "must be a whole number of seconds from 1 to 60"
	tests := []struct {
		name string
		v    any
		want time.Duration
		err  string
		why  string
	}{
		{"absent", nil, def, "", "nil gives the default"},
		{"lower bound", 1, time.Second, "", "bounds are inclusive"},
		{"upper bound", float64(60), time.Minute, "", "bounds are inclusive"},
		{"json.Number", json.Number("30"), 30 * time.Second, "", ""},
		{"int64", int64(5), 5 * time.Second, "", ""},
		{"zero", 0, 0, msg, "below the lower bound"},
		{"negative", -1, 0, msg, ""},
		{"above", 61, 0, msg, "above the upper bound"},
		{"huge", int64(math.MaxInt64), 0, msg, "must not overflow into range"},
		{"fraction", 2.5, 0, msg, "not whole"},
		{"string", "30", 0, msg, "wrong type"},
		{"bool", true, 0, msg, "wrong type"},
		{"map", map[string]any{}, 0, msg, "wrong type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := connectors.Seconds("timeoutSeconds", tt.v, def, 1, 60)
			requireConfigResult(t, "timeoutSeconds", tt.want, tt.err, got, err, tt.why)
		})
	}
}

// requireConfigResult checks what a configuration helper returned: got equal
// to want and no error when wantMsg is "", else a *connectors.ConfigError
// naming key with the message wantMsg, and a zero got.
func requireConfigResult[T any](t *testing.T, key string, want T, wantMsg string, got T, err error, why string) {
	t.Helper()
	if wantMsg == "" {
		require.NoError(t, err, why)
		require.Equal(t, want, got, why)
		return
	}
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &ce, why)
	require.Equal(t, key, ce.Key, why)
	require.Equal(t, wantMsg, ce.Message, why)
	require.Equal(t, key+": "+wantMsg, ce.Error(), why)
	require.Zero(t, got, why)
}

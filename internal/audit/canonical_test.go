package audit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
)

func ptr[T any](v T) *T { return &v }

func TestCanonicalGolden(t *testing.T) {
	t.Parallel()
	// A non-UTC zone and nanoseconds: the form is UTC with six digits.
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	got, err := audit.Canonical("req_01", 3, at, string(audit.TaskApproved), "usr_A",
		ptr(pulid.ID("req_01")), ptr(pulid.ID("itm_01")),
		map[string]any{
			"comment": "a<b & c>",
			"n":       42,
			"nested":  map[string]any{"z": true, "a": []any{1, "x", nil}},
		})
	require.NoError(t, err)
	require.Equal(t,
		`{"action":"TASK_APPROVED","actor":"usr_A","at":"2025-01-02T02:04:05.123456Z","chain":"req_01",`+
			`"data":{"comment":"a<b & c>","n":42,"nested":{"a":[1,"x",null],"z":true}},`+
			`"item_id":"itm_01","request_id":"req_01","seq":3}`,
		string(got))
}

func TestCanonicalAbsentFieldsAndNilData(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	got, err := audit.Canonical(audit.SystemChain, 1, at, string(audit.CatalogChanged), "system", nil, nil, nil)
	require.NoError(t, err)
	want := `{"action":"CATALOG_CHANGED","actor":"system","at":"2025-06-01T00:00:00.000000Z","chain":"system","data":{},"item_id":null,"request_id":null,"seq":1}`
	require.Equal(t, want, string(got))

	// Empty data is the same as nil data.
	empty, err := audit.Canonical(audit.SystemChain, 1, at, string(audit.CatalogChanged), "system", nil, nil, map[string]any{})
	require.NoError(t, err)
	require.Equal(t, want, string(empty))
}

func TestCanonicalNumbersPrintAlikeAsIntOrFloat(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	asInt, err := audit.Canonical("c", 1, at, "A", "x", nil, nil,
		map[string]any{"n": 7, "big": int64(1) << 52, "l": []int{1, 2}, "m": map[string]int{"k": 3}})
	require.NoError(t, err)
	// As the database gives the same data back: JSON-decoded.
	asFloat, err := audit.Canonical("c", 1, at, "A", "x", nil, nil,
		map[string]any{"n": 7.0, "big": float64(int64(1) << 52), "l": []any{1.0, 2.0}, "m": map[string]any{"k": 3.0}})
	require.NoError(t, err)
	require.Equal(t, string(asInt), string(asFloat))
	require.Contains(t, string(asInt), `"big":4503599627370496`)
}

func TestCanonicalRejectsUnencodableData(t *testing.T) {
	t.Parallel()
	_, err := audit.Canonical("c", 1, time.Now(), "A", "x", nil, nil, map[string]any{"ch": make(chan int)})
	require.Error(t, err)
}

func TestHash(t *testing.T) {
	t.Parallel()
	// echo -n "<64 zeros>abc" | sha256sum
	require.Equal(t, "b64374d04ef9c4f39fddb1e0d6be38a0130f6c057fc0f4ee467ea0e18bc758f1",
		audit.Hash(audit.GenesisHash, []byte("abc")))
	require.Len(t, audit.GenesisHash, 64)
}

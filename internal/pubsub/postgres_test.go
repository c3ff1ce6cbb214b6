package pubsub

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPayloadsStayUnderTheNotifyLimit(t *testing.T) {
	t.Parallel()
	var ids []string
	for i := range 2000 {
		ids = append(ids, "req_01J"+strings.Repeat("X", 22)+string(rune('A'+i%26)))
	}
	got := payloads(ids)
	require.Greater(t, len(got), 1)
	var back []string
	for _, p := range got {
		require.LessOrEqual(t, len(p), MaxPayload)
		require.Less(t, len(p), 8000)
		back = append(back, strings.Split(p, ",")...)
	}
	require.Equal(t, ids, back)
	require.Empty(t, payloads(nil))
	require.Equal(t, []string{"a,b"}, payloads([]string{"a", "", "b"}))
}

func TestWithApplicationName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "postgres://u@h:5432/db?application_name=x&sslmode=disable",
		withApplicationName("postgres://u@h:5432/db?sslmode=disable", "x"))
	require.Equal(t, "host=h dbname=db application_name=x", withApplicationName("host=h dbname=db", "x"))
	require.Equal(t, "postgres://h/db?application_name=y", withApplicationName("postgres://h/db?application_name=y", "x"))
}

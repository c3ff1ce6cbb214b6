package manual_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/manual"
)

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	r := connectors.NewRegistry(manual.Kind{})
	require.NoError(t, r.ValidateConfig("MANUAL", nil))
	require.NoError(t, r.ValidateConfig("MANUAL", map[string]any{}))

	err := r.ValidateConfig("MANUAL", map[string]any{"url": "https://x"})
	var ce *connectors.ConfigError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, "url", ce.Key)

	err = r.ValidateConfig("SCIM", map[string]any{})
	require.True(t, errors.As(err, &ce))
	require.Contains(t, ce.Error(), "SCIM is not available")
}

func TestOpenRefused(t *testing.T) {
	t.Parallel()
	r := connectors.NewRegistry(manual.Kind{})
	c, err := r.Open("MANUAL", nil)
	require.Nil(t, c)
	require.Error(t, err)
	require.False(t, connectors.IsTransient(err))
	var pe *connectors.PermanentError
	require.ErrorAs(t, err, &pe)
	require.Contains(t, err.Error(), "fulfilled by people")
}

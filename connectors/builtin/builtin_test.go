package builtin_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
	"gatehouse/connectors/builtin"
	"gatehouse/ent/schema/enum"
)

// TestRegistryHoldsEveryConnectorKind checks that every kind the schema
// lets an application name can be set up, and no other.
func TestRegistryHoldsEveryConnectorKind(t *testing.T) {
	t.Parallel()
	want := enum.ConnectorKind("").Values()
	slices.Sort(want)
	require.Equal(t, want, builtin.Registry(nil).Names())
}

// TestRegistryGivesKindsTheSecrets checks that the kinds read their secrets
// from the store given: a webhook secret is found there, and not without it.
func TestRegistryGivesKindsTheSecrets(t *testing.T) {
	t.Parallel()
	cfg := map[string]any{"url": "https://hooks.example.com/", "secretEnv": "GATEHOUSE_SECRET_HOOK"}
	secrets := connectors.NewSecretStore(func(k string) (string, bool) {
		return "s3cret", k == "GATEHOUSE_SECRET_HOOK"
	}, "")
	require.NoError(t, builtin.Registry(secrets).ValidateConfig("WEBHOOK", cfg))
	require.Error(t, builtin.Registry(nil).ValidateConfig("WEBHOOK", cfg))
}

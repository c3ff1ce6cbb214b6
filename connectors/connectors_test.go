package connectors_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
)

// stubKind is a kind whose config must be {"ok": true}.
type stubKind struct{ name string }

func (k stubKind) Name() string { return k.name }

func (k stubKind) ValidateConfig(config map[string]any) error {
	if err := connectors.UnknownKeys(config, "ok"); err != nil {
		return err
	}
	if config["ok"] != true {
		return &connectors.ConfigError{Key: "ok", Message: "must be true"}
	}
	return nil
}

func (k stubKind) Open(config map[string]any) (connectors.Connector, error) {
	if err := k.ValidateConfig(config); err != nil {
		return nil, connectors.Permanent(err)
	}
	return stubConnector{name: k.name}, nil
}

type stubConnector struct{ name string }

var _ connectors.Connector = stubConnector{}

func (c stubConnector) Name() string                    { return c.name }
func (stubConnector) CheckHealth(context.Context) error { return nil }
func (stubConnector) EnsureIdentity(_ context.Context, op connectors.Operation) (connectors.Account, bool, error) {
	return op.Account, false, nil
}
func (stubConnector) Grant(context.Context, connectors.Operation) error  { return nil }
func (stubConnector) Revoke(context.Context, connectors.Operation) error { return nil }

func TestRegistryNames(t *testing.T) {
	t.Parallel()
	r := connectors.NewRegistry(stubKind{"SCIM"}, stubKind{"MANUAL"}, stubKind{"WEBHOOK"})
	require.Equal(t, []string{"MANUAL", "SCIM", "WEBHOOK"}, r.Names())
	require.Empty(t, connectors.NewRegistry().Names())
}

func TestRegistryValidateConfig(t *testing.T) {
	t.Parallel()
	r := connectors.NewRegistry(stubKind{"WEBHOOK"}, stubKind{"MANUAL"})

	require.NoError(t, r.ValidateConfig("WEBHOOK", map[string]any{"ok": true}))

	var ce *connectors.ConfigError
	err := r.ValidateConfig("WEBHOOK", map[string]any{"ok": false})
	require.ErrorAs(t, err, &ce, "the kind's own error reaches the caller")
	require.Equal(t, "ok", ce.Key)
	require.Equal(t, "ok: must be true", ce.Error())

	err = r.ValidateConfig("SCIM", nil)
	require.ErrorAs(t, err, &ce, "an unregistered kind is a config error without a key")
	require.Empty(t, ce.Key, "catalog maps a keyless error to connectorKind")
	require.Equal(t, "connector kind SCIM is not available on this server (available: MANUAL, WEBHOOK)", ce.Error())
}

func TestRegistryOpen(t *testing.T) {
	t.Parallel()
	r := connectors.NewRegistry(stubKind{"WEBHOOK"})

	c, err := r.Open("WEBHOOK", map[string]any{"ok": true})
	require.NoError(t, err)
	require.Equal(t, "WEBHOOK", c.Name())

	_, err = r.Open("WEBHOOK", map[string]any{"ok": true, "extra": 1})
	var pe *connectors.PermanentError
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &pe)
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "extra", ce.Key)

	c, err = r.Open("POSTGRES", nil)
	require.Nil(t, c)
	require.ErrorAs(t, err, &pe, "an unregistered kind is not worth retrying")
	require.ErrorAs(t, err, &ce)
	require.False(t, connectors.IsTransient(err))
	require.Contains(t, err.Error(), "POSTGRES is not available")
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	base := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		transient bool
		why       string
	}{
		{"nil", nil, false, "no error is nothing to retry"},
		{"unclassified", base, true, "unknown errors count as transient"},
		{"transient", connectors.Transient(base), true, ""},
		{"permanent", connectors.Permanent(base), false, ""},
		{"wrapped transient", fmt.Errorf("job: %w", connectors.Transient(base)), true, "classification survives wrapping"},
		{"wrapped permanent", fmt.Errorf("job: %w", connectors.Permanent(base)), false, "classification survives wrapping"},
		{"permanent inside transient", connectors.Transient(connectors.Permanent(base)), false, "a permanent error anywhere wins"},
		{"transient inside permanent", connectors.Permanent(connectors.Transient(base)), false, "a permanent error anywhere wins"},
		{"context deadline", context.DeadlineExceeded, true, "unclassified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.transient, connectors.IsTransient(tt.err), tt.why)
		})
	}
}

func TestErrorTypes(t *testing.T) {
	t.Parallel()
	base := errors.New("webhook: grant: status 500")

	require.NoError(t, connectors.Transient(nil))
	require.NoError(t, connectors.Permanent(nil))

	err := connectors.Transient(base)
	var te *connectors.TransientError
	require.ErrorAs(t, err, &te)
	require.Zero(t, te.RetryAfter)
	require.ErrorIs(t, err, base)
	require.Equal(t, base.Error(), err.Error(), "the wrapper adds no text")

	err = fmt.Errorf("provision: %w", &connectors.TransientError{Err: base, RetryAfter: 7 * time.Second})
	require.ErrorAs(t, err, &te)
	require.Equal(t, 7*time.Second, te.RetryAfter)

	err = connectors.Permanent(base)
	var pe *connectors.PermanentError
	require.ErrorAs(t, err, &pe)
	require.ErrorIs(t, err, base)
	require.Equal(t, base.Error(), err.Error())
	require.False(t, errors.As(err, &te))

	require.Equal(t, "transient error", (&connectors.TransientError{}).Error())
	require.Equal(t, "permanent error", (&connectors.PermanentError{}).Error())
}

func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	require.NoError(t, connectors.UnknownKeys(nil))
	require.NoError(t, connectors.UnknownKeys(map[string]any{"url": 1}, "url", "secretEnv"))

	err := connectors.UnknownKeys(map[string]any{"zeta": 1, "alpha": 2, "url": 3}, "url")
	var ce *connectors.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "alpha", ce.Key, "the first unknown key in sorted order, so the error is stable")
	require.Equal(t, "alpha: unknown key", ce.Error())
}

package demo

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
)

// SinkPath is where the server serves the Sink in demo mode.
const SinkPath = "/demo/webhook-sink"

// SinkSecretEnv is the connector-secret variable the demo applications'
// WEBHOOK connectors name as their secretEnv. The server signs with its
// value and gives the same value to NewSink; it sets one up in demo mode when
// the environment has none.
const SinkSecretEnv = "GATEHOUSE_SECRET_DEMO_WEBHOOK"

// legacySinkSecretEnv is the name demo databases seeded before connector
// secrets had a namespace of their own hold; PointWebhooks renames it.
const legacySinkSecretEnv = "GATEHOUSE_DEMO_WEBHOOK_SECRET"

// defaultSinkURL is the sink's address when the server listens on its
// default port; PointWebhooks corrects it at start.
const defaultSinkURL = "http://localhost:8080" + SinkPath

// PointWebhooks points the demo's WEBHOOK connectors at the sink served under
// baseURL (e.g. "http://127.0.0.1:8080"): every application whose connector
// kind is WEBHOOK and whose configuration names SinkSecretEnv as its
// secretEnv (or the name older demo databases hold, which it replaces by
// SinkSecretEnv) gets url baseURL+SinkPath; other keys of the configuration
// and every other application are left alone, and an application already
// pointing there is not rewritten. Only trusted start-up code (the server in
// demo mode, at each start, since its port may differ) calls it: it writes in
// a system context, in one transaction.
func PointWebhooks(ctx context.Context, client *ent.Client, baseURL string) error {
	ctx = authz.SystemContext(ctx)
	target := strings.TrimRight(baseURL, "/") + SinkPath
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("demo: point webhooks: begin: %w", err)
	}
	apps, err := tx.Application.Query().
		Where(application.ConnectorKindEQ(enum.ConnectorKindWebhook)).
		All(ctx)
	if err != nil {
		return rollback(tx, fmt.Errorf("demo: point webhooks: list applications: %w", err))
	}
	for _, a := range apps {
		env, _ := a.ConnectorConfig[webhook.KeySecretEnv].(string)
		if env != SinkSecretEnv && env != legacySinkSecretEnv {
			continue
		}
		if u, _ := a.ConnectorConfig[webhook.KeyURL].(string); u == target && env == SinkSecretEnv {
			continue
		}
		config := maps.Clone(a.ConnectorConfig)
		config[webhook.KeyURL] = target
		config[webhook.KeySecretEnv] = SinkSecretEnv
		if err := tx.Application.UpdateOne(a).SetConnectorConfig(config).Exec(ctx); err != nil {
			return rollback(tx, fmt.Errorf("demo: point webhooks: update %q: %w", a.Name, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("demo: point webhooks: commit: %w", err)
	}
	return nil
}

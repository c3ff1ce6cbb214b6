package demo_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/webhook"
	"gatehouse/ent"
	"gatehouse/ent/application"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
)

func TestPointWebhooksRewritesOnlyDemoSinkURLs(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		client := newClient(t, db)
		sys := authz.SystemContext(context.Background())

		_, err := demo.Seed(context.Background(), client)
		require.NoError(t, err)
		// A WEBHOOK application of the customer's own, with its own secret:
		// not the demo's, so never re-pointed.
		own := client.Application.Create().
			SetName("HR System").
			SetFulfillment(enum.FulfillmentDirect).
			SetConnectorKind(enum.ConnectorKindWebhook).
			SetConnectorConfig(map[string]any{
				webhook.KeyURL:       "https://hr.example.com/gatehouse",
				webhook.KeySecretEnv: "GATEHOUSE_SECRET_HR_WEBHOOK",
			}).
			SaveX(sys)
		// One seeded by an older demo, under the variable name of the time:
		// renamed and re-pointed.
		client.Application.Create().
			SetName("Legacy").
			SetFulfillment(enum.FulfillmentDirect).
			SetConnectorKind(enum.ConnectorKindWebhook).
			SetConnectorConfig(map[string]any{
				webhook.KeyURL:       "http://127.0.0.1:18080" + demo.SinkPath,
				webhook.KeySecretEnv: "GATEHOUSE_DEMO_WEBHOOK_SECRET",
			}).
			SaveX(sys)
		// One pointed at the sink with another setting, which is kept.
		client.Application.Create().
			SetName("Wiki").
			SetFulfillment(enum.FulfillmentDirect).
			SetConnectorKind(enum.ConnectorKindWebhook).
			SetConnectorConfig(map[string]any{
				webhook.KeyURL:            "http://localhost:8080" + demo.SinkPath,
				webhook.KeySecretEnv:      demo.SinkSecretEnv,
				webhook.KeyTimeoutSeconds: 5,
			}).
			SaveX(sys)

		// Called without a viewer, as the server does at start.
		for range 2 { // idempotent
			require.NoError(t, demo.PointWebhooks(context.Background(), client, "http://127.0.0.1:18080/"))
		}

		target := "http://127.0.0.1:18080" + demo.SinkPath
		apps, err := client.Application.Query().Order(ent.Asc(application.FieldName)).All(sys)
		require.NoError(t, err)
		got := map[string]map[string]any{}
		for _, a := range apps {
			got[a.Name] = a.ConnectorConfig
		}
		sink := map[string]any{webhook.KeyURL: target, webhook.KeySecretEnv: demo.SinkSecretEnv}
		require.Equal(t, map[string]map[string]any{
			"GitHub":              sink,
			"Salesforce":          sink,
			"Production Database": sink,
			"NetSuite":            {},
			"HR System":           own.ConnectorConfig,
			"Legacy":              sink,
			"Wiki": {
				webhook.KeyURL:            target,
				webhook.KeySecretEnv:      demo.SinkSecretEnv,
				webhook.KeyTimeoutSeconds: float64(5), // as JSON reads it back
			},
		}, got)
	})
}

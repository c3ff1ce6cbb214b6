package resolvers_test

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/client"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/authz"
	"gatehouse/resolvers"
)

// TestWebhooksWithoutTheService: on a schema built without the event
// webhook service every webhook field, reads included, answers that event
// webhooks are not configured — the resolvers only adapt the service and
// read nothing of their own.
func TestWebhooksWithoutTheService(t *testing.T) {
	t.Parallel()
	srv := handler.New(resolvers.NewSchema(resolvers.Services{}))
	srv.AddTransport(transport.POST{})
	admin := authz.NewContext(context.Background(), &authz.Viewer{UserID: "usr_admin", Role: enum.PlatformRoleITAdmin})
	c := client.New(srv, func(r *client.Request) { r.HTTP = r.HTTP.WithContext(admin) })
	for _, q := range []string{
		`{ webhookEventTypes }`,
		`{ webhookEndpoints { totalCount } }`,
		`{ webhookDeliveries(endpointId: "whe_1") { totalCount } }`,
		`mutation { enableWebhookEndpoint(id: "whe_1") { id } }`,
		`mutation { deleteWebhookEndpoint(id: "whe_1") }`,
	} {
		var out map[string]any
		err := c.Post(q, &out)
		require.Error(t, err, q)
		require.Contains(t, err.Error(), "event webhooks are not configured", q)
	}
}

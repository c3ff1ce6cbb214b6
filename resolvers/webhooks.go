package resolvers

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
	"gatehouse/internal/webhooks"
)

// Webhooks is what the resolvers need of the event webhooks.
type Webhooks interface {
	Endpoints(ctx context.Context) (*ent.WebhookEndpointQuery, error)
	Types(ctx context.Context) ([]string, error)
	Create(ctx context.Context, in webhooks.CreateInput) (*ent.WebhookEndpoint, string, error)
	Update(ctx context.Context, id pulid.ID, in webhooks.UpdateInput) (*ent.WebhookEndpoint, error)
	Delete(ctx context.Context, id pulid.ID) error
	RotateSecret(ctx context.Context, id pulid.ID) (*ent.WebhookEndpoint, string, error)
	Enable(ctx context.Context, id pulid.ID) (*ent.WebhookEndpoint, error)
	Deliveries(ctx context.Context, endpointID pulid.ID) (*ent.WebhookDeliveryQuery, error)
}

var _ Webhooks = (*webhooks.Service)(nil)

// hooks returns the event webhook service, or an error when the server
// has none.
func (r *Resolver) hooks() (Webhooks, error) {
	if r.webhooks == nil {
		return nil, errcode.New(errcode.Internal, "event webhooks are not configured")
	}
	return r.webhooks, nil
}

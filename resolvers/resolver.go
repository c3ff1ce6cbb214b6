// Package resolvers adapts the GraphQL API to the domain: each resolver reads
// the viewer, calls one service or ent query, and maps the result. It also
// holds the error presenter and the HTTP handler that serves the schema.
package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/auth"
	"gatehouse/internal/catalog"
)

// Catalog is what the resolvers need of the catalog administration service.
type Catalog interface {
	CreateUser(ctx context.Context, in ent.CreateUserInput) (*ent.User, error)
	UpdateUser(ctx context.Context, id pulid.ID, in ent.UpdateUserInput) (*ent.User, error)
	CreateJobTitle(ctx context.Context, in ent.CreateJobTitleInput) (*ent.JobTitle, error)
	UpdateJobTitle(ctx context.Context, id pulid.ID, in ent.UpdateJobTitleInput) (*ent.JobTitle, error)
	CreateRole(ctx context.Context, in ent.CreateRoleInput) (*ent.Role, error)
	UpdateRole(ctx context.Context, id pulid.ID, in ent.UpdateRoleInput) (*ent.Role, error)
	CreateApplication(ctx context.Context, in ent.CreateApplicationInput) (*ent.Application, error)
	UpdateApplication(ctx context.Context, id pulid.ID, in ent.UpdateApplicationInput) (*ent.Application, error)
	CreateEntitlement(ctx context.Context, in ent.CreateEntitlementInput) (*ent.Entitlement, error)
	UpdateEntitlement(ctx context.Context, id pulid.ID, in ent.UpdateEntitlementInput) (*ent.Entitlement, error)
	CreateReviewStageTemplate(ctx context.Context, in ent.CreateReviewStageTemplateInput) (*ent.ReviewStageTemplate, error)
	DeleteReviewStageTemplate(ctx context.Context, id pulid.ID) (pulid.ID, error)
}

// Tokens is what the resolvers need of the API token service.
type Tokens interface {
	CreateAPIToken(ctx context.Context, in auth.NewAPIToken) (string, *ent.ApiToken, error)
	RevokeAPIToken(ctx context.Context, id pulid.ID) (*ent.ApiToken, error)
}

var (
	_ Catalog = (*catalog.Service)(nil)
	_ Tokens  = (*auth.Authenticator)(nil)
)

// Resolver is the resolver root.
type Resolver struct {
	client  *ent.Client
	catalog Catalog
	tokens  Tokens
}

// NewSchema returns the executable schema over the given services.
func NewSchema(client *ent.Client, cat Catalog, tokens Tokens) graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{
		Resolvers: &Resolver{client: client, catalog: cat, tokens: tokens},
	})
}

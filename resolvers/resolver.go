// Package resolvers adapts the GraphQL API to the domain: each resolver reads
// the viewer, calls one service or ent query, and maps the result. It also
// holds the error presenter and the HTTP handler that serves the schema.
package resolvers

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/audit"
	"gatehouse/internal/auth"
	"gatehouse/internal/catalog"
	"gatehouse/internal/discovery"
	"gatehouse/internal/progress"
	"gatehouse/internal/workflow"
	"gatehouse/internal/workflow/rules"
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

// Lifecycle is what the resolvers need of the request workflow.
type Lifecycle interface {
	Submit(ctx context.Context, in workflow.SubmitInput, idempotencyKey *string) (*ent.AccessRequest, error)
	Preview(ctx context.Context, in workflow.SubmitInput) (*workflow.Plan, error)
	DecideTasks(ctx context.Context, ids []pulid.ID, d workflow.Decision, comment string) ([]*ent.ReviewTask, error)
	Reassign(ctx context.Context, taskID, toUserID pulid.ID, comment string) (*ent.ReviewTask, error)
	SetDelegate(ctx context.Context, userID *pulid.ID, from, until *time.Time) (*ent.User, error)
	Cancel(ctx context.Context, id pulid.ID, reason string) (*ent.AccessRequest, error)
	RetryFulfillment(ctx context.Context, itemID pulid.ID) (*ent.RequestItem, error)
	CompleteManualFulfillment(ctx context.Context, itemID pulid.ID, success bool, note, externalID string) (*ent.RequestItem, error)
	ManualQueue(ctx context.Context) (*ent.RequestItemQuery, error)
	AuditTrail(ctx context.Context, requestID pulid.ID) ([]*ent.AuditEvent, error)
	VerifyAuditTrail(ctx context.Context, requestID pulid.ID) (audit.Verification, error)
	LifecyclePolicy(ctx context.Context, appID *pulid.ID) (*rules.Lifecycle, error)
	SetLifecyclePolicy(ctx context.Context, appID *pulid.ID, in rules.LifecycleSettings) (*rules.Lifecycle, error)
	RequestExtension(ctx context.Context, grantID pulid.ID, duration *string, endsAt *time.Time, justification string) (*ent.AccessRequest, error)
	RequestPolicies
	SeparationOfDuties
}

// SeparationOfDuties is what the resolvers need of the separation-of-duties
// conflict sets and their acceptances.
type SeparationOfDuties interface {
	CreateSodConflictSet(ctx context.Context, in workflow.SodSetInput) (*ent.SodConflictSet, error)
	UpdateSodConflictSet(ctx context.Context, id pulid.ID, in workflow.SodSetUpdate) (*ent.SodConflictSet, error)
	DeleteSodConflictSet(ctx context.Context, id pulid.ID) error
	AcceptSodConflict(ctx context.Context, setID, userID pulid.ID, reason string, until *time.Time) (*ent.SodAcceptance, error)
	RevokeSodAcceptance(ctx context.Context, id pulid.ID) error
}

// RequestPolicies is what the resolvers need of the request policies.
type RequestPolicies interface {
	RequestPolicy(ctx context.Context, appID, entID *pulid.ID) (*rules.RequestPolicy, error)
	SetRequestPolicy(ctx context.Context, appID, entID *pulid.ID, in rules.RequestSettings) (*rules.RequestPolicy, error)
	ClearRequestPolicy(ctx context.Context, appID, entID *pulid.ID) (*rules.RequestPolicy, error)
	ReviewPolicies(ctx context.Context) ([]*ent.ReviewPolicy, error)
	CreateReviewPolicy(ctx context.Context, in workflow.ReviewPolicyInput) (*ent.ReviewPolicy, error)
	UpdateReviewPolicy(ctx context.Context, id pulid.ID, in workflow.ReviewPolicyInput) (*ent.ReviewPolicy, error)
	DeleteReviewPolicy(ctx context.Context, id pulid.ID) (pulid.ID, error)
	PolicyRules(ctx context.Context) ([]*ent.PolicyRule, error)
	CreatePolicyRule(ctx context.Context, in workflow.PolicyRuleInput) (*ent.PolicyRule, error)
	UpdatePolicyRule(ctx context.Context, id pulid.ID, in workflow.PolicyRuleInput) (*ent.PolicyRule, error)
	SetPolicyRuleEnabled(ctx context.Context, id pulid.ID, enabled bool) (*ent.PolicyRule, error)
	DeletePolicyRule(ctx context.Context, id pulid.ID) (pulid.ID, error)
}

// AuditLog is what the resolvers need of the whole audit log.
type AuditLog interface {
	Events(ctx context.Context, f audit.EventFilter) (*ent.AuditEventQuery, error)
	Verify(ctx context.Context, from, to *time.Time) (*audit.LogVerification, error)
}

// Discovery is what the resolvers need of connector checks and discovery.
type Discovery interface {
	CheckConnection(ctx context.Context, id pulid.ID) (*discovery.Check, error)
	Sync(ctx context.Context, id pulid.ID) (*discovery.Result, error)
}

var (
	_ Discovery = (*discovery.Service)(nil)
	_ AuditLog  = (*audit.Log)(nil)
	_ Catalog   = (*catalog.Service)(nil)
	_ Tokens    = (*auth.Authenticator)(nil)
	_ Lifecycle = (*workflow.Service)(nil)
)

// Services are what the resolvers call.
type Services struct {
	Client   *ent.Client
	Catalog  Catalog
	Tokens   Tokens
	Workflow Lifecycle
	// Progress feeds the subscriptions; nil refuses them.
	Progress *progress.Feed
	// AuditLog serves auditEvents and verifyAuditLog.
	AuditLog AuditLog
	// Discovery serves checkApplicationConnection and syncApplication.
	Discovery Discovery
	// Webhooks manages the event webhooks; nil refuses them.
	Webhooks Webhooks
	// Notifications serves the viewer's notifications and preferences; nil
	// refuses them.
	Notifications Notifications
}

// Resolver is the resolver root.
type Resolver struct {
	client   *ent.Client
	catalog  Catalog
	tokens   Tokens
	workflow Lifecycle
	progress *progress.Feed
	auditLog AuditLog
	// discovery serves checkApplicationConnection and syncApplication.
	discovery Discovery
	webhooks  Webhooks
	notify    Notifications
}

// NewSchema returns the executable schema over the given services.
func NewSchema(s Services) graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{
		Resolvers: &Resolver{client: s.Client, catalog: s.Catalog, tokens: s.Tokens, workflow: s.Workflow, progress: s.Progress,
			auditLog: s.AuditLog, discovery: s.Discovery, webhooks: s.Webhooks, notify: s.Notifications},
	})
}

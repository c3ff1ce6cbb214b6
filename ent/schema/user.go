package schema

import (
	"fmt"
	"net/mail"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// User is a person of the company (requester, beneficiary, reviewer, owner),
// or a service account of an integration (kind SERVICE).
type User struct {
	ent.Schema
}

// Mixin of User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("usr"), TimeMixin{}}
}

// Fields of User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("email").
			Unique().
			MaxLen(254).
			Validate(func(s string) error {
				addr, err := mail.ParseAddress(s)
				if err != nil || addr.Address != s {
					return fmt.Errorf("%q is not a plain email address", s)
				}
				return nil
			}).
			Annotations(entgql.OrderField("EMAIL")),
		field.String("name").
			NotEmpty().
			MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("department").
			Default("").
			MaxLen(200).
			Annotations(entgql.OrderField("DEPARTMENT")),
		field.Enum("status").
			GoType(enum.UserStatus("")).
			Default(string(enum.UserStatusActive)).
			Annotations(entgql.Type("UserStatus"), entgql.OrderField("STATUS")),
		field.Enum("platform_role").
			GoType(enum.PlatformRole("")).
			Default(string(enum.PlatformRoleUser)).
			Annotations(entgql.Type("PlatformRole"), entgql.OrderField("PLATFORM_ROLE")),
		field.Enum("kind").
			GoType(enum.UserKind("")).
			Default(string(enum.UserKindHuman)).
			Immutable().
			Comment("HUMAN for a person; SERVICE for an integration's account, which is never a manager, owner, reviewer, delegate or beneficiary").
			Annotations(entgql.Type("UserKind"), entgql.OrderField("KIND")),
		field.String("manager_id").GoType(pulid.ID("")).Optional().Nillable(),
		field.String("job_title_id").GoType(pulid.ID("")).Optional().Nillable(),
		field.Time("start_date").Optional().Nillable().
			Comment("the day the person started at the company, shown to reviewers as days since start; set by IT admins").
			Annotations(entgql.OrderField("START_DATE")),
		field.String("delegate_id").GoType(pulid.ID("")).Optional().Nillable().Annotations(noInput()),
		field.Time("delegate_from").Optional().Nillable().Annotations(noInput()),
		field.Time("delegate_until").Optional().Nillable().Annotations(noInput()),
	}
}

// Edges of User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("reports", User.Type).
			Annotations(noInput()).
			From("manager").
			Field("manager_id").
			Unique(),
		edge.From("job_title", JobTitle.Type).
			Ref("users").
			Field("job_title_id").
			Unique(),
		edge.To("delegators", User.Type).
			Annotations(readOnly()).
			From("delegate").
			Field("delegate_id").
			Unique().
			Annotations(noInput()),
		edge.From("owned_applications", Application.Type).Ref("owners").Annotations(readOnly()),
		edge.From("owned_roles", Role.Type).Ref("owners").Annotations(readOnly()),
		edge.From("owned_entitlements", Entitlement.Type).Ref("owner").Annotations(readOnly()),
		edge.From("identities", Identity.Type).Ref("user").Annotations(readOnly()),
		edge.From("requests", AccessRequest.Type).Ref("requester").Annotations(readOnly()),
		edge.From("beneficiary_requests", AccessRequest.Type).Ref("beneficiary").Annotations(readOnly()),
		edge.From("review_tasks", ReviewTask.Type).Ref("reviewer").Annotations(readOnly()),
		edge.From("api_tokens", ApiToken.Type).Ref("owner").Annotations(readOnly()),
		edge.From("minted_api_tokens", ApiToken.Type).Ref("created_by").Annotations(readOnly()),
		edge.From("designated_stage_templates", ReviewStageTemplate.Type).Ref("designated_reviewers").Annotations(readOnly()),
	}
}

// Annotations of User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of User.
func (User) Policy() ent.Policy {
	return authz.CatalogPolicy()
}

// Hooks of User: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (User) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

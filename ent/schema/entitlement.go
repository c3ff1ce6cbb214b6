package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// Entitlement is one grantable piece of access in an application: a group, a
// role, a permission or a resource.
type Entitlement struct {
	ent.Schema
}

// Mixin of Entitlement.
func (Entitlement) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("ent"), TimeMixin{}}
}

// Fields of Entitlement.
func (Entitlement) Fields() []ent.Field {
	return []ent.Field{
		field.String("application_id").GoType(pulid.ID("")).Immutable(),
		field.String("external_id").NotEmpty().MaxLen(500),
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("description").Default("").MaxLen(2000),
		field.Enum("kind").
			GoType(enum.EntitlementKind("")).
			Default(string(enum.EntitlementKindGroup)).
			Annotations(entgql.Type("EntitlementKind"), entgql.OrderField("KIND")),
		field.Bool("privileged").Default(false),
		field.Bool("requestable").Default(true),
		field.Strings("labels").Optional().Comment("free labels that policy rules match"),
		field.String("owner_id").GoType(pulid.ID("")).Optional().Nillable(),
	}
}

// Edges of Entitlement.
func (Entitlement) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("application", Application.Type).
			Ref("entitlements").
			Field("application_id").
			Unique().
			Required().
			Immutable().
			Annotations(entgql.OrderField("APPLICATION_NAME")),
		edge.To("owner", User.Type).Field("owner_id").Unique(),
		edge.From("roles", Role.Type).Ref("entitlements").Annotations(readOnly()),
		edge.From("job_titles", JobTitle.Type).Ref("baseline_entitlements").Annotations(readOnly()),
		edge.From("grants", Grant.Type).Ref("entitlement").Annotations(readOnly()),
		edge.From("sod_conflict_sets", SodConflictSet.Type).Ref("entitlements").Annotations(hidden()),
	}
}

// Indexes of Entitlement.
func (Entitlement) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("application_id", "external_id").Unique(),
		index.Fields("application_id", "name").Unique(),
	}
}

// Annotations of Entitlement.
func (Entitlement) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of Entitlement.
func (Entitlement) Policy() ent.Policy {
	return authz.CatalogPolicy()
}

// Hooks of Entitlement: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (Entitlement) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

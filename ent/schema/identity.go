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
	"gatehouse/internal/authz"
)

// Identity is the account of a user in an application.
type Identity struct {
	ent.Schema
}

// Mixin of Identity.
func (Identity) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("idn"), TimeMixin{}}
}

// Fields of Identity.
func (Identity) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).Immutable(),
		field.String("application_id").GoType(pulid.ID("")).Immutable(),
		field.String("external_id").Default("").MaxLen(500),
		field.String("login").Default("").MaxLen(500).Annotations(entgql.OrderField("LOGIN")),
		field.Enum("status").
			GoType(enum.IdentityStatus("")).
			Default(string(enum.IdentityStatusActive)).
			Annotations(entgql.Type("IdentityStatus"), entgql.OrderField("STATUS")),
		field.String("created_by_request_id").GoType(pulid.ID("")).Optional().Nillable(),
	}
}

// Edges of Identity.
func (Identity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
		edge.From("application", Application.Type).Ref("identities").Field("application_id").Unique().Required().Immutable(),
		edge.To("created_by_request", AccessRequest.Type).Field("created_by_request_id").Unique(),
		edge.To("grants", Grant.Type).Annotations(readOnly()),
	}
}

// Indexes of Identity.
func (Identity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "application_id").Unique(),
	}
}

// Annotations of Identity.
func (Identity) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
	}
}

// Policy of Identity.
func (Identity) Policy() ent.Policy {
	return authz.IdentityPolicy()
}

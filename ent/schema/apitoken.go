package schema

import (
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

// ApiToken is a bearer token for an integration. Only the SHA-256 hash of the
// token is stored; the token itself is shown once, when it is created.
type ApiToken struct {
	ent.Schema
}

// Mixin of ApiToken.
func (ApiToken) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("tok"), TimeMixin{}}
}

// Fields of ApiToken.
func (ApiToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("prefix").Immutable().Comment("the first characters of the token, to recognise it"),
		field.String("hash").Unique().Immutable().Sensitive().Annotations(hidden()),
		field.Enum("scope").GoType(enum.TokenScope("")).Immutable().Annotations(entgql.Type("TokenScope")),
		field.Time("expires_at").Optional().Nillable().Immutable(),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("owner_id").GoType(pulid.ID("")).Immutable(),
		// Null only for tokens created before the minter was recorded.
		field.String("created_by_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("the person who minted the token: its owner, or the IT admin who minted it for a service account"),
	}
}

// Edges of ApiToken.
func (ApiToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owner", User.Type).Field("owner_id").Unique().Required().Immutable(),
		edge.To("created_by", User.Type).Field("created_by_id").Unique().Immutable(),
	}
}

// Annotations of ApiToken.
func (ApiToken) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
	}
}

// Policy of ApiToken.
func (ApiToken) Policy() ent.Policy {
	return authz.ApiTokenPolicy()
}

// Hooks of ApiToken: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (ApiToken) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

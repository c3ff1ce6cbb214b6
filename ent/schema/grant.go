package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
)

// Grant is access held: an entitlement given to an identity, permanently or
// until ends_at. revoked_at is set when it ends, by REVOKE, expiry or discovery.
type Grant struct {
	ent.Schema
}

// Mixin of Grant.
func (Grant) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("grt"), TimeMixin{}}
}

// Fields of Grant.
func (Grant) Fields() []ent.Field {
	return []ent.Field{
		field.String("identity_id").GoType(pulid.ID("")).Immutable(),
		field.String("entitlement_id").GoType(pulid.ID("")).Immutable(),
		field.Time("granted_at").Default(time.Now).Annotations(entgql.OrderField("GRANTED_AT")),
		field.Time("ends_at").Optional().Nillable().Annotations(entgql.OrderField("ENDS_AT")),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoke_reason").Default("").MaxLen(500),
		field.String("source_item_id").GoType(pulid.ID("")).Optional().Nillable(),
		field.Time("end_warned_at").Optional().Nillable().Annotations(hidden()).
			Comment("the end a GRANT_EXPIRING warning was given for; a moved end is warned again"),
	}
}

// Edges of Grant.
func (Grant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("identity", Identity.Type).Ref("grants").Field("identity_id").Unique().Required().Immutable(),
		edge.To("entitlement", Entitlement.Type).Field("entitlement_id").Unique().Required().Immutable(),
		edge.To("source_item", RequestItem.Type).Field("source_item_id").Unique(),
	}
}

// Indexes of Grant.
func (Grant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("identity_id", "entitlement_id"),
		index.Fields("ends_at"),
		// The grants an item made (audit reports and exports).
		index.Fields("source_item_id"),
	}
}

// Annotations of Grant.
func (Grant) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
	}
}

// Policy of Grant.
func (Grant) Policy() ent.Policy {
	return authz.GrantPolicy()
}

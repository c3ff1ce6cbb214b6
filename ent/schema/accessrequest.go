package schema

import (
	"time"

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

// AccessRequest asks for GRANT or REVOKE of access for a beneficiary. Its
// status is derived from its items and stored for filtering.
type AccessRequest struct {
	ent.Schema
}

// Mixin of AccessRequest.
func (AccessRequest) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("req"), TimeMixin{}}
}

// Fields of AccessRequest.
func (AccessRequest) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("action").GoType(enum.RequestAction("")).Immutable().Annotations(entgql.Type("RequestAction")),
		field.Enum("mode").
			GoType(enum.RequestMode("")).
			Default(string(enum.RequestModeEntitlements)).
			Immutable().
			Annotations(entgql.Type("RequestMode")),
		field.String("justification").Default("").MaxLen(4000).Immutable(),
		field.String("emergency_reason").Optional().Nillable().MaxLen(4000).Immutable().
			Comment("set on an emergency (break-glass) request: why the access could not wait for review"),
		field.Time("ends_at").Optional().Nillable().Immutable(),
		field.String("duration").Optional().Nillable().Immutable().Comment("ISO-8601, counted from provisioning"),
		field.Float("threshold").Optional().Nillable().Immutable(),
		field.Enum("status").
			GoType(enum.RequestStatus("")).
			Default(string(enum.RequestStatusPendingReview)).
			Annotations(entgql.Type("AccessRequestStatus"), entgql.OrderField("STATUS")),
		field.String("idempotency_key").Optional().Nillable().MaxLen(255).Immutable().Annotations(hidden()),
		field.String("input_hash").Default("").Immutable().Annotations(hidden()),
		field.Time("submitted_at").Default(time.Now).Immutable().Annotations(entgql.OrderField("SUBMITTED_AT")),
		field.Time("completed_at").Optional().Nillable().Annotations(entgql.OrderField("COMPLETED_AT")),
		field.String("requester_id").GoType(pulid.ID("")).Immutable(),
		field.String("beneficiary_id").GoType(pulid.ID("")).Immutable(),
		field.String("reference_user_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("role_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("job_title_id").GoType(pulid.ID("")).Optional().Nillable().Immutable(),
		field.String("submitted_by_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("the person who minted the API token that submitted the request, when that is not the requester (a service account's token); excluded from its review like the requester"),
		field.String("extends_grant_id").GoType(pulid.ID("")).Optional().Nillable().Immutable().
			Comment("the grant whose end an extension request moves (requestExtension)"),
	}
}

// Edges of AccessRequest.
func (AccessRequest) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("requester", User.Type).Field("requester_id").Unique().Required().Immutable(),
		edge.To("beneficiary", User.Type).Field("beneficiary_id").Unique().Required().Immutable(),
		edge.To("reference_user", User.Type).Field("reference_user_id").Unique().Immutable(),
		edge.To("role", Role.Type).Field("role_id").Unique().Immutable(),
		edge.To("job_title", JobTitle.Type).Field("job_title_id").Unique().Immutable(),
		edge.To("submitted_by", User.Type).Field("submitted_by_id").Unique().Immutable().Annotations(noInput()),
		edge.To("extends_grant", Grant.Type).Field("extends_grant_id").Unique().Immutable().Annotations(readOnly()),
		edge.To("items", RequestItem.Type).Annotations(readOnly()),
		edge.To("audit_events", AuditEvent.Type).Annotations(readOnly()),
		edge.From("tasks", ReviewTask.Type).Ref("request").Annotations(readOnly()),
	}
}

// Indexes of AccessRequest.
func (AccessRequest) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("requester_id", "idempotency_key"),
		index.Fields("beneficiary_id", "status"),
		index.Fields("status"),
		// The list's orders (AccessRequestOrderField) with the ID that
		// breaks ties and makes the keyset cursor: a page is a range of
		// the index, not a sort of every visible request.
		index.Fields("submitted_at", "id"),
		index.Fields("created_at", "id"),
		index.Fields("updated_at", "id"),
		index.Fields("completed_at", "id"),
	}
}

// Annotations of AccessRequest.
func (AccessRequest) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.MultiOrder(),
	}
}

// Policy of AccessRequest.
func (AccessRequest) Policy() ent.Policy {
	return authz.AccessRequestPolicy()
}

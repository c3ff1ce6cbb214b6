package schema

import (
	"fmt"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/sosodev/duration"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
)

// Application is an integrated system in which access is requested.
type Application struct {
	ent.Schema
}

// Mixin of Application.
func (Application) Mixin() []ent.Mixin {
	return []ent.Mixin{pulid.MixinWithPrefix("app"), TimeMixin{}}
}

// Fields of Application.
func (Application) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").Unique().NotEmpty().MaxLen(200).Annotations(entgql.OrderField("NAME")),
		field.String("description").Default("").MaxLen(2000),
		field.Enum("fulfillment").
			GoType(enum.Fulfillment("")).
			Annotations(entgql.Type("Fulfillment"), entgql.OrderField("FULFILLMENT")),
		field.Enum("connector_kind").
			GoType(enum.ConnectorKind("")).
			Annotations(entgql.Type("ConnectorKind"), entgql.OrderField("CONNECTOR_KIND")),
		// connector_config holds the connector's settings; secrets appear only
		// as references into the connector-secret namespace (GATEHOUSE_SECRET_*
		// variables, files of GATEHOUSE_SECRETS_DIR). It is write-only in the
		// API.
		field.JSON("connector_config", map[string]any{}).
			Optional().
			Annotations(entgql.Skip(entgql.SkipType, entgql.SkipWhereInput, entgql.SkipOrderField)),
		field.String("max_access_duration").
			Optional().
			Nillable().
			Comment("ISO-8601 duration; nil means permanent access is allowed").
			Validate(validDuration),
	}
}

// validDuration accepts a positive ISO-8601 duration such as P30D or PT8H.
func validDuration(s string) error {
	d, err := duration.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not an ISO-8601 duration", s)
	}
	if d.ToTimeDuration() <= 0 {
		return fmt.Errorf("%q is not a positive duration", s)
	}
	return nil
}

// Edges of Application.
func (Application) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owners", User.Type),
		edge.To("entitlements", Entitlement.Type).Annotations(readOnly()),
		edge.To("review_stages", ReviewStageTemplate.Type).Annotations(readOnly()),
		edge.To("identities", Identity.Type).Annotations(readOnly()),
	}
}

// Annotations of Application.
func (Application) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
		entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate()),
	}
}

// Policy of Application.
func (Application) Policy() ent.Policy {
	return authz.CatalogPolicy()
}

// Hooks of Application: every change is audited on the system chain
// (audit.SystemChanges), whichever client makes it.
func (Application) Hooks() []ent.Hook {
	return []ent.Hook{audit.SystemChanges}
}

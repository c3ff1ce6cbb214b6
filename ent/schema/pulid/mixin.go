package pulid

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// MixinWithPrefix returns the mixin giving a schema its prefixed ID field.
func MixinWithPrefix(prefix string) Mixin {
	return Mixin{prefix: prefix}
}

// Mixin adds an "id" field of type ID with the schema's prefix.
type Mixin struct {
	mixin.Schema
	prefix string
}

// Fields provides the id field.
func (m Mixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			GoType(ID("")).
			MaxLen(40).
			Immutable().
			DefaultFunc(func() ID { return MustNew(m.prefix) }),
	}
}

// Annotation records the ID prefix of a schema for code generation.
type Annotation struct {
	Prefix string
}

// Name implements schema.Annotation.
func (Annotation) Name() string { return "PULID" }

// Annotations returns the prefix annotation.
func (m Mixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Prefix: m.prefix}}
}

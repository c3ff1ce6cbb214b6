package gqlexec

import (
	"bytes"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// Object holds the values of an object's selected fields, resolved one
// after the other, and marshals them as a JSON object in the order of the
// fields. It replaces gqlgen's graphql.FieldSet for object types none of
// whose fields is resolved concurrently: a FieldSet's MarshalGQL builds a
// map of the written names, an iterator and a copy of every field per
// object, which a list of a few hundred objects pays for each time.
type Object struct {
	fields []graphql.CollectedField
	// Values are the fields' values, Values[i] for fields[i]; every one is
	// set before MarshalGQL.
	Values []graphql.Marshaler
	// Invalids counts the non-null fields that resolved to null.
	Invalids uint32
}

// Objects of up to 2, 4 or 8 fields are allocated with their values, in
// one piece of the size they need: a subscription event or a list element
// of a few fields pays for no unused slots (an object of 3 fields takes
// 128 bytes rather than 192).
type (
	object2 struct {
		Object
		small [2]graphql.Marshaler
	}
	object4 struct {
		Object
		small [4]graphql.Marshaler
	}
	object8 struct {
		Object
		small [8]graphql.Marshaler
	}
)

// NewObject returns an Object for fields (graphql.CollectFields's result),
// with no values yet.
func NewObject(fields []graphql.CollectedField) *Object {
	n := len(fields)
	switch {
	case n <= 2:
		o := &object2{Object: Object{fields: fields}}
		o.Values = o.small[:n]
		return &o.Object
	case n <= 4:
		o := &object4{Object: Object{fields: fields}}
		o.Values = o.small[:n]
		return &o.Object
	case n <= 8:
		o := &object8{Object: Object{fields: fields}}
		o.Values = o.small[:n]
		return &o.Object
	}
	return &Object{fields: fields, Values: make([]graphql.Marshaler, n)}
}

// MarshalGQL writes the object; a response name that occurs twice is
// written once, with the first value, as gqlgen does.
func (o *Object) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, "{")
	for i := range o.fields {
		if WriteKey(w, o.fields, i) {
			o.Values[i].MarshalGQL(w)
		}
	}
	_, _ = io.WriteString(w, "}")
}

func written(fields []graphql.CollectedField, alias string) bool {
	for i := range fields {
		if fields[i].Alias == alias {
			return true
		}
	}
	return false
}

// WriteKey writes the separator and the response name of fields[i] of an
// object (Object, and the objects the executor writes straight from loaded
// values, write_<Type>), unless an earlier field has the same response
// name: then it writes nothing and returns false, and the field is not
// written, as gqlgen does.
func WriteKey(w io.Writer, fields []graphql.CollectedField, i int) bool {
	alias := fields[i].Alias
	if written(fields[:i], alias) {
		return false
	}
	b, ok := w.(*bytes.Buffer)
	if !ok {
		// Not a response's data (Marshal writes into a *bytes.Buffer).
		b = new(bytes.Buffer)
		defer func() { _, _ = w.Write(b.Bytes()) }()
	}
	if i > 0 {
		_ = b.WriteByte(',')
	}
	// A response name is a GraphQL name ([_A-Za-z][_0-9A-Za-z]*): no
	// character needs escaping in JSON.
	_ = b.WriteByte('"')
	_, _ = b.WriteString(alias)
	_, _ = b.WriteString(`":`)
	return true
}

package main

import (
	"go/types"
	"path/filepath"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/templates"
	"github.com/vektah/gqlparser/v2/ast"
)

// directType is an object type whose objects are written straight from
// their values (templates/direct.gotpl) when the query selects only its
// Fields, and __typename: direct_<Name> checks an object's selected fields,
// writeField_<Name> writes one field's value; write_<Name> writes a whole
// object for the fields pointing to it, directField_<Name> is where the
// functions of its own non-leaf fields start.
type directType struct {
	*codegen.Object
	Var    string // the implementors variable
	Fields []*directField
	// Target: some field points to it, so write_<Name> is needed; List:
	// some list edge does, so writeList_<Name> is too.
	Target, List bool
	// Objects: some of its fields hold objects (Edge or Object), whose
	// functions try directField_<Name> first.
	Objects bool
}

// directField is a field of a directType: a plain leaf, an ent edge read
// from the object's Edges (Edge), or a plain binding to a pointer to an
// object (Object: a struct field or a method without context or error).
type directField struct {
	*codegen.Field
	Edge, Object bool
	// List: the edge is a list of objects, read as obj.Edges.<X>OrErr()
	// returns it; else a single object.
	List bool
	// Target is the object type an Edge or Object field holds, TargetVar
	// its implementors variable.
	Target, TargetVar string
	// NotFound is the package whose IsNotFound tells a nullable single
	// edge that was loaded and found nothing.
	NotFound string
	// NullCheck: a non-null leaf whose marshaller may return null (a zero
	// time, say), checked before the object is written directly.
	NullCheck bool
	// GoString: a non-null String leaf of Go type string, written with
	// jsonstr.Write instead of through graphql.MarshalString's closure (an
	// allocation per value).
	GoString bool
}

// neverNull are the marshallers of the bound scalars that never return
// graphql.Null: a non-null leaf marshalled by one of them needs no check.
var neverNull = map[string]bool{
	"github.com/99designs/gqlgen/graphql.MarshalString":  true,
	"github.com/99designs/gqlgen/graphql.MarshalID":      true,
	"github.com/99designs/gqlgen/graphql.MarshalBoolean": true,
	// Writes an error, at marshalling, for an infinite or NaN float.
	"github.com/99designs/gqlgen/graphql.MarshalFloatContext": true,
	"gatehouse/internal/gqlexec.MarshalInt":                   true,
}

// directTypes returns the object types written straight from their values
// and the fields holding objects whose functions try that first: fields
// of non-root types with no arguments, directives or resolver, bound to an
// edge method that entgql generated (in gql_edge.go of the model's
// package) whose object type is also the model's Edges.<X>OrErr() result,
// or bound plainly (plainBinding) to a pointer to an object type. None
// when a directive applies to every field.
func directTypes(data *codegen.Data, leaves map[*codegen.Field]bool) ([]*directType, map[*codegen.Field]bool) {
	fields := map[*codegen.Field]bool{}
	if len(data.AllDirectives.LocationDirectives(string(ast.LocationField))) > 0 {
		return nil, fields
	}
	byName := map[string]*directType{}
	for _, o := range data.Objects {
		if !o.Root && !o.Stream {
			byName[o.Name] = &directType{Object: o, Var: templates.LcFirst(o.Name) + "Implementors"}
		}
	}
	for _, t := range byName {
		for _, f := range t.Object.Fields {
			if leaves[f] {
				if df := directLeaf(f); df != nil {
					t.Fields = append(t.Fields, df)
				}
				continue
			}
			df := entEdge(data, f)
			if df == nil {
				df = plainObject(f)
			}
			if df == nil || byName[df.Target] == nil {
				continue
			}
			target := byName[df.Target]
			df.TargetVar = target.Var
			target.Target = true
			target.List = target.List || df.List
			t.Objects = true
			t.Fields = append(t.Fields, df)
			fields[f] = true
		}
	}
	var out []*directType
	for _, t := range byName {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *directType) int { return strings.Compare(a.Name, b.Name) })
	return out, fields
}

// directLeaf returns the plain leaf f as a field of a directType, or nil
// when a non-null f's marshaller may return null and cannot be asked first
// (it takes a context, or the value is cast for it).
func directLeaf(f *codegen.Field) *directField {
	df := &directField{Field: f}
	ref := f.TypeReference
	if !ref.GQL.NonNull || ref.IsMarshaler {
		return df
	}
	m := ref.Marshaler
	if m == nil {
		return nil
	}
	switch name := m.Pkg().Path() + "." + m.Name(); {
	case neverNull[name]:
		df.GoString = name == "github.com/99designs/gqlgen/graphql.MarshalString" &&
			ref.CastType == nil && types.Identical(ref.GO, types.Typ[types.String])
		return df
	case ref.IsContext, ref.CastType != nil:
		return nil
	}
	df.NullCheck = true
	return df
}

// plainObject returns f as an Object field of a directType, or nil when f
// is not bound plainly to a pointer to an object type.
func plainObject(f *codegen.Field) *directField {
	t := f.TypeReference
	if !plainBinding(f) || t == nil || t.Definition == nil || t.Definition.Kind != ast.Object || !t.IsPtr() || t.IsSlice() {
		return nil
	}
	return &directField{Field: f, Object: true, Target: t.Definition.Name}
}

// entEdge returns f as an edge of a directType, or nil when f is not bound
// to an entgql edge method (see directTypes).
func entEdge(data *codegen.Data, f *codegen.Field) *directField {
	t := f.TypeReference
	switch {
	case f.IsResolver, f.IsBatch(), f.Stream, !f.IsMethod(), !f.MethodHasContext, f.NoErr, f.VOkFunc, f.HasHaser,
		len(f.Args) > 0, len(f.Directives) > 0, f.IsMap():
		return nil
	case t == nil || t.Definition == nil || t.Definition.Kind != ast.Object:
		return nil
	}
	df := &directField{Field: f, Edge: true, Target: t.Definition.Name, List: t.IsSlice()}
	if df.List {
		// A list of pointers to the objects, elements non-null.
		s, ok := t.GO.(*types.Slice)
		if !ok || !t.GQL.Elem.NonNull {
			return nil
		}
		if _, ok := s.Elem().(*types.Pointer); !ok {
			return nil
		}
	} else if !t.IsPtr() {
		return nil
	}
	model := f.Object.Type
	ptr := model
	if _, ok := model.(*types.Pointer); !ok {
		ptr = types.NewPointer(model)
	}
	method, _, _ := types.LookupFieldOrMethod(ptr, true, nil, f.GoFieldName)
	fn, ok := method.(*types.Func)
	if !ok || fn.Pkg() == nil {
		return nil
	}
	pkg := data.Config.Packages.Load(fn.Pkg().Path())
	if pkg == nil || pkg.Fset == nil || filepath.Base(pkg.Fset.Position(fn.Pos()).Filename) != "gql_edge.go" {
		return nil
	}
	edgesField, _, _ := types.LookupFieldOrMethod(model, true, nil, "Edges")
	v, ok := edgesField.(*types.Var)
	if !ok {
		return nil
	}
	orErr, _, _ := types.LookupFieldOrMethod(v.Type(), true, nil, f.GoFieldName+"OrErr")
	m, ok := orErr.(*types.Func)
	if !ok {
		return nil
	}
	sig := m.Type().(*types.Signature)
	if sig.Params().Len() != 0 || sig.Results().Len() != 2 || !types.Identical(sig.Results().At(0).Type(), t.GO) {
		return nil
	}
	if !df.List && !t.GQL.NonNull {
		isNotFound, ok := fn.Pkg().Scope().Lookup("IsNotFound").(*types.Func)
		if !ok {
			return nil
		}
		df.NotFound = isNotFound.Pkg().Path()
	}
	return df
}

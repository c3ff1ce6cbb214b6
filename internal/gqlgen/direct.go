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

// directType is an object type written straight from a loaded value when
// the query selects only its Fields (and __typename) beneath an ent edge
// (directTypes): the check direct_<Name> and the writer write_<Name> of
// templates/direct.gotpl.
type directType struct {
	*codegen.Object
	Var    string // the implementors variable
	Fields []*directField
	// Target: some edge points to it, so direct_<Name> and write_<Name>
	// are needed; List: some list edge does, so writeList_<Name> is too.
	Target, List bool
}

// directField is a field of a directType: a plain leaf (Edge false), or an
// ent edge read from the object's Edges (Edge true).
type directField struct {
	*codegen.Field
	Edge bool
	// List: the edge is a list of objects, read as obj.Edges.<X>OrErr()
	// returns it; else a single object.
	List bool
	// Target is the edge's object type, TargetVar its implementors
	// variable.
	Target, TargetVar string
	// NotFound is the package whose IsNotFound tells a nullable single
	// edge that was loaded and found nothing.
	NotFound string
	// NullCheck: a non-null leaf whose marshaller may return null (a zero
	// time, say), checked before the object is written directly.
	NullCheck bool
}

// neverNull are the marshallers of the bound scalars that never return
// graphql.Null: a non-null leaf marshalled by one of them needs no check.
var neverNull = map[string]bool{
	"github.com/99designs/gqlgen/graphql.MarshalString":  true,
	"github.com/99designs/gqlgen/graphql.MarshalID":      true,
	"github.com/99designs/gqlgen/graphql.MarshalBoolean": true,
	"gatehouse/internal/gqlexec.MarshalInt":              true,
}

// directTypes returns the object types written directly beneath their ent
// edges, and those edges (the fields whose function tries direct_<Object>_<field>
// first): fields of non-root types bound to an edge method that entgql
// generated (in gql_edge.go of the model's package), with no arguments,
// directives or resolver, whose object type is also the model's
// Edges.<X>OrErr() result. None when a directive applies to every field.
func directTypes(data *codegen.Data, leaves map[*codegen.Field]bool) ([]*directType, map[*codegen.Field]bool) {
	edges := map[*codegen.Field]bool{}
	if len(data.AllDirectives.LocationDirectives(string(ast.LocationField))) > 0 {
		return nil, edges
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
				df := &directField{Field: f}
				if f.TypeReference.GQL.NonNull && !f.TypeReference.IsMarshaler {
					m := f.TypeReference.Marshaler
					if m == nil || f.TypeReference.IsContext || f.TypeReference.CastType != nil {
						continue
					}
					df.NullCheck = !neverNull[m.Pkg().Path()+"."+m.Name()]
				}
				t.Fields = append(t.Fields, df)
				continue
			}
			df := entEdge(data, f)
			if df == nil || byName[df.Target] == nil {
				continue
			}
			df.TargetVar = byName[df.Target].Var
			byName[df.Target].Target = true
			if df.List {
				byName[df.Target].List = true
			}
			t.Fields = append(t.Fields, df)
			edges[f] = true
		}
	}
	var out []*directType
	for _, t := range byName {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *directType) int { return strings.Compare(a.Name, b.Name) })
	return out, edges
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

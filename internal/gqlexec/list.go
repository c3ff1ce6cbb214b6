// Package gqlexec holds what the generated executor (graph/) calls besides
// gqlgen's runtime: the marshalling of list elements one after the other
// when nothing beneath them can wait for a data loader.
//
// Only generated code calls it; internal/gqlgen writes the calls.
package gqlexec

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// MarshalList marshals the n elements of a list whose elements are selected
// with sel, as graphql.MarshalSliceConcurrently does, but one after the
// other, in the calling goroutine, unless a field selected at any depth
// beneath the elements (fragments included) is one for which waits reports
// true: the fields resolved by a hand-written resolver, which may ask a data
// loader that batches the calls made within a short wait. Such a list keeps
// gqlgen's goroutine per element (workerLimit and omitPanicHandler as
// gqlgen.yml sets them), so that the loader receives every element's key in
// one batch; a list of values already loaded (ent edges that CollectFields
// loaded with their parent, plain fields) does not pay for a goroutine, a
// context and a wait group per element.
//
// As in gqlgen, each element gets a field context carrying its index (error
// paths name it), and unless omitPanicHandler is set a panic while
// marshalling an element is reported as an error at the element and the
// element is null.
func MarshalList(ctx context.Context, sel ast.SelectionSet, waits func(object, field string) bool,
	n int, workerLimit int64, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	if n > 1 && selects(sel, waits) {
		return graphql.MarshalSliceConcurrently(ctx, n, workerLimit, omitPanicHandler, marshal)
	}
	ret := make(graphql.Array, n)
	if n == 0 {
		return ret
	}
	// One allocation each for the field contexts and their indices rather
	// than one per element.
	fcs := make([]graphql.FieldContext, n)
	index := make([]int, n)
	for i := range n {
		index[i] = i
		fcs[i].Index = &index[i]
		elemCtx := graphql.WithFieldContext(ctx, &fcs[i])
		if omitPanicHandler {
			ret[i] = marshal(elemCtx, i)
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(elemCtx, graphql.Recover(elemCtx, r))
					ret[i] = graphql.Null
				}
			}()
			ret[i] = marshal(elemCtx, i)
		}()
	}
	return ret
}

// selects reports whether sel selects, at any depth, a field for which
// waits reports true. A field of an interface is named with the interface,
// as the document's validation bound it.
func selects(sel ast.SelectionSet, waits func(object, field string) bool) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.ObjectDefinition != nil && waits(s.ObjectDefinition.Name, s.Name) {
				return true
			}
			if selects(s.SelectionSet, waits) {
				return true
			}
		case *ast.InlineFragment:
			if selects(s.SelectionSet, waits) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && selects(s.Definition.SelectionSet, waits) {
				return true
			}
		}
	}
	return false
}

// Package gqlexec holds what the generated executor (graph/) calls besides
// gqlgen's runtime: the marshalling of list elements one after the other
// when nothing beneath them can wait for a data loader, objects written
// without gqlgen's field sets, and the pooled buffers of responses' data.
//
// The generated code calls it (internal/gqlgen writes the calls); besides,
// the handler prepares each request (WithLoaded), resolvers declare what
// they loaded (Loaded), and the POST transport gives back what it wrote
// (Release).
package gqlexec

import (
	"context"
	"slices"
	"sync"

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
// A list whose resolver, or that of the object holding it (a connection's
// edges), declared that it loaded those fields' data (Loaded) is marshalled
// in turn as well, as long as it selects no other such field.
//
// As in gqlgen, each element gets a field context carrying its index (error
// paths name it), and unless omitPanicHandler is set a panic while
// marshalling an element is reported as an error at the element and the
// element is null.
func MarshalList(ctx context.Context, sel ast.SelectionSet, waits func(object, field string) bool,
	n int, workerLimit int64, omitPanicHandler bool, marshal func(ctx context.Context, i int) graphql.Marshaler,
) graphql.Array {
	if n > 1 && selects(sel, waits, nil, 0) && !loadedFor(ctx, sel, waits) {
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
// waits reports true, leaving out those for which loaded reports true
// (when not nil) on the elements and on the objects they hold (depth 0
// and 1). A field of an interface is named with the interface, as the
// document's validation bound it.
func selects(sel ast.SelectionSet, waits, loaded func(object, field string) bool, depth int) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.ObjectDefinition != nil && waits(s.ObjectDefinition.Name, s.Name) &&
				(loaded == nil || depth > 1 || !loaded(s.ObjectDefinition.Name, s.Name)) {
				return true
			}
			if selects(s.SelectionSet, waits, loaded, depth+1) {
				return true
			}
		case *ast.InlineFragment:
			if selects(s.SelectionSet, waits, loaded, depth) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && selects(s.Definition.SelectionSet, waits, loaded, depth) {
				return true
			}
		}
	}
	return false
}

type loadedKey struct{}

// loadedFields are the declarations of one request (Loaded), by the field
// context of the field whose resolver made them.
type loadedFields struct {
	mu sync.Mutex
	by map[*graphql.FieldContext]func(object, field string) bool
}

// WithLoaded returns ctx ready to take, for the request it runs, the
// declarations of resolvers that loaded what fields beneath them would
// otherwise wait for (Loaded).
func WithLoaded(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadedKey{}, &loadedFields{})
}

// Loaded declares, from the resolver of ctx's field, that for every object
// it returns it has loaded (primed a data loader with) what the fields of
// the object type typ named in fields need: a list of those objects, or of
// objects holding them (a connection's edges), may marshal its elements in
// turn. Only a resolver that loaded it for every object it returns may call
// it. Outside a request prepared by WithLoaded it does nothing.
func Loaded(ctx context.Context, typ string, fields ...string) {
	l, _ := ctx.Value(loadedKey{}).(*loadedFields)
	fc := graphql.GetFieldContext(ctx)
	if l == nil || fc == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[*graphql.FieldContext]func(object, field string) bool{}
	}
	l.by[fc] = func(object, field string) bool { return object == typ && slices.Contains(fields, field) }
}

// loadedFor reports whether the list of ctx's field, or the object holding
// it, was declared loaded (Loaded) for every field that sel selects for
// which waits reports true.
func loadedFor(ctx context.Context, sel ast.SelectionSet, waits func(object, field string) bool) bool {
	l, _ := ctx.Value(loadedKey{}).(*loadedFields)
	fc := graphql.GetFieldContext(ctx)
	if l == nil || fc == nil {
		return false
	}
	l.mu.Lock()
	loaded := l.by[fc]
	if loaded == nil && fc.Parent != nil {
		loaded = l.by[fc.Parent]
	}
	l.mu.Unlock()
	return loaded != nil && !selects(sel, waits, loaded, 0)
}

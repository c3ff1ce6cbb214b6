package gqlexec

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
)

// selection is `{ id request { completion } }` on ReviewTask elements, or
// `{ id request { id } }` without the completion.
func selection(withCompletion bool) ast.SelectionSet {
	task := &ast.Definition{Name: "ReviewTask"}
	request := &ast.Definition{Name: "AccessRequest"}
	inner := ast.SelectionSet{&ast.Field{Name: "id", Alias: "id", ObjectDefinition: request}}
	if withCompletion {
		// Through a fragment, as a client may write it.
		inner = append(inner, &ast.FragmentSpread{Name: "c", Definition: &ast.FragmentDefinition{
			SelectionSet: ast.SelectionSet{&ast.Field{Name: "completion", Alias: "completion", ObjectDefinition: request}},
		}})
	}
	return ast.SelectionSet{
		&ast.Field{Name: "id", Alias: "id", ObjectDefinition: task},
		&ast.Field{Name: "request", Alias: "request", ObjectDefinition: task, SelectionSet: inner},
	}
}

func waits(typ, field string) bool { return typ == "AccessRequest" && field == "completion" }

// goroutine returns the calling goroutine's number, as runtime.Stack names it.
func goroutine() string {
	buf := make([]byte, 64)
	return strings.Fields(string(buf[:runtime.Stack(buf, false)]))[1]
}

// inTurn marshals a list of 4 elements selected with sel and reports
// whether every element was marshalled in the calling goroutine. It checks
// that every element gets its index and its place either way.
func inTurn(t *testing.T, ctx context.Context, sel ast.SelectionSet) bool {
	t.Helper()
	caller := goroutine()
	var mu sync.Mutex
	all := true
	ret := MarshalList(ctx, sel, waits, 4, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		require.Equal(t, i, *graphql.GetFieldContext(ctx).Index)
		mu.Lock()
		all = all && goroutine() == caller
		mu.Unlock()
		return graphql.MarshalInt(i)
	})
	var buf bytes.Buffer
	ret.MarshalGQL(&buf)
	require.Equal(t, "[0,1,2,3]", buf.String())
	return all
}

// TestMarshalList checks which lists are marshalled in the calling
// goroutine.
func TestMarshalList(t *testing.T) {
	t.Parallel()
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Object: "Query"})
	require.True(t, inTurn(t, ctx, selection(false)), "values already loaded: in turn")
	require.False(t, inTurn(t, ctx, selection(true)), "a resolver field beneath, in a fragment: concurrently")
}

// TestMarshalListLoaded: a list whose resolver, or that of the object
// holding it, declared the waiting fields loaded is marshalled in turn,
// unless it selects a waiting field the declaration leaves out.
func TestMarshalListLoaded(t *testing.T) {
	t.Parallel()
	// resolver is the field whose resolver declares; list, a list field of
	// the object it returns (a connection's edges).
	request := WithLoaded(context.Background())
	resolver := graphql.WithFieldContext(request, &graphql.FieldContext{Object: "Query"})
	list := graphql.WithFieldContext(resolver, &graphql.FieldContext{Object: "Connection"})
	deeper := graphql.WithFieldContext(list, &graphql.FieldContext{Object: "Edge"})

	require.False(t, inTurn(t, list, selection(true)), "nothing declared yet")
	Loaded(resolver, "AccessRequest", "myCompletion")
	require.False(t, inTurn(t, list, selection(true)), "another field declared")
	Loaded(resolver, "AccessRequest", "completion", "myCompletion")
	require.True(t, inTurn(t, list, selection(true)), "declared by the resolver of the object holding the list")
	require.True(t, inTurn(t, resolver, selection(true)), "declared by the list's own resolver")
	require.False(t, inTurn(t, deeper, selection(true)), "a list further down")
	nested := ast.SelectionSet{&ast.Field{Name: "task", Alias: "task", ObjectDefinition: &ast.Definition{Name: "Holder"},
		SelectionSet: selection(true)}}
	require.False(t, inTurn(t, list, nested), "the field declared, but on objects further down")
	require.False(t, inTurn(t, graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Object: "Query"}), selection(true)),
		"a request not prepared by WithLoaded")
}

// TestMarshalListPanic: a panic in an element makes it null and reports an
// error, as gqlgen's MarshalSliceConcurrently does.
func TestMarshalListPanic(t *testing.T) {
	t.Parallel()
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	ret := MarshalList(ctx, selection(false), waits, 2, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
		if i == 1 {
			panic("broken")
		}
		return graphql.MarshalInt(i)
	})
	var buf bytes.Buffer
	ret.MarshalGQL(&buf)
	require.Equal(t, "[0,null]", buf.String())
	require.Len(t, graphql.GetErrors(ctx), 1)
}

// TestObject checks the JSON an Object writes: fields in order, a repeated
// response name once, more fields than the inline array holds.
func TestObject(t *testing.T) {
	t.Parallel()
	names := []string{"id", "name", "id", "a", "b", "c", "d", "e", "f", "g"}
	fields := make([]graphql.CollectedField, len(names))
	for i, n := range names {
		fields[i] = graphql.CollectedField{Field: &ast.Field{Alias: n, Name: n}}
	}
	o := NewObject(fields)
	for i := range o.Values {
		o.Values[i] = graphql.MarshalInt(i)
	}
	var buf bytes.Buffer
	o.MarshalGQL(&buf)
	require.JSONEq(t, `{"id":0,"name":1,"a":3,"b":4,"c":5,"d":6,"e":7,"f":8,"g":9}`, buf.String())
	require.Equal(t, `{"id":0,"name":1,"a":3,"b":4,"c":5,"d":6,"e":7,"f":8,"g":9}`, buf.String())
}

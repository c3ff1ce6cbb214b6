package gqlexec

import (
	"bytes"
	"context"
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

// TestMarshalList checks which lists are marshalled in the calling
// goroutine and that every element gets its index either way.
func TestMarshalList(t *testing.T) {
	t.Parallel()
	ctx := graphql.WithFieldContext(context.Background(), &graphql.FieldContext{Object: "Query"})
	for _, tc := range []struct {
		name       string
		completion bool
		concurrent bool
	}{
		{"values already loaded: in turn", false, false},
		{"a resolver field beneath, in a fragment: concurrently", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 4
			// Concurrent elements all reach the barrier; elements in turn
			// run in order, each finding the previous one done.
			var barrier sync.WaitGroup
			barrier.Add(n)
			var mu sync.Mutex
			var order []int
			ret := MarshalList(ctx, selection(tc.completion), waits, n, 0, false, func(ctx context.Context, i int) graphql.Marshaler {
				require.Equal(t, i, *graphql.GetFieldContext(ctx).Index)
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				barrier.Done()
				if tc.concurrent {
					barrier.Wait() // would never return if the elements ran in turn
				}
				return graphql.MarshalInt(i)
			})
			var buf bytes.Buffer
			ret.MarshalGQL(&buf)
			require.Equal(t, "[0,1,2,3]", buf.String())
			if !tc.concurrent {
				require.Equal(t, []int{0, 1, 2, 3}, order)
			}
		})
	}
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

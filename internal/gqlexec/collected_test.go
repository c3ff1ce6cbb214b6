package gqlexec

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
)

var (
	taskImplementors    = []string{"ReviewTask"}
	requestImplementors = []string{"AccessRequest"}
)

// TestCollected: the fields collected for a selection set are
// graphql.CollectFields's, with the operation's variables applied, once
// per selection set and type, also when asked from several goroutines.
func TestCollected(t *testing.T) {
	t.Parallel()
	task := &ast.Definition{Name: "ReviewTask"}
	skip := ast.DirectiveList{{Name: "skip", Arguments: ast.ArgumentList{{
		Name: "if", Value: &ast.Value{Kind: ast.Variable, Raw: "s"},
	}}}}
	sel := ast.SelectionSet{
		&ast.Field{Name: "id", Alias: "id", ObjectDefinition: task},
		&ast.Field{Name: "status", Alias: "status", ObjectDefinition: task, Directives: skip},
		&ast.InlineFragment{TypeCondition: "ReviewTask", SelectionSet: ast.SelectionSet{
			&ast.Field{Name: "id", Alias: "id", ObjectDefinition: task},
			&ast.Field{Name: "comment", Alias: "c", ObjectDefinition: task},
		}},
	}
	names := func(fields []graphql.CollectedField) (out []string) {
		for _, f := range fields {
			out = append(out, f.Alias)
		}
		return out
	}
	for _, s := range []bool{false, true} {
		oc := &graphql.OperationContext{Variables: map[string]any{"s": s}}
		var c Collected
		want := []string{"id", "status", "c"}
		if s {
			want = []string{"id", "c"}
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				require.Equal(t, want, names(c.Fields(oc, sel, taskImplementors)))
				require.Equal(t, graphql.CollectFields(oc, sel, taskImplementors), c.Fields(oc, sel, taskImplementors))
			})
		}
		wg.Wait()
		require.Len(t, c.fields, 1, "one selection set and type")
		require.Equal(t, want[:len(want)-1], names(c.Fields(oc, sel, requestImplementors)), "the fragment is ReviewTask's")
		require.Len(t, c.fields, 2)
	}
}

// TestWriteKey: each response name once, in order, separated by commas;
// a name already written is left out with its value.
func TestWriteKey(t *testing.T) {
	t.Parallel()
	fields := []graphql.CollectedField{
		{Field: &ast.Field{Alias: "id"}}, {Field: &ast.Field{Alias: "a"}},
		{Field: &ast.Field{Alias: "id"}}, {Field: &ast.Field{Alias: "b"}},
	}
	// A response's buffer, and another writer.
	for _, w := range []interface {
		io.Writer
		String() string
	}{new(bytes.Buffer), new(strings.Builder)} {
		_, _ = io.WriteString(w, "{")
		for i := range fields {
			if WriteKey(w, fields, i) {
				_, _ = io.WriteString(w, "1")
			}
		}
		_, _ = io.WriteString(w, "}")
		require.Equal(t, `{"id":1,"a":1,"b":1}`, w.String())
	}
}

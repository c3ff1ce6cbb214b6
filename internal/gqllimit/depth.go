// Package gqllimit holds gqlgen handler extensions that refuse GraphQL
// operations too expensive to run, before any resolver runs. server.go
// installs them with handler.Server.Use.
package gqllimit

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/errcode"
)

// DefaultMax is the depth limit when Depth.Max is zero. A deep but
// legitimate Gatehouse query, accessRequests.edges.node.items.stages.tasks.
// reviewer.manager.name, has depth 9.
const DefaultMax = 12

// Depth refuses an operation whose selection depth exceeds Max (DefaultMax
// when zero). Depth counts nested fields: a root field is at depth 1, a field
// in its selection set at 2, and so on; fragment spreads and inline fragments
// add nothing but are followed.
//
// The introspection root fields __schema and __type are not measured: the
// standard introspection query (graphql-js's, which GraphiQL and codegen tools
// send) has depth 15 because its TypeRef fragment nests ofType nine times.
// What makes introspection expensive, nesting __Type's list fields (fields,
// interfaces, possibleTypes, inputFields) in cycles, is already refused by
// gqlparser's MaxIntrospectionDepth rule, which gqlgen's executor runs by
// default; keep that rule if you replace the executor's rules.
//
// A refused operation fails, before anything runs, with a gqlerror whose
// extensions.code is INVALID_INPUT and whose message reads like "query depth
// 14 exceeds the limit of 12".
type Depth struct {
	Max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Depth{}

// ExtensionName names the extension for gqlgen.
func (Depth) ExtensionName() string { return "DepthLimit" }

// Validate refuses a negative limit.
func (d Depth) Validate(graphql.ExecutableSchema) error {
	if d.Max < 0 {
		return fmt.Errorf("gqllimit: depth limit %d is negative", d.Max)
	}
	return nil
}

// MutateOperationContext measures the selected operation and returns an
// INVALID_INPUT error when it is too deep.
func (d Depth) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	limit := d.Max
	if limit == 0 {
		limit = DefaultMax
	}
	if depth := Measure(opCtx.Doc, opCtx.Operation); depth > limit {
		err := gqlerror.Errorf("query depth %d exceeds the limit of %d", depth, limit)
		err.Extensions = map[string]any{"code": string(errcode.InvalidInput)}
		return err
	}
	return nil
}

// Measure returns the depth of op in doc, leaving out the introspection root
// fields __schema and __type. Fragments are resolved from doc; a fragment
// cycle, which validation rejects, counts as empty.
func Measure(doc *ast.QueryDocument, op *ast.OperationDefinition) int {
	m := measurer{frags: doc.Fragments, memo: map[string]int{}, visiting: map[string]bool{}}
	depth := 0
	m.rootFields(op.SelectionSet, func(f *ast.Field) {
		if f.Name != "__schema" && f.Name != "__type" {
			depth = max(depth, 1+m.depth(f.SelectionSet))
		}
	})
	return depth
}

type measurer struct {
	frags    ast.FragmentDefinitionList
	memo     map[string]int // depth of each fragment's selection set
	visiting map[string]bool
}

// rootFields calls fn for each field of set, looking through fragments.
func (m *measurer) rootFields(set ast.SelectionSet, fn func(*ast.Field)) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			fn(s)
		case *ast.InlineFragment:
			m.rootFields(s.SelectionSet, fn)
		case *ast.FragmentSpread:
			if f := m.frags.ForName(s.Name); f != nil && !m.visiting[s.Name] {
				m.visiting[s.Name] = true
				m.rootFields(f.SelectionSet, fn)
				m.visiting[s.Name] = false
			}
		}
	}
}

// depth returns the number of field levels in set.
func (m *measurer) depth(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			deepest = max(deepest, 1+m.depth(s.SelectionSet))
		case *ast.InlineFragment:
			deepest = max(deepest, m.depth(s.SelectionSet))
		case *ast.FragmentSpread:
			deepest = max(deepest, m.fragment(s.Name))
		}
	}
	return deepest
}

// fragment returns the depth of the named fragment's selection set,
// computing it once per operation.
func (m *measurer) fragment(name string) int {
	if d, ok := m.memo[name]; ok {
		return d
	}
	f := m.frags.ForName(name)
	if f == nil || m.visiting[name] {
		return 0
	}
	m.visiting[name] = true
	d := m.depth(f.SelectionSet)
	m.visiting[name] = false
	m.memo[name] = d
	return d
}

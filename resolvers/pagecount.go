package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// totalCountCap bounds the totalCount of the connections over tables that
// grow with use (requests, tasks, audit events): counting every visible
// row costs a scan of all of them, so a page would cost more the more data
// there is. The count stops at totalCountCap rows in the page's filter
// (CountUpTo: one statement, one row back); a totalCount equal to the cap
// means "this many or more".
const totalCountCap = 1000

// pageOnly prepares a connection resolver's call of entgql's Paginate: it
// returns a context whose field selects only the connection's edges, so
// that Paginate does not count the rows (it counts all of them whenever
// pageInfo or totalCount is selected with a page size; pageInfo comes from
// the extra row the page loads anyway), and whether the query selects
// totalCount, which the caller then sets with cappedCount. When pageInfo is
// selected without edges the context is returned as it is (Paginate counts
// to tell whether there is a next page).
func pageOnly(ctx context.Context) (context.Context, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return ctx, false
	}
	fields := graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil)
	var (
		keep                 ast.SelectionSet
		total, info, hasEdge bool
	)
	for _, f := range fields {
		switch f.Name {
		case "totalCount":
			total = true
		case "pageInfo":
			info = true
		default:
			hasEdge = hasEdge || f.Name == "edges"
			keep = append(keep, &ast.Field{
				Alias: f.Alias, Name: f.Name, Arguments: f.Arguments, Directives: f.Directives,
				SelectionSet: f.Selections, Position: f.Position,
				Definition: f.Definition, ObjectDefinition: f.ObjectDefinition,
			})
		}
	}
	if info && !hasEdge {
		return ctx, false
	}
	if !total && !info {
		return ctx, false
	}
	field := *fc.Field.Field
	field.SelectionSet = keep
	narrowed := *fc
	narrowed.Field = graphql.CollectedField{Field: &field, Selections: keep}
	return graphql.WithFieldContext(ctx, &narrowed), total
}

// countingQuery is an ent query that counts its rows up to a bound.
type countingQuery interface {
	CountUpTo(context.Context, int) (int, error)
}

// cappedCount counts the rows of q, narrowed by filter (a where input's
// Filter; nil for none), up to totalCountCap. q must be a clone taken before
// Paginate, which changes its query.
func cappedCount[Q countingQuery](ctx context.Context, q Q, filter func(Q) (Q, error)) (int, error) {
	if filter != nil {
		var err error
		if q, err = filter(q); err != nil {
			return 0, err
		}
	}
	return q.CountUpTo(ctx, totalCountCap)
}

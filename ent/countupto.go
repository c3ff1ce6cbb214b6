package ent

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// countUpTo counts the rows of s (a query's selector, its predicates set)
// up to n with one statement that returns one row,
// SELECT COUNT(*) FROM (SELECT id … LIMIT n): a count bounded by the page's
// cap costs the same however many rows match, and no row travels to be
// counted. The generated CountUpTo methods (ent/template/countupto.tmpl)
// call it through querierCountUpTo, as Count calls sqlCount through
// querierCount.
func countUpTo(ctx context.Context, drv dialect.Driver, s *sql.Selector, id string, n int) (int, error) {
	s.Select(s.C(id)).ClearOrder().Limit(n)
	query, args := sql.Dialect(drv.Dialect()).Select(sql.Count("*")).From(s.As("counted")).Query()
	rows := &sql.Rows{}
	if err := drv.Query(ctx, query, args, rows); err != nil {
		return 0, err
	}
	defer rows.Close()
	return sql.ScanInt(rows)
}

// querierCountUpTo is querierCount for CountUpTo: the query that the
// interceptors pass on, counted up to n.
func querierCountUpTo[Q interface {
	sqlCountUpTo(context.Context, int) (int, error)
}](n int) Querier {
	return QuerierFunc(func(ctx context.Context, q Query) (Value, error) {
		query, ok := q.(Q)
		if !ok {
			return nil, fmt.Errorf("unexpected query type %T", q)
		}
		return query.sqlCountUpTo(ctx, n)
	})
}

package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"sync/atomic"

	"entgo.io/ent/dialect"
)

// Counter counts the SQL statements (Exec and Query, in or out of a
// transaction) sent through the ent drivers it wraps. Beginning, committing
// and rolling back a transaction are not counted. It is safe for concurrent
// use; the zero value is ready.
type Counter struct {
	n atomic.Int64
	// scoped is set once Only has wrapped a handler: from then on only the
	// statements sent for its requests count.
	scoped atomic.Bool
}

type countedKey struct{}

// Only returns h marking the context of each request it serves; once
// called, the counter counts only the statements sent under such a context,
// so that background work on the same client (jobs, periodic sweeps) does
// not change what one operation is seen to cost.
func (c *Counter) Only(h http.Handler) http.Handler {
	c.scoped.Store(true)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(Counting(r.Context())))
	})
}

// Counting returns ctx marked as the context of a served request: the
// statements sent under it count (Counter.Only, StatementLog), for work a
// test calls directly rather than through a handler.
func Counting(ctx context.Context) context.Context {
	return context.WithValue(ctx, countedKey{}, true)
}

func (c *Counter) add(ctx context.Context) {
	if !c.scoped.Load() || ctx.Value(countedKey{}) != nil {
		c.n.Add(1)
	}
}

// Count returns the number of statements since the start or the last Reset.
func (c *Counter) Count() int64 { return c.n.Load() }

// Reset sets the count to zero.
func (c *Counter) Reset() { c.n.Store(0) }

// Wrap returns drv counting its statements. The result keeps what ent's
// generated client asks of a driver: BeginTx (Client.BeginTx) and
// ExecContext/QueryContext (the sql/execquery feature).
func (c *Counter) Wrap(drv dialect.Driver) dialect.Driver {
	return &countingDriver{Driver: drv, c: c}
}

type (
	execContexter interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}
	queryContexter interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
	txBeginner interface {
		BeginTx(context.Context, *sql.TxOptions) (dialect.Tx, error)
	}
)

type countingDriver struct {
	dialect.Driver
	c *Counter
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.c.add(ctx)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.c.add(ctx)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return execContext(ctx, d.Driver, d.c, query, args)
}

func (d *countingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return queryContext(ctx, d.Driver, d.c, query, args)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: d.c}, nil
}

func (d *countingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	b, ok := d.Driver.(txBeginner)
	if !ok {
		return nil, fmt.Errorf("dbtest: %T does not support BeginTx", d.Driver)
	}
	tx, err := b.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, c: d.c}, nil
}

type countingTx struct {
	dialect.Tx
	c *Counter
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.c.add(ctx)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.c.add(ctx)
	return t.Tx.Query(ctx, query, args, v)
}

func (t *countingTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return execContext(ctx, t.Tx, t.c, query, args)
}

func (t *countingTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return queryContext(ctx, t.Tx, t.c, query, args)
}

func execContext(ctx context.Context, x any, c *Counter, query string, args []any) (sql.Result, error) {
	e, ok := x.(execContexter)
	if !ok {
		return nil, fmt.Errorf("dbtest: %T does not support ExecContext", x)
	}
	c.add(ctx)
	return e.ExecContext(ctx, query, args...)
}

func queryContext(ctx context.Context, x any, c *Counter, query string, args []any) (*sql.Rows, error) {
	q, ok := x.(queryContexter)
	if !ok {
		return nil, fmt.Errorf("dbtest: %T does not support QueryContext", x)
	}
	c.add(ctx)
	return q.QueryContext(ctx, query, args...)
}

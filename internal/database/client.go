package database

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"gatehouse/ent"
)

// TxClient returns an ent client over tx, an open transaction on a database
// of the given dialect, whose schema hooks time what they record by now
// (see ent.Clock). The transactions ent opens itself — for multi-statement
// writes, or the audit hook's appends to the system chain — join tx: their
// commit and rollback do nothing, and tx's owner commits or rolls back the
// whole. Domain services that own a state change's *sql.Tx (to enqueue its
// jobs in it too) build their client with it.
func TxClient(tx *sql.Tx, dialectName string, now func() time.Time) *ent.Client {
	return ent.NewClient(ent.Driver(txDriver{entsql.NewDriver(dialectName, entsql.Conn{ExecQuerier: tx})}), ent.Clock(now))
}

// txDriver is an ent driver over an open *sql.Tx.
type txDriver struct{ *entsql.Driver }

// Tx implements dialect.Driver: ent's own transactions join the outer one.
func (d txDriver) Tx(context.Context) (dialect.Tx, error) { return joinedTx(d), nil }

// joinedTx is the outer transaction as ent's own: its statements (Exec,
// Query, and ExecContext/QueryContext for the sql/execquery feature) run in
// it; commit and rollback are its owner's.
type joinedTx struct{ *entsql.Driver }

// Commit implements dialect.Tx; the owner of the transaction commits it.
func (joinedTx) Commit() error { return nil }

// Rollback implements dialect.Tx; the owner of the transaction rolls it
// back.
func (joinedTx) Rollback() error { return nil }

// TxClientThen is TxClient whose entities outlive tx: the statements its
// client and the entities it read or wrote send once Done has been called
// (after tx commits or rolls back) go to pool instead, so that a state
// change can hand back what it wrote without reading it again, and lazy
// edge loads on it still work.
func TxClientThen(tx *sql.Tx, pool *sql.DB, dialectName string, now func() time.Time) (*ent.Client, func()) {
	d := &thenDriver{tx: txDriver{entsql.NewDriver(dialectName, entsql.Conn{ExecQuerier: tx})}, pool: entsql.OpenDB(dialectName, pool)}
	return ent.NewClient(ent.Driver(d), ent.Clock(now)), func() { d.done.Store(true) }
}

// thenDriver runs on a transaction until done, then on the pool.
type thenDriver struct {
	tx   txDriver
	pool *entsql.Driver
	done atomic.Bool
}

func (d *thenDriver) current() dialect.Driver {
	if d.done.Load() {
		return d.pool
	}
	return d.tx
}

func (d *thenDriver) Exec(ctx context.Context, query string, args, v any) error {
	return d.current().Exec(ctx, query, args, v)
}

func (d *thenDriver) Query(ctx context.Context, query string, args, v any) error {
	return d.current().Query(ctx, query, args, v)
}

// ExecContext and QueryContext serve the sql/execquery feature.
func (d *thenDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if d.done.Load() {
		return d.pool.ExecContext(ctx, query, args...)
	}
	return d.tx.ExecContext(ctx, query, args...)
}

func (d *thenDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if d.done.Load() {
		return d.pool.QueryContext(ctx, query, args...)
	}
	return d.tx.QueryContext(ctx, query, args...)
}

func (d *thenDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.current().Tx(ctx) }

func (d *thenDriver) Close() error { return nil }

func (d *thenDriver) Dialect() string { return d.tx.Dialect() }

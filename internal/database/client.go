package database

import (
	"context"
	"database/sql"
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

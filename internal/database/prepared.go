package database

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/lib/pq"
)

// PreparedPerConn is how many prepared statements each PostgreSQL
// connection keeps (the least recently used is closed first).
const PreparedPerConn = 200

// preparing is a driver.Connector giving each PostgreSQL connection a
// cache of prepared statements, keyed by their text. lib/pq sends a
// statement with parameters in two round trips (Parse and Describe, then
// Bind and Execute) and PostgreSQL parses and plans it every time; a
// statement prepared once on the connection takes one round trip (Bind and
// Execute) and PostgreSQL may keep its plan. Statements without parameters
// (BEGIN, COMMIT, DDL) go through lib/pq's simple protocol as before.
type preparing struct {
	*pq.Connector
	size int
}

func (c preparing) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc := &preparedConn{pqConn: cn.(pqConn)}
	pc.stmts, _ = simplelru.NewLRU(c.size, func(_ string, st driver.Stmt) { _ = st.Close() })
	return pc, nil
}

// pqConn is what lib/pq's connection implements and database/sql uses.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// pqStmt is what lib/pq's prepared statement implements.
type pqStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

// pqRows is what lib/pq's rows implement.
type pqRows interface {
	driver.Rows
	driver.RowsNextResultSet
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// errInProgress answers a statement sent while the rows of another are
// still open on the connection (in a transaction); lib/pq checks this for
// its own statements (with these words) but not for prepared ones.
var errInProgress = errors.New("pq: there is already a query being executed")

// preparedConn is a lib/pq connection that prepares each statement with
// parameters once. database/sql uses a connection from one goroutine at a
// time, so its fields need no lock.
type preparedConn struct {
	pqConn
	stmts *simplelru.LRU[string, driver.Stmt]
	open  bool // rows of a prepared statement are open
}

// statement returns the connection's prepared statement for query,
// preparing it the first time, or nil for a statement without arguments,
// which goes by lib/pq's simple protocol.
func (c *preparedConn) statement(ctx context.Context, query string, args []driver.NamedValue) (pqStmt, error) {
	if c.open {
		return nil, errInProgress
	}
	if len(args) == 0 {
		return nil, nil
	}
	if st, ok := c.stmts.Get(query); ok {
		return st.(pqStmt), nil
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts.Add(query, st)
	return st.(pqStmt), nil
}

func (c *preparedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.statement(ctx, query, args)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return c.pqConn.QueryContext(ctx, query, args)
	}
	rows, err := st.QueryContext(ctx, args)
	if err != nil {
		c.forget(query, err)
		return nil, err
	}
	c.open = true
	return &preparedRows{pqRows: rows.(pqRows), conn: c}, nil
}

func (c *preparedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.statement(ctx, query, args)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return c.pqConn.ExecContext(ctx, query, args)
	}
	res, err := st.ExecContext(ctx, args)
	if err != nil {
		c.forget(query, err)
	}
	return res, err
}

// forget drops the statement of query when PostgreSQL no longer accepts
// it: its result type changed under it (a migration altered a table), or
// the session lost it. It is prepared again at its next use.
func (c *preparedConn) forget(query string, err error) {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && (pqErr.Code == "0A000" || pqErr.Code == "26000") {
		c.stmts.Remove(query)
	}
}

// preparedRows marks the connection free when they are closed.
type preparedRows struct {
	pqRows
	conn *preparedConn
}

func (r *preparedRows) Close() error {
	r.conn.open = false
	return r.pqRows.Close()
}

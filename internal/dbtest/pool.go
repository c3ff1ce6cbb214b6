package dbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"gatehouse/internal/database"
)

// StatementLog counts and lists every statement sent on the pool of a DB
// returned by Counted — ent's, River's and raw SQL, in a transaction or not
// — when the statement's context comes from a request served by a
// Counter.Only handler. So it sees the whole cost of one operation, the
// transaction that the workflow opens on the pool included, and nothing of
// background work or of seeding. Beginning, committing and rolling back are
// not counted. It is safe for concurrent use.
type StatementLog struct {
	mu    sync.Mutex
	stmts []string
}

// Count returns the number of statements since the start or the last Reset.
func (l *StatementLog) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.stmts)
}

// Statements returns the statements since the start or the last Reset, in
// the order they were sent, whitespace collapsed.
func (l *StatementLog) Statements() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.stmts...)
}

// Reset forgets the statements seen so far.
func (l *StatementLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts = nil
}

func (l *StatementLog) add(ctx context.Context, query string) {
	if ctx.Value(countedKey{}) == nil {
		return
	}
	q := strings.Join(strings.Fields(query), " ")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts = append(l.stmts, q)
}

// Counted returns db with a pool of its own on the same database whose
// statements l logs (see StatementLog), closed when the test ends.
func Counted(t testing.TB, db *DB, l *StatementLog) *DB {
	t.Helper()
	c, err := connector(db)
	if err != nil {
		t.Fatalf("dbtest: open connector: %v", err)
	}
	pool := sql.OpenDB(&logConnector{Connector: c, l: l})
	pool.SetMaxOpenConns(db.SQL.Stats().MaxOpenConnections)
	pool.SetMaxIdleConns(db.SQL.Stats().MaxOpenConnections)
	t.Cleanup(func() { pool.Close() })
	out := *db
	out.SQL = pool
	return &out
}

// connector connects to db's database as its pool does: on PostgreSQL with
// the server's connector (statements prepared once per connection).
func connector(db *DB) (driver.Connector, error) {
	if db.Dialect == dialect.Postgres {
		return database.PostgresConnector(db.DSN)
	}
	if dc, ok := db.SQL.Driver().(driver.DriverContext); ok {
		return dc.OpenConnector(db.DSN)
	}
	return dsnConnector{drv: db.SQL.Driver(), dsn: db.DSN}, nil
}

// dsnConnector opens connections of a driver that has no connector.
type dsnConnector struct {
	drv driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

type logConnector struct {
	driver.Connector
	l *StatementLog
}

func (c *logConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &logConn{Conn: conn, l: c.l}, nil
}

// logConn logs the statements of a driver connection and passes on every
// optional interface database/sql looks for.
type logConn struct {
	driver.Conn
	l *StatementLog
}

var (
	_ driver.ConnBeginTx        = (*logConn)(nil)
	_ driver.ConnPrepareContext = (*logConn)(nil)
	_ driver.ExecerContext      = (*logConn)(nil)
	_ driver.QueryerContext     = (*logConn)(nil)
	_ driver.Pinger             = (*logConn)(nil)
	_ driver.SessionResetter    = (*logConn)(nil)
	_ driver.Validator          = (*logConn)(nil)
	_ driver.NamedValueChecker  = (*logConn)(nil)
)

func (c *logConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return c.Conn.Begin() //nolint:staticcheck // the driver offers nothing else
}

func (c *logConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		s   driver.Stmt
		err error
	)
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &logStmt{Stmt: s, l: c.l, query: query}, nil
}

func (c *logConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	res, err := e.ExecContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.l.add(ctx, query)
	}
	return res, err
}

func (c *logConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	rows, err := q.QueryContext(ctx, query, args)
	if !errors.Is(err, driver.ErrSkip) {
		c.l.add(ctx, query)
	}
	return rows, err
}

func (c *logConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *logConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *logConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *logConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// logStmt logs the executions of a prepared statement.
type logStmt struct {
	driver.Stmt
	l     *StatementLog
	query string
}

var (
	_ driver.StmtExecContext   = (*logStmt)(nil)
	_ driver.StmtQueryContext  = (*logStmt)(nil)
	_ driver.NamedValueChecker = (*logStmt)(nil)
)

func (s *logStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.l.add(ctx, s.query)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck // the driver offers nothing else
}

func (s *logStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.l.add(ctx, s.query)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(vals) //nolint:staticcheck // the driver offers nothing else
}

func (s *logStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, fmt.Errorf("dbtest: named argument %s on a driver without context methods", a.Name)
		}
		out[i] = a.Value
	}
	return out, nil
}

// Package database opens Gatehouse's database — PostgreSQL through lib/pq
// when a postgres:// URL is given, else the embedded SQLite file — and
// migrates it: the ent schema (versioned migration files on PostgreSQL,
// ent's auto-migration on SQLite), the audit triggers, then River's job
// tables; TxClient is the ent client of a state change's transaction.
package database

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/lib/pq"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers driver "sqlite"

	"gatehouse/ent/migrate"
)

// SQLiteDSN is the DSN of the SQLite file at path (DESIGN §9): foreign keys,
// a busy timeout, WAL, and IMMEDIATE transactions, without which concurrent
// writers fail with "database is locked".
func SQLiteDSN(path string) string {
	return "file:" + path +
		"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
}

// OpenSQLite opens the SQLite file at path (creating it when missing) with a
// pool of 8 connections. It never uses a single connection: code that
// queries outside an open transaction would deadlock on it (DESIGN §9).
func OpenSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", SQLiteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return db, nil
}

// PostgresConns is the size of the PostgreSQL connection pool, open and
// idle alike.
const PostgresConns = 20

// PostgresConnector connects to the PostgreSQL database of a lib/pq DSN or
// URL with connections that prepare each statement with parameters once
// (prepared.go).
func PostgresConnector(dsn string) (driver.Connector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return preparing{Connector: c, size: PreparedPerConn}, nil
}

// PostgresDB returns a pool of PostgresConnector's connections. It
// connects to nothing yet.
func PostgresDB(dsn string) (*sql.DB, error) {
	c, err := PostgresConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// OpenPostgres opens and pings the PostgreSQL database of a postgres:// URL.
// Errors name the host and database but never the password.
func OpenPostgres(ctx context.Context, rawURL string) (*sql.DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, errors.New("DATABASE_URL must be a postgres://user@host:port/database URL")
	}
	where := u.Host + u.Path
	db, err := PostgresDB(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres %s: %w", where, err)
	}
	// Idle = open: under a steady load every connection is reused rather
	// than closed and opened again (a new PostgreSQL session costs a
	// process fork); ConnMaxIdleTime returns them once the load goes.
	db.SetMaxOpenConns(PostgresConns)
	db.SetMaxIdleConns(PostgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres %s is not reachable: %s", where, firstLine(err))
	}
	return db, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// tablesMu serialises migrations within the process: ent's migration writes
// to the generated, package-level migrate.Tables.
var tablesMu sync.Mutex

// The generated names of foreign keys and indexes, which ent's migration
// shortens in place to the dialect's limit (63 characters on PostgreSQL, 64
// on SQLite). A process that migrates both (the tests) would otherwise
// shorten a shortened name again and name a PostgreSQL constraint unlike
// the migration files.
var fkSymbols, indexNames = func() (map[*schema.ForeignKey]string, map[*schema.Index]string) {
	fks, idx := map[*schema.ForeignKey]string{}, map[*schema.Index]string{}
	for _, t := range migrate.Tables {
		for _, fk := range t.ForeignKeys {
			fks[fk] = fk.Symbol
		}
		for _, i := range t.Indexes {
			idx[i] = i.Name
		}
	}
	return fks, idx
}()

// resetSymbols gives the foreign keys and indexes their generated names
// again, before an ent migration shortens them; tablesMu is held.
func resetSymbols() {
	for fk, s := range fkSymbols {
		fk.Symbol = s
	}
	for i, n := range indexNames {
		i.Name = n
	}
}

// Migrate brings the database up to date: the ent schema — on PostgreSQL by
// applying the pending versioned migration files (see migratePostgres), on
// SQLite by ent's auto-migration — then the triggers that make the audit
// tables append-only, then River's tables (River versions its own
// migrations). It is idempotent. dialectName is dialect.SQLite or
// dialect.Postgres.
func Migrate(ctx context.Context, db *sql.DB, dialectName string) error {
	if dialectName == dialect.Postgres {
		return migratePostgres(ctx, db)
	}
	return AutoMigrate(ctx, db, dialectName)
}

// AutoMigrate is the migration of releases before versioned migrations, kept
// for SQLite and for tests that compare the two: ent's auto-migration, the
// audit triggers and River's tables.
func AutoMigrate(ctx context.Context, db *sql.DB, dialectName string) error {
	if err := autoMigrate(ctx, db, dialectName); err != nil {
		return fmt.Errorf("migrate ent schema: %w", err)
	}
	if dialectName == dialect.SQLite {
		if err := sqliteDataMigrations(ctx, db); err != nil {
			return fmt.Errorf("migrate data: %w", err)
		}
	}
	if err := auditTriggers(ctx, db, dialectName); err != nil {
		return fmt.Errorf("migrate audit triggers: %w", err)
	}
	if err := migrateRiver(ctx, db, dialectName); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// sqliteDataFiles are the migration files that change data rather than the
// schema, written in SQL that SQLite runs too. SQLite keeps no revisions, so
// each must be idempotent; AutoMigrate runs them on SQLite every time.
var sqliteDataFiles = []string{"20261204014500_item_effective_end.sql"}

func sqliteDataMigrations(ctx context.Context, db *sql.DB) error {
	for _, name := range sqliteDataFiles {
		b, err := migrationFiles.ReadFile("migrations/" + name)
		if err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// autoMigrate is ent's auto-migration to the ent schema: it creates what is
// missing and changes nothing it would have to drop.
func autoMigrate(ctx context.Context, db *sql.DB, dialectName string) error {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	resetSymbols()
	return migrate.NewSchema(entsql.OpenDB(dialectName, db)).Create(ctx, migrate.WithForeignKeys(true))
}

// DroppedRiverIndexes are River's GIN indexes of every job's arguments and
// metadata. Nothing here searches jobs by them (the one query by an argument,
// a fulfilment job by item, reads `args ->> 'item_id'`, which a GIN index
// of jsonb does not serve), yet PostgreSQL updates them on each job's
// insert and on each of its state changes (fetched, completed), with one
// entry per key and value of the arguments: about half the WAL a decision's
// jobs write. migrateRiver drops them on PostgreSQL after River's
// migrations (no later River migration touches them; SQLite never had
// them), and the job runner leaves them out of River's periodic reindexing.
var DroppedRiverIndexes = []string{"river_job_args_index", "river_job_metadata_index"}

func migrateRiver(ctx context.Context, db *sql.DB, dialectName string) error {
	if dialectName == dialect.SQLite {
		m, err := rivermigrate.New(riversqlite.New(db), nil)
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	m, err := rivermigrate.New(riverdatabasesql.New(db), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	// CONCURRENTLY, one index a statement: replicas already running go on
	// inserting and working jobs meanwhile.
	for _, name := range DroppedRiverIndexes {
		if _, err := db.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
	}
	return nil
}

// SchemaFingerprint identifies the ent schema this binary migrates to:
// tables, columns, indexes and foreign keys, and the migration files.
// Test harnesses use it to know whether a migrated template database is
// current.
func SchemaFingerprint() string {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	h := sha256.New()
	put := func(v ...any) { fmt.Fprintln(h, v...) }
	sum, _ := migrationFiles.ReadFile("migrations/atlas.sum")
	put("migrations", string(sum))
	for _, t := range migrate.Tables {
		put("table", t.Name)
		for _, c := range t.Columns {
			put("column", c.Name, c.Type, c.Size, c.Nullable, c.Unique, c.Default, c.SchemaType)
		}
		for _, i := range t.Indexes {
			put("index", i.Name, i.Unique, columnNames(i.Columns))
		}
		for _, fk := range t.ForeignKeys {
			put("fk", fk.Symbol, columnNames(fk.Columns), fk.RefTable.Name, columnNames(fk.RefColumns), fk.OnDelete)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func columnNames(cols []*schema.Column) []string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names
}

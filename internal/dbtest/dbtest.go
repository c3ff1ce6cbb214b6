// Package dbtest is the database harness of Gatehouse's test suites. Each runs
// a test once on SQLite (always) and once on PostgreSQL (when the environment
// variable TEST_DATABASE_URL holds a postgres:// URL), each time against a
// fresh database migrated with Migrate:
//
//   - SQLite: a new file in t.TempDir(), opened with the production DSN
//     (WAL, busy_timeout, foreign keys, IMMEDIATE transactions). It is a copy
//     of a file migrated once per test process.
//   - PostgreSQL: a template database named after the URL's database plus
//     "_tpl" is migrated once per test process (under pg_advisory_lock, so
//     concurrent `go test` package processes agree) the way production is —
//     database.Migrate applies the versioned migration files — then every
//     test gets its own CREATE DATABASE … TEMPLATE clone, dropped WITH
//     (FORCE) in t.Cleanup. NewEmptyPostgres gives an empty database instead,
//     for tests of the migrations.
//
// Counter counts the SQL statements an ent driver sends, for tests that bound
// the number of queries. Migrate and OpenSQLite are also meant for the server.
package dbtest

import (
	"database/sql"
	"os"
	"testing"
)

// EnvPostgresURL names the environment variable that enables the PostgreSQL
// runs, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresURL = "TEST_DATABASE_URL"

// DB is one test's own migrated database.
type DB struct {
	// Name is "sqlite" or "postgres"; it is also the subtest's name.
	Name string
	// Dialect is the entgo.io/ent/dialect name: dialect.SQLite or dialect.Postgres.
	Dialect string
	// SQL is the open pool; the harness closes it when the test ends.
	SQL *sql.DB
	// DSN opens the same database again with driver Name ("sqlite" or "postgres").
	DSN string
}

// Each runs fn as the parallel subtest "sqlite", and, when TEST_DATABASE_URL
// is set, as the parallel subtest "postgres", each with a database of its own.
func Each(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, NewSQLite(t))
	})
	if os.Getenv(EnvPostgresURL) == "" {
		return
	}
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, NewPostgres(t))
	})
}

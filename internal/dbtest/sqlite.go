package dbtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"gatehouse/internal/database"
)

// NewSQLite returns a migrated SQLite database in a new file under t.TempDir(),
// closed when the test ends. The file is a copy of one migrated once per test
// process (like the PostgreSQL template): migrations are serialised, and
// copying is about 100 times faster than migrating.
func NewSQLite(t testing.TB) *DB {
	t.Helper()
	image, err := sqliteImage()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	if err := os.WriteFile(path, image, 0o600); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	db, err := database.OpenSQLite(path)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &DB{Name: "sqlite", Dialect: dialect.SQLite, SQL: db, DSN: database.SQLiteDSN(path)}
}

// sqliteImage is the content of a migrated SQLite database file, made once
// per test process in a temporary directory that it then removes.
var sqliteImage = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "gatehouse-dbtest-")
	if err != nil {
		return nil, fmt.Errorf("sqlite template: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	db, err := database.OpenSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite template: %w", err)
	}
	err = database.Migrate(context.Background(), db, dialect.SQLite)
	if err == nil {
		// Move everything from the WAL into the main file, which is copied.
		_, err = db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite template: %w", err)
	}
	return os.ReadFile(path)
})

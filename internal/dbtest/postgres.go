package dbtest

import (
	"gatehouse/internal/database"

	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq" // registers driver "postgres"
)

// pgServer is the PostgreSQL server of TEST_DATABASE_URL as this test process
// sees it: a pool on the URL's database and the migrated template database.
type pgServer struct {
	url   *url.URL
	admin *sql.DB // lives as long as the test process
	tpl   string  // template database, "<db>_tpl"
	lock  int64   // advisory lock key: exclusive to migrate tpl, shared to clone it
	seq   atomic.Int64
}

// pgShared is set up once per test process, on first use.
var pgShared = sync.OnceValues(func() (*pgServer, error) {
	return setupPostgres(os.Getenv(EnvPostgresURL))
})

// NewPostgres returns a new PostgreSQL database cloned from the migrated
// template, dropped when the test ends. It skips the test when
// TEST_DATABASE_URL is unset.
func NewPostgres(t testing.TB) *DB {
	t.Helper()
	return newPostgres(t, func(ctx context.Context, srv *pgServer, name string) error { return srv.clone(ctx, name) })
}

// NewEmptyPostgres returns a new, empty PostgreSQL database (not migrated),
// dropped when the test ends, for tests of the migrations themselves. It
// skips the test when TEST_DATABASE_URL is unset.
func NewEmptyPostgres(t testing.TB) *DB {
	t.Helper()
	return newPostgres(t, func(ctx context.Context, srv *pgServer, name string) error {
		if _, err := srv.admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE template0"); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		return nil
	})
}

func newPostgres(t testing.TB, create func(ctx context.Context, srv *pgServer, name string) error) *DB {
	t.Helper()
	if os.Getenv(EnvPostgresURL) == "" {
		t.Skipf("dbtest: %s is not set", EnvPostgresURL)
	}
	srv, err := pgShared()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	name := fmt.Sprintf("%s_%d_%d", srv.tpl, os.Getpid(), srv.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := create(ctx, srv, name); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := srv.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	dsn := withDatabase(srv.url, name)
	db, err := database.PostgresDB(dsn)
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", name, err)
	}
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)           // as the server's pool: idle = open
	t.Cleanup(func() { db.Close() }) // runs before the drop
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("dbtest: open %s: %v", name, err)
	}
	return &DB{Name: "postgres", Dialect: dialect.Postgres, SQL: db, DSN: dsn}
}

// setupPostgres connects to rawURL and brings the template database up to
// date. Concurrent test processes serialise on an advisory lock: the first
// creates the template, each re-runs the (idempotent) migration on it. A
// template migrated from another ent schema is dropped and made again.
func setupPostgres(rawURL string) (*pgServer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL", EnvPostgresURL)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if dbName == "" {
		return nil, fmt.Errorf("%s names no database", EnvPostgresURL)
	}
	srv := &pgServer{url: u, tpl: truncate(dbName, 40) + "_tpl"}
	h := fnv.New64a()
	h.Write([]byte("gatehouse/dbtest:" + srv.tpl))
	srv.lock = int64(h.Sum64())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv.admin, err = sql.Open("postgres", rawURL)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", EnvPostgresURL, err)
	}
	srv.admin.SetMaxOpenConns(4)
	if err := srv.migrateTemplate(ctx); err != nil {
		srv.admin.Close()
		return nil, err
	}
	return srv, nil
}

// migrateTemplate creates or updates the template under the exclusive lock
// and closes every connection it opened to it, so that it can be cloned.
func (s *pgServer) migrateTemplate(ctx context.Context) error {
	return s.locked(ctx, "pg_advisory_lock", "pg_advisory_unlock", func(conn *sql.Conn) error {
		want := "gatehouse/dbtest " + database.SchemaFingerprint()
		var have sql.NullString
		err := conn.QueryRowContext(ctx,
			"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", s.tpl).Scan(&have)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("look up template %s: %w", s.tpl, err)
		}
		tpl := pq.QuoteIdentifier(s.tpl)
		if exists && have.String != want {
			if _, err := conn.ExecContext(ctx, "DROP DATABASE "+tpl+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("drop stale template %s: %w", s.tpl, err)
			}
			exists = false
		}
		if !exists {
			if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+tpl); err != nil {
				return fmt.Errorf("create template %s: %w", s.tpl, err)
			}
		}
		db, err := sql.Open("postgres", withDatabase(s.url, s.tpl))
		if err != nil {
			return fmt.Errorf("open template %s: %w", s.tpl, err)
		}
		err = database.Migrate(ctx, db, dialect.Postgres)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("template %s: %w", s.tpl, err)
		}
		// Only a completed migration records its fingerprint: a half-made
		// template is made again by the next process.
		if _, err := conn.ExecContext(ctx, "COMMENT ON DATABASE "+tpl+" IS "+pq.QuoteLiteral(want)); err != nil {
			return fmt.Errorf("mark template %s: %w", s.tpl, err)
		}
		return nil
	})
}

// clone creates database name from the template under the shared lock, so
// that no process migrates (connects to) the template meanwhile.
func (s *pgServer) clone(ctx context.Context, name string) error {
	return s.locked(ctx, "pg_advisory_lock_shared", "pg_advisory_unlock_shared", func(conn *sql.Conn) error {
		q := "CREATE DATABASE " + pq.QuoteIdentifier(name) + " TEMPLATE " + pq.QuoteIdentifier(s.tpl)
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("clone %s: %w", s.tpl, err)
		}
		return nil
	})
}

// locked runs fn on one connection holding the session advisory lock taken by
// the function lockFn and released by unlockFn. A connection whose unlock
// failed is discarded, which releases the lock.
func (s *pgServer) locked(ctx context.Context, lockFn, unlockFn string, fn func(*sql.Conn) error) error {
	conn, err := s.admin.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvPostgresURL, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT "+lockFn+"($1)", s.lock); err != nil {
		return fmt.Errorf("%s: %w", lockFn, err)
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, "SELECT "+unlockFn+"($1)", s.lock); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(conn)
}

// withDatabase returns u with its path set to database name.
func withDatabase(u *url.URL, name string) string {
	v := *u
	v.Path = "/" + name
	v.RawPath = ""
	return v.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// undoAfterBaseline removes from a database that the current
// auto-migration made what the migration files after the baseline add,
// leaving the schema of the last release before versioned migrations. A
// new migration file that adds to the schema adds its undo here.
const undoAfterBaseline = `
DROP INDEX accessrequest_submitted_at_id, accessrequest_created_at_id, accessrequest_updated_at_id, accessrequest_completed_at_id;
DROP INDEX reviewtask_reviewer_id_status_created_at_id;
CREATE INDEX reviewtask_reviewer_id_status ON review_tasks (reviewer_id, status);
DROP TABLE sod_conflict_set_entitlements;
DROP TABLE sod_acceptances;
DROP TABLE sod_conflict_sets;
ALTER TABLE request_items DROP COLUMN sod_conflicts;
ALTER TABLE request_policies DROP COLUMN break_glass_allowed, DROP COLUMN break_glass_max_duration;
ALTER TABLE request_items DROP COLUMN emergency_review;
ALTER TABLE access_requests DROP COLUMN emergency_reason;
ALTER TABLE users DROP COLUMN start_date;
DROP TABLE policy_rules;
DROP TABLE review_policies;
ALTER TABLE request_policies DROP COLUMN review_policy_id;
ALTER TABLE request_items DROP COLUMN policy_rule_id, DROP COLUMN policy_rule_name, DROP COLUMN policy_rule_version;
ALTER TABLE entitlements DROP COLUMN labels;
ALTER TABLE review_stages DROP COLUMN resolution, DROP COLUMN fallback_reviewer_ids;
DROP TABLE request_policies;
DROP INDEX reviewtask_status_updated_at;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
ALTER TABLE request_items DROP COLUMN reason;
DROP TABLE notifications;
DROP TABLE notification_preferences;
DROP TABLE lifecycle_policies;
ALTER TABLE review_tasks DROP COLUMN reminders, DROP COLUMN reminded_at, DROP COLUMN escalations;
ALTER TABLE grants DROP COLUMN end_warned_at;
ALTER TABLE access_requests DROP COLUMN extends_grant_id;
`

// NewLegacyPostgres returns a PostgreSQL database as the last release before
// versioned migrations left it: made by the auto-migration, with no
// revisions. seed, when not nil, writes its data first, through the current
// schema. The database is dropped when the test ends; the test is skipped
// when TEST_DATABASE_URL is unset.
func NewLegacyPostgres(t testing.TB, seed func(db *DB)) *DB {
	t.Helper()
	db := NewEmptyPostgres(t)
	ctx := context.Background()
	if err := database.AutoMigrate(ctx, db.SQL, dialect.Postgres); err != nil {
		t.Fatalf("auto-migrate: %v", err)
	}
	if seed != nil {
		seed(db)
	}
	if _, err := db.SQL.ExecContext(ctx, undoAfterBaseline); err != nil {
		t.Fatalf("undo the files after the baseline: %v", err)
	}
	return db
}

package database

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	atlasschema "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "gatehouse/ent/migrate"
)

// The PostgreSQL schema is built by the versioned migration files in
// migrations/: SQL written by PlanMigration from the ent schema (ent's Atlas
// integration), with atlas.sum guarding them against edits. New files are
// written with `go run ./cmd/migrationdiff`.
//
//go:embed migrations
var migrationFiles embed.FS

// RevisionsTable records the migration files applied to a PostgreSQL
// database, in the layout of Atlas's revisions table.
const RevisionsTable = "atlas_schema_revisions"

// MigrationDir returns the embedded migration files as an Atlas directory.
// Each call returns a new copy, which the caller may change.
func MigrationDir() (*migrate.MemDir, error) {
	dir := &migrate.MemDir{}
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if n := e.Name(); !strings.HasSuffix(n, ".sql") && n != migrate.HashFileName {
			continue
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// migrationLock is the key of the session advisory lock under which a
// PostgreSQL database is migrated, so that replicas starting together
// migrate it once.
const migrationLock = `hashtext('gatehouse:migrate')`

// MigrationStatus is where a PostgreSQL database stands against the
// migration files of this build.
type MigrationStatus struct {
	// Current is the version of the last file applied ("" for none).
	Current string
	// Pending are the names of the files not applied yet, in order.
	Pending []string
	// Legacy reports a database made by the auto-migration of a release
	// before versioned migrations (ent tables but no revisions): Migrate
	// baselines it.
	Legacy bool
}

// PostgresStatus reads the revisions of db and compares them with the
// migration files. It changes nothing.
func PostgresStatus(ctx context.Context, db *sql.DB) (MigrationStatus, error) {
	var st MigrationStatus
	dir, err := MigrationDir()
	if err != nil {
		return st, err
	}
	if err := migrate.Validate(dir); err != nil {
		return st, fmt.Errorf("migration files: %w", err)
	}
	var hasRevisions, hasUsers bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`,
		RevisionsTable, entmigrate.UsersTable.Name).Scan(&hasRevisions, &hasUsers); err != nil {
		return st, fmt.Errorf("read revisions: %w", err)
	}
	applied := map[string]bool{}
	if hasRevisions {
		revs, err := (&revisions{q: db}).ReadRevisions(ctx)
		if err != nil {
			return st, err
		}
		for _, r := range revs {
			if r.Applied == r.Total || r.Type.Has(migrate.RevisionTypeBaseline) {
				applied[r.Version] = true
				st.Current = r.Version
			}
		}
	}
	st.Legacy = len(applied) == 0 && hasUsers
	files, err := dir.Files()
	if err != nil {
		return st, err
	}
	for _, f := range files {
		if !applied[f.Version()] && (st.Current == "" || f.Version() > st.Current) {
			st.Pending = append(st.Pending, f.Name())
		}
	}
	return st, nil
}

// migratePostgres migrates db under a session advisory lock (so that
// replicas starting together migrate it once): it applies the pending
// migration files, each in its own transaction with its revision, then the
// audit triggers and River's migrations. A legacy database (made by the
// auto-migration of a release before versioned migrations) is brought to the
// schema of the first file (see toBaseline), marked as being at its version
// (a baseline revision), and then migrated by the files after it.
func migratePostgres(ctx context.Context, db *sql.DB) error {
	dir, err := MigrationDir()
	if err != nil {
		return err
	}
	if err := migrate.Validate(dir); err != nil {
		return fmt.Errorf("migration files: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+migrationLock+`)`); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+migrationLock+`)`) //nolint:errcheck // closing the session releases it too
	if _, err := conn.ExecContext(ctx, revisionsDDL); err != nil {
		return fmt.Errorf("create %s: %w", RevisionsTable, err)
	}
	st, err := PostgresStatus(ctx, db)
	if err != nil {
		return err
	}
	var opts []migrate.ExecutorOption
	switch {
	case st.Legacy:
		files, err := dir.Files()
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return errors.New("baseline: no migration files")
		}
		if err := toBaseline(ctx, conn, files[0]); err != nil {
			return fmt.Errorf("baseline a database of a release before versioned migrations: %w", err)
		}
		opts = append(opts, migrate.WithBaselineVersion(files[0].Version()))
	case st.Current == "":
		// A database without our tables: anything else in it (another
		// application's tables) is not ours to refuse.
		opts = append(opts, migrate.WithAllowDirty(true))
	}
	for {
		done, err := applyNext(ctx, conn, dir, opts)
		if err != nil {
			return err
		}
		if done {
			break
		}
		opts = nil // the first revision is written
	}
	if err := auditTriggers(ctx, db, dialect.Postgres); err != nil {
		return fmt.Errorf("migrate audit triggers: %w", err)
	}
	if err := migrateRiver(ctx, db, dialect.Postgres); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// baselineSchema is the scratch schema in which toBaseline replays the
// first migration file, in a transaction it rolls back.
const baselineSchema = "gatehouse_baseline"

// toBaseline gives a legacy database the schema of the first migration file
// (the baseline: the schema the last auto-migrating release made). It
// replays the file in a scratch schema of the same database, inside a
// transaction it rolls back, compares that with the database's schema, and
// adds what the database lacks (tables, columns, indexes, foreign keys — what
// the auto-migration of an older release had not made yet). It drops
// nothing, and refuses any other difference (a changed column type, say),
// naming it, rather than guess.
func toBaseline(ctx context.Context, conn *sql.Conn, baseline migrate.File) error {
	want, err := replay(ctx, conn, baseline)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	drv, err := postgres.Open(tx)
	if err != nil {
		return err
	}
	have, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	want.Name = have.Name
	changes, err := drv.SchemaDiff(have, want)
	if err != nil {
		return fmt.Errorf("compare with the baseline: %w", err)
	}
	var add []atlasschema.Change
	for _, c := range changes {
		switch c := c.(type) {
		case *atlasschema.DropTable, *atlasschema.DropObject:
			// Another owner's (River's, the revisions') or an old one: kept.
		case *atlasschema.AddTable:
			add = append(add, c)
		case *atlasschema.ModifyTable:
			m := &atlasschema.ModifyTable{T: c.T}
			for _, tc := range c.Changes {
				switch tc.(type) {
				case *atlasschema.AddColumn, *atlasschema.AddIndex, *atlasschema.AddForeignKey:
					m.Changes = append(m.Changes, tc)
				case *atlasschema.DropColumn, *atlasschema.DropIndex, *atlasschema.DropForeignKey:
				default:
					return fmt.Errorf("table %s differs from the baseline (%T); migrate it with the release before versioned migrations first", c.T.Name, tc)
				}
			}
			if len(m.Changes) > 0 {
				add = append(add, m)
			}
		default:
			return fmt.Errorf("the schema differs from the baseline (%T); migrate it with the release before versioned migrations first", c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := drv.ApplyChanges(ctx, add); err != nil {
		return fmt.Errorf("add what the baseline has: %w", err)
	}
	return tx.Commit()
}

// replay returns the schema that the migration file f makes, replayed in
// the scratch schema inside a transaction that it rolls back.
func replay(ctx context.Context, conn *sql.Conn, f migrate.File) (*atlasschema.Schema, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // always rolled back
	stmts, err := f.Stmts()
	if err != nil {
		return nil, err
	}
	stmts = append([]string{`CREATE SCHEMA ` + baselineSchema, `SET LOCAL search_path TO ` + baselineSchema}, stmts...)
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return nil, fmt.Errorf("replay %s: %w", f.Name(), err)
		}
	}
	drv, err := postgres.Open(tx)
	if err != nil {
		return nil, err
	}
	s, err := drv.InspectSchema(ctx, baselineSchema, nil)
	if err != nil {
		return nil, fmt.Errorf("inspect the baseline: %w", err)
	}
	return s, nil
}

// applyNext applies the next pending file in a transaction of its own,
// reporting done when none was pending.
func applyNext(ctx context.Context, conn *sql.Conn, dir migrate.Dir, opts []migrate.ExecutorOption) (done bool, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	drv, err := postgres.Open(tx)
	if err != nil {
		return false, err
	}
	ex, err := migrate.NewExecutor(drv, dir, &revisions{q: tx}, opts...)
	if err != nil {
		return false, err
	}
	err = ex.ExecuteN(ctx, 1)
	if errors.Is(err, migrate.ErrNoPendingFiles) {
		// A baseline revision may have been written.
		return true, tx.Commit()
	}
	if err != nil {
		return false, fmt.Errorf("apply migration: %w", err)
	}
	return false, tx.Commit()
}

// revisionsDDL creates the revisions table in the layout of Atlas's own.
const revisionsDDL = `CREATE TABLE IF NOT EXISTS ` + RevisionsTable + ` (
  version varchar NOT NULL PRIMARY KEY,
  description varchar NOT NULL,
  type bigint NOT NULL DEFAULT 2,
  applied bigint NOT NULL DEFAULT 0,
  total bigint NOT NULL DEFAULT 0,
  executed_at timestamptz NOT NULL,
  execution_time bigint NOT NULL,
  error text NULL,
  error_stmt text NULL,
  hash varchar NOT NULL,
  partial_hashes jsonb NULL,
  operator_version varchar NOT NULL
)`

// revisions is Atlas's RevisionReadWriter over the revisions table.
type revisions struct {
	q interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
}

var _ migrate.RevisionReadWriter = (*revisions)(nil)

// Ident implements migrate.RevisionReadWriter.
func (*revisions) Ident() *migrate.TableIdent { return &migrate.TableIdent{Name: RevisionsTable} }

const revisionColumns = `version, description, type, applied, total, executed_at, execution_time,
  coalesce(error, ''), coalesce(error_stmt, ''), hash, coalesce(partial_hashes, '[]'), operator_version`

// ReadRevisions implements migrate.RevisionReadWriter.
func (r *revisions) ReadRevisions(ctx context.Context) ([]*migrate.Revision, error) {
	return r.read(ctx, `SELECT `+revisionColumns+` FROM `+RevisionsTable+` ORDER BY version`)
}

// ReadRevision implements migrate.RevisionReadWriter.
func (r *revisions) ReadRevision(ctx context.Context, version string) (*migrate.Revision, error) {
	revs, err := r.read(ctx, `SELECT `+revisionColumns+` FROM `+RevisionsTable+` WHERE version = $1`, version)
	if err != nil {
		return nil, err
	}
	if len(revs) == 0 {
		return nil, migrate.ErrRevisionNotExist
	}
	return revs[0], nil
}

func (r *revisions) read(ctx context.Context, query string, args ...any) ([]*migrate.Revision, error) {
	rows, err := r.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	defer rows.Close()
	var revs []*migrate.Revision
	for rows.Next() {
		var (
			rev    migrate.Revision
			took   int64
			hashes []byte
		)
		if err := rows.Scan(&rev.Version, &rev.Description, &rev.Type, &rev.Applied, &rev.Total, &rev.ExecutedAt,
			&took, &rev.Error, &rev.ErrorStmt, &rev.Hash, &hashes, &rev.OperatorVersion); err != nil {
			return nil, fmt.Errorf("read revisions: %w", err)
		}
		rev.ExecutionTime = time.Duration(took)
		if err := json.Unmarshal(hashes, &rev.PartialHashes); err != nil {
			return nil, fmt.Errorf("read revisions: %w", err)
		}
		revs = append(revs, &rev)
	}
	return revs, rows.Err()
}

// WriteRevision implements migrate.RevisionReadWriter.
func (r *revisions) WriteRevision(ctx context.Context, rev *migrate.Revision) error {
	hashes, err := json.Marshal(rev.PartialHashes)
	if err != nil {
		return err
	}
	_, err = r.q.ExecContext(ctx, `INSERT INTO `+RevisionsTable+` (version, description, type, applied, total,
  executed_at, execution_time, error, error_stmt, hash, partial_hashes, operator_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), $10, $11, $12)
ON CONFLICT (version) DO UPDATE SET description = $2, type = $3, applied = $4, total = $5, executed_at = $6,
  execution_time = $7, error = nullif($8, ''), error_stmt = nullif($9, ''), hash = $10, partial_hashes = $11,
  operator_version = $12`,
		rev.Version, rev.Description, rev.Type, rev.Applied, rev.Total, rev.ExecutedAt.UTC(),
		int64(rev.ExecutionTime), rev.Error, rev.ErrorStmt, rev.Hash, hashes, rev.OperatorVersion)
	return err
}

// DeleteRevision implements migrate.RevisionReadWriter.
func (r *revisions) DeleteRevision(ctx context.Context, version string) error {
	_, err := r.q.ExecContext(ctx, `DELETE FROM `+RevisionsTable+` WHERE version = $1`, version)
	return err
}

// PlanMigration plans the migration file that takes a database migrated by
// the files of dir to the ent schema of tables, and writes it into dir (with
// the new atlas.sum) under name. dev must be an empty PostgreSQL database:
// the files are replayed on it, and the result compared with tables. It
// returns the new file's name, or "" when the files already give the ent
// schema. The drift check and cmd/migrationdiff use it; tables is
// ent/migrate.Tables but for tests that check a changed schema.
func PlanMigration(ctx context.Context, dev *sql.DB, dir migrate.Dir, name string, tables []*schema.Table) (string, error) {
	before, err := dir.Files()
	if err != nil {
		return "", err
	}
	m, err := schema.NewMigrate(entsql.OpenDB(dialect.Postgres, dev),
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(migrate.DefaultFormatter),
		schema.WithForeignKeys(true),
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
	if err != nil {
		return "", err
	}
	tablesMu.Lock()
	resetSymbols()
	err = m.NamedDiff(ctx, name, tables...)
	tablesMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("plan migration: %w", err)
	}
	after, err := dir.Files()
	if err != nil {
		return "", err
	}
	for _, f := range after {
		if !slices.ContainsFunc(before, func(b migrate.File) bool { return b.Name() == f.Name() }) {
			return f.Name(), nil
		}
	}
	return "", nil
}

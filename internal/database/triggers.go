package database

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"

	"gatehouse/ent/migrate"
)

// AuditTables are the append-only tables of the audit trail (DESIGN §4.5).
var AuditTables = []string{migrate.AuditEventsTable.Name, migrate.AuditCheckpointsTable.Name}

// auditTriggers makes the audit tables append-only in the database itself,
// beside the ent hooks: on PostgreSQL a row trigger refuses UPDATE and
// DELETE and a statement trigger refuses TRUNCATE; on SQLite (which has no
// TRUNCATE; DELETE without WHERE runs the delete trigger once triggers
// exist) triggers refuse UPDATE and DELETE. Refusals raise an error whose
// message says "append-only". It is idempotent; on PostgreSQL concurrent
// migrations serialise on an advisory lock.
func auditTriggers(ctx context.Context, db *sql.DB, dialectName string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var stmts []string
	switch dialectName {
	case dialect.Postgres:
		stmts = append(stmts,
			`SELECT pg_advisory_xact_lock(hashtext('gatehouse:audit-triggers'))`,
			`CREATE OR REPLACE FUNCTION gatehouse_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$`)
		for _, t := range AuditTables {
			stmts = append(stmts,
				fmt.Sprintf(`CREATE OR REPLACE TRIGGER %[1]s_append_only BEFORE UPDATE OR DELETE ON %[1]s
FOR EACH ROW EXECUTE FUNCTION gatehouse_audit_append_only()`, t),
				fmt.Sprintf(`CREATE OR REPLACE TRIGGER %[1]s_no_truncate BEFORE TRUNCATE ON %[1]s
FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_audit_append_only()`, t))
		}
	case dialect.SQLite:
		for _, t := range AuditTables {
			for _, op := range []string{"UPDATE", "DELETE"} {
				stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER IF NOT EXISTS %[1]s_no_%[2]s BEFORE %[3]s ON %[1]s
BEGIN SELECT RAISE(ABORT, 'audit table %[1]s is append-only: %[3]s refused'); END`, t, strings.ToLower(op), op))
			}
		}
	default:
		return fmt.Errorf("unsupported dialect %q", dialectName)
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit()
}

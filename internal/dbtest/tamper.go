package dbtest

import (
	"testing"

	"entgo.io/ent/dialect"
)

// DisableAuditTriggers lets a tamper test change its own database's audit
// tables, which triggers otherwise keep append-only: on PostgreSQL it
// disables their user triggers (the tests connect as a superuser that owns
// the tables); SQLite has no such switch, so the triggers are dropped.
func (db *DB) DisableAuditTriggers(t testing.TB) {
	t.Helper()
	tables := []string{"audit_events", "audit_checkpoints"}
	if db.Dialect == dialect.Postgres {
		for _, table := range tables {
			if _, err := db.SQL.Exec("ALTER TABLE " + table + " DISABLE TRIGGER USER"); err != nil {
				t.Fatalf("dbtest: disable triggers of %s: %v", table, err)
			}
		}
		return
	}
	rows, err := db.SQL.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('audit_events', 'audit_checkpoints')`)
	if err != nil {
		t.Fatalf("dbtest: list triggers: %v", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("dbtest: list triggers: %v", err)
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		t.Fatalf("dbtest: list triggers: %v", err)
	}
	if len(names) == 0 {
		t.Fatalf("dbtest: no audit triggers to drop")
	}
	for _, n := range names {
		if _, err := db.SQL.Exec(`DROP TRIGGER "` + n + `"`); err != nil {
			t.Fatalf("dbtest: drop trigger %s: %v", n, err)
		}
	}
}

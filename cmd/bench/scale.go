package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/lib/pq"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
)

// The tables -scale multiplies, parents first, and the ID prefixes of the
// rows they hold. Every other table (users, applications, entitlements,
// jobs, the system audit chain) stays as the seed left it.
var scaledTables = []struct {
	table, where string
}{
	{"access_requests", ""},
	{"request_items", ""},
	{"review_stages", ""},
	{"review_tasks", ""},
	// A request's audit chain is named by its ID; the system chain is not
	// copied. Copies keep the original hashes: the chains of copies do not
	// verify, and nothing the read benchmark runs verifies them.
	{"audit_events", `"chain" LIKE 'req\_%'`},
}

var scaledPrefixes = []string{"req", "itm", "stg", "tsk", "aud"}

// crockford is the ULID alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// maxScale bounds -scale: a copy's ID replaces the ULID's first two
// characters (the top 10 bits of its millisecond timestamp, 0–255; today's
// IDs start with "01") by the copy number plus one.
const maxScale = 254

// copyCode returns the two ULID characters that start the IDs of copy k
// (k ≥ 1): base-32 of k+1, so every copy sorts after the seeded rows, and
// copy k before copy k+1.
func copyCode(k int) string {
	v := k + 1
	return string([]byte{crockford[v/32], crockford[v%32]})
}

// scaleUp makes factor-1 copies of the seeded requests with everything that
// hangs off them (items, stages, tasks, the requests' audit chains), with
// new IDs, in plain INSERT … SELECT statements. A copy's ID is the
// original's with the first two characters of its ULID replaced (copyCode),
// so IDs keep the prefix_ULID form the code expects, are deterministic given
// the seed, and the seeded rows stay first in ID order: the nested query's
// first page reads the same rows at every scale. References to copied rows
// (request_id, item_id, stage_id, an audit event's chain) are rewritten the
// same way; references to anything else (users, entitlements) are kept.
func scaleUp(ctx context.Context, db *sql.DB, factor int) error {
	if factor <= 1 {
		return nil
	}
	if factor > maxScale {
		return fmt.Errorf("-scale is at most %d", maxScale)
	}
	codes := make([]string, 0, factor-1)
	for k := 1; k < factor; k++ {
		codes = append(codes, fmt.Sprintf("('%s')", copyCode(k)))
	}
	for _, t := range scaledTables {
		cols, err := tableColumns(ctx, db, t.table)
		if err != nil {
			return err
		}
		exprs := make([]string, len(cols))
		names := make([]string, len(cols))
		for i, c := range cols {
			q := pq.QuoteIdentifier(c.name)
			names[i] = q
			exprs[i] = "t." + q
			if c.text && (c.name == "id" || c.name == "chain" || strings.HasSuffix(c.name, "_id")) {
				exprs[i] = remapID("t."+q, "c.code")
			}
		}
		where := ""
		if t.where != "" {
			where = " WHERE " + t.where
		}
		// Ten copies per statement keeps each statement's memory modest.
		for lo := 0; lo < len(codes); lo += 10 {
			hi := min(lo+10, len(codes))
			table := pq.QuoteIdentifier(t.table)
			stmt := fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM (SELECT * FROM %s%s) t CROSS JOIN (VALUES %s) AS c(code)`,
				table, strings.Join(names, ", "), strings.Join(exprs, ", "),
				table, seededOnly(where), strings.Join(codes[lo:hi], ", "))
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("scale %s: %w", t.table, err)
			}
		}
	}
	// As autovacuum would leave a table that size: statistics, and the
	// visibility map that index-only scans need.
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return fmt.Errorf("scale: vacuum: %w", err)
	}
	return nil
}

// seededOnly narrows a copy to the seeded rows (IDs starting "01" after the
// prefix), so copies are never copied again.
func seededOnly(where string) string {
	cond := `substr(split_part("id", '_', 2), 1, 2) = '01'`
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

// remapID is the SQL for the copy of an ID column: IDs of copied tables get
// the copy's code, anything else (NULL, usr_…, ent_…, "system") is kept.
func remapID(col, code string) string {
	prefixes := make([]string, len(scaledPrefixes))
	for i, p := range scaledPrefixes {
		prefixes[i] = "'" + p + "'"
	}
	return fmt.Sprintf(`CASE WHEN split_part(%[1]s, '_', 1) IN (%[3]s) THEN split_part(%[1]s, '_', 1) || '_' || %[2]s || substr(split_part(%[1]s, '_', 2), 3) ELSE %[1]s END`,
		col, code, strings.Join(prefixes, ", "))
}

type column struct {
	name string
	text bool
}

func tableColumns(ctx context.Context, db *sql.DB, table string) ([]column, error) {
	rows, err := db.QueryContext(ctx, `SELECT column_name, data_type IN ('character varying', 'text')
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.text); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 && rows.Err() == nil {
		return nil, fmt.Errorf("table %s has no columns", table)
	}
	return out, rows.Err()
}

// loadDataSet finds the data set an earlier run seeded (-reuse): the users,
// the submit application's entitlements and the row counts.
func loadDataSet(ctx context.Context, db *sql.DB) (*dataSet, error) {
	ds := &dataSet{}
	var auditor string
	if err := db.QueryRowContext(ctx, `SELECT id FROM users WHERE email = 'auditor@bench.example'`).Scan(&auditor); err != nil {
		return nil, fmt.Errorf("reuse: no seeded data set: %w", err)
	}
	ds.auditor = &ent.User{ID: pulid.ID(auditor)}
	ids, err := queryIDs(ctx, db, `SELECT id FROM users WHERE email LIKE 'member-%@bench.example' ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("reuse: members: %w", err)
	}
	for _, id := range ids {
		ds.members = append(ds.members, &ent.User{ID: id})
	}
	if len(ds.members) != members {
		return nil, fmt.Errorf("reuse: %d members, want %d", len(ds.members), members)
	}
	if ds.submit, err = queryIDs(ctx, db, `SELECT e.id FROM entitlements e JOIN applications a ON a.id = e.application_id
		WHERE a.name = 'tickets' ORDER BY e.external_id`); err != nil {
		return nil, fmt.Errorf("reuse: entitlements: %w", err)
	}
	if _, err := ds.count(ctx, db); err != nil {
		return nil, fmt.Errorf("reuse: %w", err)
	}
	return ds, nil
}

// queryIDs returns the IDs query selects, in its order.
func queryIDs(ctx context.Context, db *sql.DB, query string) ([]pulid.ID, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pulid.ID
	for rows.Next() {
		var id pulid.ID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

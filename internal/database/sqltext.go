package database

import (
	"fmt"
	"strings"

	"entgo.io/ent/dialect"
)

// Bind numbers the ? placeholders of a hand-written query for PostgreSQL
// ($1, $2, …); SQLite takes the query as it is. The query must hold no other
// question mark.
func Bind(dialectName, query string) string {
	if dialectName != dialect.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Placeholders returns n comma-separated ? for an IN list, or NULL (which
// matches nothing) for none.
func Placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

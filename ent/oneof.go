package ent

import (
	"database/sql/driver"
	"strings"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
)

// OneOf is the predicate "column is one of values" of s. On PostgreSQL it
// is column = ANY($n) with the values as one text array argument, whatever
// their number; elsewhere column IN (…), one argument per value, as
// sql.InValues writes it. A page's eager loading (the generated load<Edge>
// methods, through the query template's change in entc.go) names hundreds of
// parents: as an IN list each of them was boxed three times on its way to
// the driver, encoded alone and numbered into the statement's text, which
// then differed with every page size.
func OneOf[T ~string](s *sql.Selector, column string, values []T) *sql.Predicate {
	if s.Dialect() == dialect.Postgres {
		return sql.P(func(b *sql.Builder) {
			b.Ident(column).WriteString(" = ANY(").Arg(textArray[T](values)).WriteByte(')')
		})
	}
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = string(v)
	}
	return sql.In(column, args...)
}

// textArray is a PostgreSQL text array argument in its text form
// ({"a","b"}), written into one buffer of the size it needs (lib/pq's
// StringArray grows its buffer from a guess and copies it twice more).
type textArray[T ~string] []T

// Value implements driver.Valuer.
func (a textArray[T]) Value() (driver.Value, error) {
	n := 2 + max(len(a)-1, 0)
	for _, s := range a {
		n += 2 + len(s) + strings.Count(string(s), `"`) + strings.Count(string(s), `\`)
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, s := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for j := range len(s) {
			if s[j] == '"' || s[j] == '\\' {
				b = append(b, '\\')
			}
			b = append(b, s[j])
		}
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

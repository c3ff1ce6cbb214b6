package authz

import (
	"strconv"
	"strings"
	"sync"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"gatehouse/ent/accessrequest"
	"gatehouse/ent/predicate"
	"gatehouse/ent/schema/pulid"
)

// sqlOnce is a row filter of access requests for one user whose SQL is
// built once per dialect and then written as text with the user's ID and
// the filter's constants as arguments. ent's builder writes a filter anew
// for every statement, each nested EXISTS into a string of its own that is
// copied into its parent's: VisibleRequest's four relations, applied to
// every read of a USER and to the lock of every decision, cost a decision
// some 30 KB of its 170 and a tenth of its CPU (BENCHMARKS.md).
//
// The text is the one ent writes for build (sqlOnce's tests compare the
// statements), so the filter stays defined once, by build; a selector whose
// table is not access_requests under its own name (an alias), or a build
// whose text cannot be taken apart, gets build's predicate as before.
type sqlOnce struct {
	build   func(userID pulid.ID) predicate.AccessRequest
	dialect sync.Map // dialect name → *sqlText, nil when compile could not take it apart
}

// sqlText is a filter's WHERE text cut at its arguments: chunks[i] comes
// before args[i], the last chunk after the last argument.
type sqlText struct {
	id     string // the requests' id column as the text names it
	chunks []string
	args   []any // placeholder where the user's ID goes
}

// placeholder is the user's ID the text is built with, one no user has (IDs
// never hold a NUL byte).
const placeholder = pulid.ID("\x00user")

// where returns the filter for userID.
func (o *sqlOnce) where(userID pulid.ID) predicate.AccessRequest {
	return func(s *sql.Selector) {
		t := o.text(s.Dialect())
		if t == nil || s.C(accessrequest.FieldID) != t.id {
			o.build(userID)(s)
			return
		}
		s.Where(sql.P(func(b *sql.Builder) { t.write(b, userID) }))
	}
}

// text returns the filter's text in the named dialect, building it the
// first time.
func (o *sqlOnce) text(name string) *sqlText {
	if t, ok := o.dialect.Load(name); ok {
		return t.(*sqlText)
	}
	t := compile(name, o.build(placeholder))
	o.dialect.Store(name, t)
	return t
}

// compile builds filter on a selector of access_requests and cuts its text
// at the arguments, which ent writes in order: PostgreSQL's $1, $2, … or the
// other dialects' ?. It returns nil when the text has a placeholder sign
// that is not the next argument, or fewer arguments than ent passes.
func compile(name string, filter predicate.AccessRequest) *sqlText {
	s := sql.Dialect(name).Select(accessrequest.FieldID).From(sql.Table(accessrequest.Table))
	filter(s)
	p := s.P()
	if p == nil {
		return nil
	}
	p.SetDialect(name)
	query, args := p.Query()
	t := &sqlText{id: s.C(accessrequest.FieldID), args: args}
	sign := byte('?')
	if name == dialect.Postgres {
		sign = '$'
	}
	for {
		i := strings.IndexByte(query, sign)
		if i < 0 {
			break
		}
		end := i + 1
		if sign == '$' {
			n := strconv.Itoa(len(t.chunks) + 1)
			end += len(n)
			if !strings.HasPrefix(query[i+1:], n) || end < len(query) && '0' <= query[end] && query[end] <= '9' {
				return nil
			}
		}
		t.chunks = append(t.chunks, query[:i])
		query = query[end:]
	}
	if len(t.chunks) != len(args) {
		return nil
	}
	t.chunks = append(t.chunks, query)
	return t
}

// write writes the filter for userID, in parentheses (it is one predicate
// among those ANDed into the WHERE clause).
func (t *sqlText) write(b *sql.Builder, userID pulid.ID) {
	b.WriteByte('(')
	for i, a := range t.args {
		b.WriteString(t.chunks[i])
		if a == any(placeholder) {
			a = userID
		}
		b.Arg(a)
	}
	b.WriteString(t.chunks[len(t.args)])
	b.WriteByte(')')
}

package authz

import (
	"strconv"
	"sync"

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
	dialect sync.Map // dialect → *sqlText, or errUncompiled
}

// sqlText is a filter's WHERE text cut at its arguments: chunks[i] comes
// before args[i], the last chunk after the last argument.
type sqlText struct {
	id     string // the requests' id column as the text names it
	chunks []string
	args   []any // userSlot where the user's ID goes
}

// userSlot marks the argument that is the user's ID; placeholder is the ID
// the text is built with, one no user has (IDs never hold a NUL byte).
type userSlotT struct{}

var (
	userSlot    = userSlotT{}
	placeholder = pulid.ID("\x00user")
)

// uncompiled is stored for a dialect whose text could not be taken apart.
var uncompiled = &sqlText{}

// where returns the filter for userID.
func (o *sqlOnce) where(userID pulid.ID) predicate.AccessRequest {
	return func(s *sql.Selector) {
		t := o.text(s.Dialect())
		if t == uncompiled || s.C(accessrequest.FieldID) != t.id {
			o.build(userID)(s)
			return
		}
		s.Where(sql.P(func(b *sql.Builder) { t.write(b, userID) }))
	}
}

// text returns the filter's text in dialect, building it the first time.
func (o *sqlOnce) text(dialect string) *sqlText {
	if t, ok := o.dialect.Load(dialect); ok {
		return t.(*sqlText)
	}
	t := compile(dialect, o.build(placeholder))
	o.dialect.Store(dialect, t)
	return t
}

// compile builds filter on a selector of access_requests and cuts its text
// at the arguments: PostgreSQL's $n (taking the n-th argument, each once) or
// the other dialects' ? (in order). It returns uncompiled when the text has
// a placeholder sign that is not an argument or an argument not in the text.
func compile(dialect string, filter predicate.AccessRequest) *sqlText {
	s := sql.Dialect(dialect).Select(accessrequest.FieldID).From(sql.Table(accessrequest.Table))
	filter(s)
	p := s.P()
	if p == nil {
		return uncompiled
	}
	p.SetDialect(dialect)
	query, args := p.Query()
	t := &sqlText{id: s.C(accessrequest.FieldID), args: make([]any, 0, len(args))}
	used := make([]bool, len(args))
	start := 0
	for i := 0; i < len(query); i++ {
		var n int
		switch {
		case dialect == "postgres" && query[i] == '$':
			j := i + 1
			for j < len(query) && query[j] >= '0' && query[j] <= '9' {
				j++
			}
			k, err := strconv.Atoi(query[i+1 : j])
			if err != nil || k < 1 || k > len(args) || used[k-1] {
				return uncompiled
			}
			n = k - 1
			t.chunks = append(t.chunks, query[start:i])
			start, i = j, j-1
		case dialect != "postgres" && query[i] == '?':
			n = len(t.args)
			if n >= len(args) {
				return uncompiled
			}
			t.chunks = append(t.chunks, query[start:i])
			start = i + 1
		default:
			continue
		}
		used[n] = true
		a := args[n]
		if id, ok := a.(pulid.ID); ok && id == placeholder {
			a = userSlot
		}
		t.args = append(t.args, a)
	}
	if len(t.args) != len(args) {
		return uncompiled
	}
	t.chunks = append(t.chunks, query[start:])
	return t
}

// write writes the filter for userID, in parentheses (it is one predicate
// among those ANDed into the WHERE clause).
func (t *sqlText) write(b *sql.Builder, userID pulid.ID) {
	b.WriteByte('(')
	for i, a := range t.args {
		b.WriteString(t.chunks[i])
		if a == userSlot {
			a = userID
		}
		b.Arg(a)
	}
	b.WriteString(t.chunks[len(t.args)])
	b.WriteByte(')')
}

package authz

import (
	"testing"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent/accessrequest"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
)

// statementShapes are the statements VisibleRequest is written into: as the
// decision's lock writes it after another filter, alone, under an edge of a
// task, under two edges of a stage, and on an aliased table.
func statementShapes(dialectName string, filter predicate.AccessRequest) map[string]*sql.Selector {
	d := sql.Dialect(dialectName)
	requests := func() *sql.Selector {
		return d.Select(accessrequest.FieldID, accessrequest.FieldStatus).From(d.Table(accessrequest.Table))
	}
	lock := requests()
	accessrequest.HasTasksWith(reviewtask.IDIn("tsk_1", "tsk_2"))(lock)
	filter(lock)
	alone := requests()
	filter(alone)
	task := d.Select(reviewtask.FieldID).From(d.Table(reviewtask.Table))
	reviewtask.StatusEQ(enum.TaskStatusPending)(task)
	reviewtask.HasRequestWith(filter)(task)
	stage := d.Select(reviewstage.FieldID).From(d.Table(reviewstage.Table))
	reviewstage.HasItemWith(requestitem.HasRequestWith(filter))(stage)
	aliased := d.Select("*").From(d.Table(accessrequest.Table).As("r"))
	filter(aliased)
	return map[string]*sql.Selector{"lock": lock, "alone": alone, "task": task, "stage": stage, "aliased": aliased}
}

// TestVisibleRequestWritesEntsText: the filter written from its text once
// built gives the statement ent builds from the relations, with the filter
// in parentheses (it may be ANDed with filters added after it), the user's
// ID where ent puts it and the same arguments, on both dialects; on an
// aliased table, whose column names differ from the text's, it is ent's
// statement exactly.
func TestVisibleRequestWritesEntsText(t *testing.T) {
	t.Parallel()
	for _, name := range []string{dialect.Postgres, dialect.SQLite} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := &sqlOnce{build: related}
			for _, user := range []pulid.ID{"usr_1", "usr_2"} {
				// ent's statement with related's predicate put in parentheses.
				want := statementShapes(name, func(s *sql.Selector) {
					if s.C(accessrequest.FieldID) != sql.Dialect(name).Table(accessrequest.Table).C(accessrequest.FieldID) {
						related(user)(s)
						return
					}
					alone := sql.Dialect(name).Select().From(sql.Dialect(name).Table(accessrequest.Table))
					related(user)(alone)
					s.Where(sql.P(func(b *sql.Builder) { b.Wrap(func(b *sql.Builder) { b.Join(alone.P()) }) }))
				})
				got := statementShapes(name, o.where(user))
				require.NotNil(t, o.text(name))
				for shape, w := range want {
					wq, wargs := w.Query()
					gq, gargs := got[shape].Query()
					require.Equal(t, wq, gq, shape)
					require.Equal(t, wargs, gargs, shape)
					require.Contains(t, gargs, user, shape)
				}
			}
		})
	}
}

// TestCompileRefusesWhatItCannotTakeApart: a filter whose text holds a
// placeholder sign that is not an argument is built by ent every time.
func TestCompileRefusesWhatItCannotTakeApart(t *testing.T) {
	t.Parallel()
	odd := func(pulid.ID) predicate.AccessRequest {
		return func(s *sql.Selector) { s.Where(sql.ExprP(`"access_requests"."status" <> '$1?'`)) }
	}
	for _, name := range []string{dialect.Postgres, dialect.SQLite} {
		require.Nil(t, compile(name, odd(placeholder)), name)
		s := sql.Dialect(name).Select().From(sql.Dialect(name).Table(accessrequest.Table))
		(&sqlOnce{build: odd}).where("usr_1")(s)
		q, args := s.Query()
		require.Contains(t, q, `<> '$1?'`, name)
		require.Empty(t, args, name)
	}
	none := func(pulid.ID) predicate.AccessRequest { return func(*sql.Selector) {} }
	require.Nil(t, compile(dialect.Postgres, none(placeholder)))
}

// BenchmarkVisibleRequestStatement builds the decision's lock statement
// with the filter built by ent and written from its text.
func BenchmarkVisibleRequestStatement(b *testing.B) {
	for _, c := range []struct {
		name   string
		filter func(pulid.ID) predicate.AccessRequest
	}{{"ent", related}, {"text", visibleRequests.where}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := sql.Dialect(dialect.Postgres).Select(accessrequest.Columns...).From(sql.Table(accessrequest.Table))
				accessrequest.HasTasksWith(reviewtask.IDIn("tsk_1"))(s)
				c.filter("usr_01JD3W2K6Q8N4V5T2M9X0Y7Z1A")(s)
				s.ForUpdate()
				s.Query()
			}
		})
	}
}

package gqllimit

import (
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// saturated caps the counts of a fragment spread many times, so that a
// fan-out of fragments (each spreading the next twice) cannot overflow.
const saturated = 1 << 40

func sat(a, b int) int { return min(a+b, saturated) }

// counts is what a selection set selects.
type counts struct {
	flat       int // fields it adds to its own selection set, through fragments
	fields     int // fields at every level, fragments expanded
	aliases    int
	directives int
	depth      int // levels of fields
	// opDepth is depth as an operation's root measures it: the
	// introspection fields __schema and __type at the top of this set add
	// none (gqlparser bounds their nesting).
	opDepth int
}

func (c *counts) add(o counts) {
	c.flat = sat(c.flat, o.flat)
	c.fields = sat(c.fields, o.fields)
	c.aliases = sat(c.aliases, o.aliases)
	c.directives = sat(c.directives, o.directives)
	c.depth = max(c.depth, o.depth)
	c.opDepth = max(c.opDepth, o.opDepth)
}

// fragmentState is the memo of one fragment definition.
type fragmentState struct {
	def      *ast.FragmentDefinition
	visiting bool // on the current path: a cycle, which validation refuses
	done     bool
	counts   counts
}

// walker checks one document. Every selection set and every fragment
// definition is walked once; a spread adds the fragment's memoised counts.
type walker struct {
	l     Limits
	doc   *ast.QueryDocument
	frags map[string]*fragmentState

	inputFields int
	uses        map[string]argument // variable → the argument it fills
	path        inputPath
}

func newWalker(l Limits, doc *ast.QueryDocument) *walker {
	w := &walker{l: l, doc: doc, frags: make(map[string]*fragmentState, len(doc.Fragments)), uses: map[string]argument{}}
	for _, f := range doc.Fragments {
		if _, dup := w.frags[f.Name]; !dup {
			w.frags[f.Name] = &fragmentState{def: f}
		}
	}
	return w
}

// document checks every operation and fragment definition of the document
// (validation looks at all of them, used or not).
func (w *walker) document() *gqlerror.Error {
	var total counts
	for _, op := range w.doc.Operations {
		for _, v := range op.VariableDefinitions {
			if v.DefaultValue != nil {
				w.path = append(w.path[:0], "$"+v.Variable)
				if err := w.value(v.DefaultValue, argument{}, 0); err != nil {
					return err
				}
			}
		}
		if err := w.directives(op.Directives, "operation"); err != nil {
			return err
		}
		c, err := w.selectionSet(op.SelectionSet)
		if err != nil {
			return err
		}
		c.directives = sat(c.directives, len(op.Directives))
		total.add(c)
		if err := w.totals(total); err != nil {
			return err
		}
		if total.opDepth > w.l.Depth {
			return refuse("", "query depth %d exceeds the limit of %d", total.opDepth, w.l.Depth)
		}
	}
	for _, f := range w.doc.Fragments {
		if _, err := w.fragment(f.Name); err != nil {
			return err
		}
	}
	return nil
}

// totals refuses counts over the document limits. Depth is checked on
// whole operations only, since the introspection root fields do not count.
func (w *walker) totals(c counts) *gqlerror.Error {
	switch {
	case c.fields > w.l.Fields:
		return refuse("", "the document selects %s fields once fragments are expanded; the limit is %d", count(c.fields), w.l.Fields)
	case c.aliases > w.l.Aliases:
		return refuse("", "the document has %s aliases once fragments are expanded; the limit is %d", count(c.aliases), w.l.Aliases)
	case c.directives > w.l.Directives:
		return refuse("", "the document has %s directives once fragments are expanded; the limit is %d", count(c.directives), w.l.Directives)
	}
	return nil
}

// count prints a saturated count as "more than …".
func count(n int) string {
	if n >= saturated {
		return "more than " + strconv.Itoa(saturated)
	}
	return strconv.Itoa(n)
}

// selectionSet returns the counts of set, refusing as soon as a limit is
// passed.
func (w *walker) selectionSet(set ast.SelectionSet) (counts, *gqlerror.Error) {
	var c counts
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if err := w.arguments(s.Arguments, s.Name); err != nil {
				return c, err
			}
			if err := w.directives(s.Directives, s.Name); err != nil {
				return c, err
			}
			sub, err := w.selectionSet(s.SelectionSet)
			if err != nil {
				return c, err
			}
			f := counts{flat: 1, fields: sat(sub.fields, 1), aliases: sub.aliases,
				directives: sat(sub.directives, len(s.Directives)), depth: sub.depth + 1, opDepth: sub.depth + 1}
			if s.Alias != "" && s.Alias != s.Name {
				f.aliases = sat(f.aliases, 1)
			}
			if s.Name == "__schema" || s.Name == "__type" {
				f.opDepth = 0
			}
			c.add(f)
		case *ast.InlineFragment:
			if err := w.directives(s.Directives, "inline fragment"); err != nil {
				return c, err
			}
			sub, err := w.selectionSet(s.SelectionSet)
			if err != nil {
				return c, err
			}
			sub.directives = sat(sub.directives, len(s.Directives))
			c.add(sub)
		case *ast.FragmentSpread:
			if err := w.directives(s.Directives, "..."+s.Name); err != nil {
				return c, err
			}
			sub, err := w.fragment(s.Name)
			if err != nil {
				return c, err
			}
			sub.directives = sat(sub.directives, len(s.Directives))
			c.add(sub)
		}
		if c.flat > w.l.SelectionFields {
			return c, refuse("", "a selection set has %s fields; the limit is %d", count(max(c.flat, flatFields(set))), w.l.SelectionFields)
		}
		if err := w.totals(c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// flatFields counts the fields written directly in set, for the message.
func flatFields(set ast.SelectionSet) int {
	n := 0
	for _, sel := range set {
		if _, ok := sel.(*ast.Field); ok {
			n++
		}
	}
	return n
}

// fragment returns the memoised counts of the named fragment; an unknown
// fragment or a cycle counts nothing (validation refuses both).
func (w *walker) fragment(name string) (counts, *gqlerror.Error) {
	f := w.frags[name]
	if f == nil || f.visiting {
		return counts{}, nil
	}
	if f.done {
		return f.counts, nil
	}
	f.visiting = true
	c, err := w.selectionSet(f.def.SelectionSet)
	f.visiting = false
	if err != nil {
		return c, err
	}
	if err := w.directives(f.def.Directives, "fragment "+name); err != nil {
		return c, err
	}
	f.done, f.counts = true, c
	return c, nil
}

func (w *walker) arguments(args ast.ArgumentList, field string) *gqlerror.Error {
	for _, a := range args {
		w.path = append(w.path[:0], a.Name)
		if err := w.value(a.Value, argument{name: a.Name, of: field}, 0); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) directives(ds ast.DirectiveList, on string) *gqlerror.Error {
	for _, d := range ds {
		if err := w.arguments(d.Arguments, "@"+d.Name+" on "+on); err != nil {
			return err
		}
	}
	return nil
}

// value checks a literal at w.path, in argument arg (empty for a
// variable's default value); depth counts the enclosing input objects.
func (w *walker) value(v *ast.Value, arg argument, depth int) *gqlerror.Error {
	if v == nil {
		return nil
	}
	switch v.Kind {
	case ast.Variable:
		if _, ok := w.uses[v.Raw]; !ok && arg.name != "" {
			w.uses[v.Raw] = arg
		}
	case ast.StringValue, ast.BlockValue:
		return checkString(w.l, v.Raw, w.path, arg)
	case ast.ListValue:
		if len(v.Children) > w.l.ListLength {
			return refuseAt(w.path, arg, "a list of %d items; the limit is %d", len(v.Children), w.l.ListLength)
		}
		for i, c := range v.Children {
			w.path = append(w.path, "["+strconv.Itoa(i)+"]")
			err := w.value(c.Value, arg, depth)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	case ast.ObjectValue:
		if depth+1 > w.l.InputDepth {
			return refuseAt(w.path[:1], arg, "input objects nested more than %d deep; the limit is %d", w.l.InputDepth, w.l.InputDepth)
		}
		w.inputFields += len(v.Children)
		if w.inputFields > w.l.InputFields {
			return refuseAt(w.path[:1], arg, "the request has more than %d input fields; the limit is %d", w.l.InputFields, w.l.InputFields)
		}
		for _, c := range v.Children {
			w.path = append(w.path, c.Name)
			err := w.value(c.Value, arg, depth+1)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	}
	return nil
}

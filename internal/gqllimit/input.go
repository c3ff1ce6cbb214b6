package gqllimit

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/gqlerror"
)

// argument names the argument an input value fills: its name and the field
// (or directive) that takes it.
type argument struct{ name, of string }

func (a argument) String() string {
	if a.name == "" {
		return ""
	}
	return "argument " + strconv.Quote(a.name) + " of " + a.of
}

// inputPath is where an input value sits: an argument name or a variable
// ($name), then input field names and list indexes ("[3]"). It is kept as a
// stack and joined only for a message.
type inputPath []string

func (p inputPath) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// field returns the input field or argument the path ends in.
func (p inputPath) field(arg argument) string {
	for i := len(p) - 1; i > 0; i-- {
		if !strings.HasPrefix(p[i], "[") {
			return p[i]
		}
	}
	if arg.name != "" {
		return arg.name
	}
	return strings.TrimPrefix(p[0], "$")
}

// refuseAt refuses the input value at path with a message that names it
// and the argument it fills, e.g. `$w.nameContains (argument "where" of
// users): a string of 100000 characters; the limit is 10000`.
func refuseAt(path inputPath, arg argument, format string, args ...any) *gqlerror.Error {
	where := path.String()
	switch {
	case arg.name == "":
	case len(path) == 1 && path[0] == arg.name:
		where = arg.String()
	default:
		where += " (" + arg.String() + ")"
	}
	return refuse(path.field(arg), where+": "+format, args...)
}

// checkString refuses NUL bytes, invalid UTF-8 and strings longer than
// StringLength characters: PostgreSQL refuses the first two in text columns
// with an error, and SQLite's LIKE refuses patterns over 50,000 bytes.
func checkString(l Limits, s string, path inputPath, arg argument) *gqlerror.Error {
	if strings.IndexByte(s, 0) >= 0 {
		return refuseAt(path, arg, "a string must not contain NUL bytes")
	}
	if !utf8.ValidString(s) {
		return refuseAt(path, arg, "a string must be valid UTF-8")
	}
	if len(s) > l.StringLength {
		if n := utf8.RuneCountInString(s); n > l.StringLength {
			return refuseAt(path, arg, "a string of %d characters; the limit is %d", n, l.StringLength)
		}
	}
	return nil
}

// checkVariables walks the request's variables as the JSON decoder left
// them (maps, slices, strings, json.Number, bools, nil) with the input
// limits, counting input fields on top of the document's literals.
func (d *Document) checkVariables(vars map[string]any, c *checked) *gqlerror.Error {
	if len(vars) == 0 {
		return nil
	}
	w := variableWalker{l: d.limits, inputFields: c.inputFields, path: make(inputPath, 0, d.limits.InputDepth+2)}
	for name, value := range vars {
		if err := checkString(d.limits, name, inputPath{"$"}, argument{}); err != nil {
			return err
		}
		w.path = append(w.path[:0], "$"+name)
		if err := w.value(value, c.uses[name], 0); err != nil {
			return err
		}
	}
	return nil
}

type variableWalker struct {
	l           Limits
	inputFields int
	path        inputPath
}

func (w *variableWalker) value(v any, arg argument, depth int) *gqlerror.Error {
	switch v := v.(type) {
	case string:
		return checkString(w.l, v, w.path, arg)
	case json.Number:
		if len(v) > 100 {
			return refuseAt(w.path, arg, "a number of %d characters; the limit is 100", len(v))
		}
	case []any:
		if len(v) > w.l.ListLength {
			return refuseAt(w.path, arg, "a list of %d items; the limit is %d", len(v), w.l.ListLength)
		}
		for i, c := range v {
			switch c.(type) {
			case string, []any, map[string]any, json.Number:
			default:
				continue
			}
			w.path = append(w.path, "["+strconv.Itoa(i)+"]")
			err := w.value(c, arg, depth)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	case map[string]any:
		if depth+1 > w.l.InputDepth {
			return refuseAt(w.path[:1], arg, "input objects nested more than %d deep; the limit is %d", w.l.InputDepth, w.l.InputDepth)
		}
		w.inputFields += len(v)
		if w.inputFields > w.l.InputFields {
			return refuseAt(w.path[:1], arg, "the request has more than %d input fields; the limit is %d", w.l.InputFields, w.l.InputFields)
		}
		for k, c := range v {
			if err := checkString(w.l, k, w.path, arg); err != nil {
				return err
			}
			w.path = append(w.path, k)
			err := w.value(c, arg, depth+1)
			w.path = w.path[:len(w.path)-1]
			if err != nil {
				return err
			}
		}
	}
	return nil
}

package gqllimit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// byName maps the names ParseLimits reads to the fields of l.
func (l *Limits) byName() map[string]*int {
	return map[string]*int{
		"document-bytes":   &l.DocumentBytes,
		"tokens":           &l.Tokens,
		"selection-fields": &l.SelectionFields,
		"fields":           &l.Fields,
		"aliases":          &l.Aliases,
		"directives":       &l.Directives,
		"depth":            &l.Depth,
		"input-depth":      &l.InputDepth,
		"input-fields":     &l.InputFields,
		"list-length":      &l.ListLength,
		"string-length":    &l.StringLength,
		"errors":           &l.Errors,
	}
}

// ParseLimits returns base with the limits that s sets, a comma-separated
// list of name=value pairs such as "aliases=50,list-length=2000". The names
// are document-bytes, tokens, selection-fields, fields, aliases, directives,
// depth, input-depth, input-fields, list-length, string-length and errors;
// each value is a positive integer.
func ParseLimits(s string, base Limits) (Limits, error) {
	fields := base.byName()
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		p, known := fields[name]
		if !known {
			names := make([]string, 0, len(fields))
			for n := range fields {
				names = append(names, n)
			}
			slices.Sort(names)
			return base, fmt.Errorf("unknown query limit %q; the limits are %s", name, strings.Join(names, ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if !ok || err != nil || n < 1 {
			return base, fmt.Errorf("query limit %s=%q is not a positive integer", name, value)
		}
		*p = n
	}
	return base, nil
}

// Package gqllimit holds gqlgen handler extensions that refuse GraphQL
// requests too expensive to run: document and input limits checked before
// parsing and validation, a complexity limit before execution, and a cap on
// the errors of a response. resolvers.NewHandler installs them.
package gqllimit

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"

	"github.com/99designs/gqlgen/graphql"
	gqlcode "github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"

	"gatehouse/internal/errcode"
)

// Limits bound what one GraphQL request may ask of the parser, the
// validator and the resolvers. Document counts are taken after fragment
// expansion: a fragment spread counts what the fragment selects, however
// many times it is spread. A zero field takes its value from DefaultLimits.
type Limits struct {
	// DocumentBytes is the longest document accepted, in bytes (of its
	// JSON text, when it comes in a POST body).
	DocumentBytes int
	// Tokens is the most lexer tokens a document may have; the parser stops
	// at the limit.
	Tokens int
	// SelectionFields is the most fields one selection set may have, the
	// fields of its fragments included. Validation (fields with one response
	// name must merge) is quadratic in it.
	SelectionFields int
	// Fields is the most fields a document may select.
	Fields int
	// Aliases is the most aliased fields a document may select.
	Aliases int
	// Directives is the most directives a document may use.
	Directives int
	// Depth is the most nested fields a selection may have; the
	// introspection root fields __schema and __type are not measured.
	Depth int
	// InputDepth is the most input objects one argument or variable may
	// nest (a filter's not/and/or chains).
	InputDepth int
	// InputFields is the most input object fields all the arguments and
	// variables of one request may hold together (each is a predicate of a
	// filter, and SQLite refuses expressions deeper than 1,000).
	InputFields int
	// ListLength is the most items one input list may have (idIn, ids…);
	// SQLite and PostgreSQL refuse statements with more than 32,766 and
	// 65,535 parameters.
	ListLength int
	// StringLength is the most characters one input string may have;
	// fields with a shorter natural bound check it themselves.
	StringLength int
	// Errors is the most errors one response carries; the rest are counted
	// in a last error.
	Errors int
}

// DefaultLimits are the limits of a production server; README.md says why
// each number.
var DefaultLimits = Limits{
	DocumentBytes:   64 << 10,
	Tokens:          2000,
	SelectionFields: 100,
	Fields:          1500,
	Aliases:         30,
	Directives:      50,
	Depth:           12, // accessRequests.edges.node.items.stages.tasks.reviewer.manager.name is 9
	InputDepth:      10,
	InputFields:     500,
	ListLength:      1000,
	StringLength:    10_000,
	Errors:          20,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	for _, f := range []struct{ v, def *int }{
		{&l.DocumentBytes, &d.DocumentBytes}, {&l.Tokens, &d.Tokens}, {&l.SelectionFields, &d.SelectionFields}, {&l.Fields, &d.Fields},
		{&l.Aliases, &d.Aliases}, {&l.Directives, &d.Directives}, {&l.Depth, &d.Depth},
		{&l.InputDepth, &d.InputDepth}, {&l.InputFields, &d.InputFields}, {&l.ListLength, &d.ListLength},
		{&l.StringLength, &d.StringLength}, {&l.Errors, &d.Errors},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return l
}

// Document refuses, before gqlgen parses and validates a document, a request
// whose document or variables exceed Limits. It parses the document itself
// (with the same token limit), walks it once with memoised fragment counts,
// and walks the variables; documents that passed are remembered by their
// text, so a repeated query costs one cache lookup and the variable walk.
//
// Install it with handler.Server.Use after AutomaticPersistedQuery (which
// fills in the query of a persisted request) and set the server's parser
// token limit to the same Tokens. A refused request gets one gqlerror whose
// extensions.code is INVALID_INPUT, whose extensions.field names the
// argument or input field at fault when there is one, and whose message
// names the limit, e.g. "a selection set has 3500 fields; the limit is 100".
// A document that does not parse gets the parser's error, coded as gqlgen
// codes it.
type Document struct {
	limits Limits
	passed *lru.LRU[*checked]
	seed   maphash.Seed
}

// checked is what a document that passed leaves for the variable walk.
type checked struct {
	inputFields int                 // input object fields in the document's literals
	uses        map[string]argument // variable name → the argument it fills
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*Document)(nil)

// NewDocument returns the extension with the given limits (zero fields take
// DefaultLimits') and a cache of the last cacheSize documents that passed.
func NewDocument(l Limits, cacheSize int) *Document {
	return &Document{limits: l.withDefaults(), passed: lru.New[*checked](max(cacheSize, 1)), seed: maphash.MakeSeed()}
}

// Limits returns the limits in force.
func (d *Document) Limits() Limits { return d.limits }

// ExtensionName names the extension for gqlgen.
func (*Document) ExtensionName() string { return "DocumentLimits" }

// Validate refuses negative limits.
func (d *Document) Validate(graphql.ExecutableSchema) error {
	l := d.limits
	for _, v := range []int{l.DocumentBytes, l.Tokens, l.SelectionFields, l.Fields, l.Aliases, l.Directives, l.Depth,
		l.InputDepth, l.InputFields, l.ListLength, l.StringLength, l.Errors} {
		if v < 0 {
			return fmt.Errorf("gqllimit: negative limit in %+v", l)
		}
	}
	return nil
}

// MutateOperationParameters checks the request's document and variables;
// it changes nothing.
func (d *Document) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	c, err := d.check(ctx, p.Query)
	if err != nil {
		return err
	}
	return d.checkVariables(p.Variables, c)
}

// Check runs the checks of MutateOperationParameters on a document and its
// variables (as decoded from JSON with UseNumber), for callers outside a
// gqlgen server and for fuzzing.
func (d *Document) Check(query string, variables map[string]any) *gqlerror.Error {
	return d.MutateOperationParameters(context.Background(), &graphql.RawParams{Query: query, Variables: variables})
}

func (d *Document) check(ctx context.Context, query string) (*checked, *gqlerror.Error) {
	// The cache keeps a seeded hash of each document, not its text.
	var key [8]byte
	binary.LittleEndian.PutUint64(key[:], maphash.String(d.seed, query))
	if c, ok := d.passed.Get(ctx, string(key[:])); ok {
		return c, nil
	}
	if len(query) > d.limits.DocumentBytes {
		return nil, refuse("", "the document has %d bytes; the limit is %d", len(query), d.limits.DocumentBytes)
	}
	// Counting tokens first costs no syntax tree for a document the parser
	// would give up on at the limit.
	if err := countTokens(query, d.limits.Tokens); err != nil {
		return nil, err
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, d.limits.Tokens)
	if err != nil {
		gqlErr, ok := err.(*gqlerror.Error)
		if !ok {
			gqlErr = gqlerror.Wrap(err)
		}
		gqlcode.Set(gqlErr, gqlcode.ParseFailed)
		return nil, gqlErr
	}
	w := newWalker(d.limits, doc)
	if err := w.document(); err != nil {
		return nil, err
	}
	c := &checked{inputFields: w.inputFields, uses: w.uses}
	d.passed.Add(ctx, string(key[:]), c)
	return c, nil
}

// refuse returns an INVALID_INPUT gqlerror naming field (when not empty).
func refuse(field, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": string(errcode.InvalidInput)}
	if field != "" {
		err.Extensions["field"] = field
	}
	return err
}

// countTokens refuses a document with more than limit tokens. Lexer errors
// are left to the parser, which reports them with their position.
func countTokens(query string, limit int) *gqlerror.Error {
	lex := lexer.New(&ast.Source{Input: query})
	for n := 0; ; n++ {
		tok, err := lex.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return nil
		}
		if n >= limit {
			return refuse("", "the document has more than %d tokens; the limit is %d", limit, limit)
		}
	}
}

package gqllimit

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"gatehouse/internal/errcode"
)

// droppedKey is the extension of the error that stands for dropped errors;
// its value is how many.
const droppedKey = "dropped"

// dropped returns the error standing for n dropped errors.
func dropped(err *gqlerror.Error, n int) {
	err.Message = fmt.Sprintf("%d more errors were dropped", n)
	if n == 1 {
		err.Message = "1 more error was dropped"
	}
	if err.Extensions == nil {
		err.Extensions = map[string]any{}
	}
	err.Extensions["code"] = string(errcode.InvalidInput)
	err.Extensions[droppedKey] = n
}

// ValidationRules returns a constructor of gqlparser's default validation
// rules whose errors stop at max: further errors are never built, and one
// last error counts them. Pass it to handler.Server.SetValidationRulesFn, so
// that a document with thousands of conflicting fields costs thousands of
// comparisons but not thousands of messages. (gqlgen swaps in its own
// FieldsOnCorrectType and ScalarLeafs rules, which stay uncapped: they
// report at most one error per field.)
func ValidationRules(max int) func() *rules.Rules {
	return func() *rules.Rules {
		r := rules.NewDefaultRules()
		var (
			n           int
			placeholder *gqlerror.Error
		)
		for name, fn := range r.GetInner() {
			r.ReplaceRule(name, func(observers *core.Events, addError core.AddErrFunc) {
				fn(observers, func(options ...core.ErrorOption) {
					n++
					switch {
					case n <= max:
						addError(options...)
					case placeholder == nil:
						addError(func(err *gqlerror.Error) { placeholder = err; dropped(err, 1) })
					default:
						dropped(placeholder, n-max)
					}
				})
			})
		}
		return r
	}
}

// ErrorCap keeps at most Max errors in a response (DefaultLimits.Errors
// when zero) and replaces the rest with one error, coded INVALID_INPUT, whose
// message and extensions.dropped say how many were dropped. It applies to
// every response: request errors (parse, validation, limits) and resolver
// errors alike.
type ErrorCap struct {
	Max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = ErrorCap{}

// ExtensionName names the extension for gqlgen.
func (ErrorCap) ExtensionName() string { return "ErrorCap" }

// Validate refuses a negative limit.
func (c ErrorCap) Validate(graphql.ExecutableSchema) error {
	if c.Max < 0 {
		return fmt.Errorf("gqllimit: error limit %d is negative", c.Max)
	}
	return nil
}

// InterceptResponse truncates the errors of the response.
func (c ErrorCap) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	res := next(ctx)
	if res != nil {
		res.Errors = CapErrors(res.Errors, c.Max)
	}
	return res
}

// CapErrors returns the first max errors of list (DefaultLimits.Errors when
// max is zero) and one more counting the others, including those an
// earlier cap counted.
func CapErrors(list gqlerror.List, max int) gqlerror.List {
	if max == 0 {
		max = DefaultLimits.Errors
	}
	if len(list) <= max {
		return list
	}
	kept := make(gqlerror.List, 0, max+1)
	n := 0
	for _, err := range list {
		if d, ok := err.Extensions[droppedKey].(int); ok {
			n += d
			continue
		}
		if len(kept) < max {
			kept = append(kept, err)
			continue
		}
		n++
	}
	if n > 0 {
		last := &gqlerror.Error{}
		dropped(last, n)
		kept = append(kept, last)
	}
	return kept
}

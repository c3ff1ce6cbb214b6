package gqllimit

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"gatehouse/internal/errcode"
)

// Complexity refuses an operation whose gqlgen complexity (the schema's
// complexity functions; one per field plus its children by default) exceeds
// Max. Unlike gqlgen's extension.ComplexityLimit it keeps nothing in the
// operation's stats, which a long-lived subscription would hold for its
// whole life.
//
// A refused operation fails, before anything runs, with a gqlerror whose
// extensions.code is INVALID_INPUT and whose message reads like "query
// complexity 1204 exceeds the limit of 1000".
type Complexity struct {
	Max int

	es graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &Complexity{}

// ExtensionName names the extension for gqlgen.
func (*Complexity) ExtensionName() string { return "ComplexityLimit" }

// Validate keeps the schema to measure with and refuses a limit below one.
func (c *Complexity) Validate(es graphql.ExecutableSchema) error {
	if c.Max < 1 {
		return fmt.Errorf("gqllimit: complexity limit %d is below 1", c.Max)
	}
	c.es = es
	return nil
}

// MutateOperationContext measures the selected operation and returns an
// INVALID_INPUT error when it is too complex.
func (c *Complexity) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	if n := complexity.Calculate(ctx, c.es, opCtx.Operation, opCtx.Variables); n > c.Max {
		err := gqlerror.Errorf("query complexity %d exceeds the limit of %d", n, c.Max)
		err.Extensions = map[string]any{"code": string(errcode.InvalidInput)}
		return err
	}
	return nil
}

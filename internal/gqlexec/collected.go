package gqlexec

import (
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Collected keeps, for one operation, the fields collected from the
// selection sets of the objects written straight from loaded values (the
// executor's direct_<Type> and write_<Type>): a page of 50 requests asks
// for the fields of the same few selection sets about 2,000 times, and
// graphql.CollectFields builds a hashed key, and allocates, for each ask.
// The generated executor holds one per operation; the zero value is ready.
type Collected struct {
	mu     sync.Mutex
	fields map[collectedKey][]graphql.CollectedField
}

// collectedKey names a selection set of the operation's document (its first
// element and length, as graphql.CollectFields's cache does) and the type
// it is collected for (its implementors list, one variable per type).
type collectedKey struct {
	first        *ast.Selection
	n            int
	implementors *string
}

// Fields returns graphql.CollectFields(oc, sel, implementors), collected
// once per operation.
func (c *Collected) Fields(oc *graphql.OperationContext, sel ast.SelectionSet, implementors []string) []graphql.CollectedField {
	if len(sel) == 0 || len(implementors) == 0 {
		return graphql.CollectFields(oc, sel, implementors)
	}
	key := collectedKey{&sel[0], len(sel), &implementors[0]}
	c.mu.Lock()
	defer c.mu.Unlock()
	fields, ok := c.fields[key]
	if !ok {
		fields = graphql.CollectFields(oc, sel, implementors)
		if c.fields == nil {
			c.fields = map[collectedKey][]graphql.CollectedField{}
		}
		c.fields[key] = fields
	}
	return fields
}

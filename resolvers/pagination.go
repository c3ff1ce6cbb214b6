package resolvers

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent/schema/enum"
	"gatehouse/graph"
	"gatehouse/internal/errcode"
)

const (
	// defaultPageSize applies when a connection is asked for neither first
	// nor last.
	defaultPageSize = 50
	// maxPageSize bounds first and last.
	maxPageSize = 500
)

// page bounds a connection's page size: neither first nor last gives the
// default page, and more than maxPageSize is INVALID_INPUT.
func page(first, last *int) (*int, *int, error) {
	for name, n := range map[string]*int{"first": first, "last": last} {
		if n != nil && (*n < 0 || *n > maxPageSize) {
			return nil, nil, errcode.Invalid(name, "must be between 0 and %d", maxPageSize)
		}
	}
	if first == nil && last == nil {
		n := defaultPageSize
		first = &n
	}
	return first, last, nil
}

// stateStatuses lists the request statuses of a state (DESIGN §4.4).
func stateStatuses(s graph.RequestState) []enum.RequestStatus {
	if s == graph.RequestStateOpen {
		return enum.OpenRequestStatuses
	}
	return enum.CompletedRequestStatuses
}

// selects reports whether the field of ctx selects, along path (field
// names, from the field's own selection), a field that want accepts.
func selects(ctx context.Context, path []string, want func(name string) bool) bool {
	if !graphql.HasOperationContext(ctx) || graphql.GetFieldContext(ctx) == nil {
		return false
	}
	return selectsIn(graphql.GetOperationContext(ctx), graphql.CollectFieldsCtx(ctx, nil), path, want)
}

func selectsIn(oc *graphql.OperationContext, fields []graphql.CollectedField, path []string, want func(string) bool) bool {
	for _, f := range fields {
		if len(path) == 0 {
			if want(f.Name) {
				return true
			}
			continue
		}
		if f.Name == path[0] && selectsIn(oc, graphql.CollectFields(oc, f.Selections, nil), path[1:], want) {
			return true
		}
	}
	return false
}

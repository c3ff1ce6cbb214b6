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

// selectsCompletion reports whether a connection of access requests selects
// completion fields on its nodes.
func selectsCompletion(ctx context.Context) bool {
	oc := graphql.GetOperationContext(ctx)
	for _, edges := range graphql.CollectFieldsCtx(ctx, nil) {
		if edges.Name != "edges" {
			continue
		}
		for _, node := range graphql.CollectFields(oc, edges.Selections, nil) {
			if node.Name != "node" {
				continue
			}
			for _, f := range graphql.CollectFields(oc, node.Selections, nil) {
				switch f.Name {
				case "completion", "myCompletion", "reviewerCompletions":
					return true
				}
			}
		}
	}
	return false
}

package resolvers

import (
	"context"

	"github.com/vektah/gqlparser/v2/ast"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/gqlexec"
	"gatehouse/internal/insight"
	"gatehouse/internal/progress"
)

// itemInsight returns the reviewer insight of an item through the
// insight loader of the operation or subscription event
// (insight.LoaderFrom): the pages that list items prime it with their
// items (primeInsight), other items are batched by the loader, so a page or
// an event costs two statements however many items it shows.
func (r *Resolver) itemInsight(ctx context.Context, item *ent.RequestItem) (*insight.Insight, error) {
	return insight.LoaderFrom(ctx, r.client).Item(ctx, item)
}

// insightFields are the fields of RequestItem that internal/insight
// computes.
var insightFields = map[string]bool{"peerCoverage": true, "heldBefore": true, "daysSinceBeneficiaryStart": true}

// primeInsight computes the insight of a page's items with one call when
// the field of ctx selects, along path, an item's insight fields; items
// lists them (those loaded with the page: an edge loaded under an alias is
// left to the loader's batches).
func (r *Resolver) primeInsight(ctx context.Context, items func() []pulid.ID, path ...string) error {
	if !selects(ctx, path, func(name string) bool { return insightFields[name] }) {
		return nil
	}
	return insight.LoaderFrom(ctx, r.client).Prime(ctx, items())
}

// primeRequestPage primes the loaders of a page of requests with what it
// selects: the task counts of its completions, the insight of its items.
func (r *Resolver) primeRequestPage(ctx context.Context, conn *ent.AccessRequestConnection) error {
	completion := func(name string) bool {
		return name == "completion" || name == "myCompletion" || name == "reviewerCompletions"
	}
	if selects(ctx, []string{"edges", "node"}, completion) {
		ids := make([]pulid.ID, len(conn.Edges))
		for i, e := range conn.Edges {
			ids[i] = e.Node.ID
		}
		if err := progress.LoadersFrom(ctx, r.client).PrimeTaskCounts(ctx, r.client, ids); err != nil {
			return err
		}
		// Their completions wait for nothing now: the page's edges are
		// marshalled in turn unless another field beneath may wait.
		gqlexec.Loaded(ctx, "AccessRequest", "completion", "myCompletion")
	}
	return r.primeInsight(ctx, requestPageItems(conn), "edges", "node", "items")
}

// requestPageItems lists the items loaded with a page of requests: the
// unaliased `items` field's (CollectFields loads an unaliased list edge
// into the edge's field, an aliased one under its alias; see ent/entc.go).
func requestPageItems(conn *ent.AccessRequestConnection) func() []pulid.ID {
	return func() []pulid.ID {
		var ids []pulid.ID
		for _, e := range conn.Edges {
			for _, it := range e.Node.Edges.Items {
				ids = append(ids, it.ID)
			}
		}
		return ids
	}
}

// taskPageItems lists the items loaded with a page of tasks.
func taskPageItems(conn *ent.ReviewTaskConnection) func() []pulid.ID {
	return func() []pulid.ID {
		var ids []pulid.ID
		for _, e := range conn.Edges {
			if st := e.Node.Edges.Stage; st != nil && st.Edges.Item != nil {
				ids = append(ids, st.Edges.Item.ID)
			}
		}
		return ids
	}
}

// itemPageItems lists the items of a page of items.
func itemPageItems(conn *ent.RequestItemConnection) func() []pulid.ID {
	return func() []pulid.ID {
		ids := make([]pulid.ID, len(conn.Edges))
		for i, e := range conn.Edges {
			ids[i] = e.Node.ID
		}
		return ids
	}
}

// selectsInsightAnywhere reports whether a selection set, fragments
// included, selects an item's insight fields at any depth: a subscription
// that does gets an insight loader per event (see NewHandler).
func selectsInsightAnywhere(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if insightFields[s.Name] || selectsInsightAnywhere(doc, s.SelectionSet, seen) {
				return true
			}
		case *ast.InlineFragment:
			if selectsInsightAnywhere(doc, s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if f := doc.Fragments.ForName(s.Name); f != nil && selectsInsightAnywhere(doc, f.SelectionSet, seen) {
				return true
			}
		}
	}
	return false
}

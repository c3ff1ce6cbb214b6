package resolvers

import (
	"context"
	"reflect"

	"github.com/99designs/gqlgen/graphql"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/insight"
)

// itemInsight returns the reviewer insight of an item. The first insight
// field of an operation's field computes the insight of every item of the
// page it belongs to — the items loaded under the result of the outermost
// field above it (a page of requests, of tasks, of items, one node) — so a
// page costs two statements however its elements are scheduled.
//
// A subscription event carries no loader (see NewHandler): there the item's
// insight is read alone, with two statements.
func (r *Resolver) itemInsight(ctx context.Context, item *ent.RequestItem) (*insight.Insight, error) {
	loader, ok := insight.FromContext(ctx)
	if !ok {
		byID, err := insight.NewReader(r.client).Items(ctx, []pulid.ID{item.ID})
		if err != nil {
			return nil, err
		}
		return byID[item.ID], nil
	}
	if root := outermostResult(ctx); root != nil {
		err := loader.PrimePage(ctx, root, func() []pulid.ID {
			ids := map[pulid.ID]bool{item.ID: true}
			collectItems(reflect.ValueOf(root.Result), ids, map[uintptr]bool{})
			out := make([]pulid.ID, 0, len(ids))
			for id := range ids {
				out = append(out, id)
			}
			return out
		})
		if err != nil {
			return nil, err
		}
	}
	return loader.Item(ctx, item.ID)
}

// outermostResult is the field context of the outermost field above ctx's
// field that has a result.
func outermostResult(ctx context.Context) *graphql.FieldContext {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	var root *graphql.FieldContext
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		if fc.Result != nil {
			root = fc
		}
	}
	return root
}

var (
	entPkg   = reflect.TypeFor[ent.RequestItem]().PkgPath()
	itemType = reflect.TypeFor[*ent.RequestItem]()
)

// collectItems adds the IDs of the request items found in v, following the
// fields of the ent types: entities and their loaded edges, named edges
// included (entgql loads an edge under its alias, in an unexported map),
// connections and their edges. It only reads.
func collectItems(v reflect.Value, ids map[pulid.ID]bool, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			collectItems(v.Elem(), ids, seen)
		}
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		if v.Type() == itemType {
			ids[pulid.ID(v.Elem().FieldByName("ID").String())] = true
		}
		collectItems(v.Elem(), ids, seen)
	case reflect.Slice:
		for i := range v.Len() {
			collectItems(v.Index(i), ids, seen)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			collectItems(it.Value(), ids, seen)
		}
	case reflect.Struct:
		if v.Type().PkgPath() != entPkg {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).Name == "config" {
				continue // the client's configuration, no data
			}
			switch v.Field(i).Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Struct, reflect.Interface:
				collectItems(v.Field(i), ids, seen)
			}
		}
	}
}

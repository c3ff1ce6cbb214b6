package authz

import (
	"entgo.io/ent/dialect/sql"

	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/pulid"
)

// VisibleItem is the row filter of the items a USER may see: the items of
// the requests of VisibleRequest.
func VisibleItem(v *Viewer) predicate.RequestItem {
	return requestitem.HasRequestWith(VisibleRequest(v))
}

// VisibleItems is the row filter of the items v may see, the one rule of
// RequestItemPolicy: every item for those who read everything (risk
// managers and IT admins), VisibleItem for anyone else. The reviewer
// insight of items (internal/insight), which reads items with a query of
// its own, applies it too: whoever sees an item sees its insight, nobody
// else.
func VisibleItems(v *Viewer) predicate.RequestItem {
	if v.ReadsAll() {
		return func(*sql.Selector) {}
	}
	return VisibleItem(v)
}

// SeesPastHoldings reports whether v, who sees an item (VisibleItem), is
// told what its beneficiary held of the entitlement before
// (RequestItem.heldBefore): those who read the beneficiary's grants
// (ReadsGrantsOf: the beneficiary, risk managers, IT admins) and the
// request's reviewers (reviewer: v stands to the request as Reviewer, the
// row filter Related(Reviewer, v.UserID)), who decide on it. Anyone else
// who sees the item — the requester of a request for someone else, an
// application owner fulfilling it by hand — is not told: the workflow never
// tells a caller what the beneficiary holds unless the caller reads their
// grants (DESIGN §4.1).
func SeesPastHoldings(v *Viewer, beneficiaryID pulid.ID, reviewer bool) bool {
	return v.ReadsGrantsOf(beneficiaryID) || reviewer
}

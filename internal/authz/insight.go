package authz

import (
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/pulid"
)

// VisibleItem is the row filter of the items a USER may see: the items of
// the requests of VisibleRequest. RequestItemPolicy applies it, and so does
// the reviewer insight of items (internal/insight), which reads items with
// a query of its own: whoever sees an item sees its insight, nobody else.
func VisibleItem(v *Viewer) predicate.RequestItem {
	return requestitem.HasRequestWith(VisibleRequest(v))
}

// SeesPastHoldings reports whether v, who sees an item (VisibleItem), is
// told what its beneficiary held of the entitlement before
// (RequestItem.heldBefore): those who read the beneficiary's grants
// (ReadsGrantsOf: the beneficiary, risk managers, IT admins) and the
// request's reviewers (reviewer: v has a task on the request), who decide
// on it. Anyone else who sees the item — the requester of a request for
// someone else, an application owner fulfilling it by hand — is not told:
// the workflow never tells a caller what the beneficiary holds unless the
// caller reads their grants (DESIGN §4.1).
func SeesPastHoldings(v *Viewer, beneficiaryID pulid.ID, reviewer bool) bool {
	return v.ReadsGrantsOf(beneficiaryID) || reviewer
}

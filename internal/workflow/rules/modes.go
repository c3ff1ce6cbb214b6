package rules

import (
	"errors"
	"math"
	"slices"
	"strings"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// CatalogEntry is what mode resolution needs to know about an entitlement.
type CatalogEntry struct {
	ID            pulid.ID
	ApplicationID pulid.ID
	Requestable   bool
	Privileged    bool
}

// Holding is what one user holds: the IDs of the entitlements of their
// unrevoked grants, temporary or permanent. Duplicates are harmless.
type Holding []pulid.ID

// DefaultThreshold is the share of a job title's peers that must hold an
// entitlement for LIKE_JOB_TITLE to propose it when the request gives none.
const DefaultThreshold = 0.5

// LikeInput is what ResolveLike works from, loaded by the caller.
type LikeInput struct {
	// Candidates are the proposed entitlements: for LIKE_USER the reference
	// user's Holding, for LIKE_ROLE the role's entitlements. LIKE_JOB_TITLE
	// ignores it.
	Candidates []pulid.ID
	// Peers holds, for LIKE_JOB_TITLE, the Holding of each ACTIVE user with
	// the job title, the beneficiary left out by the caller.
	Peers []Holding
	// Baseline is, for LIKE_JOB_TITLE, the title's baseline bundle: proposed
	// whatever the peers hold.
	Baseline []pulid.ID
	// Threshold is, for LIKE_JOB_TITLE, the share of peers in (0, 1] that
	// must hold an entitlement for it to be proposed; nil means
	// DefaultThreshold.
	Threshold *float64
	// Beneficiary is what the beneficiary already holds.
	Beneficiary Holding
	// Catalog holds every candidate entitlement by ID.
	Catalog map[pulid.ID]CatalogEntry
	// ApplicationIDs, when not empty, narrows the result to entitlements of
	// these applications.
	ApplicationIDs []pulid.ID
	// ExcludeIDs deselects entitlements.
	ExcludeIDs []pulid.ID
	// HidePrivileged leaves out, without a trace (neither item nor
	// exclusion), the privileged entitlements proposed by LIKE_USER's
	// Candidates or by LIKE_JOB_TITLE's Peers (Disclosure.HidePrivileged).
	// The baseline bundle and LIKE_ROLE's Candidates are catalog data and
	// are not affected.
	HidePrivileged bool
	// MinHolders is, for LIKE_JOB_TITLE, the fewest peers who must hold an
	// entitlement for it to be proposed, on top of the threshold
	// (Disclosure.MinHolders); 0 for no minimum.
	MinHolders int
}

// Reasons an entitlement proposed by a LIKE_* mode is left out.
const (
	ReasonNotRequestable  = "not requestable"
	ReasonAlreadyHeld     = "already held"
	ReasonExcluded        = "excluded by request"
	ReasonOutsideSelected = "outside the selected applications"
)

// Exclusion is a proposed entitlement that was left out, and why (one of the
// Reason constants).
type Exclusion struct {
	ID     pulid.ID
	Reason string
}

// Resolution is the outcome of a LIKE_* mode: the entitlements to request
// (the GRANT items, each with its Privileged flag), and those proposed but
// left out, both sorted by ID.
type Resolution struct {
	Items    []CatalogEntry
	Excluded []Exclusion
}

// PrivilegedIDs returns the IDs of the privileged items, sorted.
func (r Resolution) PrivilegedIDs() []pulid.ID {
	var ids []pulid.ID
	for _, e := range r.Items {
		if e.Privileged {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// ResolveLike resolves the GRANT items of a LIKE_* request (DESIGN §4.1).
//
// The proposed entitlements are: for LIKE_USER and LIKE_ROLE in.Candidates;
// for LIKE_JOB_TITLE the entitlements held by at least Threshold × the number
// of peers, plus the baseline bundle (with no peers, only the baseline).
// With HidePrivileged, privileged entitlements proposed by a LIKE_USER
// reference or by peers are dropped before anything else (the baseline
// keeps its own); with MinHolders, peers' entitlements held by fewer peers
// are not proposed. Each proposed entitlement then becomes an item or an exclusion, the first
// reason that applies winning: not requestable (also when missing from
// in.Catalog), outside the selected applications, already held by the
// beneficiary, excluded by request. An empty Items is the caller's
// NOTHING_TO_REQUEST.
//
// Errors: INVALID_INPUT (field threshold) for a LIKE_JOB_TITLE threshold
// outside (0, 1]; an uncoded error for a mode that is not LIKE_* (the
// ENTITLEMENTS mode is checked entitlement by entitlement by the caller).
func ResolveLike(mode enum.RequestMode, in LikeInput) (Resolution, error) {
	var proposed []pulid.ID
	hide := func(ids []pulid.ID) []pulid.ID {
		if !in.HidePrivileged {
			return ids
		}
		return slices.DeleteFunc(ids, func(id pulid.ID) bool { return in.Catalog[id].Privileged })
	}
	switch mode {
	case enum.RequestModeLikeRole:
		proposed = slices.Clone(in.Candidates)
	case enum.RequestModeLikeUser:
		proposed = hide(slices.Clone(in.Candidates))
	case enum.RequestModeLikeJobTitle:
		threshold := DefaultThreshold
		if in.Threshold != nil {
			threshold = *in.Threshold
		}
		if math.IsNaN(threshold) || threshold <= 0 || threshold > 1 {
			return Resolution{}, errcode.Invalid("threshold", "%v is not in (0, 1]", threshold)
		}
		proposed = append(slices.Clone(in.Baseline), hide(popular(in.Peers, threshold, in.MinHolders))...)
	default:
		return Resolution{}, errors.New("rules: resolve like: mode " + string(mode) + " is not a LIKE_* mode")
	}
	slices.SortFunc(proposed, func(a, b pulid.ID) int { return strings.Compare(string(a), string(b)) })
	proposed = slices.Compact(proposed)

	var r Resolution
	for _, id := range proposed {
		e, known := in.Catalog[id]
		reason := ""
		switch {
		case !known || !e.Requestable:
			reason = ReasonNotRequestable
		case len(in.ApplicationIDs) > 0 && !slices.Contains(in.ApplicationIDs, e.ApplicationID):
			reason = ReasonOutsideSelected
		case slices.Contains(in.Beneficiary, id):
			reason = ReasonAlreadyHeld
		case slices.Contains(in.ExcludeIDs, id):
			reason = ReasonExcluded
		}
		if reason != "" {
			r.Excluded = append(r.Excluded, Exclusion{ID: id, Reason: reason})
			continue
		}
		r.Items = append(r.Items, e)
	}
	return r, nil
}

// popular returns the entitlements held by at least threshold of the peers
// and by at least minHolders of them, in no particular order.
func popular(peers []Holding, threshold float64, minHolders int) []pulid.ID {
	if len(peers) == 0 {
		return nil
	}
	holders := map[pulid.ID]int{}
	for _, h := range peers {
		seen := map[pulid.ID]bool{}
		for _, id := range h {
			if !seen[id] {
				seen[id] = true
				holders[id]++
			}
		}
	}
	var out []pulid.ID
	for id, n := range holders {
		// Comparing the share rather than threshold × peers: a share equal
		// to the threshold then rounds to the same float64 as the threshold
		// and is never lost to rounding.
		if float64(n)/float64(len(peers)) >= threshold && n >= minHolders {
			out = append(out, id)
		}
	}
	return out
}

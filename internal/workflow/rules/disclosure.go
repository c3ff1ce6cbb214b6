package rules

import (
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// The rule of this file (DESIGN §4.1): preview and submission never tell a
// caller anything the caller could not read through queries. Who may read
// whose holdings is decided once, by authz (Viewer.ReadsGrantsOf, the rule
// the grant and identity privacy policies filter rows by); the caller passes
// the answers in a Reader and acts on the Disclosure that comes back.

// Reader is what the caller of a preview or submission may read, as authz
// decides it.
type Reader struct {
	// ReadsAll is true for callers who read every user's grants and every
	// request: risk managers and IT admins.
	ReadsAll bool
	// ReadsBeneficiary is true when the caller may read the beneficiary's
	// grants and accounts: the beneficiary themself, or ReadsAll.
	ReadsBeneficiary bool
}

// Colleague is what the disclosure rules know of a user: fields of the user
// directory, which every authenticated caller reads.
type Colleague struct {
	ID         pulid.ID
	ManagerID  *pulid.ID
	Department string
}

// Peers reports whether a and b are two different people who share a
// manager or a (non-empty) department.
func Peers(a, b Colleague) bool {
	if a.ID == b.ID {
		return false
	}
	sameManager := a.ManagerID != nil && b.ManagerID != nil && *a.ManagerID == *b.ManagerID
	sameDepartment := a.Department != "" && a.Department == b.Department
	return sameManager || sameDepartment
}

// MinCohort is the fewest ACTIVE holders of a job title (the beneficiary
// left out) from whose holdings LIKE_JOB_TITLE proposes anything to a caller
// who may not read their grants. Fewer would let the answer describe one or
// two identifiable people.
const MinCohort = 3

// MinCohortHolders is the fewest members of a job title's cohort who must
// hold an entitlement for LIKE_JOB_TITLE to propose it to a caller who may
// not read their grants, whatever the threshold: a low threshold then cannot
// single out what one person holds.
const MinCohortHolders = 2

// NotePrivilegedByName is the note the preview of a LIKE_USER or
// LIKE_JOB_TITLE request shows a caller who gets no privileged entitlements
// from other people's holdings. It is shown whether or not any were left
// out, so that it tells nothing.
const NotePrivilegedByName = "Privileged entitlements are never copied from other people's access: request them by name (mode ENTITLEMENTS)."

// Disclosure is what a preview or submission may reveal to its caller.
type Disclosure struct {
	// Precise is true when the beneficiary's holdings and accounts may be
	// used in the answer: ALREADY_HELD, NOT_HELD, "already held"
	// exclusions and accountsToCreate. When false the answer is computed
	// as if the beneficiary held nothing and had no account (the request is
	// accepted; fulfilment is idempotent) and accountsToCreate is empty.
	Precise bool
	// AllOpenRequests is true when DUPLICATE_PENDING may consider every
	// open request for the beneficiary; when false only the open requests
	// the caller may read count, so that the error names nothing unseen.
	AllOpenRequests bool
	// HidePrivileged is true when privileged entitlements found in other
	// people's holdings (LIKE_USER's reference, LIKE_JOB_TITLE's cohort)
	// are left out without a trace: neither items nor exclusions.
	HidePrivileged bool
	// MinCohort is the fewest cohort members LIKE_JOB_TITLE accepts; 0
	// for no minimum.
	MinCohort int
	// MinHolders is the fewest cohort members who must hold an
	// entitlement for LIKE_JOB_TITLE to propose it; 0 for no minimum.
	MinHolders int
	// Notes are fixed notes for the preview.
	Notes []string
}

// DisclosureFor returns what a request in mode may reveal to a caller who
// reads what r says:
//   - the beneficiary's holdings, accounts and open requests only to a
//     caller who may read the beneficiary's grants (themself, risk
//     managers, IT admins); the open requests of others only to those who
//     read every request;
//   - other people's holdings through LIKE_USER and LIKE_JOB_TITLE without
//     their privileged entitlements, to a caller who does not read every
//     user's grants, with NotePrivilegedByName in the preview;
//   - a job-title cohort only of at least MinCohort people and entitlements
//     held by at least MinCohortHolders of them, to such a caller.
//
// ENTITLEMENTS and LIKE_ROLE work from the catalog, which everyone reads:
// they get neither the note nor the cohort limits.
func DisclosureFor(r Reader, mode enum.RequestMode) Disclosure {
	d := Disclosure{Precise: r.ReadsBeneficiary || r.ReadsAll, AllOpenRequests: r.ReadsAll}
	if r.ReadsAll {
		return d
	}
	switch mode {
	case enum.RequestModeLikeUser:
		d.HidePrivileged = true
		d.Notes = []string{NotePrivilegedByName}
	case enum.RequestModeLikeJobTitle:
		d.HidePrivileged = true
		d.MinCohort, d.MinHolders = MinCohort, MinCohortHolders
		d.Notes = []string{NotePrivilegedByName}
	}
	return d
}

// CheckReference checks the reference user of a LIKE_USER request: the
// caller must read the reference's grants (readsReference: the caller is
// the reference, or reads everyone's) or the reference must be a peer of
// the beneficiary (Peers). Errors: INVALID_INPUT (field referenceUserId)
// with a message that is the same for every refused reference, whatever
// they hold.
func CheckReference(readsReference bool, beneficiary, reference Colleague) error {
	if readsReference || Peers(beneficiary, reference) {
		return nil
	}
	return errcode.Invalid("referenceUserId",
		"copy access from yourself or from a peer of the beneficiary (same manager or same department)")
}

// CheckCohort checks the size of a LIKE_JOB_TITLE cohort (the ACTIVE users
// with the title, the beneficiary left out) against d.MinCohort. Errors:
// INVALID_INPUT (field jobTitleId) with one fixed message.
func CheckCohort(d Disclosure, cohort int) error {
	if cohort >= d.MinCohort {
		return nil
	}
	return errcode.Invalid("jobTitleId",
		"fewer than %d other active people hold this job title: request the entitlements by name or with LIKE_ROLE", d.MinCohort)
}

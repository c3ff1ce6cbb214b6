package rules

import (
	"strings"
	"time"

	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// Acting is who stands behind a call: the user the credential acts as and,
// for an API token, the person who minted it (the same user for a token of
// one's own; the IT admin who created it for a service account). Both are
// held to the self-review rules.
type Acting struct {
	UserID   pulid.ID
	MintedBy pulid.ID
}

// Is reports whether id is one of the acting people.
func (a Acting) Is(id pulid.ID) bool {
	return id != "" && (id == a.UserID || id == a.MintedBy)
}

// Parties are the people a request's review must be independent of: its
// requester, its beneficiary and, when a service account's token submitted
// it, the person who minted that token.
type Parties struct {
	RequesterID   pulid.ID
	BeneficiaryID pulid.ID
	SubmittedByID pulid.ID
}

// Includes reports whether id is one of the parties.
func (p Parties) Includes(id pulid.ID) bool {
	return id != "" && (id == p.RequesterID || id == p.BeneficiaryID || id == p.SubmittedByID)
}

// CheckDecider tells whether the acting people may decide a review task
// assigned to reviewerID on a request with the given parties. Nobody decides
// on a request they are a party to, whether as themselves or through a token
// they minted (for a service account, or before minting for others was
// refused); that check comes first, so its message is the one given. Then
// only the assignee decides.
//
// Errors: FORBIDDEN in both cases.
func CheckDecider(a Acting, p Parties, reviewerID pulid.ID) error {
	if p.Includes(a.UserID) || p.Includes(a.MintedBy) {
		return errcode.New(errcode.Forbidden,
			"the requester and the beneficiary (and whoever minted the token a request was submitted with) cannot decide its review tasks, with their own credentials or with a token they minted")
	}
	if reviewerID != a.UserID {
		return errcode.New(errcode.Forbidden, "the review task is assigned to someone else")
	}
	return nil
}

// CheckReassignment tells whether a review task may move to the user to
// (DESIGN §4.2, issue "Security hardening"): the reason must be given, and
// the new assignee passes the exclusions of reviewer resolution — not a
// party of the request, not a service account, not TERMINATED, not anyone
// assigned in this or an earlier stage of the item (assigned) — and is not
// one of the acting people, so that nobody hands a task to themselves
// through a token.
//
// Errors: INVALID_INPUT naming comment (no reason) or toUserId (an excluded
// assignee).
func CheckReassignment(a Acting, p Parties, to Person, assigned map[pulid.ID]bool, comment string) error {
	if strings.TrimSpace(comment) == "" {
		return errcode.Invalid("comment", "a reassignment needs a reason")
	}
	why := ineligible(to, p, assigned)
	if why == "" && a.Is(to.ID) {
		why = "the caller or the minter of the caller's token (nobody reassigns a task to themselves)"
	}
	if why == "" {
		return nil
	}
	return errcode.Invalid("toUserId", "%s cannot review this item: %s", to.Email, why)
}

// CheckDelegate tells whether the user self may send their review tasks to
// the user to between from and until (nil bounds open; DESIGN §4.2): not to
// themselves, nor to anyone who may review nothing (a service account, a
// user who is not active), and until after from. Whether the delegate may
// review a given item is decided when a task is routed (Route).
//
// Errors: INVALID_INPUT naming userId or until.
func CheckDelegate(self pulid.ID, to Person, from, until *time.Time) error {
	if to.ID == self {
		return errcode.Invalid("userId", "one cannot delegate to oneself")
	}
	if why := to.unfit(); why != "" {
		return errcode.Invalid("userId", "%s cannot be a delegate: %s", to.Email, why)
	}
	if from != nil && until != nil && !until.After(*from) {
		return errcode.Invalid("until", "must be after from")
	}
	return nil
}

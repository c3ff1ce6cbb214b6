package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// SodSet is a separation-of-duties conflict set as the check sees it: its
// entitlements, and the acceptance of its conflicts for the beneficiary,
// if a risk manager gave one (whether it still runs is the check's
// business).
type SodSet struct {
	ID           pulid.ID
	Name         string
	Mode         enum.SodMode
	Entitlements []pulid.ID
	Acceptance   *enum.SodAcceptanceRef
}

// SodFacts is what the beneficiary would hold: their active grants, the
// GRANT items open for them in other requests, and the GRANT items of the
// request checked. REVOKE items are not facts: they remove access and
// never conflict.
type SodFacts struct {
	Held      []pulid.ID
	Pending   []pulid.ID
	Requested []pulid.ID
}

// SodHit is a conflict of one requested entitlement with one set: the
// set's entitlements the beneficiary would hold together (the requested
// one first), why each counts, and whether it blocks.
type SodHit struct {
	Set          *SodSet
	Entitlements []SodMember
	// Accepted is set when a risk manager's acceptance runs at now.
	Accepted bool
}

// SodMember is an entitlement of a conflict with why it counts.
type SodMember struct {
	ID  pulid.ID
	Via enum.SodVia
}

// Blocks reports whether the conflict stops the request: a BLOCK set no
// running acceptance covers.
func (h SodHit) Blocks() bool { return h.Set.Mode == enum.SodModeBlock && !h.Accepted }

// SodConflicts returns, for each requested entitlement, its conflicts:
// every set that lists it and at least one other entitlement the
// beneficiary holds, has pending or requests with it (holding any two
// entitlements of a set together is a conflict). An entitlement counts as
// HELD before PENDING before REQUESTED. An acceptance runs while its until
// is nil or after now. Sets come in the order given; requested entitlements
// with no conflict are absent.
func SodConflicts(sets []SodSet, f SodFacts, now time.Time) map[pulid.ID][]SodHit {
	via := func(id pulid.ID) (enum.SodVia, bool) {
		switch {
		case slices.Contains(f.Held, id):
			return enum.SodViaHeld, true
		case slices.Contains(f.Pending, id):
			return enum.SodViaPending, true
		case slices.Contains(f.Requested, id):
			return enum.SodViaRequested, true
		}
		return "", false
	}
	out := map[pulid.ID][]SodHit{}
	for _, req := range f.Requested {
		for i := range sets {
			s := &sets[i]
			if !slices.Contains(s.Entitlements, req) {
				continue
			}
			h := SodHit{Set: s, Entitlements: []SodMember{{ID: req, Via: enum.SodViaRequested}}}
			for _, id := range s.Entitlements {
				if id == req {
					continue
				}
				if v, ok := via(id); ok {
					h.Entitlements = append(h.Entitlements, SodMember{ID: id, Via: v})
				}
			}
			if len(h.Entitlements) < 2 {
				continue
			}
			a := s.Acceptance
			h.Accepted = a != nil && (a.Until == nil || a.Until.After(now))
			out[req] = append(out[req], h)
		}
	}
	return out
}

// SodBlocked is the SOD_CONFLICT error of a blocking conflict, naming the
// set, who (the beneficiary as the message shows them) and the
// entitlements (name gives an entitlement's name as the message shows it).
func SodBlocked(h SodHit, who string, name func(pulid.ID) string) error {
	names := make([]string, len(h.Entitlements))
	for i, m := range h.Entitlements {
		names[i] = name(m.ID)
	}
	return errcode.New(errcode.SodConflict, "separation of duties: %s would hold %s together, which conflict set %q forbids",
		who, strings.Join(names, " and "), h.Set.Name)
}

// CheckSodSet validates a conflict set's definition: a name, a mode, and
// at least two distinct entitlements. Errors: INVALID_INPUT naming the field.
func CheckSodSet(name string, mode enum.SodMode, entitlements []pulid.ID) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errcode.Invalid("name", "must not be empty")
	case len(name) > 200:
		return errcode.Invalid("name", "must be at most 200 characters")
	case !mode.IsValid():
		return errcode.Invalid("mode", "must be WARN or BLOCK")
	}
	seen := map[pulid.ID]bool{}
	for _, id := range entitlements {
		if seen[id] {
			return errcode.Invalid("entitlementIds", "entitlement %s is listed twice", id)
		}
		seen[id] = true
	}
	if len(seen) < 2 {
		return errcode.Invalid("entitlementIds", "a conflict set needs at least 2 entitlements, got %d", len(seen))
	}
	return nil
}

// CheckSodAcceptance validates a risk manager's acceptance: a reason, and
// an end (if any) in the future. Errors: INVALID_INPUT naming the field.
func CheckSodAcceptance(reason string, until *time.Time, now time.Time) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return errcode.Invalid("reason", "an acceptance needs a reason")
	case len(reason) > 2000:
		return errcode.Invalid("reason", "must be at most 2000 characters")
	case until != nil && !until.After(now):
		return errcode.Invalid("until", "must be in the future, got %s", until.UTC().Format(time.RFC3339))
	}
	return nil
}

// String describes a hit for logs and tests.
func (h SodHit) String() string {
	return fmt.Sprintf("%s(%s)%v accepted=%v", h.Set.Name, h.Set.Mode, h.Entitlements, h.Accepted)
}

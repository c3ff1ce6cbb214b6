package enum

import (
	"time"

	"gatehouse/ent/schema/pulid"
)

// SodMode says what a separation-of-duties conflict set does when a person
// would hold two of its entitlements together.
type SodMode string

// Values of SodMode.
const (
	// SodModeWarn lets the request through and shows the conflict to every
	// reviewer of the item, and records it.
	SodModeWarn SodMode = "WARN"
	// SodModeBlock refuses the request (SOD_CONFLICT) unless a risk manager
	// has accepted the conflict for the person.
	SodModeBlock SodMode = "BLOCK"
)

// SodVia says why an entitlement of a conflict counts as held by the
// beneficiary.
type SodVia string

// Values of SodVia.
const (
	// SodViaHeld: an active grant.
	SodViaHeld SodVia = "HELD"
	// SodViaPending: an open GRANT item of another request (or, checked
	// before fulfilment, an item being fulfilled).
	SodViaPending SodVia = "PENDING"
	// SodViaRequested: a GRANT item of the same request (the item checked
	// included).
	SodViaRequested SodVia = "REQUESTED"
)

// SodCheckpoint says when a conflict was found.
type SodCheckpoint string

// Values of SodCheckpoint.
const (
	SodCheckpointPreview     SodCheckpoint = "PREVIEW"
	SodCheckpointSubmission  SodCheckpoint = "SUBMISSION"
	SodCheckpointFulfillment SodCheckpoint = "FULFILLMENT"
)

// SodConflict is a separation-of-duties conflict as recorded on a request
// item (RequestItem.sod_conflicts): a snapshot taken when it was found, so
// that reviewers and auditors read what was known then, with no query.
type SodConflict struct {
	ConflictSetID pulid.ID          `json:"conflictSetId"`
	Name          string            `json:"name"`
	Mode          SodMode           `json:"mode"`
	Entitlements  []SodEntitlement  `json:"entitlements"`
	Checkpoint    SodCheckpoint     `json:"checkpoint"`
	Acceptance    *SodAcceptanceRef `json:"acceptance,omitempty"`
}

// SodEntitlement is an entitlement of a conflict, with why it counts.
type SodEntitlement struct {
	ID          pulid.ID `json:"id"`
	Name        string   `json:"name"`
	Application string   `json:"application"`
	Via         SodVia   `json:"via"`
}

// SodAcceptanceRef is a risk manager's acceptance of a conflict for the
// beneficiary, as it stood when the conflict was found.
type SodAcceptanceRef struct {
	ID             pulid.ID   `json:"id"`
	AcceptedByID   pulid.ID   `json:"acceptedBy"`
	AcceptedByName string     `json:"acceptedByName"`
	Reason         string     `json:"reason"`
	Until          *time.Time `json:"until,omitempty"`
	At             time.Time  `json:"at"`
}

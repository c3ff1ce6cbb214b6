// Package audit writes and checks Gatehouse's audit trail (DESIGN §4.5).
//
// Every state change records AuditEvents in the transaction that makes it.
// Events form hash chains: one chain per access request (named by the
// request's ID) and the SystemChain for changes outside any request. Each
// event's hash is hex(sha256(prev_hash ‖ canonical JSON)), where the
// canonical JSON covers the event's chain, seq, at, action, actor,
// request_id, item_id and data, and the first event's prev_hash is
// GenesisHash. A Recorder appends events to a chain inside a transaction;
// Verify recomputes a chain and says where it is broken.
package audit

// Action names what an audit event records.
type Action string

// Actions of request chains (DESIGN §4.5).
const (
	RequestSubmitted           Action = "REQUEST_SUBMITTED"
	ItemAdded                  Action = "ITEM_ADDED"
	TaskAssigned               Action = "TASK_ASSIGNED"
	TaskDelegated              Action = "TASK_DELEGATED"
	TaskReassigned             Action = "TASK_REASSIGNED"
	TaskApproved               Action = "TASK_APPROVED"
	TaskDenied                 Action = "TASK_DENIED"
	TaskSkipped                Action = "TASK_SKIPPED"
	StageApproved              Action = "STAGE_APPROVED"
	StageDenied                Action = "STAGE_DENIED"
	ItemApproved               Action = "ITEM_APPROVED"
	ItemAutoApproved           Action = "ITEM_AUTO_APPROVED"
	ItemDenied                 Action = "ITEM_DENIED"
	ItemCancelled              Action = "ITEM_CANCELLED"
	RequestCancelled           Action = "REQUEST_CANCELLED"
	FulfillmentStarted         Action = "FULFILLMENT_STARTED"
	IdentityCreated            Action = "IDENTITY_CREATED"
	AccessGranted              Action = "ACCESS_GRANTED"
	AccessRevoked              Action = "ACCESS_REVOKED"
	FulfillmentFailed          Action = "FULFILLMENT_FAILED"
	FulfillmentRetried         Action = "FULFILLMENT_RETRIED"
	ManualFulfillmentCompleted Action = "MANUAL_FULFILLMENT_COMPLETED"
	// ManualFulfillmentWaiting records an item handed to its application's
	// owners to carry out by hand (manualFulfillments): an approved item of
	// a MANUAL application, a leaver's revocation or an expiry there, or an
	// item whose connector gave up (data.reason: APPROVED, TERMINATED,
	// EXPIRED, FAILED).
	ManualFulfillmentWaiting Action = "MANUAL_FULFILLMENT_WAITING"
	AccessExpired            Action = "ACCESS_EXPIRED"
	RequestCompleted         Action = "REQUEST_COMPLETED"
	// TaskReminded records a reminder to the assignee of a pending task
	// (data: task, assignee, count, max).
	TaskReminded Action = "TASK_REMINDED"
	// TaskEscalated records a pending task moved by escalation to its next
	// target, like a reassignment (data: task, newTask, from, to, step,
	// afterHours, comment).
	TaskEscalated Action = "TASK_ESCALATED"
	// RequestExpired records a request cancelled because it waited too long
	// for a decision (data: reason EXPIRED_PENDING, afterDays, requester,
	// beneficiary); REQUEST_CANCELLED and its item events follow.
	RequestExpired Action = "REQUEST_EXPIRED"
	// GrantExpiring warns that temporary access ends soon (data: grant,
	// entitlement, endsAt, beneficiary, requester, warnBeforeDays), once per
	// grant end, on the chain of the grant's source request.
	GrantExpiring Action = "GRANT_EXPIRING"
	// AccessExtended records a temporary grant whose end moved later or
	// that became permanent (data: grant, entitlement, oldEndsAt, newEndsAt
	// — null when permanent — and extension: whether an extension request
	// asked for it).
	AccessExtended Action = "ACCESS_EXTENDED"
	// BreakGlassInvoked records an emergency (break-glass) request:
	// provisioned at once, reviewed after the fact (data: reason,
	// beneficiary, items — each with item, entitlement, application,
	// duration or endsAt, requested and capped).
	BreakGlassInvoked Action = "BREAK_GLASS_INVOKED"
	// BreakGlassConfirmed records an emergency item whose after-the-fact
	// review approved: the access stays until its end.
	BreakGlassConfirmed Action = "BREAK_GLASS_CONFIRMED"
	// BreakGlassRevoked records an emergency item whose after-the-fact
	// review denied (data: status — the item's status then — and
	// revocationRequest, the request that revokes the access through its
	// connector, when one was opened).
	BreakGlassRevoked Action = "BREAK_GLASS_REVOKED"
	// SodConflictWarned records a separation-of-duties conflict of an item
	// that does not stop it: a WARN set, or a BLOCK set accepted for the
	// beneficiary (data: conflictSet, name, mode, entitlements, checkpoint,
	// acceptance), at submission or, when new, before fulfilment.
	SodConflictWarned Action = "SOD_CONFLICT_WARNED"
	// SodConflictBlocked records an item whose fulfilment a BLOCK conflict
	// stopped (data as SOD_CONFLICT_WARNED); FULFILLMENT_FAILED follows.
	SodConflictBlocked Action = "SOD_CONFLICT_BLOCKED"
)

// Actions of the system chain: changes outside any request.
const (
	CatalogChanged  Action = "CATALOG_CHANGED"
	UserTerminated  Action = "USER_TERMINATED"
	APITokenCreated Action = "API_TOKEN_CREATED"
	APITokenRevoked Action = "API_TOKEN_REVOKED"
	// WebhookEndpointDisabled records an event webhook endpoint disabled
	// after repeated failed deliveries (data.consecutiveFailures); its other
	// changes are CATALOG_CHANGED.
	WebhookEndpointDisabled Action = "WEBHOOK_ENDPOINT_DISABLED"
	// SodConflictAccepted records a risk manager's acceptance of a
	// separation-of-duties conflict for a person (data: id, conflictSet,
	// user, reason, until).
	SodConflictAccepted Action = "SOD_CONFLICT_ACCEPTED"
	// SodAcceptanceRevoked records an acceptance withdrawn (data: id).
	SodAcceptanceRevoked Action = "SOD_ACCEPTANCE_REVOKED"
)

// SystemChain is the name of the chain of changes outside any request.
// Every other chain is named by the ID of its access request.
const SystemChain = "system"

// GenesisHash is the prev_hash of the first event of every chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Actions of the system chain written by discovery (syncApplication).
const (
	// DiscoveryImported records an entitlement, identity or grant that
	// discovery found in an application and recorded (data.entity, data.op).
	DiscoveryImported Action = "DISCOVERY_IMPORTED"
	// DiscoveryAccessEnded records a grant ended because discovery no longer
	// found its membership in the application.
	DiscoveryAccessEnded Action = "DISCOVERY_ACCESS_ENDED"
)

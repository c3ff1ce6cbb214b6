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

// Actions of the reminders, escalations and expiries of pending work and
// temporary access (issue 14); internal/notify tells people of them.
const (
	// TaskReminded records a reminder sent to a pending task's assignee
	// (data.task, data.reviewer).
	TaskReminded Action = "TASK_REMINDED"
	// TaskEscalated records a pending task moved or added to the next
	// reviewer in the fallback order (data.task, data.to).
	TaskEscalated Action = "TASK_ESCALATED"
	// RequestExpired records a request cancelled because nobody decided it
	// in time.
	RequestExpired Action = "REQUEST_EXPIRED"
	// GrantExpiring records the warning that a temporary grant ends soon.
	GrantExpiring Action = "GRANT_EXPIRING"
	// AccessExtended records a temporary grant whose end moved later.
	AccessExtended Action = "ACCESS_EXTENDED"
)

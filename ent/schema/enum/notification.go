package enum

// NotificationKind is what a notification tells its recipient; a user's
// channels are chosen per kind (notification preferences).
type NotificationKind string

// Values of NotificationKind.
const (
	NotificationKindTaskAssigned             NotificationKind = "TASK_ASSIGNED"
	NotificationKindTaskReminded             NotificationKind = "TASK_REMINDED"
	NotificationKindTaskEscalated            NotificationKind = "TASK_ESCALATED"
	NotificationKindRequestApproved          NotificationKind = "REQUEST_APPROVED"
	NotificationKindRequestDenied            NotificationKind = "REQUEST_DENIED"
	NotificationKindRequestCancelled         NotificationKind = "REQUEST_CANCELLED"
	NotificationKindRequestExpired           NotificationKind = "REQUEST_EXPIRED"
	NotificationKindRequestCompleted         NotificationKind = "REQUEST_COMPLETED"
	NotificationKindAccessGranted            NotificationKind = "ACCESS_GRANTED"
	NotificationKindFulfillmentFailed        NotificationKind = "FULFILLMENT_FAILED"
	NotificationKindAccessRevoked            NotificationKind = "ACCESS_REVOKED"
	NotificationKindAccessExpired            NotificationKind = "ACCESS_EXPIRED"
	NotificationKindGrantExpiring            NotificationKind = "GRANT_EXPIRING"
	NotificationKindAccessExtended           NotificationKind = "ACCESS_EXTENDED"
	NotificationKindManualFulfillmentWaiting NotificationKind = "MANUAL_FULFILLMENT_WAITING"
	NotificationKindWebhookEndpointDisabled  NotificationKind = "WEBHOOK_ENDPOINT_DISABLED"
	NotificationKindBreakGlassInvoked        NotificationKind = "BREAK_GLASS_INVOKED"
)

// EmailStatus is where a notification's e-mail stands.
type EmailStatus string

// Values of EmailStatus.
const (
	// EmailStatusNone: no e-mail is sent (the recipient turned e-mail off
	// for the kind, has no address, or the server sends no e-mail).
	EmailStatusNone EmailStatus = "NONE"
	// EmailStatusPending: the e-mail job has not sent it yet.
	EmailStatusPending EmailStatus = "PENDING"
	// EmailStatusSent: the mail server accepted it.
	EmailStatusSent EmailStatus = "SENT"
	// EmailStatusFailed: every attempt failed.
	EmailStatusFailed EmailStatus = "FAILED"
)

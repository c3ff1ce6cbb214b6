package enum

// WebhookKind is the format of an event webhook endpoint's deliveries.
type WebhookKind string

// Values of WebhookKind.
const (
	// WebhookKindStandard posts the event as JSON signed to the Standard
	// Webhooks specification.
	WebhookKindStandard WebhookKind = "STANDARD"
	// WebhookKindSlack posts a Slack incoming-webhook message {"text": …},
	// unsigned.
	WebhookKindSlack WebhookKind = "SLACK"
)

// WebhookDeliveryStatus is where one delivery of one event to one endpoint
// stands.
type WebhookDeliveryStatus string

// Values of WebhookDeliveryStatus.
const (
	// WebhookDeliveryPending: not attempted yet.
	WebhookDeliveryPending WebhookDeliveryStatus = "PENDING"
	// WebhookDeliveryRetrying: attempted and failed; another attempt is
	// scheduled.
	WebhookDeliveryRetrying WebhookDeliveryStatus = "RETRYING"
	// WebhookDeliverySucceeded: the endpoint answered 2xx.
	WebhookDeliverySucceeded WebhookDeliveryStatus = "SUCCEEDED"
	// WebhookDeliveryFailed: every attempt failed.
	WebhookDeliveryFailed WebhookDeliveryStatus = "FAILED"
	// WebhookDeliveryCancelled: the endpoint was disabled or deleted before
	// the delivery succeeded.
	WebhookDeliveryCancelled WebhookDeliveryStatus = "CANCELLED"
)

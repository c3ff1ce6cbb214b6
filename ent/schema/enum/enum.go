// Package enum holds the enumerations shared by the ent schemas and the GraphQL
// API. Each type T is declared here with its constants; enumgen.go writes the
// rest (enum_gen.go): the list AllTs of the constants, Values for ent,
// IsValid, and MarshalGQL and UnmarshalGQL for gqlgen, which rejects unknown
// values with an error naming the type.
package enum

import (
	"io"
	"slices"

	"gatehouse/internal/errcode"
	"gatehouse/internal/jsonstr"
)

func marshal[T ~string](w io.Writer, v T) {
	jsonstr.Write(w, string(v))
}

func unmarshal[T ~string](dst *T, v any, name string, all []T) error {
	s, ok := v.(string)
	if !ok {
		return errcode.New(errcode.InvalidInput, "%s must be a string, not %T", name, v)
	}
	if !slices.Contains(all, T(s)) {
		return errcode.New(errcode.InvalidInput, "%q is not a valid %s", s, name)
	}
	*dst = T(s)
	return nil
}

func strs[T ~string](all []T) []string {
	out := make([]string, len(all))
	for i, v := range all {
		out[i] = string(v)
	}
	return out
}

// PlatformRole is platform role of a user.
type PlatformRole string

// Values of PlatformRole.
const (
	PlatformRoleUser        PlatformRole = "USER"
	PlatformRoleRiskManager PlatformRole = "RISK_MANAGER"
	PlatformRoleITAdmin     PlatformRole = "IT_ADMIN"
)

// UserStatus is whether a user may sign in.
type UserStatus string

// Values of UserStatus.
const (
	UserStatusActive     UserStatus = "ACTIVE"
	UserStatusTerminated UserStatus = "TERMINATED"
)

// Fulfillment is how approved access reaches an application.
type Fulfillment string

// Values of Fulfillment.
const (
	FulfillmentDirect             Fulfillment = "DIRECT"
	FulfillmentDirectAutoApproved Fulfillment = "DIRECT_AUTO_APPROVED"
	FulfillmentManual             Fulfillment = "MANUAL"
)

// ConnectorKind is the kind of connector an application is provisioned through.
type ConnectorKind string

// Values of ConnectorKind.
const (
	ConnectorKindManual   ConnectorKind = "MANUAL"
	ConnectorKindWebhook  ConnectorKind = "WEBHOOK"
	ConnectorKindScim     ConnectorKind = "SCIM"
	ConnectorKindPostgres ConnectorKind = "POSTGRES"
)

// EntitlementKind is what an entitlement is in its application.
type EntitlementKind string

// Values of EntitlementKind.
const (
	EntitlementKindGroup      EntitlementKind = "GROUP"
	EntitlementKindRole       EntitlementKind = "ROLE"
	EntitlementKindPermission EntitlementKind = "PERMISSION"
	EntitlementKindResource   EntitlementKind = "RESOURCE"
)

// IdentityStatus is the state of an account in an application.
type IdentityStatus string

// Values of IdentityStatus.
const (
	IdentityStatusActive   IdentityStatus = "ACTIVE"
	IdentityStatusDisabled IdentityStatus = "DISABLED"
)

// ReviewerKind is who reviews a stage.
type ReviewerKind string

// Values of ReviewerKind.
const (
	ReviewerKindManager          ReviewerKind = "MANAGER"
	ReviewerKindApplicationOwner ReviewerKind = "APPLICATION_OWNER"
	ReviewerKindEntitlementOwner ReviewerKind = "ENTITLEMENT_OWNER"
	ReviewerKindDesignated       ReviewerKind = "DESIGNATED"
	ReviewerKindRiskManager      ReviewerKind = "RISK_MANAGER"
	ReviewerKindITAdmin          ReviewerKind = "IT_ADMIN"
)

// StageRule is how the decisions of a stage combine.
type StageRule string

// Values of StageRule.
const (
	StageRuleAny    StageRule = "ANY"
	StageRuleAll    StageRule = "ALL"
	StageRuleQuorum StageRule = "QUORUM"
)

// StageStatus is the state of a review stage.
type StageStatus string

// Values of StageStatus.
const (
	StageStatusWaiting  StageStatus = "WAITING"
	StageStatusActive   StageStatus = "ACTIVE"
	StageStatusApproved StageStatus = "APPROVED"
	StageStatusDenied   StageStatus = "DENIED"
	StageStatusSkipped  StageStatus = "SKIPPED"
)

// TaskStatus is the state of a review task.
type TaskStatus string

// Values of TaskStatus.
const (
	TaskStatusWaiting    TaskStatus = "WAITING"
	TaskStatusPending    TaskStatus = "PENDING"
	TaskStatusApproved   TaskStatus = "APPROVED"
	TaskStatusDenied     TaskStatus = "DENIED"
	TaskStatusSkipped    TaskStatus = "SKIPPED"
	TaskStatusReassigned TaskStatus = "REASSIGNED"
)

// RequestAction is whether access is given or taken away.
type RequestAction string

// Values of RequestAction.
const (
	RequestActionGrant  RequestAction = "GRANT"
	RequestActionRevoke RequestAction = "REVOKE"
)

// RequestMode is how the items of a GRANT request are chosen.
type RequestMode string

// Values of RequestMode.
const (
	RequestModeEntitlements RequestMode = "ENTITLEMENTS"
	RequestModeLikeUser     RequestMode = "LIKE_USER"
	RequestModeLikeRole     RequestMode = "LIKE_ROLE"
	RequestModeLikeJobTitle RequestMode = "LIKE_JOB_TITLE"
)

// RequestStatus is the status of a request, derived from its items.
type RequestStatus string

// Values of RequestStatus.
const (
	RequestStatusPendingReview      RequestStatus = "PENDING_REVIEW"
	RequestStatusFulfilling         RequestStatus = "FULFILLING"
	RequestStatusFailed             RequestStatus = "FAILED"
	RequestStatusCancelled          RequestStatus = "CANCELLED"
	RequestStatusDenied             RequestStatus = "DENIED"
	RequestStatusPartiallyCompleted RequestStatus = "PARTIALLY_COMPLETED"
	RequestStatusCompleted          RequestStatus = "COMPLETED"
)

// ItemStatus is the state of one item of a request.
type ItemStatus string

// Values of ItemStatus.
const (
	ItemStatusPendingReview ItemStatus = "PENDING_REVIEW"
	ItemStatusApproved      ItemStatus = "APPROVED"
	ItemStatusFulfilling    ItemStatus = "FULFILLING"
	ItemStatusFulfilled     ItemStatus = "FULFILLED"
	ItemStatusExpired       ItemStatus = "EXPIRED"
	ItemStatusDenied        ItemStatus = "DENIED"
	ItemStatusCancelled     ItemStatus = "CANCELLED"
	ItemStatusFailed        ItemStatus = "FAILED"
)

// ItemReason is why an item exists: asked for by people, or opened by the
// system when a user left or temporary access on a MANUAL application ended.
type ItemReason string

// Values of ItemReason.
const (
	ItemReasonRequested  ItemReason = "REQUESTED"
	ItemReasonTerminated ItemReason = "TERMINATED"
	ItemReasonExpired    ItemReason = "EXPIRED"
	// ItemReasonBreakGlassDenied: the revocation of emergency access that
	// its after-the-fact review denied.
	ItemReasonBreakGlassDenied ItemReason = "BREAK_GLASS_DENIED"
)

// TokenScope is what an API token may do.
type TokenScope string

// Values of TokenScope.
const (
	TokenScopeRead  TokenScope = "READ"
	TokenScopeWrite TokenScope = "WRITE"
)

// UserKind tells people from service accounts. A SERVICE user is a non-human
// account an IT admin creates for an integration: it may own API tokens and
// submit requests on behalf of people, but it is never a manager, an owner,
// a reviewer, a delegate or the beneficiary of a request.
type UserKind string

// Values of UserKind.
const (
	UserKindHuman   UserKind = "HUMAN"
	UserKindService UserKind = "SERVICE"
)

// ExtensionReview is who reviews a request that extends temporary access
// (a lifecycle policy setting).
type ExtensionReview string

// Values of ExtensionReview.
const (
	// ExtensionReviewFull reviews an extension by the application's review
	// policy, like any request.
	ExtensionReviewFull ExtensionReview = "FULL"
	// ExtensionReviewApplicationOwner reviews it in one stage of the
	// application's owners, any one of whom decides.
	ExtensionReviewApplicationOwner ExtensionReview = "APPLICATION_OWNER"
)

// LifecycleSource says where a value of an effective lifecycle policy comes
// from.
type LifecycleSource string

// Values of LifecycleSource.
const (
	LifecycleSourceApplication LifecycleSource = "APPLICATION"
	LifecycleSourceGlobal      LifecycleSource = "GLOBAL"
	LifecycleSourceBuiltIn     LifecycleSource = "BUILT_IN"
)

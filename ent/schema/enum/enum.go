// Package enum holds the enumerations shared by the ent schemas and the GraphQL
// API. Each type lists its values for ent and marshals itself for gqlgen, which
// rejects unknown values with an error naming the type.
package enum

import (
	"io"
	"slices"
	"strconv"

	"gatehouse/internal/errcode"
)

func marshal[T ~string](w io.Writer, v T) {
	_, _ = io.WriteString(w, strconv.Quote(string(v)))
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

// AllPlatformRoles lists every PlatformRole.
var AllPlatformRoles = []PlatformRole{PlatformRoleUser, PlatformRoleRiskManager, PlatformRoleITAdmin}

// Values implements ent's EnumValues.
func (PlatformRole) Values() []string { return strs(AllPlatformRoles) }

// IsValid reports whether v is one of the values.
func (v PlatformRole) IsValid() bool { return slices.Contains(AllPlatformRoles, v) }

// MarshalGQL implements graphql.Marshaler.
func (v PlatformRole) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *PlatformRole) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "PlatformRole", AllPlatformRoles)
}

// UserStatus is whether a user may sign in.
type UserStatus string

// Values of UserStatus.
const (
	UserStatusActive     UserStatus = "ACTIVE"
	UserStatusTerminated UserStatus = "TERMINATED"
)

// AllUserStatuses lists every UserStatus.
var AllUserStatuses = []UserStatus{UserStatusActive, UserStatusTerminated}

// Values implements ent's EnumValues.
func (UserStatus) Values() []string { return strs(AllUserStatuses) }

// IsValid reports whether v is one of the values.
func (v UserStatus) IsValid() bool { return slices.Contains(AllUserStatuses, v) }

// MarshalGQL implements graphql.Marshaler.
func (v UserStatus) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *UserStatus) UnmarshalGQL(x any) error { return unmarshal(v, x, "UserStatus", AllUserStatuses) }

// Fulfillment is how approved access reaches an application.
type Fulfillment string

// Values of Fulfillment.
const (
	FulfillmentDirect             Fulfillment = "DIRECT"
	FulfillmentDirectAutoApproved Fulfillment = "DIRECT_AUTO_APPROVED"
	FulfillmentManual             Fulfillment = "MANUAL"
)

// AllFulfillments lists every Fulfillment.
var AllFulfillments = []Fulfillment{FulfillmentDirect, FulfillmentDirectAutoApproved, FulfillmentManual}

// Values implements ent's EnumValues.
func (Fulfillment) Values() []string { return strs(AllFulfillments) }

// IsValid reports whether v is one of the values.
func (v Fulfillment) IsValid() bool { return slices.Contains(AllFulfillments, v) }

// MarshalGQL implements graphql.Marshaler.
func (v Fulfillment) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *Fulfillment) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "Fulfillment", AllFulfillments)
}

// ConnectorKind is the kind of connector an application is provisioned through.
type ConnectorKind string

// Values of ConnectorKind.
const (
	ConnectorKindManual   ConnectorKind = "MANUAL"
	ConnectorKindWebhook  ConnectorKind = "WEBHOOK"
	ConnectorKindScim     ConnectorKind = "SCIM"
	ConnectorKindPostgres ConnectorKind = "POSTGRES"
)

// AllConnectorKinds lists every ConnectorKind.
var AllConnectorKinds = []ConnectorKind{ConnectorKindManual, ConnectorKindWebhook, ConnectorKindScim, ConnectorKindPostgres}

// Values implements ent's EnumValues.
func (ConnectorKind) Values() []string { return strs(AllConnectorKinds) }

// IsValid reports whether v is one of the values.
func (v ConnectorKind) IsValid() bool { return slices.Contains(AllConnectorKinds, v) }

// MarshalGQL implements graphql.Marshaler.
func (v ConnectorKind) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *ConnectorKind) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "ConnectorKind", AllConnectorKinds)
}

// EntitlementKind is what an entitlement is in its application.
type EntitlementKind string

// Values of EntitlementKind.
const (
	EntitlementKindGroup      EntitlementKind = "GROUP"
	EntitlementKindRole       EntitlementKind = "ROLE"
	EntitlementKindPermission EntitlementKind = "PERMISSION"
	EntitlementKindResource   EntitlementKind = "RESOURCE"
)

// AllEntitlementKinds lists every EntitlementKind.
var AllEntitlementKinds = []EntitlementKind{EntitlementKindGroup, EntitlementKindRole, EntitlementKindPermission, EntitlementKindResource}

// Values implements ent's EnumValues.
func (EntitlementKind) Values() []string { return strs(AllEntitlementKinds) }

// IsValid reports whether v is one of the values.
func (v EntitlementKind) IsValid() bool { return slices.Contains(AllEntitlementKinds, v) }

// MarshalGQL implements graphql.Marshaler.
func (v EntitlementKind) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *EntitlementKind) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "EntitlementKind", AllEntitlementKinds)
}

// IdentityStatus is the state of an account in an application.
type IdentityStatus string

// Values of IdentityStatus.
const (
	IdentityStatusActive   IdentityStatus = "ACTIVE"
	IdentityStatusDisabled IdentityStatus = "DISABLED"
)

// AllIdentityStatuses lists every IdentityStatus.
var AllIdentityStatuses = []IdentityStatus{IdentityStatusActive, IdentityStatusDisabled}

// Values implements ent's EnumValues.
func (IdentityStatus) Values() []string { return strs(AllIdentityStatuses) }

// IsValid reports whether v is one of the values.
func (v IdentityStatus) IsValid() bool { return slices.Contains(AllIdentityStatuses, v) }

// MarshalGQL implements graphql.Marshaler.
func (v IdentityStatus) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *IdentityStatus) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "IdentityStatus", AllIdentityStatuses)
}

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

// AllReviewerKinds lists every ReviewerKind.
var AllReviewerKinds = []ReviewerKind{ReviewerKindManager, ReviewerKindApplicationOwner, ReviewerKindEntitlementOwner, ReviewerKindDesignated, ReviewerKindRiskManager, ReviewerKindITAdmin}

// Values implements ent's EnumValues.
func (ReviewerKind) Values() []string { return strs(AllReviewerKinds) }

// IsValid reports whether v is one of the values.
func (v ReviewerKind) IsValid() bool { return slices.Contains(AllReviewerKinds, v) }

// MarshalGQL implements graphql.Marshaler.
func (v ReviewerKind) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *ReviewerKind) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "ReviewerKind", AllReviewerKinds)
}

// StageRule is how the decisions of a stage combine.
type StageRule string

// Values of StageRule.
const (
	StageRuleAny    StageRule = "ANY"
	StageRuleAll    StageRule = "ALL"
	StageRuleQuorum StageRule = "QUORUM"
)

// AllStageRules lists every StageRule.
var AllStageRules = []StageRule{StageRuleAny, StageRuleAll, StageRuleQuorum}

// Values implements ent's EnumValues.
func (StageRule) Values() []string { return strs(AllStageRules) }

// IsValid reports whether v is one of the values.
func (v StageRule) IsValid() bool { return slices.Contains(AllStageRules, v) }

// MarshalGQL implements graphql.Marshaler.
func (v StageRule) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *StageRule) UnmarshalGQL(x any) error { return unmarshal(v, x, "StageRule", AllStageRules) }

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

// AllStageStatuses lists every StageStatus.
var AllStageStatuses = []StageStatus{StageStatusWaiting, StageStatusActive, StageStatusApproved, StageStatusDenied, StageStatusSkipped}

// Values implements ent's EnumValues.
func (StageStatus) Values() []string { return strs(AllStageStatuses) }

// IsValid reports whether v is one of the values.
func (v StageStatus) IsValid() bool { return slices.Contains(AllStageStatuses, v) }

// MarshalGQL implements graphql.Marshaler.
func (v StageStatus) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *StageStatus) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "StageStatus", AllStageStatuses)
}

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

// AllTaskStatuses lists every TaskStatus.
var AllTaskStatuses = []TaskStatus{TaskStatusWaiting, TaskStatusPending, TaskStatusApproved, TaskStatusDenied, TaskStatusSkipped, TaskStatusReassigned}

// Values implements ent's EnumValues.
func (TaskStatus) Values() []string { return strs(AllTaskStatuses) }

// IsValid reports whether v is one of the values.
func (v TaskStatus) IsValid() bool { return slices.Contains(AllTaskStatuses, v) }

// MarshalGQL implements graphql.Marshaler.
func (v TaskStatus) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *TaskStatus) UnmarshalGQL(x any) error { return unmarshal(v, x, "TaskStatus", AllTaskStatuses) }

// RequestAction is whether access is given or taken away.
type RequestAction string

// Values of RequestAction.
const (
	RequestActionGrant  RequestAction = "GRANT"
	RequestActionRevoke RequestAction = "REVOKE"
)

// AllRequestActions lists every RequestAction.
var AllRequestActions = []RequestAction{RequestActionGrant, RequestActionRevoke}

// Values implements ent's EnumValues.
func (RequestAction) Values() []string { return strs(AllRequestActions) }

// IsValid reports whether v is one of the values.
func (v RequestAction) IsValid() bool { return slices.Contains(AllRequestActions, v) }

// MarshalGQL implements graphql.Marshaler.
func (v RequestAction) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *RequestAction) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "RequestAction", AllRequestActions)
}

// RequestMode is how the items of a GRANT request are chosen.
type RequestMode string

// Values of RequestMode.
const (
	RequestModeEntitlements RequestMode = "ENTITLEMENTS"
	RequestModeLikeUser     RequestMode = "LIKE_USER"
	RequestModeLikeRole     RequestMode = "LIKE_ROLE"
	RequestModeLikeJobTitle RequestMode = "LIKE_JOB_TITLE"
)

// AllRequestModes lists every RequestMode.
var AllRequestModes = []RequestMode{RequestModeEntitlements, RequestModeLikeUser, RequestModeLikeRole, RequestModeLikeJobTitle}

// Values implements ent's EnumValues.
func (RequestMode) Values() []string { return strs(AllRequestModes) }

// IsValid reports whether v is one of the values.
func (v RequestMode) IsValid() bool { return slices.Contains(AllRequestModes, v) }

// MarshalGQL implements graphql.Marshaler.
func (v RequestMode) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *RequestMode) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "RequestMode", AllRequestModes)
}

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

// AllRequestStatuses lists every RequestStatus.
var AllRequestStatuses = []RequestStatus{RequestStatusPendingReview, RequestStatusFulfilling, RequestStatusFailed, RequestStatusCancelled, RequestStatusDenied, RequestStatusPartiallyCompleted, RequestStatusCompleted}

// Values implements ent's EnumValues.
func (RequestStatus) Values() []string { return strs(AllRequestStatuses) }

// IsValid reports whether v is one of the values.
func (v RequestStatus) IsValid() bool { return slices.Contains(AllRequestStatuses, v) }

// MarshalGQL implements graphql.Marshaler.
func (v RequestStatus) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *RequestStatus) UnmarshalGQL(x any) error {
	return unmarshal(v, x, "RequestStatus", AllRequestStatuses)
}

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

// AllItemStatuses lists every ItemStatus.
var AllItemStatuses = []ItemStatus{ItemStatusPendingReview, ItemStatusApproved, ItemStatusFulfilling, ItemStatusFulfilled, ItemStatusExpired, ItemStatusDenied, ItemStatusCancelled, ItemStatusFailed}

// Values implements ent's EnumValues.
func (ItemStatus) Values() []string { return strs(AllItemStatuses) }

// IsValid reports whether v is one of the values.
func (v ItemStatus) IsValid() bool { return slices.Contains(AllItemStatuses, v) }

// MarshalGQL implements graphql.Marshaler.
func (v ItemStatus) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *ItemStatus) UnmarshalGQL(x any) error { return unmarshal(v, x, "ItemStatus", AllItemStatuses) }

// TokenScope is what an API token may do.
type TokenScope string

// Values of TokenScope.
const (
	TokenScopeRead  TokenScope = "READ"
	TokenScopeWrite TokenScope = "WRITE"
)

// AllTokenScopes lists every TokenScope.
var AllTokenScopes = []TokenScope{TokenScopeRead, TokenScopeWrite}

// Values implements ent's EnumValues.
func (TokenScope) Values() []string { return strs(AllTokenScopes) }

// IsValid reports whether v is one of the values.
func (v TokenScope) IsValid() bool { return slices.Contains(AllTokenScopes, v) }

// MarshalGQL implements graphql.Marshaler.
func (v TokenScope) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *TokenScope) UnmarshalGQL(x any) error { return unmarshal(v, x, "TokenScope", AllTokenScopes) }

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

// AllUserKinds lists every UserKind.
var AllUserKinds = []UserKind{UserKindHuman, UserKindService}

// Values implements ent's EnumValues.
func (UserKind) Values() []string { return strs(AllUserKinds) }

// IsValid reports whether v is one of the values.
func (v UserKind) IsValid() bool { return slices.Contains(AllUserKinds, v) }

// MarshalGQL implements graphql.Marshaler.
func (v UserKind) MarshalGQL(w io.Writer) { marshal(w, v) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (v *UserKind) UnmarshalGQL(x any) error { return unmarshal(v, x, "UserKind", AllUserKinds) }

package enum

// RequestForOthers says who may submit a request whose beneficiary is
// someone else (a request policy setting).
type RequestForOthers string

// Values of RequestForOthers.
const (
	// RequestForOthersAnyone lets any active user request for another.
	RequestForOthersAnyone RequestForOthers = "ANYONE"
	// RequestForOthersManagers lets the beneficiary's manager (and IT
	// admins) request for them.
	RequestForOthersManagers RequestForOthers = "MANAGERS"
	// RequestForOthersAdmins lets only IT admins request for others.
	RequestForOthersAdmins RequestForOthers = "ADMINS"
)

// PolicySource says where a value of an effective request policy comes
// from.
type PolicySource string

// Values of PolicySource.
const (
	PolicySourceEntitlement PolicySource = "ENTITLEMENT"
	PolicySourceApplication PolicySource = "APPLICATION"
	PolicySourceGlobal      PolicySource = "GLOBAL"
	PolicySourceBuiltIn     PolicySource = "BUILT_IN"
)

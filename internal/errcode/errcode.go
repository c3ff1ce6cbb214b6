// Package errcode defines the one error type of Gatehouse that carries a code
// clients can act on. The GraphQL error presenter puts the code in
// extensions.code; errors without a code are shown as INTERNAL.
package errcode

import (
	"errors"
	"fmt"
)

// Code is a machine-readable error class (DESIGN §6).
type Code string

// The codes a client may see.
const (
	Unauthenticated  Code = "UNAUTHENTICATED"
	Forbidden        Code = "FORBIDDEN"
	NotFound         Code = "NOT_FOUND"
	InvalidInput     Code = "INVALID_INPUT"
	Conflict         Code = "CONFLICT"
	AlreadyHeld      Code = "ALREADY_HELD"
	NotHeld          Code = "NOT_HELD"
	DuplicatePending Code = "DUPLICATE_PENDING"
	NothingToRequest Code = "NOTHING_TO_REQUEST"
	NoReviewer       Code = "NO_REVIEWER"
	// BreakGlassNotAllowed refuses an emergency (break-glass) request for
	// an entitlement whose request policy does not allow break-glass.
	BreakGlassNotAllowed Code = "BREAK_GLASS_NOT_ALLOWED"
	// DeniedByPolicy: a policy rule with outcome AUTO_DENY matched an
	// item of a submission; the message names the rule and gives its
	// message for the requester. Nothing is written.
	DeniedByPolicy Code = "DENIED_BY_POLICY"
	// SodConflict refuses a request (or stops its fulfilment) that would
	// give a person two entitlements of a BLOCK separation-of-duties
	// conflict set that no risk manager has accepted for them; the message
	// names the set and the entitlements.
	SodConflict Code = "SOD_CONFLICT"
	Internal    Code = "INTERNAL"
)

// Error is an error with a code and a message fit for the client. Field names
// the input field at fault, when there is one.
type Error struct {
	Code    Code
	Message string
	Field   string
	// unparsable marks an input value that does not parse (a scalar):
	// only the error's GraphQL path, which the presenter reads, names it.
	unparsable bool
}

func (e *Error) Error() string { return e.Message }

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an INVALID_INPUT error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: InvalidInput, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// Duplicate returns the CONFLICT error of a value that another record
// already holds where values are unique (a name, an email), naming the field.
func Duplicate(field, format string, args ...any) *Error {
	return &Error{Code: Conflict, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// Unparsable returns the INVALID_INPUT error of an input value that does not
// parse, such as a scalar; the message says why without naming the field,
// which the error presenter names from the error's path.
func Unparsable(format string, args ...any) *Error {
	return &Error{Code: InvalidInput, Message: fmt.Sprintf(format, args...), unparsable: true}
}

// Unparsable reports whether e comes from Unparsable.
func (e *Error) Unparsable() bool { return e.unparsable }

// Of returns the code of err: the code of the first *Error in its chain, or
// Internal.
func Of(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

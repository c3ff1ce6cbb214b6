package authz

import (
	"context"

	"gatehouse/ent/schema/enum"

	"gatehouse/internal/errcode"
)

// Role says which platform roles may do something.
type Role int

// The roles a Need may ask for.
const (
	// AnyRole admits every authenticated viewer.
	AnyRole Role = iota
	// Auditor admits risk managers and IT admins: those who read every row
	// (Viewer.ReadsAll).
	Auditor
	// Admin admits IT admins (Viewer.IsAdmin).
	Admin
	// RiskManager admits risk managers only (accepting a
	// separation-of-duties conflict is theirs, not the IT admins').
	RiskManager
)

// admits reports whether v holds a role r admits.
func (r Role) admits(v *Viewer) bool {
	switch r {
	case Auditor:
		return v.ReadsAll()
	case Admin:
		return v.IsAdmin()
	case RiskManager:
		return v.Role == enum.PlatformRoleRiskManager
	}
	return true
}

// who names the viewers r admits, for the message of a refusal (AnyRole
// refuses nobody).
func (r Role) who() string {
	switch r {
	case Auditor:
		return "risk managers and IT admins"
	case RiskManager:
		return "risk managers"
	}
	return "IT admins"
}

// Need is what a domain operation needs of its caller.
type Need struct {
	// Role is who may call, by platform role.
	Role Role
	// Write refuses READ-scope API tokens: the operation changes something.
	Write bool
	// To says what the operation does, completing "only IT admins may …"
	// and "a READ token cannot …" in the errors; empty reads as "change
	// anything".
	To string
}

// Require returns the viewer of ctx when it meets n. Every domain service
// calls it before its own checks. Errors: UNAUTHENTICATED (no viewer),
// FORBIDDEN (a role n does not admit, or a READ-scope token when n writes).
func Require(ctx context.Context, n Need) (*Viewer, error) {
	v := FromContext(ctx)
	if err := n.check(v); err != nil {
		return nil, err
	}
	return v, nil
}

// check returns Require's error for the viewer v, nil when the caller is
// not authenticated.
func (n Need) check(v *Viewer) error {
	to := n.To
	if to == "" {
		to = "change anything"
	}
	switch {
	case v == nil:
		return errcode.New(errcode.Unauthenticated, "authentication required")
	case !n.Role.admits(v):
		return errcode.New(errcode.Forbidden, "only %s may %s", n.Role.who(), to)
	case n.Write && v.ReadOnly:
		return errcode.New(errcode.Forbidden, "a READ token cannot %s", to)
	}
	return nil
}

package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/grant"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// RequestExtension asks for a temporary grant to end later: it submits, as
// the viewer, a GRANT request of the grant's entitlement for its holder with
// the new end, linked to the grant (AccessRequest.extends_grant_id). The
// request is reviewed like any other, or by the application's owners alone
// when the application's lifecycle policy says so (planReviews). Once
// approved and fulfilled the grant's end moves (ACCESS_EXTENDED with the
// old and new end, and a new expiry job; the old one finds the grant not
// due); denied, the end stays. The new end is endsAt, or the current end
// plus duration (ISO-8601).
//
// The grant's holder, the requester of the request that gave the grant, or
// an IT admin may call it, with a WRITE token. Errors: UNAUTHENTICATED,
// NOT_FOUND (a grant the viewer cannot see), FORBIDDEN (one the viewer sees
// but may not extend), INVALID_INPUT (grantId: permanent or ended access;
// endsAt: both or neither of endsAt and duration, or an end not after the
// current one; duration: not an ISO-8601 duration; justification: empty),
// and the errors of Submit (DUPLICATE_PENDING, NO_REVIEWER, …).
func (s *Service) RequestExtension(ctx context.Context, grantID pulid.ID, duration *string, endsAt *time.Time, justification string) (*ent.AccessRequest, error) {
	v, err := authz.Require(ctx, authz.Need{Write: true, To: "request an extension"})
	if err != nil {
		return nil, err
	}
	notFound := &errcode.Error{Code: errcode.NotFound, Field: "grantId", Message: "grantId: no such grant"}
	g, err := s.client.Grant.Query().Where(grant.ID(grantID)).
		WithIdentity().
		WithSourceItem(func(q *ent.RequestItemQuery) { q.WithRequest() }).
		Only(authz.SystemContext(ctx))
	if ent.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("request extension: load grant: %w", err)
	}
	holder := g.Edges.Identity.UserID
	var requester pulid.ID
	if si := g.Edges.SourceItem; si != nil && si.Edges.Request != nil {
		requester = si.Edges.Request.RequesterID
	}
	if v.UserID != holder && v.UserID != requester && !v.IsAdmin() {
		if _, err := s.client.Grant.Get(ctx, grantID); err != nil {
			return nil, notFound
		}
		return nil, errcode.New(errcode.Forbidden, "only the holder of the access, the requester of the request that gave it, or an IT admin may ask to extend it")
	}
	switch {
	case g.RevokedAt != nil:
		return nil, errcode.Invalid("grantId", "the access has ended; request it again instead")
	case g.EndsAt == nil:
		return nil, errcode.Invalid("grantId", "the access is permanent and needs no extension")
	case (duration == nil) == (endsAt == nil):
		return nil, errcode.Invalid("endsAt", "give either endsAt or duration")
	case strings.TrimSpace(justification) == "":
		return nil, errcode.Invalid("justification", "an extension needs a justification")
	}
	end := endsAt
	if duration != nil {
		d, err := rules.ParseDuration(*duration)
		if err != nil {
			return nil, err
		}
		e := g.EndsAt.Add(d)
		end = &e
	}
	if !end.After(*g.EndsAt) {
		return nil, errcode.Invalid("endsAt", "must be after the current end, %s", g.EndsAt.UTC().Format(time.RFC3339))
	}
	in := SubmitInput{
		Action: enum.RequestActionGrant, BeneficiaryID: &holder, EntitlementIDs: []pulid.ID{g.EntitlementID},
		EndsAt: end, Justification: &justification, ExtendsGrantID: &g.ID,
	}
	req, err := s.Submit(ctx, in, nil)
	if err != nil {
		return nil, fmt.Errorf("request extension of %s: %w", grantID, err)
	}
	return req, nil
}

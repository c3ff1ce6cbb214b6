package workflow

import (
	"gatehouse/ent"
	"gatehouse/internal/authz"
	"gatehouse/internal/workflow/rules"
)

// acting returns the people behind the viewer's call: the user and, for an
// API token, its minter.
func acting(v *authz.Viewer) rules.Acting {
	return rules.Acting{UserID: v.UserID, MintedBy: v.MintedBy}
}

// parties returns the people a request's review must be independent of.
func parties(req *ent.AccessRequest) rules.Parties {
	p := rules.Parties{RequesterID: req.RequesterID, BeneficiaryID: req.BeneficiaryID}
	if req.SubmittedByID != nil {
		p.SubmittedByID = *req.SubmittedByID
	}
	return p
}

// withCredential adds to an audit event's data the API token the viewer
// used and the person who minted it, so that the trail says who stood
// behind an integration's call. JWT callers add nothing: the actor is the
// user.
func withCredential(v *authz.Viewer, data map[string]any) map[string]any {
	if v == nil || v.TokenID == "" {
		return data
	}
	if data == nil {
		data = map[string]any{}
	}
	data["token"] = string(v.TokenID)
	if v.MintedBy != "" {
		data["mintedBy"] = string(v.MintedBy)
	}
	return data
}

// nonEmpty returns &v, or nil for "".
func nonEmpty[T ~string](v T) *T {
	if v == "" {
		return nil
	}
	return &v
}

package resolvers

import (
	"gatehouse/graph"
	"gatehouse/internal/discovery"
)

// syncResult maps a sync's outcome to its GraphQL type.
func syncResult(r *discovery.Result) *graph.SyncResult {
	logins := r.UnmatchedLogins
	if logins == nil {
		logins = []string{}
	}
	return &graph.SyncResult{
		Application:         r.Application,
		EntitlementsCreated: r.EntitlementsCreated,
		IdentitiesCreated:   r.IdentitiesCreated,
		IdentitiesUpdated:   r.IdentitiesUpdated,
		GrantsCreated:       r.GrantsCreated,
		GrantsEnded:         r.GrantsEnded,
		UnmatchedAccounts:   r.UnmatchedAccounts,
		UnmatchedLogins:     logins,
	}
}

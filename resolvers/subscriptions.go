package resolvers

import (
	"context"

	"gatehouse/ent"
	"gatehouse/ent/schema/pulid"
	"gatehouse/graph"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
	"gatehouse/internal/progress"
)

// subscription returns the viewer and the feed of a subscription.
func (r *Resolver) subscription(ctx context.Context) (*authz.Viewer, *progress.Feed, error) {
	v, err := authz.Require(ctx, authz.Need{})
	if err != nil {
		return nil, nil, err
	}
	if r.progress == nil {
		return nil, nil, errcode.New(errcode.Internal, "subscriptions are not configured")
	}
	return v, r.progress, nil
}

// scopeRelation returns the relation of the viewer to the requests of
// scope; none for VISIBLE. The accessRequests query and the
// accessRequestChanged subscription read scopes through it alike.
func scopeRelation(scope graph.RequestScope) (authz.Relation, bool) {
	switch scope {
	case graph.RequestScopeMine:
		return authz.Requester, true
	case graph.RequestScopeForMe:
		return authz.Beneficiary, true
	case graph.RequestScopeToReview:
		return authz.Reviewer, true
	}
	return 0, false
}

// requestProgress subscribes v to one request.
func (r *Resolver) requestProgress(ctx context.Context, id pulid.ID) (<-chan *graph.RequestProgress, error) {
	v, f, err := r.subscription(ctx)
	if err != nil {
		return nil, err
	}
	return progress.SubscribeRequest(ctx, f, v, id, func(ev *progress.Event) *graph.RequestProgress {
		mine, overall := ev.Mine(v.UserID), ev.Overall
		reviewers := make([]*graph.ReviewerCompletion, len(ev.Reviewers))
		for i, rc := range ev.Reviewers {
			reviewers[i] = &graph.ReviewerCompletion{Reviewer: rc.Reviewer, Completion: &rc.Completion}
		}
		return &graph.RequestProgress{Request: ev.Request, Status: ev.Request.Status, Overall: &overall, Mine: &mine, Reviewers: reviewers}
	})
}

// myTaskProgress subscribes v to the requests on which v has tasks.
func (r *Resolver) myTaskProgress(ctx context.Context) (<-chan *graph.TaskProgressEvent, error) {
	v, f, err := r.subscription(ctx)
	if err != nil {
		return nil, err
	}
	return progress.SubscribeTasks(ctx, f, v, func(ev *progress.Event) *graph.TaskProgressEvent {
		mine, overall := ev.Mine(v.UserID), ev.Overall
		return &graph.TaskProgressEvent{Request: ev.Request, Mine: &mine, Overall: &overall}
	}), nil
}

// accessRequestChanged subscribes v to the changes of the requests of scope.
func (r *Resolver) accessRequestChanged(ctx context.Context, scope graph.RequestScope) (<-chan *ent.AccessRequest, error) {
	v, f, err := r.subscription(ctx)
	if err != nil {
		return nil, err
	}
	request := func(ev *progress.Event) *ent.AccessRequest { return ev.Request }
	if rel, ok := scopeRelation(scope); ok {
		return progress.SubscribeRelated(ctx, f, v, rel, request), nil
	}
	return progress.SubscribeVisible(ctx, f, v, request), nil
}

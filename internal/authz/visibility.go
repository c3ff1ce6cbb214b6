package authz

import (
	"context"
	"fmt"
	"slices"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/application"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
)

// Relation is one way a user stands to a request. Each relation is a reason
// to see the request, and the only ones: a USER sees a request when they
// stand to it in at least one relation (VisibleRequest, RequestFacts.VisibleTo);
// risk managers and IT admins see every request.
type Relation int

const (
	// Requester: the user asked for the request.
	Requester Relation = iota
	// Beneficiary: the request is for the user.
	Beneficiary
	// Reviewer: the user has a review task on the request, whatever its
	// status, a REASSIGNED one included. That is the safer meaning: a
	// reviewer keeps reading what they worked on — their own task, which
	// myTasks(status: ALL) lists, and the trail that records their
	// reassignment — instead of rows they acted on vanishing under them,
	// and every path that asks who sees a request gives one answer
	// whatever the task's status. Leaving REASSIGNED tasks out is a
	// completion rule (progress.TaskCounts), not a visibility one.
	Reviewer
	// ManualOwner: the user owns a MANUAL application on which the request
	// has an item waiting to be fulfilled by hand (AwaitsOwner).
	ManualOwner
)

// relations states each relation once in its two forms: as a row filter of
// the requests to which a user stands in it, and as a check of one request's
// facts (RequestFacts, loaded by LoadRequestFacts).
var relations = [...]struct {
	where func(userID pulid.ID) predicate.AccessRequest
	holds func(f *RequestFacts, userID pulid.ID) bool
}{
	Requester: {
		where: accessrequest.RequesterID,
		holds: func(f *RequestFacts, id pulid.ID) bool { return f.RequesterID == id },
	},
	Beneficiary: {
		where: accessrequest.BeneficiaryID,
		holds: func(f *RequestFacts, id pulid.ID) bool { return f.BeneficiaryID == id },
	},
	Reviewer: {
		where: func(id pulid.ID) predicate.AccessRequest {
			return accessrequest.HasTasksWith(reviewtask.ReviewerID(id))
		},
		holds: func(f *RequestFacts, id pulid.ID) bool { return slices.Contains(f.Reviewers, id) },
	},
	ManualOwner: {
		where: func(id pulid.ID) predicate.AccessRequest { return accessrequest.HasItemsWith(AwaitsOwner(id)) },
		holds: func(f *RequestFacts, id pulid.ID) bool { return slices.Contains(f.ManualOwners, id) },
	},
}

// Related is the row filter of the requests to which the user stands in
// relation rel (a scope of the accessRequests query).
func Related(rel Relation, userID pulid.ID) predicate.AccessRequest {
	return relations[rel].where(userID)
}

// VisibleRequest is the row filter of the requests a USER may see: those to
// which they stand in any relation. AccessRequestPolicy and the policies of
// what hangs off a request apply it. Its SQL is built once per dialect
// (sqlOnce).
func VisibleRequest(v *Viewer) predicate.AccessRequest {
	return visibleRequests.where(v.UserID)
}

var visibleRequests = sqlOnce{build: related}

// related is VisibleRequest as ent builds it: the relations' row filters
// ORed.
func related(userID pulid.ID) predicate.AccessRequest {
	ps := make([]predicate.AccessRequest, len(relations))
	for i, rel := range relations {
		ps[i] = rel.where(userID)
	}
	return accessrequest.Or(ps...)
}

// AwaitsPeople is the row filter of the items that wait for people: APPROVED
// items of MANUAL applications (provisioning or de-provisioning by hand),
// and FAILED items of the other applications, whose connector gave up and
// which the owners may complete by hand while an IT admin may still retry.
func AwaitsPeople() predicate.RequestItem {
	return requestitem.Or(
		requestitem.And(
			requestitem.StatusEQ(enum.ItemStatusApproved),
			requestitem.HasApplicationWith(application.FulfillmentEQ(enum.FulfillmentManual)),
		),
		requestitem.And(
			requestitem.StatusEQ(enum.ItemStatusFailed),
			requestitem.HasApplicationWith(application.FulfillmentNEQ(enum.FulfillmentManual)),
		),
	)
}

// AwaitsPeopleNow is the in-memory form of AwaitsPeople: whether an item of
// the given status on an application fulfilled so waits for people.
func AwaitsPeopleNow(status enum.ItemStatus, fulfillment enum.Fulfillment) bool {
	if fulfillment == enum.FulfillmentManual {
		return status == enum.ItemStatusApproved
	}
	return status == enum.ItemStatusFailed
}

// AwaitsOwner is the row filter of the items that wait for the user to
// fulfil them by hand: those of AwaitsPeople whose application the user owns.
func AwaitsOwner(userID pulid.ID) predicate.RequestItem {
	return requestitem.And(AwaitsPeople(), requestitem.HasApplicationWith(application.HasOwnersWith(user.ID(userID))))
}

// RequestFacts are what decides who may see one request: the users standing
// to it in each relation.
type RequestFacts struct {
	RequesterID   pulid.ID
	BeneficiaryID pulid.ID
	// Reviewers have a task on the request, whatever its status; in ID order.
	Reviewers []pulid.ID
	// ManualOwners own a MANUAL application with an item of the request
	// waiting for them (AwaitsOwner); in ID order.
	ManualOwners []pulid.ID
}

// Related reports whether the user stands to the request in relation rel:
// the in-memory form of the row filter Related.
func (f *RequestFacts) Related(rel Relation, userID pulid.ID) bool {
	return relations[rel].holds(f, userID)
}

// VisibleTo reports whether v may see the request: the in-memory form of
// VisibleRequest, with the readers of everything let through as the
// privacy policy lets them.
func (f *RequestFacts) VisibleTo(v *Viewer) bool {
	if v.ReadsAll() {
		return true
	}
	for _, rel := range relations {
		if rel.holds(f, v.UserID) {
			return true
		}
	}
	return false
}

// Audience returns the users standing to the request in some relation, in
// ID order without repeats: every USER who may see it, and the risk managers
// and IT admins among its parties.
func (f *RequestFacts) Audience() []pulid.ID {
	out := append([]pulid.ID{f.RequesterID, f.BeneficiaryID}, f.Reviewers...)
	out = append(out, f.ManualOwners...)
	slices.Sort(out)
	return slices.Compact(out)
}

// LoadRequestFacts reads the facts of the requests with a fixed number of
// queries however many they are (the tasks' reviewers, and the items that
// wait for people with their applications' owners), through ent in a system
// context: only trusted code calls it, to decide who receives what about
// the requests, never to show them.
func LoadRequestFacts(ctx context.Context, client *ent.Client, reqs []*ent.AccessRequest) (map[pulid.ID]*RequestFacts, error) {
	ctx = SystemContext(ctx)
	out := make(map[pulid.ID]*RequestFacts, len(reqs))
	ids := make([]pulid.ID, len(reqs))
	for i, r := range reqs {
		ids[i] = r.ID
		out[r.ID] = &RequestFacts{RequesterID: r.RequesterID, BeneficiaryID: r.BeneficiaryID}
	}
	var reviewers []struct {
		RequestID  pulid.ID `json:"request_id"`
		ReviewerID pulid.ID `json:"reviewer_id"`
	}
	err := client.ReviewTask.Query().Where(reviewtask.RequestIDIn(ids...)).
		GroupBy(reviewtask.FieldRequestID, reviewtask.FieldReviewerID).Scan(ctx, &reviewers)
	if err != nil {
		return nil, fmt.Errorf("load reviewers: %w", err)
	}
	for _, r := range reviewers {
		if f := out[r.RequestID]; f != nil {
			f.Reviewers = append(f.Reviewers, r.ReviewerID)
		}
	}
	items, err := client.RequestItem.Query().Where(requestitem.RequestIDIn(ids...), AwaitsPeople()).
		Select(requestitem.FieldRequestID, requestitem.FieldApplicationID).
		WithApplication(func(q *ent.ApplicationQuery) {
			q.Select(application.FieldID).WithOwners(func(q *ent.UserQuery) { q.Select(user.FieldID) })
		}).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load manual owners: %w", err)
	}
	for _, it := range items {
		f := out[it.RequestID]
		if f == nil || it.Edges.Application == nil {
			continue
		}
		for _, o := range it.Edges.Application.Edges.Owners {
			f.ManualOwners = append(f.ManualOwners, o.ID)
		}
	}
	for _, f := range out {
		slices.Sort(f.Reviewers)
		f.Reviewers = slices.Compact(f.Reviewers)
		slices.Sort(f.ManualOwners)
		f.ManualOwners = slices.Compact(f.ManualOwners)
	}
	return out, nil
}

package progress

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/ent/user"
	"gatehouse/internal/authz"
	"gatehouse/internal/workflow/rules"
)

// Event is a request's progress at one moment, computed once per change and
// shared by every subscriber of this process, which only filters and maps
// it. Subscribers read it and never change it.
type Event struct {
	// Request is the request as read for the event; its edges are not
	// loaded, so that each subscriber's fields query under its own viewer.
	Request *ent.AccessRequest
	// Overall is the request's completion.
	Overall rules.Completion
	// Reviewers are the completions of the reviewers with counted tasks, in
	// reviewer ID order.
	Reviewers []ReviewerCompletion

	counts TaskCounts
	facts  *authz.RequestFacts
	// audience is facts.Audience(): the users whose topic gets the event.
	audience []pulid.ID
	// seq orders events and snapshots: a larger seq was computed from data
	// read later.
	seq uint64
	// print sums up what the event shows and to whom (statuses, counts,
	// audience); forced events (re-sent after a listener loss) go out even
	// when unchanged.
	print  string
	forced bool
}

// ReviewerCompletion is one reviewer's completion on the request.
type ReviewerCompletion struct {
	Reviewer   *ent.User
	Completion rules.Completion
}

// VisibleTo reports whether v may receive the event: whether v may see the
// request (authz.RequestFacts.VisibleTo).
func (e *Event) VisibleTo(v *authz.Viewer) bool { return e.facts.VisibleTo(v) }

// Related reports whether the user stands to the request in relation rel
// (authz.RequestFacts.Related).
func (e *Event) Related(rel authz.Relation, userID pulid.ID) bool {
	return e.facts.Related(rel, userID)
}

// Fingerprint sums up what the event shows and to whom: the request's and
// its items' statuses, each reviewer's task counts and the audience. Two
// events of a request with one fingerprint show the same numbers.
func (e *Event) Fingerprint() string { return e.print }

// Resent reports whether the event is sent again on purpose, whether or not
// anything changed (a resync after a listener loss): subscribers receive it
// even when it repeats what they have.
func (e *Event) Resent() bool { return e.forced }

// Mine is the user's completion on the request; 0/0 (100%) without tasks.
func (e *Event) Mine(userID pulid.ID) rules.Completion { return e.counts.Of(userID) }

// Assigned reports whether the user has counted tasks on the request: the
// requests of their "My Tasks" (a REASSIGNED task counts nowhere).
func (e *Event) Assigned(userID pulid.ID) bool { return e.Mine(userID).Total > 0 }

// snapshot computes one request's current progress for a new subscriber.
// Errors: ent's not-found error when the request does not exist.
func (f *Feed) snapshot(ctx context.Context, id pulid.ID) (*Event, error) {
	seq := f.seq.Add(1)
	events, err := f.compute(authz.SystemContext(ctx), []pulid.ID{id})
	if err != nil {
		return nil, err
	}
	ev := events[id]
	if ev == nil {
		return nil, &ent.NotFoundError{}
	}
	ev.seq = seq
	return ev, nil
}

// compute reads the progress of the requests with a fixed number of queries
// whatever their number: the requests, their task counts, their item
// statuses, their facts (authz.LoadRequestFacts) and their reviewers. It
// returns each event with a fingerprint of what it shows and to whom, to
// skip changes that moved nothing.
func (f *Feed) compute(ctx context.Context, ids []pulid.ID) (map[pulid.ID]*Event, error) {
	reqs, err := f.client.AccessRequest.Query().Where(accessrequest.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load requests: %w", err)
	}
	counts, err := CountTasks(ctx, f.client, ids)
	if err != nil {
		return nil, err
	}
	var items []struct {
		RequestID pulid.ID        `json:"request_id"`
		Status    enum.ItemStatus `json:"status"`
		Count     int             `json:"count"`
	}
	err = f.client.RequestItem.Query().Where(requestitem.RequestIDIn(ids...)).
		GroupBy(requestitem.FieldRequestID, requestitem.FieldStatus).
		Aggregate(ent.Count()).Scan(ctx, &items)
	if err != nil {
		return nil, fmt.Errorf("count items: %w", err)
	}
	itemPrint := map[pulid.ID][]string{}
	for _, it := range items {
		itemPrint[it.RequestID] = append(itemPrint[it.RequestID], fmt.Sprintf("%s=%d", it.Status, it.Count))
	}
	facts, err := authz.LoadRequestFacts(ctx, f.client, reqs)
	if err != nil {
		return nil, err
	}
	var reviewerIDs []pulid.ID
	for _, c := range counts {
		reviewerIDs = append(reviewerIDs, c.Reviewers()...)
	}
	users := map[pulid.ID]*ent.User{}
	if len(reviewerIDs) > 0 {
		us, err := f.client.User.Query().Where(user.IDIn(reviewerIDs...)).All(ctx)
		if err != nil {
			return nil, fmt.Errorf("load reviewers: %w", err)
		}
		for _, u := range us {
			users[u.ID] = u
		}
	}

	events := make(map[pulid.ID]*Event, len(reqs))
	for _, r := range reqs {
		c := counts[r.ID]
		ev := &Event{
			Request:   r,
			Overall:   c.Overall(),
			Reviewers: []ReviewerCompletion{},
			counts:    c,
			facts:     facts[r.ID],
			audience:  facts[r.ID].Audience(),
		}
		var p strings.Builder
		fmt.Fprintf(&p, "%s|", r.Status)
		for _, rid := range c.Reviewers() {
			if u := users[rid]; u != nil {
				ev.Reviewers = append(ev.Reviewers, ReviewerCompletion{Reviewer: u, Completion: c.Of(rid)})
			}
			fmt.Fprintf(&p, "%s:", rid)
			for _, tc := range c {
				if tc.Reviewer == rid {
					fmt.Fprintf(&p, "%s=%d,", tc.Status, tc.N)
				}
			}
			p.WriteByte(';')
		}
		ip := itemPrint[r.ID]
		slices.Sort(ip)
		fmt.Fprintf(&p, "|%s|", strings.Join(ip, ","))
		for _, id := range ev.audience {
			fmt.Fprintf(&p, "%s,", id)
		}
		ev.print = p.String()
		events[r.ID] = ev
	}
	return events, nil
}

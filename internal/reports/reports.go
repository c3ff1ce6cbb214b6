// Package reports renders and serves Gatehouse's audit reports (DESIGN §4.5,
// §7): the report of one access request — its summary, its items and its
// full audit timeline, ending with the verification of its hash chain — as
// CSV, JSON or PDF, and the bulk CSV export of request items, streamed in
// constant memory. Handler serves them under /reports/ with bearer
// authentication; the privacy rules of ent decide who sees what. A
// request's report names people, tasks and catalog objects in its event
// details, with the reviewer role of each task, and keeps their IDs apart;
// its download carries a detached Ed25519 signature (Signer) whose public
// key is served, without authentication, at KeyPath.
package reports

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/ent"
	"gatehouse/ent/accessrequest"
	"gatehouse/ent/application"
	"gatehouse/ent/auditcheckpoint"
	"gatehouse/ent/auditevent"
	"gatehouse/ent/grant"
	"gatehouse/ent/predicate"
	"gatehouse/ent/requestitem"
	"gatehouse/ent/reviewstage"
	"gatehouse/ent/reviewtask"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/errcode"
)

// Report is the audit report of one access request. Its JSON form is the
// .json download; events carry every field their hash covers, so a reader
// can recompute the chain (audit.Canonical, audit.Hash).
type Report struct {
	GeneratedAt  time.Time    `json:"generatedAt"`
	Request      Summary      `json:"request"`
	Items        []Item       `json:"items"`
	Events       []Event      `json:"events"`
	Verification Verification `json:"verification"`
}

// Person names a user.
type Person struct {
	ID    pulid.ID `json:"id"`
	Name  string   `json:"name"`
	Email string   `json:"email"`
}

func (p Person) String() string {
	if p.Email == "" {
		return string(p.ID)
	}
	return fmt.Sprintf("%s <%s>", p.Name, p.Email)
}

// Named names a catalog object.
type Named struct {
	ID   pulid.ID `json:"id"`
	Name string   `json:"name"`
}

// Summary is what the request asked for and where it stands.
type Summary struct {
	ID            pulid.ID   `json:"id"`
	Action        string     `json:"action"`
	Mode          string     `json:"mode"`
	Status        string     `json:"status"`
	Justification string     `json:"justification"`
	Requester     Person     `json:"requester"`
	Beneficiary   Person     `json:"beneficiary"`
	SubmittedAt   time.Time  `json:"submittedAt"`
	CompletedAt   *time.Time `json:"completedAt,omitempty"`
	EndsAt        *time.Time `json:"endsAt,omitempty"`
	Duration      *string    `json:"duration,omitempty"`
}

// Item is one entitlement granted or revoked by the request, with its
// reviews.
type Item struct {
	ID          pulid.ID `json:"id"`
	Action      string   `json:"action"`
	Status      string   `json:"status"`
	Application Named    `json:"application"`
	Entitlement Named    `json:"entitlement"`
	// DecidedAt is when review decided the item, FulfilledAt when the
	// access was provisioned, EndsAt when temporary access ends and
	// AccessEndedAt when it did end (expiry or revocation).
	DecidedAt     *time.Time `json:"decidedAt,omitempty"`
	FulfilledAt   *time.Time `json:"fulfilledAt,omitempty"`
	EndsAt        *time.Time `json:"endsAt,omitempty"`
	AccessEndedAt *time.Time `json:"accessEndedAt,omitempty"`
	Note          string     `json:"note,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	Reviews       []Review   `json:"reviews"`
}

// Review is one reviewer's task on a stage of an item.
type Review struct {
	Level  int      `json:"level"`
	TaskID pulid.ID `json:"taskId"`
	// Kind is the stage's reviewer kind (after fallback) and Role the
	// capacity in which the reviewer reviews (taskRole): "manager",
	// "application owner", "fallback (IT admin)", "escalated (… stage)",
	// "delegate of X (…)" and so on.
	Kind       string     `json:"kind"`
	Role       string     `json:"role"`
	Reviewer   Person     `json:"reviewer"`
	OnBehalfOf *Person    `json:"onBehalfOf,omitempty"`
	Status     string     `json:"status"`
	DecidedAt  *time.Time `json:"decidedAt,omitempty"`
	Comment    string     `json:"comment,omitempty"`
}

func (r Review) String() string {
	s := fmt.Sprintf("L%d %s %s", r.Level, r.Reviewer.Email, r.Status)
	if r.OnBehalfOf != nil {
		s += " for " + r.OnBehalfOf.Email
	}
	if r.Role != "" {
		s += " as " + r.Role
	}
	if r.DecidedAt != nil {
		s += " " + stamp(r.DecidedAt)
	}
	if r.Comment != "" {
		s += fmt.Sprintf(" %q", r.Comment)
	}
	return s
}

func reviewsText(rs []Review) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; ")
}

// Event is one audit event of the request's chain. Actor, RequestID,
// ItemID and Data are as recorded (the hash covers them); ActorName, Item,
// Role and Details say the same for people: names instead of IDs, each
// Detail keeping the ID it names apart.
type Event struct {
	Chain     string    `json:"chain"`
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor"`
	ActorName string    `json:"actorName,omitempty"`
	RequestID *pulid.ID `json:"requestId"`
	ItemID    *pulid.ID `json:"itemId"`
	Item      string    `json:"item,omitempty"`
	// Role is the reviewer role of the task a task event is about (the new
	// task of a reassignment or escalation), "" for other events.
	Role     string         `json:"role,omitempty"`
	Details  []Detail       `json:"details"`
	Data     map[string]any `json:"data"`
	PrevHash string         `json:"prevHash"`
	Hash     string         `json:"hash"`
}

// Verification is the outcome of verifying the request's chain against its
// checkpoints (audit.CheckChain).
type Verification struct {
	Valid          bool   `json:"valid"`
	Checked        int    `json:"checked"`
	FirstBrokenSeq *int64 `json:"firstBrokenSeq,omitempty"`
	Reason         string `json:"reason,omitempty"`
	// Checkpointed is the highest seq of the chain a global checkpoint
	// recorded (0 when none has yet).
	Checkpointed int64 `json:"checkpointed"`
}

// String is the verification line ending every report.
func (v Verification) String() string {
	if v.Valid {
		s := fmt.Sprintf("VALID: %d events verified, hash chain intact", v.Checked)
		if v.Checkpointed > 0 {
			s += fmt.Sprintf(", matches the global checkpoint of seq %d", v.Checkpointed)
		} else {
			s += ", not yet checkpointed"
		}
		return s
	}
	seq := int64(0)
	if v.FirstBrokenSeq != nil {
		seq = *v.FirstBrokenSeq
	}
	return fmt.Sprintf("BROKEN at seq %d: %s (%d events verified before it)", seq, v.Reason, v.Checked)
}

// Service reads reports from the database.
type Service struct {
	client *ent.Client
	now    func() time.Time
}

// New returns a Service reading with client; now stamps the reports.
func New(client *ent.Client, now func() time.Time) *Service {
	return &Service{client: client, now: now}
}

// Request builds the report of the request id, for whoever may see the
// request (privacy applies: the reads use ctx). Errors: UNAUTHENTICATED,
// NOT_FOUND (no such request, or not visible to the viewer).
func (s *Service) Request(ctx context.Context, id pulid.ID) (*Report, error) {
	if _, err := authz.Require(ctx, authz.Need{}); err != nil {
		return nil, err
	}
	req, err := s.client.AccessRequest.Query().Where(accessrequest.ID(id)).
		WithRequester().WithBeneficiary().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errcode.New(errcode.NotFound, "access request %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("reports: request %s: %w", id, err)
	}
	// The viewer may see the request: the rest is read in the system
	// context (their items, stages, tasks, grants and checkpoints).
	sys := authz.SystemContext(ctx)
	items, err := loadItems(sys, s.client, s.client.RequestItem.Query().Where(requestitem.RequestID(id)).Order(requestitem.ByID()))
	if err != nil {
		return nil, fmt.Errorf("reports: items of %s: %w", id, err)
	}
	events, err := s.client.AuditEvent.Query().Where(auditevent.Chain(string(id))).Order(auditevent.BySeq()).All(sys)
	if err != nil {
		return nil, fmt.Errorf("reports: trail of %s: %w", id, err)
	}
	cps, err := s.client.AuditCheckpoint.Query().Where(auditcheckpoint.Chain(string(id))).All(sys)
	if err != nil {
		return nil, fmt.Errorf("reports: checkpoints of %s: %w", id, err)
	}
	users, err := referencedUsers(sys, s.client, events)
	if err != nil {
		return nil, fmt.Errorf("reports: actors of %s: %w", id, err)
	}

	r := &Report{
		GeneratedAt: s.now().UTC().Truncate(time.Second),
		Request: Summary{
			ID: req.ID, Action: string(req.Action), Mode: string(req.Mode), Status: string(req.Status),
			Justification: req.Justification,
			Requester:     person(req.Edges.Requester), Beneficiary: person(req.Edges.Beneficiary),
			SubmittedAt: req.SubmittedAt.UTC(), CompletedAt: utc(req.CompletedAt), EndsAt: utc(req.EndsAt), Duration: req.Duration,
		},
		Items: make([]Item, len(items)),
	}
	n := &namer{users: users, names: map[pulid.ID]string{}, tasks: map[pulid.ID]*Review{}}
	for _, p := range []Person{r.Request.Requester, r.Request.Beneficiary} {
		n.users[p.ID] = p
	}
	// Which tasks an escalation or a reassignment created.
	setRoles(items, originsOf(events))
	for i := range items {
		it := &items[i]
		for j := range it.Reviews {
			rv := &it.Reviews[j]
			n.tasks[rv.TaskID] = rv
			for _, p := range []*Person{&rv.Reviewer, rv.OnBehalfOf} {
				if p != nil {
					n.users[p.ID] = *p
				}
			}
		}
		r.Items[i] = it.Item
		n.names[it.ID] = it.Application.Name + " / " + it.Entitlement.Name
		n.names[it.Application.ID] = it.Application.Name
		n.names[it.Entitlement.ID] = it.Entitlement.Name
	}
	for _, e := range events {
		ev := Event{
			Chain: e.Chain, Seq: e.Seq, At: e.At.UTC(), Action: e.Action, Actor: e.Actor,
			RequestID: e.RequestID, ItemID: e.ItemID, Data: e.Data, PrevHash: e.PrevHash, Hash: e.Hash,
		}
		if p, ok := n.users[pulid.ID(e.Actor)]; ok {
			ev.ActorName = p.String()
		}
		if ev.Data == nil {
			ev.Data = map[string]any{}
		}
		if e.ItemID != nil {
			ev.Item = n.names[*e.ItemID]
		}
		ev.Role, ev.Details = n.details(e.Action, ev.Data)
		if ev.Details == nil {
			ev.Details = []Detail{}
		}
		r.Events = append(r.Events, ev)
	}
	v := audit.CheckChain(string(id), events, cps)
	r.Verification = Verification{Valid: v.Valid, Checked: v.Checked, FirstBrokenSeq: v.FirstBrokenSeq, Reason: v.Reason}
	for _, c := range cps {
		r.Verification.Checkpointed = max(r.Verification.Checkpointed, c.HeadSeq)
	}
	return r, nil
}

func person(u *ent.User) Person {
	if u == nil {
		return Person{}
	}
	return Person{ID: u.ID, Name: u.Name, Email: u.Email}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// stamp formats an optional time for the CSV and PDF forms: RFC 3339 in
// UTC with microseconds when there are any, "" when nil.
func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// loadedItem is an item of a report or export, with its request.
type loadedItem struct {
	Item
	request *ent.AccessRequest
	// fallbacks holds the tasks whose reviewer (or the reviewer a
	// delegate holds the task for) is one of their stage's fallback
	// reviewers.
	fallbacks map[pulid.ID]bool
}

// loadItems runs q (items, already filtered and ordered) with what a report
// row needs: request with requester and beneficiary, application,
// entitlement, stages with tasks and reviewers, and the grant the item made.
// The number of queries does not depend on the number of items.
func loadItems(ctx context.Context, client *ent.Client, q *ent.RequestItemQuery) ([]loadedItem, error) {
	rows, err := q.
		WithRequest(func(q *ent.AccessRequestQuery) { q.WithRequester().WithBeneficiary() }).
		WithApplication().
		WithEntitlement().
		WithStages(func(q *ent.ReviewStageQuery) {
			q.Order(reviewstage.ByLevel()).WithTasks(func(q *ent.ReviewTaskQuery) {
				q.Order(reviewtask.ByID()).WithReviewer().WithOnBehalfOf()
			})
		}).
		All(ctx)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	ids := make([]pulid.ID, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	grants, err := client.Grant.Query().Where(grant.SourceItemIDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	ended := map[pulid.ID]*time.Time{}
	for _, g := range grants {
		if g.SourceItemID != nil && g.RevokedAt != nil {
			ended[*g.SourceItemID] = utc(g.RevokedAt)
		}
	}
	out := make([]loadedItem, len(rows))
	for i, r := range rows {
		it := Item{
			ID: r.ID, Action: string(r.Action), Status: string(r.Status),
			DecidedAt: utc(r.DecidedAt), FulfilledAt: utc(r.FulfilledAt), EndsAt: utc(r.EndsAt), AccessEndedAt: ended[r.ID],
			Note: r.FulfillmentNote, LastError: r.LastError, Reviews: []Review{},
		}
		if a := r.Edges.Application; a != nil {
			it.Application = Named{ID: a.ID, Name: a.Name}
		}
		if e := r.Edges.Entitlement; e != nil {
			it.Entitlement = Named{ID: e.ID, Name: e.Name}
		}
		var fallbacks map[pulid.ID]bool
		for _, st := range r.Edges.Stages {
			for _, t := range st.Edges.Tasks {
				rv := Review{Level: st.Level, TaskID: t.ID, Kind: string(st.ReviewerKind), Reviewer: person(t.Edges.Reviewer), Status: string(t.Status),
					DecidedAt: utc(t.DecidedAt), Comment: t.Comment}
				if t.Edges.OnBehalfOf != nil {
					p := person(t.Edges.OnBehalfOf)
					rv.OnBehalfOf = &p
				}
				if slices.Contains(st.FallbackReviewerIds, t.ReviewerID) ||
					(t.OnBehalfOfID != nil && slices.Contains(st.FallbackReviewerIds, *t.OnBehalfOfID)) {
					if fallbacks == nil {
						fallbacks = map[pulid.ID]bool{}
					}
					fallbacks[t.ID] = true
				}
				it.Reviews = append(it.Reviews, rv)
			}
		}
		slices.SortStableFunc(it.Reviews, func(a, b Review) int { return cmp.Compare(a.Level, b.Level) })
		out[i] = loadedItem{Item: it, request: r.Edges.Request, fallbacks: fallbacks}
	}
	return out, nil
}

// ExportFilter narrows the bulk export. Zero fields do not filter.
type ExportFilter struct {
	// From and To bound the requests' submission time: From inclusive, To
	// exclusive.
	From, To *time.Time
	// Status keeps the items of requests with this status.
	Status enum.RequestStatus
	// ApplicationID keeps the items of this application.
	ApplicationID pulid.ID
}

// ExportRow is one row of the bulk export: an item with its request.
type ExportRow struct {
	RequestID     pulid.ID
	RequestStatus string
	SubmittedAt   time.Time
	CompletedAt   *time.Time
	Requester     Person
	Beneficiary   Person
	Item
}

// exportPage is the number of items read per query batch; memory is bounded
// by it, not by the size of the export.
const exportPage = 500

// Export calls fn with every item matching f, in item ID order (submission
// order), reading exportPage items at a time, so that memory stays flat
// however many items match. Risk managers and IT admins may call it. Errors:
// UNAUTHENTICATED, FORBIDDEN, INVALID_INPUT; fn's errors are returned as
// they are.
func (s *Service) Export(ctx context.Context, f ExportFilter, fn func(*ExportRow) error) error {
	if _, err := authz.Require(ctx, authz.Need{Role: authz.Auditor, To: "export every request"}); err != nil {
		return err
	}
	switch {
	case f.Status != "" && !f.Status.IsValid():
		return errcode.Invalid("status", "%q is not one of %v", f.Status, enum.AllRequestStatuses)
	case f.From != nil && f.To != nil && !f.From.Before(*f.To):
		return errcode.Invalid("from", "must be before to")
	}
	var where []predicate.RequestItem
	if f.ApplicationID != "" {
		// An unknown or malformed ID is a bad parameter, not an empty export.
		ok, err := s.client.Application.Query().Where(application.ID(f.ApplicationID)).Exist(ctx)
		if err != nil {
			return fmt.Errorf("reports: export: find application: %w", err)
		}
		if !ok {
			return errcode.Invalid("application", "no application %q", f.ApplicationID)
		}
		where = append(where, requestitem.ApplicationID(f.ApplicationID))
	}
	var onRequest []predicate.AccessRequest
	if f.From != nil {
		onRequest = append(onRequest, accessrequest.SubmittedAtGTE(*f.From))
	}
	if f.To != nil {
		onRequest = append(onRequest, accessrequest.SubmittedAtLT(*f.To))
	}
	if f.Status != "" {
		onRequest = append(onRequest, accessrequest.StatusEQ(f.Status))
	}
	if len(onRequest) > 0 {
		where = append(where, requestitem.HasRequestWith(onRequest...))
	}
	var after pulid.ID
	for {
		q := s.client.RequestItem.Query().Where(where...).Order(requestitem.ByID()).Limit(exportPage)
		if after != "" {
			q.Where(requestitem.IDGT(after))
		}
		items, err := loadItems(ctx, s.client, q)
		if err != nil {
			return fmt.Errorf("reports: export: %w", err)
		}
		if err := s.exportRoles(ctx, items); err != nil {
			return fmt.Errorf("reports: export: %w", err)
		}
		for i := range items {
			it := &items[i]
			row := &ExportRow{Item: it.Item}
			if r := it.request; r != nil {
				row.RequestID, row.RequestStatus = r.ID, string(r.Status)
				row.SubmittedAt, row.CompletedAt = r.SubmittedAt.UTC(), utc(r.CompletedAt)
				row.Requester, row.Beneficiary = person(r.Edges.Requester), person(r.Edges.Beneficiary)
			}
			if err := fn(row); err != nil {
				return err
			}
			after = it.ID
		}
		if len(items) < exportPage {
			return nil
		}
	}
}

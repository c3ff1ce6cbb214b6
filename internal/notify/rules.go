package notify

import (
	"slices"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
)

// Audience is who, relative to an event, a rule tells.
type Audience int

const (
	// Assignee is the user a task event hands the task to: the event's
	// data.to (delegation, reassignment, escalation), else data.assignee
	// (reminder), else data.reviewer (assignment).
	Assignee Audience = iota
	// Requester is the user who asked for the event's request.
	Requester
	// Beneficiary is the user the event's request is for.
	Beneficiary
	// ManualOwners are the owners of the event item's application, told
	// that the item waits for them to carry it out by hand.
	ManualOwners
	// PreviousAssignee is the user a task event takes the task from: the
	// event's data.from (escalation).
	PreviousAssignee
	// ITAdmins are the active IT admins, for an event of the system chain
	// that an administrator has to act on.
	ITAdmins
	// RiskManagers are the active risk managers, told of emergency
	// (break-glass) access that they review after the fact.
	RiskManagers
)

// Rule says that an event of Action tells the users of To a notification
// of Kind. A Summary rule tells a recipient only when the same change told
// them nothing else about the request (the item events said it already).
type Rule struct {
	Action  audit.Action
	To      []Audience
	Kind    enum.NotificationKind
	Summary bool
	Why     string
}

// Rules is the one table from workflow events to notifications. An action
// without a row tells nobody. To add an action, add a row (and its kind to
// enum.NotificationKind, with its texts in Templates and its defaults in
// DefaultChannels).
var Rules = []Rule{
	{Action: audit.TaskAssigned, To: []Audience{Assignee}, Kind: enum.NotificationKindTaskAssigned,
		Why: "a task became pending: its reviewer has something to decide"},
	{Action: audit.TaskDelegated, To: []Audience{Assignee}, Kind: enum.NotificationKindTaskAssigned,
		Why: "a task went to the reviewer's delegate, who now has to decide it"},
	{Action: audit.TaskReassigned, To: []Audience{Assignee}, Kind: enum.NotificationKindTaskAssigned,
		Why: "a task was moved to another reviewer, who now has to decide it"},
	{Action: audit.TaskReminded, To: []Audience{Assignee}, Kind: enum.NotificationKindTaskReminded,
		Why: "the task is still pending: its reviewer is reminded"},
	{Action: audit.TaskEscalated, To: []Audience{Assignee, PreviousAssignee}, Kind: enum.NotificationKindTaskEscalated,
		Why: "nobody decided in time: the next reviewer in the fallback order has the task, and the previous one learns it left them"},
	{Action: audit.ItemApproved, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindRequestApproved,
		Why: "reviewers approved an item: the people whose request it is learn the decision"},
	{Action: audit.ItemDenied, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindRequestDenied,
		Why: "reviewers denied an item: the people whose request it is learn the decision"},
	{Action: audit.RequestCancelled, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindRequestCancelled,
		Why: "the request was cancelled: whoever did not cancel it learns so"},
	{Action: audit.RequestExpired, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindRequestExpired,
		Why: "nobody decided the request in time and it was cancelled"},
	{Action: audit.AccessGranted, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindAccessGranted,
		Why: "an item was fulfilled: the access exists in the application"},
	{Action: audit.FulfillmentFailed, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindFulfillmentFailed,
		Why: "an approved item could not be fulfilled: the access does not exist"},
	{Action: audit.AccessRevoked, To: []Audience{Beneficiary, Requester}, Kind: enum.NotificationKindAccessRevoked,
		Why: "access was removed from the application"},
	{Action: audit.AccessExpired, To: []Audience{Beneficiary, Requester}, Kind: enum.NotificationKindAccessExpired,
		Why: "temporary access reached its end and was removed"},
	{Action: audit.GrantExpiring, To: []Audience{Beneficiary, Requester}, Kind: enum.NotificationKindGrantExpiring,
		Why: "temporary access ends soon: time to ask for an extension"},
	{Action: audit.AccessExtended, To: []Audience{Beneficiary, Requester}, Kind: enum.NotificationKindAccessExtended,
		Why: "temporary access now ends later"},
	{Action: audit.ManualFulfillmentWaiting, To: []Audience{ManualOwners}, Kind: enum.NotificationKindManualFulfillmentWaiting,
		Why: "an item waits for its application's owners to carry it out by hand: approved on a MANUAL application, a leaver's or an expired grant's removal there, or a connector that gave up"},
	{Action: audit.WebhookEndpointDisabled, To: []Audience{ITAdmins}, Kind: enum.NotificationKindWebhookEndpointDisabled,
		Why: "an event webhook endpoint failed too often and was disabled: an administrator fixes and re-enables it"},
	{Action: audit.BreakGlassInvoked, To: []Audience{RiskManagers}, Kind: enum.NotificationKindBreakGlassInvoked,
		Why: "emergency access was provisioned without review: every risk manager learns it at once, whoever reviews it after the fact"},
	{Action: audit.RequestCompleted, To: []Audience{Requester, Beneficiary}, Kind: enum.NotificationKindRequestCompleted, Summary: true,
		Why: "the request reached its final status; told only to whom the same change told nothing else of it"},
}

// Notifies reports whether an event of the action may tell anyone: the
// outbox hands only those events to the delivery job.
func Notifies(action audit.Action) bool {
	return slices.ContainsFunc(Rules, func(r Rule) bool { return r.Action == action })
}

// Fact is one event with what the rules need to know of it: the people its
// request stands for and the user behind its actor.
type Fact struct {
	Event
	Requester, Beneficiary pulid.ID
	// ManualOwners own the event item's application.
	ManualOwners []pulid.ID
	// ITAdmins are the active IT admins (loaded only for the events of a
	// row that names them).
	ITAdmins []pulid.ID
	// RiskManagers are the active risk managers (loaded only for the
	// events of a row that names them).
	RiskManagers []pulid.ID
	// ActorUser is the user who made the change (the owner of an API
	// token); empty for the system.
	ActorUser pulid.ID
}

// Planned is one notification to write: of the event at index Event, to
// Recipient, of Kind, about Task when it is a task's.
type Planned struct {
	Event     int
	Recipient pulid.ID
	Kind      enum.NotificationKind
	Task      pulid.ID
}

// Plan applies the rules to one change's events, in order: each event
// tells each member of each audience of each of its rows, except the user
// who made the change and anyone with no ID; one change tells a recipient
// the same kind of news about the same item (or request) once; a Summary
// row tells a recipient only when the change told them nothing else about
// the request; an event tells a recipient one thing (the first row that
// names them); a change tells a recipient one piece of news about the
// request as a whole (an expiry, not also the cancellation it causes).
// Visibility and preferences are checked by the caller.
func Plan(facts []Fact) []Planned {
	type seenKey struct {
		recipient pulid.ID
		kind      enum.NotificationKind
		about     pulid.ID
	}
	seen := map[seenKey]bool{}
	once := map[[2]any]bool{}      // event × recipient: one notification each
	told := map[[2]pulid.ID]bool{} // recipient × request
	var out []Planned
	var summaries []Planned
	for i, f := range facts {
		for _, r := range Rules {
			if r.Action != f.Action {
				continue
			}
			for _, to := range r.To {
				for _, u := range f.members(to) {
					if u == "" || u == f.ActorUser {
						continue
					}
					k := seenKey{u, r.Kind, f.about()}
					if f.Item == "" && f.Request != "" {
						k.kind = "" // the request as a whole: one piece of news
					}
					if seen[k] || once[[2]any{i, u}] {
						continue
					}
					seen[k], once[[2]any{i, u}] = true, true
					p := Planned{Event: i, Recipient: u, Kind: r.Kind}
					if to == Assignee {
						p.Task = f.task()
					}
					if r.Summary {
						summaries = append(summaries, p)
						continue
					}
					told[[2]pulid.ID{u, f.Request}] = true
					out = append(out, p)
				}
			}
		}
	}
	for _, p := range summaries {
		if !told[[2]pulid.ID{p.Recipient, facts[p.Event].Request}] {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Planned) int { return a.Event - b.Event })
	return out
}

// members returns the users of an audience of the fact.
func (f Fact) members(a Audience) []pulid.ID {
	switch a {
	case Assignee:
		for _, key := range []string{"to", "assignee", "reviewer"} {
			if id := f.str(key); id != "" {
				return []pulid.ID{pulid.ID(id)}
			}
		}
	case PreviousAssignee:
		return []pulid.ID{pulid.ID(f.str("from"))}
	case Requester:
		return []pulid.ID{f.Requester}
	case Beneficiary:
		return []pulid.ID{f.Beneficiary}
	case ManualOwners:
		return f.ManualOwners
	case ITAdmins:
		return f.ITAdmins
	case RiskManagers:
		return f.RiskManagers
	}
	return nil
}

// about is what the event's news is about: its item, else its request,
// else (outside a request) the row its data names.
func (f Fact) about() pulid.ID {
	switch {
	case f.Item != "":
		return f.Item
	case f.Request != "":
		return f.Request
	}
	return pulid.ID(f.str("id"))
}

// Names reports whether a row of the action tells the audience.
func Names(action audit.Action, a Audience) bool {
	return slices.ContainsFunc(Rules, func(r Rule) bool { return r.Action == action && slices.Contains(r.To, a) })
}

// task returns the task a task event hands over: data.newTask
// (reassignment), else data.task.
func (f Fact) task() pulid.ID {
	if t := f.str("newTask"); t != "" {
		return pulid.ID(t)
	}
	return pulid.ID(f.str("task"))
}

func (f Fact) str(key string) string {
	s, _ := f.Data[key].(string)
	return s
}

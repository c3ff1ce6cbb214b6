package notify_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/notify"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	const (
		req   pulid.ID = "req_1"
		item  pulid.ID = "itm_1"
		item2 pulid.ID = "itm_2"
		alice pulid.ID = "usr_alice" // requester
		bob   pulid.ID = "usr_bob"   // beneficiary
		carol pulid.ID = "usr_carol" // reviewer
		dave  pulid.ID = "usr_dave"  // owner of a MANUAL application
	)
	fact := func(action audit.Action, actor pulid.ID, itemID pulid.ID, data map[string]any) notify.Fact {
		return notify.Fact{
			Event:     notify.Event{Action: action, Actor: string(actor), Request: req, Item: itemID, Data: data},
			Requester: alice, Beneficiary: bob, ActorUser: actor,
		}
	}
	owned := func(f notify.Fact, owners ...pulid.ID) notify.Fact {
		f.ManualOwners = owners
		return f
	}
	type want struct {
		event     int
		recipient pulid.ID
		kind      enum.NotificationKind
		task      pulid.ID
	}
	cases := []struct {
		name  string
		facts []notify.Fact
		want  []want
		why   string
	}{
		{
			name: "submission assigns a task",
			facts: []notify.Fact{
				fact(audit.RequestSubmitted, alice, "", nil),
				fact(audit.ItemAdded, alice, item, nil),
				fact(audit.TaskAssigned, alice, item, map[string]any{"task": "tsk_1", "reviewer": string(carol)}),
			},
			want: []want{{2, carol, enum.NotificationKindTaskAssigned, "tsk_1"}},
			why:  "only the reviewer has something to do; the requester knows what they submitted",
		},
		{
			name: "a delegated task goes to the delegate",
			facts: []notify.Fact{
				fact(audit.TaskDelegated, "", item, map[string]any{"task": "tsk_2", "from": string(carol), "to": string(dave)}),
			},
			want: []want{{0, dave, enum.NotificationKindTaskAssigned, "tsk_2"}},
			why:  "data.to is the new assignee, not data.from",
		},
		{
			name: "a reassigned task names its new task",
			facts: []notify.Fact{
				fact(audit.TaskReassigned, carol, item, map[string]any{"task": "tsk_1", "newTask": "tsk_3", "from": string(carol), "to": string(dave)}),
			},
			want: []want{{0, dave, enum.NotificationKindTaskAssigned, "tsk_3"}},
			why:  "the link goes to the task the new reviewer can act on",
		},
		{
			name: "approval tells requester and beneficiary, not the approver",
			facts: []notify.Fact{
				fact(audit.TaskApproved, carol, item, nil),
				fact(audit.StageApproved, carol, item, nil),
				fact(audit.ItemApproved, carol, item, nil),
			},
			want: []want{{2, alice, enum.NotificationKindRequestApproved, ""}, {2, bob, enum.NotificationKindRequestApproved, ""}},
			why:  "task and stage events are steps; the item's approval is the news",
		},
		{
			name: "the actor is never told",
			facts: []notify.Fact{
				fact(audit.ItemApproved, bob, item, nil),
			},
			want: []want{{0, alice, enum.NotificationKindRequestApproved, ""}},
			why:  "bob made the change (say, as an API token's owner), so he knows",
		},
		{
			name: "a request for oneself tells its requester once",
			facts: []notify.Fact{
				{Event: notify.Event{Action: audit.ItemDenied, Actor: string(carol), Request: req, Item: item}, Requester: alice, Beneficiary: alice, ActorUser: carol},
			},
			want: []want{{0, alice, enum.NotificationKindRequestDenied, ""}},
			why:  "requester and beneficiary are one person: one notification per event and recipient",
		},
		{
			name: "denial with completion tells the decision only",
			facts: []notify.Fact{
				fact(audit.TaskDenied, carol, item, nil),
				fact(audit.ItemDenied, carol, item, nil),
				fact(audit.RequestCompleted, carol, "", map[string]any{"status": "DENIED"}),
			},
			want: []want{{1, alice, enum.NotificationKindRequestDenied, ""}, {1, bob, enum.NotificationKindRequestDenied, ""}},
			why:  "REQUEST_COMPLETED is a summary: the same change told both of the request already",
		},
		{
			name: "completion after the last grant is a summary too",
			facts: []notify.Fact{
				fact(audit.AccessGranted, "system", item, nil),
				fact(audit.RequestCompleted, "system", "", map[string]any{"status": "COMPLETED"}),
			},
			want: []want{{0, alice, enum.NotificationKindAccessGranted, ""}, {0, bob, enum.NotificationKindAccessGranted, ""}},
			why:  "the grant said it; the system actor excludes nobody",
		},
		{
			name: "completion alone is told",
			facts: []notify.Fact{
				fact(audit.RequestCompleted, "system", "", map[string]any{"status": "PARTIALLY_COMPLETED"}),
			},
			want: []want{{0, alice, enum.NotificationKindRequestCompleted, ""}, {0, bob, enum.NotificationKindRequestCompleted, ""}},
			why:  "nothing else in the change told them of the request",
		},
		{
			name: "cancellation tells the beneficiary, not the requester who cancelled",
			facts: []notify.Fact{
				fact(audit.RequestCancelled, alice, "", map[string]any{"reason": "no longer needed"}),
				fact(audit.ItemCancelled, alice, item, nil),
				fact(audit.TaskSkipped, alice, item, map[string]any{"task": "tsk_1"}),
				fact(audit.RequestCompleted, alice, "", map[string]any{"status": "CANCELLED"}),
			},
			want: []want{{0, bob, enum.NotificationKindRequestCancelled, ""}},
			why:  "item cancellations and skipped tasks add nothing; the summary is dropped for bob, who was told",
		},
		{
			name: "manual fulfilment waits for the owners",
			facts: []notify.Fact{
				owned(fact(audit.ItemApproved, carol, item, nil), dave, carol),
				owned(fact(audit.ManualFulfillmentWaiting, carol, item, map[string]any{"reason": "APPROVED"}), dave, carol),
			},
			want: []want{
				{0, alice, enum.NotificationKindRequestApproved, ""},
				{0, bob, enum.NotificationKindRequestApproved, ""},
				{1, dave, enum.NotificationKindManualFulfillmentWaiting, ""},
			},
			why: "the owners act next, told once by the waiting event, not by the approval; carol approved and is not told, even as an owner",
		},
		{
			name: "an item approved without review waits for the owners",
			facts: []notify.Fact{
				owned(fact(audit.ItemAutoApproved, alice, item, nil), dave),
				owned(fact(audit.ManualFulfillmentWaiting, alice, item, map[string]any{"reason": "APPROVED"}), dave),
			},
			want: []want{{1, dave, enum.NotificationKindManualFulfillmentWaiting, ""}},
			why:  "nobody decided, so only the owners, who act next, are told",
		},
		{
			name: "a connector that gave up hands the item to the owners",
			facts: []notify.Fact{
				owned(fact(audit.FulfillmentFailed, "system", item, map[string]any{"error": "boom"}), dave),
				owned(fact(audit.ManualFulfillmentWaiting, "system", item, map[string]any{"reason": "FAILED"}), dave),
			},
			want: []want{
				{0, alice, enum.NotificationKindFulfillmentFailed, ""},
				{0, bob, enum.NotificationKindFulfillmentFailed, ""},
				{1, dave, enum.NotificationKindManualFulfillmentWaiting, ""},
			},
			why: "the people of the request learn of the failure; the owners that it waits for them",
		},
		{
			name: "an owner who is also the requester hears both pieces of news",
			facts: []notify.Fact{
				owned(fact(audit.ItemApproved, carol, item, nil), alice),
				owned(fact(audit.ManualFulfillmentWaiting, carol, item, map[string]any{"reason": "APPROVED"}), alice),
			},
			want: []want{
				{0, alice, enum.NotificationKindRequestApproved, ""}, {0, bob, enum.NotificationKindRequestApproved, ""},
				{1, alice, enum.NotificationKindManualFulfillmentWaiting, ""},
			},
			why: "the approval and the work to do are different news",
		},
		{
			name: "two items approved in one change are two pieces of news",
			facts: []notify.Fact{
				fact(audit.ItemApproved, carol, item, nil),
				fact(audit.ItemApproved, carol, item2, nil),
			},
			want: []want{
				{0, alice, enum.NotificationKindRequestApproved, ""}, {0, bob, enum.NotificationKindRequestApproved, ""},
				{1, alice, enum.NotificationKindRequestApproved, ""}, {1, bob, enum.NotificationKindRequestApproved, ""},
			},
			why: "each item names different access",
		},
		{
			name: "expiry and revocation tell the beneficiary first",
			facts: []notify.Fact{
				fact(audit.AccessExpired, "system", item, nil),
			},
			want: []want{{0, bob, enum.NotificationKindAccessExpired, ""}, {0, alice, enum.NotificationKindAccessExpired, ""}},
			why:  "the beneficiary loses the access; the requester asked for it",
		},
		{
			name: "a reminder goes to the task's assignee",
			facts: []notify.Fact{
				fact(audit.TaskReminded, "system", item, map[string]any{"task": "tsk_1", "assignee": string(carol), "count": 1, "max": 3}),
			},
			want: []want{{0, carol, enum.NotificationKindTaskReminded, "tsk_1"}},
			why:  "the sweep writes data.assignee; nobody else is reminded",
		},
		{
			name: "an escalation tells the new assignee and the previous one",
			facts: []notify.Fact{
				fact(audit.TaskEscalated, "system", item, map[string]any{
					"task": "tsk_1", "newTask": "tsk_4", "from": string(carol), "to": string(dave), "step": "MANAGER",
				}),
			},
			want: []want{{0, dave, enum.NotificationKindTaskEscalated, "tsk_4"}, {0, carol, enum.NotificationKindTaskEscalated, ""}},
			why:  "the new assignee gets the new task; the previous one learns it left them (linked to the request)",
		},
		{
			name: "a pending expiry tells the expiry, not also the cancellation",
			facts: []notify.Fact{
				fact(audit.RequestExpired, "system", "", map[string]any{"reason": "EXPIRED_PENDING", "afterDays": 7}),
				fact(audit.RequestCancelled, "system", "", map[string]any{"reason": "EXPIRED_PENDING"}),
				fact(audit.ItemCancelled, "system", item, nil),
				fact(audit.TaskSkipped, "system", item, map[string]any{"task": "tsk_1"}),
				fact(audit.RequestCompleted, "system", "", map[string]any{"status": "CANCELLED"}),
			},
			want: []want{{0, alice, enum.NotificationKindRequestExpired, ""}, {0, bob, enum.NotificationKindRequestExpired, ""}},
			why:  "one change tells a recipient one piece of news about the request as a whole",
		},
		{
			name: "a grant about to end warns its beneficiary and requester",
			facts: []notify.Fact{
				fact(audit.GrantExpiring, "system", item, map[string]any{
					"grant": "grt_1", "endsAt": "2026-03-01T00:00:00Z", "beneficiary": string(bob), "requester": string(alice),
				}),
			},
			want: []want{{0, bob, enum.NotificationKindGrantExpiring, ""}, {0, alice, enum.NotificationKindGrantExpiring, ""}},
			why:  "on the chain of the grant's source request, whose people are its beneficiary and requester",
		},
		{
			name: "an extension tells the beneficiary and the requester, not the approver",
			facts: []notify.Fact{
				fact(audit.ItemApproved, carol, item, nil),
				fact(audit.AccessExtended, carol, item, map[string]any{"grant": "grt_1", "oldEndsAt": "2026-03-01T00:00:00Z", "newEndsAt": "2026-04-01T00:00:00Z"}),
			},
			want: []want{
				{0, alice, enum.NotificationKindRequestApproved, ""}, {0, bob, enum.NotificationKindRequestApproved, ""},
				{1, bob, enum.NotificationKindAccessExtended, ""}, {1, alice, enum.NotificationKindAccessExtended, ""},
			},
			why: "the decision and the new end are different news",
		},
		{
			name: "a disabled webhook endpoint tells every IT admin",
			facts: []notify.Fact{{
				Event:    notify.Event{Action: audit.WebhookEndpointDisabled, Actor: "system", Data: map[string]any{"id": "whe_1", "consecutiveFailures": 5}},
				ITAdmins: []pulid.ID{carol, dave},
			}},
			want: []want{{0, carol, enum.NotificationKindWebhookEndpointDisabled, ""}, {0, dave, enum.NotificationKindWebhookEndpointDisabled, ""}},
			why:  "outside any request: the administrators fix and re-enable it",
		},
		{
			name: "IT admins hear nothing of a request through the IT-admin row",
			facts: []notify.Fact{
				func() notify.Fact {
					f := fact(audit.ItemApproved, carol, item, nil)
					f.ITAdmins = []pulid.ID{dave}
					return f
				}(),
			},
			want: []want{{0, alice, enum.NotificationKindRequestApproved, ""}, {0, bob, enum.NotificationKindRequestApproved, ""}},
			why:  "only the rows that name the audience tell it",
		},
		{
			name: "break-glass tells every risk manager but the one who used it",
			facts: []notify.Fact{
				fact(audit.ItemAdded, bob, item, nil),
				func() notify.Fact {
					f := fact(audit.BreakGlassInvoked, bob, item, map[string]any{"reason": "outage"})
					f.RiskManagers = []pulid.ID{bob, carol, dave}
					return f
				}(),
				fact(audit.ItemAutoApproved, bob, item, nil),
			},
			want: []want{{1, carol, enum.NotificationKindBreakGlassInvoked, ""}, {1, dave, enum.NotificationKindBreakGlassInvoked, ""}},
			why:  "emergency access skipped review: risk managers learn it at once; a risk manager who used it knows",
		},
		{
			name: "risk managers hear nothing of other events through the risk-manager row",
			facts: []notify.Fact{
				func() notify.Fact {
					f := fact(audit.ItemApproved, carol, item, nil)
					f.RiskManagers = []pulid.ID{dave}
					return f
				}(),
			},
			want: []want{{0, alice, enum.NotificationKindRequestApproved, ""}, {0, bob, enum.NotificationKindRequestApproved, ""}},
			why:  "only the rows that name the audience tell it",
		},
		{
			name: "an event without a rule tells nobody",
			facts: []notify.Fact{
				fact(audit.FulfillmentStarted, "system", item, nil),
				fact(audit.IdentityCreated, "system", item, nil),
			},
			why: "steps of fulfilment are not news",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got []want
			for _, p := range notify.Plan(c.facts) {
				got = append(got, want{p.Event, p.Recipient, p.Kind, p.Task})
			}
			require.Equal(t, c.want, got, c.why)
		})
	}
}

// TestEveryKindHasTextsAndEveryRuleAReason: a row added to the table
// without its texts, or without saying why, is caught here.
func TestEveryKindHasTextsAndEveryRuleAReason(t *testing.T) {
	t.Parallel()
	for _, k := range enum.AllNotificationKinds {
		tpl, ok := notify.Templates[k]
		require.True(t, ok, "texts of %s", k)
		require.NotEmpty(t, tpl.Title, k)
		require.NotEmpty(t, tpl.Body, k)
	}
	for _, r := range notify.Rules {
		require.NotEmpty(t, r.Why, r.Action)
		require.NotEmpty(t, r.To, r.Action)
		require.True(t, r.Kind.IsValid(), r.Action)
	}
}

func TestDefaultChannels(t *testing.T) {
	t.Parallel()
	for _, k := range enum.AllNotificationKinds {
		require.True(t, notify.DefaultChannels(k).InApp, "in-app is on for every kind: %s", k)
	}
	email := map[enum.NotificationKind]bool{
		enum.NotificationKindTaskAssigned: true, enum.NotificationKindTaskReminded: true, enum.NotificationKindTaskEscalated: true,
		enum.NotificationKindRequestApproved: true, enum.NotificationKindRequestDenied: true,
		enum.NotificationKindFulfillmentFailed: true, enum.NotificationKindGrantExpiring: true,
		enum.NotificationKindManualFulfillmentWaiting: true, enum.NotificationKindWebhookEndpointDisabled: true,
		enum.NotificationKindBreakGlassInvoked: true,
	}
	for _, k := range enum.AllNotificationKinds {
		require.Equal(t, email[k], notify.DefaultChannels(k).Email, k)
	}
}

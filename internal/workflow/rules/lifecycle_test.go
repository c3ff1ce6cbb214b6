package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

func TestEffectiveLifecycle(t *testing.T) {
	t.Parallel()
	app := pulid.ID("app_1")
	owner := enum.ExtensionReviewApplicationOwner
	global := &LifecycleSettings{RemindEveryHours: ptr(24.0), EscalateAfterHours: ptr(48.0)}
	own := &LifecycleSettings{RemindEveryHours: ptr(4.0), ExtensionReview: &owner}

	l := EffectiveLifecycle(&app, global, own)
	require.Equal(t, SourcedHours{4, enum.LifecycleSourceApplication}, l.RemindEveryHours, "the application's own value wins")
	require.Equal(t, SourcedHours{48, enum.LifecycleSourceGlobal}, l.EscalateAfterHours, "a value the application leaves unset comes from the global row")
	require.Equal(t, SourcedInt{3, enum.LifecycleSourceBuiltIn}, l.MaxReminders, "a value no row sets is built in")
	require.Equal(t, SourcedReview{owner, enum.LifecycleSourceApplication}, l.ExtensionReview)
	require.Equal(t, &app, l.ApplicationID)

	l = EffectiveLifecycle(nil, nil, nil)
	require.Equal(t, BuiltInLifecycle(), l, "no rows: the built-in policy")
	require.Zero(t, l.RemindEveryHours.Value, "timed behaviour is opt-in")
	require.Zero(t, l.EscalateAfterHours.Value)
	require.Zero(t, l.ExpirePendingDays.Value)
	require.Zero(t, l.WarnBeforeEndDays.Value)

	l = EffectiveLifecycle(&app, &LifecycleSettings{RemindEveryHours: ptr(0.0)}, nil)
	require.Equal(t, SourcedHours{0, enum.LifecycleSourceGlobal}, l.RemindEveryHours, "an explicit 0 is a value, not unset")
}

func TestCheckLifecycle(t *testing.T) {
	t.Parallel()
	bad := enum.ExtensionReview("SOMEONE")
	tests := []struct {
		in    LifecycleSettings
		field string
		why   string
	}{
		{LifecycleSettings{}, "", "nothing set is valid: everything inherits"},
		{LifecycleSettings{RemindEveryHours: ptr(24.0), MaxReminders: ptr(3), EscalateAfterHours: ptr(72.0), ExpirePendingDays: ptr(30), WarnBeforeEndDays: ptr(7)}, "", "a typical policy"},
		{LifecycleSettings{RemindEveryHours: ptr(0.0), MaxReminders: ptr(0)}, "", "reminders off need no count"},
		{LifecycleSettings{RemindEveryHours: ptr(-1.0)}, "remindEveryHours", "negative hours"},
		{LifecycleSettings{MaxReminders: ptr(101)}, "maxReminders", "over 100 reminders"},
		{LifecycleSettings{EscalateAfterHours: ptr(365*24 + 1.0)}, "escalateAfterHours", "over a year of hours"},
		{LifecycleSettings{ExpirePendingDays: ptr(366)}, "expirePendingDays", "over a year of days"},
		{LifecycleSettings{WarnBeforeEndDays: ptr(-3)}, "warnBeforeEndDays", "negative days"},
		{LifecycleSettings{RemindEveryHours: ptr(4.0), MaxReminders: ptr(0)}, "maxReminders", "reminders on with no count contradict"},
		{LifecycleSettings{ExtensionReview: &bad}, "extensionReview", "unknown review"},
		{LifecycleSettings{RemindEveryHours: ptr(0.05), MaxReminders: ptr(3)}, "", "three minutes (the demo)"},
		{LifecycleSettings{EscalateAfterHours: ptr(0.001)}, "escalateAfterHours", "under a minute"},
	}
	for _, tt := range tests {
		err := CheckLifecycle(tt.in)
		if tt.field == "" {
			require.NoError(t, err, tt.why)
			continue
		}
		var e *errcode.Error
		require.ErrorAs(t, err, &e, tt.why)
		require.Equal(t, errcode.InvalidInput, e.Code, tt.why)
		require.Equal(t, tt.field, e.Field, tt.why)
	}
}

func TestReminderDue(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	on := EffectiveLifecycle(nil, &LifecycleSettings{RemindEveryHours: ptr(4.0), MaxReminders: ptr(2)}, nil)
	off := BuiltInLifecycle()
	tests := []struct {
		l          Lifecycle
		sent       int
		remindedAt *time.Time
		now        time.Time
		want       bool
		why        string
	}{
		{on, 0, nil, t0.Add(3 * time.Hour), false, "not yet 4 hours pending"},
		{on, 0, nil, t0.Add(4 * time.Hour), true, "4 hours pending: first reminder"},
		{on, 1, ptr(t0.Add(4 * time.Hour)), t0.Add(7 * time.Hour), false, "3 hours since the last reminder"},
		{on, 1, ptr(t0.Add(4 * time.Hour)), t0.Add(8 * time.Hour), true, "4 hours since the last reminder"},
		{on, 2, ptr(t0.Add(8 * time.Hour)), t0.Add(100 * time.Hour), false, "the count is bounded by maxReminders"},
		{off, 0, nil, t0.Add(1000 * time.Hour), false, "reminders off"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ReminderDue(tt.l, t0, tt.sent, tt.remindedAt, tt.now), tt.why)
	}
}

func TestEscalationDue(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	on := EffectiveLifecycle(nil, &LifecycleSettings{EscalateAfterHours: ptr(24.0)}, nil)
	tests := []struct {
		l           Lifecycle
		escalations int
		now         time.Time
		want        bool
		why         string
	}{
		{on, 0, t0.Add(23 * time.Hour), false, "not pending long enough"},
		{on, 0, t0.Add(24 * time.Hour), true, "pending the full time"},
		{on, 2, t0.Add(24 * time.Hour), true, "a step is left (the IT admins)"},
		{on, MaxEscalations, t0.Add(240 * time.Hour), false, "already with the IT admins: nowhere further"},
		{BuiltInLifecycle(), 0, t0.Add(9999 * time.Hour), false, "escalation off"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, EscalationDue(tt.l, t0, tt.escalations, tt.now), tt.why)
	}
}

func TestEscalationTarget(t *testing.T) {
	t.Parallel()
	const (
		requester   = pulid.ID("usr_req")
		beneficiary = pulid.ID("usr_ben")
		assignee    = pulid.ID("usr_asg")
		boss        = pulid.ID("usr_boss")
		owner1      = pulid.ID("usr_own1")
		owner2      = pulid.ID("usr_own2")
		admin       = pulid.ID("usr_adm")
		gone        = pulid.ID("usr_gone")
	)
	people := map[pulid.ID]Person{}
	for _, id := range []pulid.ID{requester, beneficiary, assignee, boss, owner1, owner2, admin} {
		people[id] = Person{ID: id, Active: true}
	}
	people[gone] = Person{ID: gone, Active: false}
	p := Parties{RequesterID: requester, BeneficiaryID: beneficiary}
	dir := Directory{ApplicationOwnerIDs: []pulid.ID{owner1, owner2}, ITAdminIDs: []pulid.ID{admin}, People: people}
	assigned := map[pulid.ID]bool{assignee: true}
	tests := []struct {
		escalations int
		manager     pulid.ID
		dir         Directory
		assigned    map[pulid.ID]bool
		want        Escalation
		ok          bool
		why         string
	}{
		{0, boss, dir, assigned, Escalation{boss, 1}, true, "first the assignee's manager"},
		{1, owner1, dir, map[pulid.ID]bool{assignee: true, boss: true}, Escalation{owner1, 2}, true, "then an application owner"},
		{2, "", dir, map[pulid.ID]bool{owner1: true}, Escalation{admin, 3}, true, "then an IT admin"},
		{0, requester, dir, assigned, Escalation{owner1, 2}, true, "the manager is the requester: passed over for the owners"},
		{0, beneficiary, dir, assigned, Escalation{owner1, 2}, true, "the manager is the beneficiary: passed over"},
		{0, "", dir, assigned, Escalation{owner1, 2}, true, "no manager: the owners"},
		{0, gone, dir, assigned, Escalation{owner1, 2}, true, "a terminated manager is never a reviewer"},
		{1, "", dir, map[pulid.ID]bool{owner1: true}, Escalation{owner2, 2}, true, "an owner already deciding is passed over, another owner taken"},
		{1, "", Directory{ApplicationOwnerIDs: []pulid.ID{requester, beneficiary}, ITAdminIDs: []pulid.ID{admin}, People: people}, assigned, Escalation{admin, 3}, true, "owners who are requester and beneficiary: the IT admins"},
		{2, "", Directory{ITAdminIDs: []pulid.ID{requester}, People: people}, assigned, Escalation{}, false, "the only IT admin is the requester: the task stays"},
		{3, boss, dir, assigned, Escalation{}, false, "no step left after the IT admins"},
	}
	for _, tt := range tests {
		got, ok := EscalationTarget(tt.escalations, tt.manager, tt.dir, p, tt.assigned)
		require.Equal(t, tt.ok, ok, tt.why)
		require.Equal(t, tt.want, got, tt.why)
	}
}

func TestPendingExpired(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	on := EffectiveLifecycle(nil, &LifecycleSettings{ExpirePendingDays: ptr(14)}, nil)
	require.False(t, PendingExpired(on, t0, t0.Add(14*24*time.Hour-time.Second)), "a second short of 14 days")
	require.True(t, PendingExpired(on, t0, t0.Add(14*24*time.Hour)), "14 days without a decision")
	require.False(t, PendingExpired(BuiltInLifecycle(), t0, t0.Add(10000*time.Hour)), "expiry off")
}

func TestExpiryWarningDue(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	later := end.Add(48 * time.Hour)
	on := EffectiveLifecycle(nil, &LifecycleSettings{WarnBeforeEndDays: ptr(3)}, nil)
	day := 24 * time.Hour
	tests := []struct {
		l                         Lifecycle
		endsAt, revoked, warnedAt *time.Time
		now                       time.Time
		want                      bool
		why                       string
	}{
		{on, &end, nil, nil, end.Add(-4 * day), false, "more than 3 days before the end"},
		{on, &end, nil, nil, end.Add(-3 * day), true, "3 days before the end"},
		{on, &end, nil, &end, end.Add(-day), false, "warned once for this end"},
		{on, &later, nil, &end, later.Add(-day), true, "an extension moved the end: warned again"},
		{on, &end, nil, nil, end, false, "the end has come: the expiry, not a warning"},
		{on, nil, nil, nil, end, false, "permanent access never ends"},
		{on, &end, &end, nil, end.Add(-day), false, "revoked access ends no more"},
		{BuiltInLifecycle(), &end, nil, nil, end.Add(-day), false, "warnings off"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, ExpiryWarningDue(tt.l, tt.endsAt, tt.revoked, tt.warnedAt, tt.now), tt.why)
	}
}

package rules

import (
	"time"

	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/errcode"
)

// LifecycleSettings are the values of one lifecycle policy row, or of the
// input that sets one: a nil value inherits (an application's from the
// global policy, the global policy's from BuiltInLifecycle). Hours and days
// of zero turn the behaviour off.
type LifecycleSettings struct {
	// RemindEveryHours: remind the assignee of a PENDING task every this
	// many hours, at most MaxReminders times.
	RemindEveryHours *float64
	MaxReminders     *int
	// EscalateAfterHours: move a task PENDING this long to the next
	// escalation target (EscalationTarget).
	EscalateAfterHours *float64
	// ExpirePendingDays: cancel a request with no decision after this many
	// days (EXPIRED_PENDING).
	ExpirePendingDays *int
	// WarnBeforeEndDays: warn this many days before a temporary grant ends.
	WarnBeforeEndDays *int
	// ExtensionReview: who reviews an extension of the application's access.
	ExtensionReview *enum.ExtensionReview
}

// SourcedInt is a value of an effective lifecycle policy and where it
// comes from.
type SourcedInt struct {
	Value  int
	Source enum.LifecycleSource
}

// SourcedHours is a number of hours of an effective lifecycle policy and
// where it comes from.
type SourcedHours struct {
	Value  float64
	Source enum.LifecycleSource
}

// Duration is the hours as a duration.
func (h SourcedHours) Duration() time.Duration {
	return time.Duration(h.Value * float64(time.Hour))
}

// SourcedReview is the extension review of an effective lifecycle policy
// and where it comes from.
type SourcedReview struct {
	Value  enum.ExtensionReview
	Source enum.LifecycleSource
}

// Lifecycle is the lifecycle policy in force for an application (or, with
// ApplicationID nil, the global default), each value with its source.
type Lifecycle struct {
	ApplicationID      *pulid.ID
	RemindEveryHours   SourcedHours
	MaxReminders       SourcedInt
	EscalateAfterHours SourcedHours
	ExpirePendingDays  SourcedInt
	WarnBeforeEndDays  SourcedInt
	ExtensionReview    SourcedReview
}

// BuiltInLifecycle is the policy when no row sets a value: no reminders (at
// most 3 once turned on), no escalation, no expiry of undecided requests, no
// warnings, and extensions reviewed like any request. Every timed behaviour
// is opt-in, so that a deployment is never surprised by messages or
// cancellations it did not ask for.
func BuiltInLifecycle() Lifecycle {
	b := enum.LifecycleSourceBuiltIn
	return Lifecycle{
		RemindEveryHours:   SourcedHours{0, b},
		MaxReminders:       SourcedInt{3, b},
		EscalateAfterHours: SourcedHours{0, b},
		ExpirePendingDays:  SourcedInt{0, b},
		WarnBeforeEndDays:  SourcedInt{0, b},
		ExtensionReview:    SourcedReview{enum.ExtensionReviewFull, b},
	}
}

// EffectiveLifecycle merges the policy of application appID (nil for the
// global default itself): each value from the application's row when it
// sets it, else from the global row, else built in. global and app may be
// nil (no row).
func EffectiveLifecycle(appID *pulid.ID, global, app *LifecycleSettings) Lifecycle {
	l := BuiltInLifecycle()
	l.ApplicationID = appID
	layers := []struct {
		s   *LifecycleSettings
		src enum.LifecycleSource
	}{{global, enum.LifecycleSourceGlobal}, {app, enum.LifecycleSourceApplication}}
	for _, layer := range layers {
		s := layer.s
		if s == nil {
			continue
		}
		set := func(dst *SourcedInt, v *int) {
			if v != nil {
				*dst = SourcedInt{*v, layer.src}
			}
		}
		hours := func(dst *SourcedHours, v *float64) {
			if v != nil {
				*dst = SourcedHours{*v, layer.src}
			}
		}
		hours(&l.RemindEveryHours, s.RemindEveryHours)
		set(&l.MaxReminders, s.MaxReminders)
		hours(&l.EscalateAfterHours, s.EscalateAfterHours)
		set(&l.ExpirePendingDays, s.ExpirePendingDays)
		set(&l.WarnBeforeEndDays, s.WarnBeforeEndDays)
		if s.ExtensionReview != nil {
			l.ExtensionReview = SourcedReview{*s.ExtensionReview, layer.src}
		}
	}
	return l
}

// Upper bounds of the lifecycle settings: a year of hours or days, and 100
// reminders per task.
const (
	maxLifecycleHours = 365 * 24
	maxLifecycleDays  = 365
	maxReminderCount  = 100
)

// minLifecycleHours is the shortest period of reminders and escalation
// (one minute), so that a sweep a minute apart keeps up.
const minLifecycleHours = 1.0 / 60

// CheckLifecycle validates the settings of a lifecycle policy. Errors, each
// INVALID_INPUT naming the field: a negative value (or not a number); hours
// over a year (8760) or above zero but under a minute; days over a year
// (365); maxReminders over 100; an unknown extension review; reminders
// turned on (remindEveryHours > 0) with maxReminders 0.
func CheckLifecycle(s LifecycleSettings) error {
	num := func(v *int) *float64 {
		if v == nil {
			return nil
		}
		f := float64(*v)
		return &f
	}
	values := []struct {
		field    string
		v        *float64
		min, max float64
	}{
		{"remindEveryHours", s.RemindEveryHours, minLifecycleHours, maxLifecycleHours},
		{"maxReminders", num(s.MaxReminders), 0, maxReminderCount},
		{"escalateAfterHours", s.EscalateAfterHours, minLifecycleHours, maxLifecycleHours},
		{"expirePendingDays", num(s.ExpirePendingDays), 0, maxLifecycleDays},
		{"warnBeforeEndDays", num(s.WarnBeforeEndDays), 0, maxLifecycleDays},
	}
	for _, f := range values {
		switch {
		case f.v == nil, *f.v == 0:
		case !(*f.v > 0): // negative or NaN
			return errcode.Invalid(f.field, "must not be negative (0 turns it off)")
		case *f.v > f.max:
			return errcode.Invalid(f.field, "must be at most %g", f.max)
		case *f.v < f.min:
			return errcode.Invalid(f.field, "must be 0 (off) or at least %g (a minute)", f.min)
		}
	}
	if s.ExtensionReview != nil && !s.ExtensionReview.IsValid() {
		return errcode.Invalid("extensionReview", "%q is not an extension review", *s.ExtensionReview)
	}
	if s.RemindEveryHours != nil && *s.RemindEveryHours > 0 && s.MaxReminders != nil && *s.MaxReminders == 0 {
		return errcode.Invalid("maxReminders", "reminders every %g hours need maxReminders above 0", *s.RemindEveryHours)
	}
	return nil
}

// ReminderDue reports whether the assignee of a task PENDING since
// pendingSince, reminded `sent` times (the last at remindedAt, nil when
// never), is due a reminder at now: reminders are on, fewer than
// MaxReminders were sent, and RemindEveryHours have passed since the last
// reminder, or since the task became pending.
func ReminderDue(l Lifecycle, pendingSince time.Time, sent int, remindedAt *time.Time, now time.Time) bool {
	every := l.RemindEveryHours.Duration()
	if every <= 0 || sent >= l.MaxReminders.Value {
		return false
	}
	from := pendingSince
	if remindedAt != nil && remindedAt.After(from) {
		from = *remindedAt
	}
	return !now.Before(from.Add(every))
}

// MaxEscalations is the number of escalation steps: the assignee's manager,
// the application owners, the IT admins.
const MaxEscalations = 3

// EscalationDue reports whether a task PENDING since pendingSince, moved by
// `escalations` escalations so far, is to be escalated at now: escalation
// is on, EscalateAfterHours have passed since the task became pending (a
// task an escalation created is pending from its creation), and a step is
// left.
func EscalationDue(l Lifecycle, pendingSince time.Time, escalations int, now time.Time) bool {
	after := l.EscalateAfterHours.Duration()
	if after <= 0 || escalations >= MaxEscalations {
		return false
	}
	return !now.Before(pendingSince.Add(after))
}

// Escalation is where an escalated task goes: the new assignee and the
// escalation step that chose them (1 the assignee's manager, 2 an
// application owner, 3 an IT admin).
type Escalation struct {
	To   pulid.ID
	Step int
}

// EscalationTarget chooses the assignee of a task escalated after
// `escalations` earlier steps, trying the steps after it in order: step 1
// the current assignee's manager (assigneeManager), step 2 the application
// owners, step 3 the IT admins (dir.ApplicationOwnerIDs, dir.ITAdminIDs). A
// candidate is taken when eligible by the rules of ResolveStage: never the
// requester, the beneficiary, the submitter (p), nobody unfit (a service
// account, an inactive user, anyone missing from dir.People), and nobody
// already assigned on the item (assigned, which holds the current assignee
// and everyone deciding in this or another stage). A step that yields
// nobody is passed over. ok is false when no step is left or none yields
// anyone: the task stays where it is.
func EscalationTarget(escalations int, assigneeManager pulid.ID, dir Directory, p Parties, assigned map[pulid.ID]bool) (e Escalation, ok bool) {
	for step := escalations + 1; step <= MaxEscalations; step++ {
		var candidates []pulid.ID
		switch step {
		case 1:
			candidates = []pulid.ID{assigneeManager}
		case 2:
			candidates = dir.ApplicationOwnerIDs
		case 3:
			candidates = dir.ITAdminIDs
		}
		for _, id := range candidates {
			if ineligible(dir.person(id), p, assigned) == "" {
				return Escalation{To: id, Step: step}, true
			}
		}
	}
	return Escalation{}, false
}

// PendingExpired reports whether a request submitted at submittedAt, still
// waiting for a decision, has waited past ExpirePendingDays at now.
func PendingExpired(l Lifecycle, submittedAt, now time.Time) bool {
	days := l.ExpirePendingDays.Value
	if days <= 0 {
		return false
	}
	return !now.Before(submittedAt.Add(time.Duration(days) * 24 * time.Hour))
}

// ExpiryWarningDue reports whether a grant ending at endsAt (nil:
// permanent) and not revoked is to be warned of at now: warnings are on,
// the end is within WarnBeforeEndDays and not yet reached, and no warning
// was given for this end (warnedFor is the end the last warning was for; an
// extension moves the end and earns a new warning).
func ExpiryWarningDue(l Lifecycle, endsAt, revokedAt, warnedFor *time.Time, now time.Time) bool {
	days := l.WarnBeforeEndDays.Value
	if days <= 0 || endsAt == nil || revokedAt != nil || !now.Before(*endsAt) {
		return false
	}
	if warnedFor != nil && warnedFor.Equal(*endsAt) {
		return false
	}
	return !now.Before(endsAt.Add(-time.Duration(days) * 24 * time.Hour))
}

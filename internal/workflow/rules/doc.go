// Package rules holds the workflow rules of DESIGN §4 as pure functions:
// stage evaluation, request status derivation, completion arithmetic, the
// choice of review policy, reviewer resolution and eligibility, delegation,
// time limits and access ends, LIKE_* mode resolution, and the lifecycle
// timings (effective policy, reminders, escalation targets, pending expiry,
// expiry warnings).
//
// Nothing here reads the database, the environment or the clock: callers
// (package workflow) load the values, pass them in together with now, and
// act on what comes back. Every function may be called by anyone; the
// authorization of the caller's viewer is the caller's business. Errors that
// a client should see carry an errcode code (INVALID_INPUT, NO_REVIEWER);
// errors without a code mean the caller passed inconsistent data.
package rules

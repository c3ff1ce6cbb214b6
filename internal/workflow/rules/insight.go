package rules

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Cohort is a kind of group of a beneficiary's peers.
type Cohort string

// The cohorts of peer coverage, in the order they are shown.
const (
	CohortJobTitle   Cohort = "JOB_TITLE"
	CohortDepartment Cohort = "DEPARTMENT"
	CohortManager    Cohort = "MANAGER"
)

// PeerCoverage says how many of one cohort of a beneficiary's peers hold an
// entitlement. Size, Holders and Percent are nil when the cohort is Hidden:
// fewer than MinCohort peers, the bound LIKE_JOB_TITLE keeps for the same
// reason (the numbers would tell what one or two people hold).
type PeerCoverage struct {
	Cohort Cohort
	// Name is the job title, the department or the manager's name.
	Name    string
	Hidden  bool
	Size    *int
	Holders *int
	Percent *float64
	// Summary says it in words.
	Summary string
}

// Coverage is the coverage of a cohort of size peers (the beneficiary left
// out) of whom holders hold the entitlement; a cohort smaller than
// MinCohort is hidden and its numbers are left out.
func Coverage(cohort Cohort, name string, size, holders int) PeerCoverage {
	c := PeerCoverage{Cohort: cohort, Name: name}
	if size < MinCohort {
		c.Hidden = true
		c.Summary = fmt.Sprintf("Fewer than %d %s: not shown", MinCohort, cohortPeople(cohort, name))
		return c
	}
	holders = min(max(holders, 0), size)
	pct := 100 * float64(holders) / float64(size)
	c.Size, c.Holders, c.Percent = &size, &holders, &pct
	c.Summary = fmt.Sprintf("%d of %d %s hold this", holders, size, cohortPeople(cohort, name))
	return c
}

// cohortPeople names people of a cohort (always two or more here):
// "Data Analysts", "people in Finance", "people reporting to Dana Scott".
func cohortPeople(cohort Cohort, name string) string {
	switch cohort {
	case CohortJobTitle:
		return Plural(name)
	case CohortDepartment:
		return "people in " + name
	default:
		return "people reporting to " + name
	}
}

// Plural is the English plural of a job title, made on its last word:
// "Data Analyst" → "Data Analysts", "Secretary" → "Secretaries",
// "Sales Boss" → "Sales Bosses". A title ending in something other than a
// lower-case letter (an acronym, a number) gets "people with the title …".
func Plural(title string) string {
	title = strings.TrimSpace(title)
	if title == "" {
		return "people"
	}
	last := []rune(title)[len([]rune(title))-1]
	if !unicode.IsLower(last) {
		return "people with the title " + title
	}
	switch {
	case strings.HasSuffix(title, "y") && len(title) > 1 && !strings.ContainsRune("aeiou", rune(title[len(title)-2])):
		return title[:len(title)-1] + "ies"
	case strings.HasSuffix(title, "s"), strings.HasSuffix(title, "x"),
		strings.HasSuffix(title, "ch"), strings.HasSuffix(title, "sh"):
		return title + "es"
	default:
		return title + "s"
	}
}

// GrantSpan is one grant of an entitlement to a person: when it began and,
// once it ended, when and why.
type GrantSpan struct {
	GrantedAt time.Time
	EndedAt   *time.Time
	Reason    string
}

// PastHolding is the last ended holding of an entitlement, and how many
// have ended.
type PastHolding struct {
	GrantedAt  time.Time
	EndedAt    time.Time
	Reason     string
	TimesEnded int
}

// LastEnded returns the holding that ended last among hs, with the number
// of ended holdings; nil when none ended.
func LastEnded(hs []GrantSpan) *PastHolding {
	var out *PastHolding
	n := 0
	for _, h := range hs {
		if h.EndedAt == nil {
			continue
		}
		n++
		if out == nil || h.EndedAt.After(out.EndedAt) {
			out = &PastHolding{GrantedAt: h.GrantedAt, EndedAt: *h.EndedAt, Reason: h.Reason}
		}
	}
	if out != nil {
		out.TimesEnded = n
	}
	return out
}

// DaysSince is the number of whole days from start to now, negative when
// start is still ahead (a start date in the future); days are counted in
// UTC calendar days, so a start date given as a date counts from its
// midnight.
func DaysSince(start, now time.Time) int {
	s := time.Date(start.UTC().Year(), start.UTC().Month(), start.UTC().Day(), 0, 0, 0, 0, time.UTC)
	n := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	return int(n.Sub(s).Hours() / 24)
}

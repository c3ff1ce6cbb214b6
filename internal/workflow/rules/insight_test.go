package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCoverage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cohort        Cohort
		name          string
		size, holders int
		hidden        bool
		percent       float64
		summary       string
		why           string
	}{
		{CohortJobTitle, "Data Analyst", 9, 7, false, 700.0 / 9, "7 of 9 Data Analysts hold this", "the issue's example"},
		{CohortDepartment, "Finance", 30, 12, false, 40, "12 of 30 people in Finance hold this", "the issue's example"},
		{CohortManager, "Dana Scott", 3, 0, false, 0, "0 of 3 people reporting to Dana Scott hold this", "3 peers is the smallest cohort shown, and none holding is worth saying"},
		{CohortJobTitle, "Data Analyst", 2, 2, true, 0, "Fewer than 3 Data Analysts: not shown", "2 peers would tell who holds it"},
		{CohortDepartment, "Legal", 0, 0, true, 0, "Fewer than 3 people in Legal: not shown", "the beneficiary alone in the department"},
		{CohortManager, "Dana Scott", 1, 0, true, 0, "Fewer than 3 people reporting to Dana Scott: not shown", "one sibling is hidden too"},
		{CohortDepartment, "Finance", 4, 9, false, 100, "4 of 4 people in Finance hold this", "holders never exceed the cohort, whatever the counts said"},
	}
	for _, tt := range tests {
		c := Coverage(tt.cohort, tt.name, tt.size, tt.holders)
		require.Equal(t, tt.hidden, c.Hidden, tt.why)
		require.Equal(t, tt.summary, c.Summary, tt.why)
		if tt.hidden {
			require.Nil(t, c.Size, tt.why)
			require.Nil(t, c.Holders, tt.why)
			require.Nil(t, c.Percent, tt.why)
			continue
		}
		require.Equal(t, tt.size, *c.Size, tt.why)
		require.InDelta(t, tt.percent, *c.Percent, 1e-9, tt.why)
	}
}

func TestPlural(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, why string }{
		{"Data Analyst", "Data Analysts", "a plain noun takes s"},
		{"Secretary", "Secretaries", "consonant + y becomes ies"},
		{"Attorney", "Attorneys", "vowel + y takes s"},
		{"Sales Boss", "Sales Bosses", "s takes es"},
		{"Tech Lead", "Tech Leads", "only the last word changes"},
		{"CTO", "people with the title CTO", "an acronym is not pluralised by guess"},
		{"", "people", "no title"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, Plural(tt.in), tt.why)
	}
}

func TestLastEnded(t *testing.T) {
	t.Parallel()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	ptr := func(t time.Time) *time.Time { return &t }
	tests := []struct {
		hs   []GrantSpan
		want *PastHolding
		why  string
	}{
		{nil, nil, "never held"},
		{[]GrantSpan{{GrantedAt: day(1)}}, nil, "held now and never ended"},
		{[]GrantSpan{{GrantedAt: day(1), EndedAt: ptr(day(5)), Reason: "expired"}},
			&PastHolding{GrantedAt: day(1), EndedAt: day(5), Reason: "expired", TimesEnded: 1}, "one ended holding"},
		{[]GrantSpan{
			{GrantedAt: day(10), EndedAt: ptr(day(12)), Reason: "revoked"},
			{GrantedAt: day(1), EndedAt: ptr(day(5)), Reason: "expired"},
			{GrantedAt: day(20)},
		}, &PastHolding{GrantedAt: day(10), EndedAt: day(12), Reason: "revoked", TimesEnded: 2},
			"the latest end wins whatever the order, and a current holding does not count as ended"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, LastEnded(tt.hs), tt.why)
	}
}

func TestDaysSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 8, 30, 0, 0, time.UTC)
	tests := []struct {
		start time.Time
		want  int
		why   string
	}{
		{time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), 0, "starting today is day 0"},
		{time.Date(2026, 3, 9, 23, 0, 0, 0, time.UTC), 1, "calendar days, not 24-hour spans"},
		{time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC), 30, "a month ago"},
		{time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), 365, "a year ago"},
		{time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), -5, "a start still ahead is negative"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, DaysSince(tt.start, now), tt.why)
	}
}

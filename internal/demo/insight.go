package demo

import "time"

// startedDaysAgo is how many days before seeding each demo person started
// (User.startDate, shown to reviewers as daysSinceBeneficiaryStart): Grace
// Liu is a new joiner, whose requests a reviewer may want to look at twice.
var startedDaysAgo = map[string]int{
	"margaret.chen@example.com":   3650,
	"david.okafor@example.com":    2900,
	adminEmail:                    1800,
	"sofia.alvarez@example.com":   1500,
	"james.park@example.com":      700,
	"aisha.rahman@example.com":    420,
	"tom.becker@example.com":      950,
	"rachel.goldberg@example.com": 2400,
	"nadia.kowalski@example.com":  1100,
	"liam.obrien@example.com":     600,
	"mei.tanaka@example.com":      250,
	"carlos.mendes@example.com":   2000,
	"emma.schultz@example.com":    800,
	"noah.williams@example.com":   330,
	"grace.liu@example.com":       12,
}

// startDate is the start date of the demo person with the given email,
// at midnight UTC; nil for someone not listed.
func startDate(now time.Time, email string) *time.Time {
	days, ok := startedDaysAgo[email]
	if !ok {
		return nil
	}
	d := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -days)
	return &d
}

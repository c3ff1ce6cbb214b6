package rules_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/errcode"
	"gatehouse/internal/workflow/rules"
)

// FuzzParseDuration checks that any duration string either parses to a
// positive duration or is refused with INVALID_INPUT naming duration, and
// never panics.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT8H", "P30D", "P1DT12H", "P1Y2M3W4DT5H6M7.5S", "-PT1H", "PT0S", "P999999999Y", "forever", "", "P", "PT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := rules.ParseDuration(s)
		if err != nil {
			var ce *errcode.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, errcode.InvalidInput, ce.Code)
			require.Equal(t, "duration", ce.Field)
			return
		}
		require.Positive(t, d)
	})
}

//go:build race

package static

import "testing"

// skipIfRace skips allocation tests under the race detector, whose
// instrumentation allocates.
func skipIfRace(t *testing.T) {
	t.Helper()
	t.Skip("allocation counts are not meaningful under the race detector")
}

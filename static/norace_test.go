//go:build !race

package static

import "testing"

func skipIfRace(t *testing.T) { t.Helper() }

//go:build race

package broadcast

const raceEnabled = true

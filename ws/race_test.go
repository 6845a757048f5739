//go:build race

package ws

// raceEnabled: sync.Pool drops items at random under the race detector, so
// allocation counts of pooled paths are not checked.
const raceEnabled = true

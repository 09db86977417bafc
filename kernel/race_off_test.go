//go:build !race

package kernel

// raceEnabled: the tests run under the race detector.
const raceEnabled = false

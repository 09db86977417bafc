//go:build race

package debug

// raceEnabled: the tests run under the race detector, where the
// interpreter is an order of magnitude slower.
const raceEnabled = true

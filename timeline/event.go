// Package timeline draws klpsim's event stream (package events): the
// --json stream (zerolog, one object a line, schema in docs/events.md),
// the Chrome trace for Perfetto (WriteTrace) and the HTML timeline
// (WriteHTML).
package timeline

import "klpsim/events"

// The event model lives in package events (below scenarios, which checks
// conditions on it); these names keep timeline's API.
type (
	// Event is events.Event.
	Event = events.Event
	// Recorder is events.Recorder.
	Recorder = events.Recorder
)

// Version is events.Version.
const Version = events.Version

// Event kinds beyond the livepatch core's (events.Kind*).
const (
	KindCommand    = events.KindCommand
	KindTest       = events.KindTest
	KindResult     = events.KindResult
	KindFailed     = events.KindFailed
	KindSched      = events.KindSched
	KindModule     = events.KindModule
	KindViolation  = events.KindViolation
	KindPatchState = events.KindPatchState
)

func intp(n int) *int { return &n }

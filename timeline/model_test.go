package timeline

import (
	"reflect"
	"strings"
	"testing"
)

// TestBuildReverse: after klp_reverse_transition a task that had
// switched is pending back, one that had not is already at the new
// target; the fake signal marks the tasks still pending.
func TestBuildReverse(t *testing.T) {
	c0 := intp(0)
	evs := []Event{
		{TimeNS: 0, Kind: KindSched, CPU: c0, PID: 5, PPID: 2, Task: "a", State: "sleeping"},
		{TimeNS: 0, Kind: KindSched, CPU: c0, PID: 6, PPID: 2, Task: "b", State: "sleeping"},
		{TimeNS: 10, Kind: "init", Patch: "p", Target: "patched"},
		{TimeNS: 10, Kind: "start", Patch: "p", Target: "patched", Pending: intp(2)},
		{TimeNS: 10, Kind: "switched", PID: 5, Task: "a", Patch: "p", Target: "patched", How: "stack-check", Pending: intp(1)},
		{TimeNS: 20, Kind: "signals", Patch: "p", Target: "patched", Pending: intp(1)},
		{TimeNS: 30, Kind: "reversed", Patch: "p", Target: "unpatched", Pending: intp(0)},
		{TimeNS: 30, Kind: "start", Patch: "p", Target: "unpatched", Pending: intp(1)},
		{TimeNS: 40, Kind: "switched", PID: 5, Task: "a", Patch: "p", Target: "unpatched", How: "sched", Pending: intp(0)},
		{TimeNS: 40, Kind: "complete", Patch: "p", Target: "unpatched", Pending: intp(0)},
		{TimeNS: 40, Kind: KindPatchState, Patch: "p", State: "disabled", Target: "unpatched"},
		{TimeNS: 50, Kind: KindResult, Result: "ok"},
	}
	pics := Build(evs)
	if len(pics) != 1 || len(pics[0].Lanes) != 2 {
		t.Fatalf("pictures %v", pics)
	}
	a, b := pics[0].Lanes[0], pics[0].Lanes[1]
	want := []Span{{0, 10, "unpatched"}, {10, 30, "patched"}, {30, 40, "pending-unpatched"}, {40, 50, "unpatched"}}
	if !reflect.DeepEqual(a.Patch, want) {
		t.Errorf("a's band %v\nwant %v", a.Patch, want)
	}
	want = []Span{{0, 10, "unpatched"}, {10, 30, "pending-patched"}, {30, 50, "unpatched"}}
	if !reflect.DeepEqual(b.Patch, want) {
		t.Errorf("b's band %v\nwant %v", b.Patch, want)
	}
	var sig []int
	for _, l := range pics[0].Lanes {
		for _, m := range l.Marks {
			if m.Kind == "signal" {
				sig = append(sig, l.PID)
			}
		}
	}
	if !reflect.DeepEqual(sig, []int{6}) {
		t.Errorf("fake signal markers on %v, want [6]", sig)
	}
	var steps []int
	for _, s := range pics[0].Steps {
		steps = append(steps, s.Count)
	}
	if !reflect.DeepEqual(steps, []int{2, 1, 0, 1, 0}) {
		t.Errorf("steps %v", steps)
	}
}

// TestBuildDense: a task blocked at every one of thousands of
// cond_resched calls within a pixel gets one marker that says so.
func TestBuildDense(t *testing.T) {
	evs := []Event{{TimeNS: 0, Kind: KindSched, CPU: intp(1), PID: 4, PPID: 2, Task: "kworker/1:0", State: "running"}}
	for i := range 1000 {
		evs = append(evs, Event{TimeNS: 1000 + uint64(i), Kind: "blocked", PID: 4, Task: "kworker/1:0", Why: "sleeping-on-function", Func: "f"})
	}
	evs = append(evs, Event{TimeNS: 500e6, Kind: "blocked", PID: 4, Task: "kworker/1:0", Why: "sleeping-on-function", Func: "f"},
		Event{TimeNS: 1e9, Kind: KindResult, Result: "ok"})
	l := Build(evs)[0].Lanes[0]
	if len(l.Marks) != 2 || l.Marks[0].Label != "blocked ×1000" || l.Marks[0].At != 1000 || l.Marks[1].Label != "blocked" {
		t.Errorf("markers %+v", l.Marks)
	}
	if want := "(1000 like it until 0.000001999s)"; !strings.HasSuffix(l.Marks[0].Detail, want) {
		t.Errorf("tooltip %q, want it to end %q", l.Marks[0].Detail, want)
	}
}

package timeline

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// many is a run of n tasks on 4 CPUs: each runs now and then, a
// transition switches all of them, blocked ones after a few retries.
func many(n, blocked int) []Event {
	var evs []Event
	add := func(e Event) { e.Version, e.Scenario = Version, "many.scn"; evs = append(evs, e) }
	for c := range 4 {
		add(Event{Kind: KindSched, CPU: intp(c), Task: fmt.Sprintf("swapper/%d", c), State: "running"})
	}
	add(Event{Kind: KindCommand, Line: 1, Text: `start_test "many"`})
	add(Event{Kind: KindTest, Test: "many"})
	for i := range n {
		pid := 10 + i
		cpu := intp(i % 4)
		name := "spinner"
		at := uint64(i) * 1000
		add(Event{TimeNS: at, Kind: KindSched, CPU: cpu, PID: pid, PPID: 1, Task: name, State: "runnable"})
		add(Event{TimeNS: at + 400, Kind: KindSched, CPU: cpu, PID: pid, PPID: 1, Task: name, State: "running"})
		add(Event{TimeNS: at + 900, Kind: KindSched, CPU: cpu, PID: pid, PPID: 1, Task: name, State: "sleeping"})
	}
	t0 := uint64(n) * 1000
	add(Event{TimeNS: t0, Kind: KindCommand, Line: 2, Text: "load_lp p"})
	add(Event{TimeNS: t0, Kind: "init", Patch: "p", Target: "patched"})
	add(Event{TimeNS: t0, Kind: KindPatchState, Patch: "p", State: "enabling", Target: "patched"})
	left := n + 4
	add(Event{TimeNS: t0, Kind: "start", Patch: "p", Target: "patched", Pending: intp(left)})
	add(Event{TimeNS: t0, Kind: KindPatchState, Patch: "p", State: "transition", Target: "patched"})
	for retry := 0; retry < 5; retry++ {
		at := t0 + uint64(retry)*1e9
		for i := range n {
			pid := 10 + i
			if i < blocked && retry < 4 {
				add(Event{TimeNS: at, Kind: "blocked", PID: pid, Task: "spinner", Patch: "p", Target: "patched", Why: "sleeping-on-function", Func: "f",
					Stack: []string{"schedule+0x11/0x13", "f+0x3f/0x5b [m]", "kthread+0x16/0x20"}})
				continue
			}
			if retry == 0 && i >= blocked || retry == 4 && i < blocked {
				left--
				add(Event{TimeNS: at, Kind: "switched", PID: pid, Task: "spinner", Patch: "p", Target: "patched", How: "stack-check", Pending: intp(left)})
			}
		}
		if retry == 0 {
			for c := range 4 {
				left--
				add(Event{TimeNS: at, Kind: "switched", CPU: intp(c), Task: fmt.Sprintf("swapper/%d", c), Patch: "p", Target: "patched", How: "idle", Pending: intp(left)})
			}
		}
		if retry < 4 {
			add(Event{TimeNS: at, Kind: "retry", Patch: "p", Target: "patched", Retry: retry + 1, Pending: intp(left)})
		}
	}
	end := t0 + 4e9
	add(Event{TimeNS: end, Kind: "complete", Patch: "p", Target: "patched", Pending: intp(0)})
	add(Event{TimeNS: end, Kind: KindPatchState, Patch: "p", State: "enabled", Target: "patched"})
	add(Event{TimeNS: end, Kind: KindResult, Test: "many", Result: "ok"})
	return evs
}

// TestScale: 10,000 tasks make a page under 5 MB, the uninteresting
// tasks folded, the blocked ones kept one by one.
func TestScale(t *testing.T) {
	evs := many(10000, 20)
	pics := Build(evs)
	var b bytes.Buffer
	if err := WriteHTML(&b, "many.scn", pics); err != nil {
		t.Fatal(err)
	}
	if b.Len() >= 5<<20 {
		t.Errorf("10,000 tasks: a %d-byte page, want under 5 MB", b.Len())
	}
	p := pics[0]
	if p.Folded != 10000-20 {
		t.Errorf("%d tasks folded, want %d", p.Folded, 10000-20)
	}
	// 4 idle tasks, the 20 blocked, and one folded lane for pid 1's children.
	if len(p.Lanes) != 4+20+1 {
		t.Errorf("%d lanes, want 25", len(p.Lanes))
	}
	if last := p.Lanes[len(p.Lanes)-1]; last.Name != "9980 tasks of pid 1" {
		t.Errorf("folded lane %q", last.Name)
	}
	t.Logf("10,000 tasks, %d events: %d bytes", len(evs), b.Len())
}

// BenchmarkTimeline10k is the picture of 10,000 tasks: go test ./timeline
// -bench Timeline10k -run XXX.
func BenchmarkTimeline10k(b *testing.B) {
	evs := many(10000, 20)
	for b.Loop() {
		if err := WriteHTML(io.Discard, "many.scn", Build(evs)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrace10k is the Chrome trace of the same run.
func BenchmarkTrace10k(b *testing.B) {
	evs := many(10000, 20)
	for b.Loop() {
		if err := WriteTrace(io.Discard, evs); err != nil {
			b.Fatal(err)
		}
	}
}

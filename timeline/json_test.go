package timeline

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The zerolog writer and the Event's json tags agree: every line decodes
// back to the event written, and carries the version.
func TestJSONRoundTrip(t *testing.T) {
	evs := []Event{
		{Kind: KindSched, TimeNS: 5, CPU: intp(0), PID: 0, Task: "swapper/0", State: "running"},
		{Kind: KindSched, TimeNS: 6, CPU: intp(1), PID: 12, Task: "kworker/1:0", PPID: 2, State: "sleeping"},
		{Kind: "blocked", TimeNS: 1000061018, Patch: "p", Target: "patched", PID: 4, Task: "kworker/1:0", Why: "sleeping-on-function",
			Func: "teach_sleep_fn", Stack: []string{"msleep+0x20/0x2d", "teach_sleep_fn+0x3f/0x5b [m]"}},
		{Kind: "retry", Patch: "p", Target: "patched", Retry: 3, Pending: intp(0)},
		{Kind: "stop-machine", Patch: "p", Target: "patched", StopNS: 12345, Func: "f"},
		{Kind: "callback", Callback: "pre_patch", Object: "vmlinux", Ret: -19},
		{Kind: KindModule, Module: "m", Action: "load", Livepatch: true},
		{Kind: KindViolation, PID: 3, Task: "t", Func: "f", Where: "f+0x1/0x9", PatchState: intp(0), Msg: "x \"quoted\"\n"},
		{Kind: KindCommand, Line: 7, Text: `start_test "a b"`},
		{Kind: KindResult, Test: "a b", Result: "not ok", Msg: "why"},
		{Kind: "func_stack", Patch: "p", Target: "patched", Func: "f", Object: "vmlinux", Action: "push", Depth: 2, Nop: true},
		{Kind: "fentry", Patch: "p", Target: "patched", Func: "f", Object: "m", Action: "call", Addr: "0xffffffffa0000000"},
		{Kind: "fake_signal", PID: 9, Task: "pauser", Patch: "p", Target: "patched", Action: "set_notify_signal"},
	}
	var buf bytes.Buffer
	w := NewJSONWriter(&buf)
	for i := range evs {
		evs[i].Version, evs[i].Scenario = Version, "s.scn"
		w.Write(&evs[i])
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d lines for %d events:\n%s", len(lines), len(evs), buf.String())
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"version":1,"scenario":"s.scn",`) {
			t.Errorf("line %d: %s", i, l)
		}
		var got Event
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		if !reflect.DeepEqual(got, evs[i]) {
			t.Errorf("line %d: %s\ndecodes to %+v\nwant       %+v", i, l, got, evs[i])
		}
	}
}

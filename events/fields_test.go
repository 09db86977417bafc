package events

import (
	"encoding/json"
	"strings"
	"testing"

	"klpsim/livepatch"
)

// Field knows every --json field, and Fields lists them: an event with
// every field set marshals to exactly the keys of Fields (plus the
// common four), and Field reads each back as --json writes it.
func TestFields(t *testing.T) {
	e := Event{Version: Version, Scenario: "s", TimeNS: 7, Kind: KindBlocked, CPU: IntP(1), PID: 2, Task: "t", PPID: 3,
		State: "x", Patch: "p", Target: "patched", How: "h", Why: "w", Func: "f", Stack: []string{"a+0x1/0x2", "b+0x3/0x4"},
		Retry: 4, StopNS: 5, Pending: IntP(0), Callback: "c", Object: "o", Ret: -22, Module: "m", Action: "push",
		Addr: "0xff", Depth: 2, Nop: true, Livepatch: true, Where: "w+0x1/0x2", PatchState: IntP(-1), Line: 9, Text: "tx",
		Test: "te", Result: "ok", Msg: "msg"}
	b, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "scenario", "time_ns", "event"} {
		delete(m, k)
	}
	for _, f := range Fields {
		if _, ok := m[f]; !ok {
			t.Errorf("Fields has %q, which is no --json field", f)
		}
		delete(m, f)
	}
	for k := range m {
		t.Errorf("--json field %q is not in Fields", k)
	}
	want := map[string]string{"cpu": "1", "pending": "0", "ret": "-22", "nop": "true", "stack": "a+0x1/0x2\nb+0x3/0x4",
		"patch_state": "-1", "addr": "0xff", "stop_ns": "5", "time_ns": "7"}
	for _, f := range append(Fields, "time_ns") {
		v, ok := e.Field(f)
		if !ok || v == "" {
			t.Errorf("Field(%q) = %q, %v", f, v, ok)
		}
		if w, ok := want[f]; ok && v != w {
			t.Errorf("Field(%q) = %q, want %q", f, v, w)
		}
	}
	if _, ok := (&Event{}).Field("pending"); ok {
		t.Errorf("an absent pending is reported present")
	}
	for _, k := range Kinds {
		if !IsKind(k) {
			t.Errorf("IsKind(%q) false", k)
		}
	}
	if IsKind("nope") || IsField("nope") {
		t.Errorf("unknown names accepted")
	}
}

// Every kind the livepatch core emits is a kind expect event accepts.
func TestKindsCoverLivepatch(t *testing.T) {
	for k := livepatch.EventInit; !strings.HasPrefix(k.String(), "EventKind("); k++ {
		if !IsKind(k.String()) {
			t.Errorf("livepatch event %q is not in Kinds", k)
		}
		e := Event{Kind: k.String()}
		if !e.IsLivepatch() {
			t.Errorf("livepatch event %q is not IsLivepatch", k)
		}
	}
}

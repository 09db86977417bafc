package scenarios

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"klpsim/events"
)

// cond parses one expect line.
func cond(t *testing.T, line string) *EventCond {
	t.Helper()
	s, err := Parse("t.scn", []byte(line+"\n"), nil)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return s.Cmds[0].event
}

// The conditions' semantics on a hand-made stream: kinds, fields (text,
// numbers, absent fields, globs, stacks), counts and operators, windows,
// no event.
func TestEventCondVerdict(t *testing.T) {
	evs := []events.Event{
		{TimeNS: 0, Kind: "start", Patch: "p", Target: "patched", Pending: events.IntP(3)},
		{TimeNS: 10, Kind: "blocked", PID: 4, Task: "kworker/1:0", Patch: "p", Why: "sleeping-on-function", Func: "f",
			Stack: []string{"msleep+0x20/0x2d", "f+0x3f/0x5b [m]"}},
		{TimeNS: 20, Kind: "switched", PID: 9, Task: "cat", How: "exit-to-user", Pending: events.IntP(1)},
		{TimeNS: 1e9, Kind: "blocked", PID: 4, Task: "kworker/1:0", Patch: "p", Why: "sleeping-on-function", Func: "f"},
		{TimeNS: 2e9, Kind: "blocked", PID: 5, Task: "kworker/0:1", Patch: "p", Why: "running"},
		{TimeNS: 3e9, Kind: "switched", PID: 4, Task: "kworker/1:0", How: "stack-check", Pending: events.IntP(0)},
		{TimeNS: 3e9, Kind: "complete", Patch: "p", Target: "patched", Pending: events.IntP(0)},
		{TimeNS: 3e9, Kind: "func_stack", Patch: "p", Func: "f", Action: "push", Depth: 1},
	}
	for _, tc := range []struct {
		line     string
		from     int
		to       uint64
		ok       bool
		count    int
		nearest  int // index of the nearest event in a failure, -1 none
		decided0 bool
	}{
		{line: "expect event blocked", ok: true, count: 3, to: noEnd},
		{line: "expect event blocked func=f", ok: true, count: 2, to: noEnd},
		{line: "expect event blocked func=f count == 2", ok: true, count: 2, to: noEnd},
		{line: "expect event blocked func=f count>=3", count: 2, nearest: 4, to: noEnd},
		{line: "expect event blocked func=f count > 1", ok: true, count: 2, to: noEnd},
		{line: "expect event blocked func=f count < 2", count: 2, nearest: 1, to: noEnd, decided0: false},
		{line: "expect event blocked func=f count <= 2", ok: true, count: 2, to: noEnd},
		{line: "expect event blocked func=f count != 2", count: 2, nearest: 1, to: noEnd},
		{line: "expect event blocked func=f count == 0", count: 2, nearest: 1, to: noEnd, decided0: false},
		{line: "expect event blocked task=kworker/* why=running", ok: true, count: 1, to: noEnd},
		{line: "expect event blocked task=kworker*0 pid=4", ok: true, count: 2, to: noEnd},
		{line: "expect event blocked stack=msleep", ok: true, count: 1, to: noEnd},
		{line: "expect event blocked stack=f*[m]", ok: true, count: 1, to: noEnd},
		{line: "expect event blocked stack=schedule", count: 0, nearest: 1, to: noEnd},
		{line: "expect event blocked pid=0", count: 0, nearest: 1, to: noEnd},
		{line: "expect event switched pending=0", ok: true, count: 1, to: noEnd},
		{line: "expect event start pending=3 target=patched", ok: true, count: 1, to: noEnd},
		{line: "expect event blocked retry=0", ok: true, count: 3, to: noEnd},
		{line: "expect event func_stack nop=false depth=1", ok: true, count: 1, to: noEnd},
		{line: "expect event func_stack nop=true", count: 0, nearest: 7, to: noEnd},
		{line: "expect event callback", count: 0, nearest: -1, to: noEnd},
		{line: "expect no event callback", ok: true, count: 0, to: noEnd},
		{line: "expect no event complete", count: 1, nearest: 6, to: noEnd},
		{line: "expect no event switched how=sched", ok: true, to: noEnd},
		// Windows: from the third event up to 2 s.
		{line: "expect event blocked count == 2", from: 2, to: 2e9, ok: true, count: 2},
		{line: "expect no event complete", from: 2, to: 2e9, ok: true},
		{line: "expect event switched", from: 3, to: 2e9, count: 0, nearest: -1},
	} {
		c := cond(t, tc.line)
		m := c.matcher(func(w Word) string { s, _ := w.Literal(); return s })
		v := c.verdict(m, evs, tc.from, tc.to)
		if v.OK != tc.ok || v.Count != tc.count {
			t.Errorf("%s: ok %v count %d (%s), want ok %v count %d", tc.line, v.OK, v.Count, v.Msg, tc.ok, tc.count)
		}
		if !tc.ok {
			want := (*events.Event)(nil)
			if tc.nearest >= 0 {
				want = &evs[tc.nearest]
			}
			if v.Nearest != want || v.Msg == "" {
				t.Errorf("%s: nearest %v, want %v; msg %q", tc.line, v.Nearest, want, v.Msg)
			}
		}
		if d := c.decided(0); d != tc.decided0 {
			t.Errorf("%s: decided at count 0: %v", tc.line, d)
		}
	}
}

// Which counts, seen part-way through a window, decide the verdict.
func TestEventCondDecided(t *testing.T) {
	for _, tc := range []struct {
		line    string
		decided []bool // at counts 0, 1, 2, 3
	}{
		{"expect event blocked", []bool{false, true, true, true}},
		{"expect event blocked count >= 2", []bool{false, false, true, true}},
		{"expect event blocked count > 2", []bool{false, false, false, true}},
		{"expect event blocked count == 2", []bool{false, false, false, true}},
		{"expect event blocked count <= 1", []bool{false, false, true, true}},
		{"expect event blocked count < 2", []bool{false, false, true, true}},
		{"expect event blocked count != 1", []bool{false, false, true, true}},
		{"expect no event blocked", []bool{false, true, true, true}},
	} {
		c := cond(t, tc.line)
		for n, want := range tc.decided {
			if got := c.decided(n); got != want {
				t.Errorf("%s: decided at count %d: %v, want %v", tc.line, n, got, want)
			}
		}
	}
}

// Every malformed expect line gets one error naming file:line:col.
func TestParseExpectErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"expect blocked x", "t.scn:1:8: expect: expected event KIND or no event KIND, got \"blocked\""},
		{"expect no blocked", "t.scn:1:11: expect: expected event KIND or no event KIND, got \"blocked\""},
		{"expect event", "t.scn:1:1: expect: expected expect [no] event KIND"},
		{"expect event blokced", "t.scn:1:14: expect event: unknown event kind \"blokced\": did you mean blocked?"},
		{"expect event blocked fnuc=f", "t.scn:1:22: expect event: unknown field \"fnuc\": did you mean func?"},
		{"expect event blocked func=f cnt 3", "t.scn:1:29: expect event: unexpected \"cnt\": expected FIELD=VALUE, count OP N, within DURATION"},
		{"expect event blocked count =< 3", "t.scn:1:28: expect event: count: expected an operator (== != < <= > >=), got \"=\""},
		{"expect event blocked count >= x", "t.scn:1:31: expect event: count >=: expected a number of events, got \"x\""},
		{"expect event blocked count >=", "t.scn:1:28: expect event: count >=: expected a number of events, got \"\""},
		{"expect event blocked count > -1", "t.scn:1:30: expect event: count >: expected a number of events, got \"-1\""},
		{"expect event blocked count > 1 count > 2", "t.scn:1:32: expect event: second count"},
		{"expect no event blocked count > 1", "t.scn:1:25: expect no event takes no count (it means count == 0)"},
		{"expect event blocked within 5x", "t.scn:1:29: expect event: within: "},
		{"expect event blocked within 1s within 2s", "t.scn:1:32: expect event: second within"},
		{"expect event blocked within 1s after event start", "t.scn:1:32: expect event: after event is for a lab's questions (.lab files)"},
		{"expect event $K", "t.scn:1:14: expect event: expected an event kind, not a variable"},
		{"expect event blocked > x", "t.scn:1:22: expect event: unexpected \">\""},
		{"echo a < b", "t.scn:1:8: '<' is not supported in scenarios"},
		{"lab $X", "t.scn:1:5: lab: expected the lab's name, not a variable"},
		{"lab a\nlab b", "t.scn:2:1: lab: second lab line (the first is at line 1)"},
	} {
		_, err := Parse("t.scn", []byte("set K x\nset X y\n"[:0]+tc.src+"\n"), nil)
		if tc.src == "expect event $K" || tc.src == "lab $X" {
			_, err = Parse("t.scn", []byte(tc.src+"\n"), nil)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// A failing expect fails its test case only, with the nearest event; the
// next case runs. The scenario of testdata/expect-event.scn, with cases
// that fail.
func TestExpectRun(t *testing.T) {
	data, err := os.ReadFile("testdata/expect-event.scn")
	if err != nil {
		t.Fatal(err)
	}
	script, secs, _ := strings.Cut(string(data), "-- test_klp_teach_patch.S --")
	script, _, _ = strings.Cut(script, `start_test "unpatching"`)
	script += `start_test "no such event"
expect event blocked func=nothing
start_test "too many"
expect event blocked count < 2
start_test "none within"
expect event complete within 2s
start_test "no event seen"
load_lp test_klp_teach_patch2
expect event fentry action=call func=cmdline_proc_show
expect no event blocked func=teach_sleep_fn
start_test "after the failures"
expect event blocked
expect event result test="no such event" result="not ok" msg="expect event blocked func=nothing: *"
expect no event failed
`
	script = strings.Replace(script, "    func teach_sleep_fn teach_sleep_fn2\n",
		"    func teach_sleep_fn teach_sleep_fn2\nmodule test_klp_teach_patch2 livepatch\n    patch replace\n    object vmlinux\n    func cmdline_proc_show teach_sleep_fn2\n", 1)
	src := script + "-- test_klp_teach_patch.S --" + secs + "-- test_klp_teach_patch2.S --" + secs
	s, err := Parse("testdata/x.scn", []byte(src), testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	res, err := Run(s, Options{Stdout: &out, Stderr: &errOut, Catalog: testCatalog()})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ok  bool
		msg string
	}{
		{true, ""},
		{false, "expect event blocked func=nothing: no matching event; nearest: blocked pid=4 task=kworker/1:0 patch=test_klp_teach_patch target=patched why=sleeping-on-function func=teach_sleep_fn stack=schedule+0x11/0x13,… at 0.000030084s"},
		{false, "expect event blocked count < 2: 5 matching event(s), want count < 2; nearest: blocked pid=4"},
		{false, "expect event complete within 2s: no matching event within 2s"},
		{false, "expect no event blocked func=teach_sleep_fn: 4 matching event(s), want none; nearest: blocked pid=4 task=kworker/1:0"},
		{true, ""},
	}
	if len(res.Tests) != len(want) {
		t.Fatalf("%d tests, want %d:\n%s%s", len(res.Tests), len(want), out.String(), errOut.String())
	}
	for i, w := range want {
		got := res.Tests[i]
		if got.OK != w.ok || !strings.HasPrefix(got.Msg, w.msg) {
			t.Errorf("test %d %q: ok %v msg %q\nwant ok %v msg %q", i, got.Name, got.OK, got.Msg, w.ok, w.msg)
		}
	}
	if res.Events != nil {
		t.Errorf("Result.Events kept without Options.RecordEvents")
	}
}

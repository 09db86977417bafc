package timeline

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/livepatch"
	"klpsim/scenarios"
)

// record runs a scenario file with a Recorder attached, the way klpsim
// run --json --trace --timeline does, and returns its events and the
// --json stream's lines.
func record(t testing.TB, path string) ([]Event, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Parse(path, data, scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	var stream bytes.Buffer
	jw := NewJSONWriter(&stream)
	rec := &Recorder{Scenario: path, Sched: true, Keep: true, Sink: jw.Write}
	lines := strings.Split(string(data), "\n")
	opts := scenarios.Options{Catalog: scenarios.Builtin,
		Booted: func(k *kernel.Kernel, lp *livepatch.Core) { rec.Attach(k, lp) },
		BeforeCommand: func(line int) error {
			rec.Command(line, lines[line-1])
			return nil
		}}
	res, err := scenarios.Run(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Tests {
		rec.Result(r.Name, map[bool]string{true: "ok", false: "not ok"}[r.OK], r.Msg)
	}
	if res.Failed {
		rec.Failed(res.Msg)
	}
	return rec.Events, strings.Split(strings.TrimSuffix(stream.String(), "\n"), "\n")
}

const teach01 = "../scenarios/teach/01-sleeping-task.scn"

// TestTeach01: the picture of teach/01 shows the kworker blocked on
// teach_sleep_fn at every attempt, with the stack in the tooltip, and the
// step line ends at 0.
func TestTeach01(t *testing.T) {
	evs, _ := record(t, teach01)
	pics := Build(evs)
	if len(pics) != 1 {
		t.Fatalf("%d pictures, want 1", len(pics))
	}
	p := pics[0]
	var b bytes.Buffer
	if err := WriteHTML(&b, teach01, pics); err != nil {
		t.Fatal(err)
	}
	els := parseSVG(t, svgOf(t, b.String()))
	checkPositions(t, els, p.Start, p.End)
	var kworker string
	for _, e := range evs {
		if e.Kind == "blocked" && e.Func == "teach_sleep_fn" {
			kworker = "p1-lane" + itoa(e.PID)
		}
	}
	if kworker == "" {
		t.Fatal("no blocked event on teach_sleep_fn")
	}
	blocked := 0
	for _, e := range els {
		if e.lane == kworker && e.class == "mk k-blocked" {
			blocked++
			if !strings.Contains(e.title, "blocked: sleeping-on-function on function teach_sleep_fn\nschedule+") ||
				!strings.Contains(e.title, "teach_sleep_fn+0x3f/0x5b [test_klp_teach_target]") {
				t.Errorf("blocked tooltip: %q", e.title)
			}
		}
	}
	// The first attempt in insmod and the three retries of run 3s.
	if blocked != 4 {
		t.Errorf("%d blocked markers on the kworker's lane, want 4", blocked)
	}
	if n := len(p.Steps); n == 0 || p.Steps[n-1].Count != 0 {
		t.Errorf("step line %v: want it to end at 0", p.Steps)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestTraceRoundTrip: the trace of teach/01 is JSON with what Perfetto
// needs, and its events are the stream's: each livepatch, module and
// scenario event is an instant with the same time and fields, each task
// state a slice from one sched event to the next.
func TestTraceRoundTrip(t *testing.T) {
	evs, lines := record(t, teach01)
	var b bytes.Buffer
	if err := WriteTrace(&b, evs); err != nil {
		t.Fatal(err)
	}
	var tr struct {
		DisplayTimeUnit string `json:"displayTimeUnit"`
		TraceEvents     []struct {
			Name string          `json:"name"`
			Ph   string          `json:"ph"`
			Ts   json.Number     `json:"ts"`
			Dur  json.Number     `json:"dur"`
			PID  *int            `json:"pid"`
			TID  *int            `json:"tid"`
			S    string          `json:"s"`
			Args json.RawMessage `json:"args"`
		} `json:"traceEvents"`
	}
	d := json.NewDecoder(&b)
	d.UseNumber()
	if err := d.Decode(&tr); err != nil {
		t.Fatalf("the trace is not JSON: %v", err)
	}
	ns := func(n json.Number) uint64 {
		s := string(n)
		whole, frac, _ := strings.Cut(s, ".")
		if len(frac) != 3 {
			t.Fatalf("ts %s: want microseconds with three decimals", s)
		}
		v, err := json.Number(whole + frac).Int64()
		if err != nil {
			t.Fatal(err)
		}
		return uint64(v)
	}
	// The stream, as the --json lines decode.
	var stream []Event
	for _, l := range lines {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("--json line %q: %v", l, err)
		}
		stream = append(stream, e)
	}
	var instants []Event
	slices := map[int][]uint64{} // tid -> slice starts on task tracks
	phases := map[string]int{}
	for _, te := range tr.TraceEvents {
		if te.Name == "" || te.Ph == "" || te.PID == nil || te.TID == nil && te.Ph != "C" && te.Ph != "M" {
			t.Fatalf("trace event without name, ph, pid or tid: %+v", te)
		}
		phases[te.Ph]++
		switch te.Ph {
		case "i":
			var e Event
			if err := json.Unmarshal(te.Args, &e); err != nil {
				t.Fatal(err)
			}
			if ns(te.Ts) != e.TimeNS {
				t.Errorf("instant %s at ts %s, its event at %d ns", te.Name, te.Ts, e.TimeNS)
			}
			instants = append(instants, e)
		case "X":
			if *te.PID != cpuPID {
				slices[*te.TID] = append(slices[*te.TID], ns(te.Ts))
			}
		}
	}
	for _, ph := range []string{"M", "X", "i", "C"} {
		if phases[ph] == 0 {
			t.Errorf("no %q events in the trace", ph)
		}
	}
	var want []Event
	wantSlices := map[int][]uint64{}
	for _, e := range stream {
		if e.Kind == KindSched {
			lane, _ := e.Lane()
			tid := laneTID(lane)
			if e.State != "dead" {
				wantSlices[tid] = append(wantSlices[tid], e.TimeNS)
			}
			continue
		}
		e.Version, e.Scenario = 0, ""
		want = append(want, e)
	}
	if len(instants) != len(want) {
		t.Fatalf("%d instants, %d non-sched events in the stream", len(instants), len(want))
	}
	for i := range want {
		a, _ := json.Marshal(instants[i])
		w, _ := json.Marshal(want[i])
		if string(a) != string(w) {
			t.Errorf("instant %d: %s\nstream:    %s", i, a, w)
		}
	}
	for tid, w := range wantSlices {
		if got := slices[tid]; !reflect.DeepEqual(got, w) {
			t.Errorf("tid %d: state slices start at %v, sched events at %v", tid, got, w)
		}
	}
}

// TestRecorderKinds: the teaching scenarios between them produce every
// kind of event the timeline draws, from the kernel, the livepatch core,
// the checker and the runner.
func TestRecorderKinds(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range []string{"02-exit-to-user", "03-fake-signal", "04-force", "05-reverse", "07-no-consistency"} {
		evs, _ := record(t, "../scenarios/teach/"+f+".scn")
		for _, e := range evs {
			key := e.Kind
			switch e.Kind {
			case KindSched, KindPatchState:
				key += ":" + e.State
			case "switched":
				key += ":" + e.How
			case "callback":
				key += ":" + e.Callback
			case KindModule:
				key += ":" + e.Action
			case KindViolation:
				key += ":" + e.Why
			}
			seen[key] = true
		}
	}
	for _, k := range []string{"sched:running", "sched:runnable", "sched:sleeping", "sched:dead",
		"init", "start", "switched:stack-check", "switched:exit-to-user", "switched:idle", "switched:forced", "blocked", "retry", "signals",
		"forced", "reversed", "complete", "callback:pre_patch", "callback:post_patch", "callback:pre_unpatch", "callback:post_unpatch",
		"module:load", "module:unload", "violation:ran-replaced",
		"patch_state:enabling", "patch_state:transition", "patch_state:enabled", "patch_state:disabling", "patch_state:disabled",
		"command", "test", "result"} {
		if !seen[k] {
			t.Errorf("no %s event", k)
		}
	}
}

package timeline

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.svg from the actual output")

// small is a hand-made run: two CPUs, a kworker blocked on a function
// for two retries, a user task switched on its way to user mode, a
// module, a callback and a violation.
func small() []Event {
	c0, c1 := intp(0), intp(1)
	evs := []Event{
		{TimeNS: 0, Kind: KindSched, CPU: c0, Task: "swapper/0", State: "running"},
		{TimeNS: 0, Kind: KindSched, CPU: c1, Task: "swapper/1", State: "running"},
		{TimeNS: 0, Kind: KindSched, CPU: c1, PID: 4, PPID: 2, Task: "kworker/1:0", State: "sleeping"},
		{TimeNS: 0, Kind: KindSched, CPU: c0, PID: 9, PPID: 1, Task: "spinner", State: "runnable"},
		{TimeNS: 0, Kind: KindCommand, Line: 3, Text: `start_test "small"`},
		{TimeNS: 0, Kind: KindTest, Test: "small"},
		{TimeNS: 100, Kind: KindCommand, Line: 4, Text: "load_lp p"},
		{TimeNS: 100, Kind: KindModule, Module: "p", Action: "load", Livepatch: true},
		{TimeNS: 100, Kind: "callback", Callback: "pre_patch", Object: "vmlinux"},
		{TimeNS: 100, Kind: "init", Patch: "p", Target: "patched"},
		{TimeNS: 100, Kind: KindPatchState, Patch: "p", State: "enabling", Target: "patched"},
		{TimeNS: 100, Kind: "start", Patch: "p", Target: "patched", Pending: intp(4)},
		{TimeNS: 100, Kind: KindPatchState, Patch: "p", State: "transition", Target: "patched"},
		{TimeNS: 100, Kind: "blocked", PID: 4, Task: "kworker/1:0", Patch: "p", Target: "patched", Why: "sleeping-on-function",
			Func: "f", Stack: []string{"msleep+0x20/0x2d", "f+0x3f/0x5b [m]"}},
		{TimeNS: 100, Kind: "switched", CPU: c1, Task: "swapper/1", Patch: "p", Target: "patched", How: "stack-check", Pending: intp(3)},
		{TimeNS: 100, Kind: "retry", Patch: "p", Target: "patched", Retry: 1, Pending: intp(3)},
		{TimeNS: 150, Kind: KindSched, CPU: c0, PID: 9, PPID: 1, Task: "spinner", State: "running"},
		{TimeNS: 200, Kind: "switched", PID: 9, Task: "spinner", Patch: "p", Target: "patched", How: "exit-to-user", Pending: intp(2)},
		{TimeNS: 210, Kind: "switched", CPU: c0, Task: "swapper/0", Patch: "p", Target: "patched", How: "idle", Pending: intp(1)},
		{TimeNS: 300, Kind: KindViolation, PID: 9, Task: "spinner", Func: "g", Where: "g+0x1/0x9", PatchState: intp(1), Msg: "spinner ran g"},
		{TimeNS: 1100, Kind: "blocked", PID: 4, Task: "kworker/1:0", Patch: "p", Target: "patched", Why: "sleeping-on-function", Func: "f"},
		{TimeNS: 1100, Kind: "retry", Patch: "p", Target: "patched", Retry: 2, Pending: intp(1)},
		{TimeNS: 1500, Kind: KindSched, CPU: c1, PID: 4, PPID: 2, Task: "kworker/1:0", State: "runnable"},
		{TimeNS: 1500, Kind: KindSched, CPU: c1, Task: "swapper/1", State: "runnable"},
		{TimeNS: 1500, Kind: KindSched, CPU: c1, PID: 4, PPID: 2, Task: "kworker/1:0", State: "running"},
		{TimeNS: 1600, Kind: KindSched, CPU: c1, PID: 4, PPID: 2, Task: "kworker/1:0", State: "sleeping"},
		{TimeNS: 1600, Kind: KindSched, CPU: c1, Task: "swapper/1", State: "running"},
		{TimeNS: 2100, Kind: "switched", PID: 4, Task: "kworker/1:0", Patch: "p", Target: "patched", How: "stack-check", Pending: intp(0)},
		{TimeNS: 2100, Kind: "complete", Patch: "p", Target: "patched", Pending: intp(0)},
		{TimeNS: 2100, Kind: KindPatchState, Patch: "p", State: "enabled", Target: "patched"},
		{TimeNS: 2100, Kind: "callback", Callback: "post_patch", Object: "vmlinux"},
		{TimeNS: 2500, Kind: KindResult, Test: "small", Result: "ok"},
	}
	for i := range evs {
		evs[i].Version, evs[i].Scenario = Version, "small.scn"
	}
	return evs
}

func svgOf(t *testing.T, html string) string {
	i, j := strings.Index(html, "<svg id="), strings.Index(html, "</svg>\n</section>")
	if i < 0 || j < 0 {
		t.Fatalf("no picture in the page")
	}
	return html[i : j+len("</svg>\n")]
}

func page(t *testing.T, evs []Event) string {
	var b bytes.Buffer
	if err := WriteHTML(&b, "small.scn", Build(evs)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestGoldenSVG: the picture of small() is the one in testdata.
func TestGoldenSVG(t *testing.T) {
	got := svgOf(t, page(t, small()))
	path := filepath.Join("testdata", "small.svg")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the picture differs from %s (go test ./timeline -run TestGoldenSVG -update):\n%s", path, got)
	}
}

// svgElem is an element of the picture, with its place in time.
type svgElem struct {
	name             string
	class, id        string
	t, u             string
	x, width, transf string
	title            string
	lane             string // the id of the lane it sits in
}

// parseSVG lists every element of the picture with its tooltip.
func parseSVG(t *testing.T, svg string) []*svgElem {
	d := xml.NewDecoder(strings.NewReader(svg))
	var out, stack []*svgElem
	lane := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the picture is not well-formed XML: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := &svgElem{name: tk.Name.Local}
			for _, a := range tk.Attr {
				switch a.Name.Local {
				case "class":
					e.class = a.Value
				case "id":
					e.id = a.Value
				case "data-t":
					e.t = a.Value
				case "data-u":
					e.u = a.Value
				case "x":
					e.x = a.Value
				case "width":
					e.width = a.Value
				case "transform":
					e.transf = a.Value
				}
			}
			if e.class == "lane" {
				lane = e.id
			}
			e.lane = lane
			out = append(out, e)
			stack = append(stack, e)
		case xml.CharData:
			if n := len(stack); n >= 2 && stack[n-1].name == "title" {
				stack[n-2].title += string(tk)
			}
		case xml.EndElement:
			if stack[len(stack)-1].class == "lane" {
				lane = ""
			}
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

var translateX = regexp.MustCompile(`^translate\(([-0-9.]+),0\)$`)

// checkPositions: every element placed in time sits where its time
// says, in the picture's whole view from start to end.
func checkPositions(t *testing.T, els []*svgElem, start, end uint64) {
	x := func(ns string) float64 {
		n, err := strconv.ParseUint(ns, 10, 64)
		if err != nil {
			t.Fatalf("data-t %q", ns)
		}
		return labelW + float64(n-start)/float64(end-start)*plotW
	}
	num := func(s string) float64 { f, _ := strconv.ParseFloat(s, 64); return f }
	n := 0
	for _, e := range els {
		if e.t == "" {
			continue
		}
		n++
		var got float64
		switch {
		case e.u != "":
			got = num(e.x)
			if w := x(e.u) - x(e.t); math.Abs(num(e.width)-max(w, 0.5)) > 0.06 {
				t.Errorf("%s %s from %s to %s: width %s, want %.1f", e.name, e.class, e.t, e.u, e.width, w)
			}
		default:
			m := translateX.FindStringSubmatch(e.transf)
			if m == nil {
				t.Fatalf("%s %s: transform %q", e.name, e.class, e.transf)
			}
			got = num(m[1])
		}
		if want := x(e.t); math.Abs(got-want) > 0.06 {
			t.Errorf("%s %s at %s ns: x %.1f, want %.1f", e.name, e.class, e.t, got, want)
		}
	}
	if n == 0 {
		t.Fatal("nothing placed in time")
	}
}

// TestSVGStructure: lanes and markers of small(), each where its event
// time puts it.
func TestSVGStructure(t *testing.T) {
	els := parseSVG(t, svgOf(t, page(t, small())))
	checkPositions(t, els, 0, 2500)
	count := map[string]int{}
	for _, e := range els {
		if e.class == "lane" {
			count[" lane"]++
			continue
		}
		count[e.lane+" "+e.class]++
	}
	for key, n := range map[string]int{
		" lane":                                   4, // swapper/0, swapper/1, kworker/1:0, spinner
		"p1-lane4 mk k-blocked":                   2,
		"p1-lane4 mk k-switched how-stack-check":  1,
		"p1-lane9 mk k-switched how-exit-to-user": 1,
		"p1-lane-1 mk k-switched how-idle":        1,
		"p1-lane9 mk k-violation red":             1,
		"p1-lane4 ps-pending-patched":             1,
		"p1-lane4 ps-patched":                     1,
		" mk k-module":                            1,
		" mk k-callback":                          2,
		" mk k-start":                             1,
		" mk k-complete":                          1,
		" cmd":                                    2,
	} {
		if count[key] != n {
			t.Errorf("%q: %d elements, want %d", key, count[key], n)
		}
	}
	for _, e := range els {
		if e.lane == "p1-lane4" && e.class == "mk k-blocked" {
			if !strings.Contains(e.title, "kworker/1:0:4 blocked: sleeping-on-function on function f\nmsleep+0x20/0x2d\nf+0x3f/0x5b [m]") && e.t == "100" {
				t.Errorf("blocked tooltip %q", e.title)
			}
		}
	}
}

// WriteSections is WriteHTML's body: the legend and the pictures, each
// with its own ids, so that a page showing several keeps each picture's
// clip path and patterns its own.
func TestWriteSections(t *testing.T) {
	evs := []Event{
		{TimeNS: 0, Kind: KindCommand, Line: 1, Text: "start_test one"}, {TimeNS: 0, Kind: KindTest, Test: "one"},
		{TimeNS: 10, Kind: KindSched, PID: 5, Task: "a", CPU: intp(0), State: "running"},
		{TimeNS: 20, Kind: KindCommand, Line: 2, Text: "start_test two"}, {TimeNS: 20, Kind: KindTest, Test: "two"},
		{TimeNS: 30, Kind: KindSched, PID: 5, Task: "a", CPU: intp(0), State: "sleeping"},
	}
	pics := Build(evs)
	var page, body strings.Builder
	if err := WriteHTML(&page, "s.scn", pics); err != nil {
		t.Fatal(err)
	}
	if err := WriteSections(&body, pics); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "<h1>s.scn</h1>\n"+body.String()+"<script>\n"+Script()+"</script>") || !strings.Contains(page.String(), Style()) {
		t.Errorf("WriteHTML is not the head, WriteSections and the script")
	}
	for _, id := range []string{`id="p1-clip"`, `id="p2-clip"`, `<svg id="p1"`, `<svg id="p2"`} {
		if strings.Count(body.String(), id) != 1 {
			t.Errorf("%s appears %d times", id, strings.Count(body.String(), id))
		}
	}
}

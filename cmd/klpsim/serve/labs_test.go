package serve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"klpsim/scenarios"
)

// TestLabsList: every built-in lab, with its title, the file lab start
// copies out, and its handout; each file parses under its playground
// name, its includes resolved as in lab start's copies.
func TestLabsList(t *testing.T) {
	_, hs := server(t, Config{})
	resp, err := hs.Client().Get(hs.URL + "/api/labs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var labs []LabEntry
	if err := json.NewDecoder(resp.Body).Decode(&labs); err != nil {
		t.Fatal(err)
	}
	names := scenarios.LabNames()
	if len(labs) != len(names) || len(names) == 0 {
		t.Fatalf("%d labs listed, want %d", len(labs), len(names))
	}
	for i, l := range labs {
		lab, err := scenarios.LookupLab(names[i])
		if err != nil {
			t.Fatal(err)
		}
		lf, err := scenarios.LabFiles(names[i])
		if err != nil {
			t.Fatal(err)
		}
		if l.Name != names[i] || l.Title != lab.Title || l.Questions != len(lab.Questions) || l.Path != "labs/"+names[i]+".scn" || l.Text != string(lf[names[i]+".scn"]) {
			t.Errorf("lab %d: %+v, want %s %q", i, l, names[i], lab.Title)
		}
		num, _, _ := strings.Cut(l.Name, "-")
		if !strings.HasPrefix(l.Handout, "## Lab "+num) || strings.Count(l.Handout, "\n## ") != 0 || len(l.Handout) < 200 {
			t.Errorf("lab %s: handout %.80q…, want its section of docs/labs.md", l.Name, l.Handout)
		}
		if st, out := call(t, hs, "POST", "/api/parse", map[string]string{"name": l.Path, "text": l.Text}); st != 200 || len(out["errors"].([]any)) != 0 {
			t.Errorf("lab %s: its starting file does not parse: %d %v", l.Name, st, out)
		}
	}
}

func TestHandout(t *testing.T) {
	md := "# Labs\n\n## Lab 0: no\n\n## Lab 01: one\ntext\n### sub\nmore\n## Lab 010: not it\n## Lab 01 (b): again\nx\n## For teachers\n"
	if got, want := handout(md, "01-one"), "## Lab 01: one\ntext\n### sub\nmore\n## Lab 01 (b): again\nx"; got != want {
		t.Errorf("handout = %q, want %q", got, want)
	}
	if got := handout(md, "02-none"); got != "" {
		t.Errorf("handout of a lab without a section = %q", got)
	}
}

// flatInclude is an include line of a solution: lab start's copies name
// the included file by its base name.
var flatInclude = regexp.MustCompile(`(?m)^include (\.\./)+(teach/)?`)

// TestLabCheck: a teacher's solution passes every question; the
// starting file, unchanged, fails the exercise's question with its hint
// and the condition that failed — what klpsim lab check says.
func TestLabCheck(t *testing.T) {
	_, hs := server(t, Config{})
	id := newSessionID(t, hs)
	check := func(body map[string]string) LabReport {
		t.Helper()
		st, out := call(t, hs, "POST", "/api/s/"+id+"/check", body)
		if st != 200 {
			t.Fatalf("check %s: %d %v", body["name"], st, out)
		}
		data, _ := json.Marshal(out)
		var rep LabReport
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	for _, name := range scenarios.LabNames() {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "scenarios", "labs", "solutions", name+".scn"))
		if err != nil {
			t.Fatal(err)
		}
		text := flatInclude.ReplaceAllString(string(data), "include ")
		rep := check(map[string]string{"name": "labs/" + name + ".scn", "text": text})
		if rep.Lab != name || rep.Total == 0 || rep.Passed != rep.Total || rep.RunFailed != "" {
			t.Errorf("solution of %s: %+v, want every question passed", name, rep)
		}
	}

	lf, err := scenarios.LabFiles("00-example")
	if err != nil {
		t.Fatal(err)
	}
	rep := check(map[string]string{"lab": "00-example", "name": "labs/00-example.scn", "text": string(lf["00-example.scn"])})
	if rep.Title != "Make the transition complete" || rep.Total != 3 || rep.Passed == rep.Total {
		t.Fatalf("starting file: %+v", rep)
	}
	q := rep.Questions[1]
	if q.N != 2 || q.Pass || q.Text != "The transition completes" ||
		q.Hint != "The kworker must leave lab_sleep_fn: it loops there while the module parameter block is Y." ||
		q.Failed != "expect event complete patch=lab_patch target=patched" || q.Why != "no matching event" {
		t.Errorf("question 2 of the starting file: %+v", q)
	}
}

// TestLabCheckBadInput: one clear JSON error each.
func TestLabCheckBadInput(t *testing.T) {
	_, hs := server(t, Config{MaxScenario: 2000})
	id := newSessionID(t, hs)
	path := "/api/s/" + id + "/check"
	cases := []struct {
		what   string
		body   any
		status int
		want   string
	}{
		{"unknown lab", map[string]string{"lab": "99-nope", "text": "start_test x\n"}, 404, "no such lab: 99-nope (klpsim lab list shows them)"},
		{"lab by a path", map[string]string{"lab": "../teach/x", "text": "start_test x\n"}, 404, "no such lab: ../teach/x (klpsim lab list shows them)"},
		{"no lab", map[string]string{"text": "start_test x\n"}, 400, "which lab? the request names none and the scenario has no lab NAME line"},
		{"unknown lab line", map[string]string{"text": "lab 99-nope\nstart_test x\n"}, 404, "no such lab: 99-nope (klpsim lab list shows them)"},
		{"two labs", map[string]string{"lab": "00-example", "text": "lab 01-unpatch-stall\n"}, 400, "the scenario's lab line names lab 01-unpatch-stall, the request lab 00-example"},
		{"oversized", map[string]string{"lab": "00-example", "text": strings.Repeat("# x\n", 600)}, 413, "scenario too large: 2400 bytes, the limit is 2000"},
		{"parse error", map[string]string{"lab": "00-example", "text": "frobnicate\n"}, 422, `untitled.scn:1:1: unknown command "frobnicate" (docs/scenarios.md lists the commands)`},
		{"unknown field", `{"lab": "00-example", "txt": ""}`, 400, `malformed request: json: unknown field "txt"`},
	}
	for _, c := range cases {
		st, out := call(t, hs, "POST", path, c.body)
		if st != c.status || out["error"] != c.want {
			t.Errorf("%s: %d %q, want %d %q", c.what, st, out["error"], c.status, c.want)
		}
	}
}

// TestLabCheckLimits: a Check is bounded as a Run is.
func TestLabCheckLimits(t *testing.T) {
	cases := []struct {
		cfg    Config
		status int
		want   string
	}{
		{Config{MaxInsns: 1_000_000}, 200, "run: kernel: 1000000 instructions: limit reached (MaxInsns)"},
		{Config{MaxSimNS: 1_000_000}, 200, "simulated time limit (1ms) is reached"},
		{Config{MaxWall: time.Millisecond, MaxInsns: 1 << 62}, 200, "interrupted (cancelled, or past 1ms of wall time)"},
	}
	for _, c := range cases {
		_, hs := server(t, c.cfg)
		id := newSessionID(t, hs)
		st, out := call(t, hs, "POST", "/api/s/"+id+"/check", map[string]string{"lab": "00-example", "text": endless})
		got, _ := out["error"].(string)
		if st == 200 {
			got, _ = out["run_failed"].(string)
			if out["passed"] != 0.0 {
				t.Errorf("%+v: %v questions passed on an endless run", c.cfg, out["passed"])
			}
		}
		if st != c.status || !strings.Contains(got, c.want) {
			t.Errorf("%+v: %d %q, want %d %q", c.cfg, st, got, c.status, c.want)
		}
	}
}

// FuzzHandout: any markdown gives either nothing or lines of it that
// begin at the lab's heading, and no panic.
func FuzzHandout(f *testing.F) {
	f.Add("## Lab 01: x\ny\n## Lab 02: z\n", "01-x")
	f.Add("## Lab 0", "0")
	f.Fuzz(func(t *testing.T, md, name string) {
		h := handout(md, name)
		if h == "" {
			return
		}
		num, _, _ := strings.Cut(name, "-")
		if !strings.HasPrefix(h, strings.TrimSpace("## Lab "+num)) {
			t.Errorf("handout %q does not start at lab %s's heading", h, num)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(md, "\n") {
			lines[strings.TrimSpace(l)] = true
		}
		for _, l := range strings.Split(h, "\n") {
			if !lines[strings.TrimSpace(l)] {
				t.Errorf("handout line %q is not a line of the markdown", l)
			}
		}
	})
}

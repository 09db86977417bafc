package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"klpsim/events"
)

// runLab runs file (read from disk) with the events recorded and judges
// it by lab.
func runLab(t *testing.T, lab *Lab, file string) []QuestionResult {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(file, data, testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if s.Lab != "" && s.Lab != lab.Name {
		t.Errorf("%s: lab line names %q, want lab %s", file, s.Lab, lab.Name)
	}
	res, err := Run(s, Options{Catalog: testCatalog(), RecordEvents: true, RecordSched: lab.NeedsSched()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed {
		t.Errorf("%s: the scenario itself failed: %s", file, res.Msg)
	}
	return lab.Check(res.Events)
}

// Every built-in lab is solvable and is an exercise: its solution passes
// every question; its starting file, unchanged, fails at least one, and
// every failing question has a hint.
func TestLabs(t *testing.T) {
	names := LabNames()
	if len(names) == 0 {
		t.Fatal("no built-in labs")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lab, err := LookupLab(name)
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, q := range runLab(t, lab, filepath.Join("labs", name+".scn")) {
				if !q.Pass {
					failed++
					if q.Hint == "" {
						t.Errorf("starting file: question %d fails without a hint", q.N)
					}
				}
			}
			if failed == 0 {
				t.Errorf("the starting file passes every question: there is no exercise")
			}
			for _, q := range runLab(t, lab, filepath.Join("labs", "solutions", name+".scn")) {
				if !q.Pass {
					t.Errorf("solution: question %d %q fails: %s: %s", q.N, q.Text, q.Failed, q.Verdict.Msg)
				}
			}
			if _, err := LabFiles(name); err != nil {
				t.Errorf("LabFiles: %v", err)
			}
		})
	}
}

// A lab's window may start at an event; the verdicts say why they fail.
func TestLabVerdicts(t *testing.T) {
	lab, err := ParseLab("t.lab", []byte(`title "t"
question 1 "q"
    expect event blocked count >= 3 within 2s after event start
question 2 "r"
    expect no event blocked within 1s after event start
question 3 "s"
    expect event complete after event forced
    hint "force it"
question 4 "u"
    expect event blocked func=f
    expect event blocked func=g
`))
	if err != nil {
		t.Fatal(err)
	}
	evs := []events.Event{
		{TimeNS: 0, Kind: "blocked", Func: "f"},
		{TimeNS: 5e8, Kind: "start"},
		{TimeNS: 5e8, Kind: "blocked", Func: "f"},
		{TimeNS: 15e8, Kind: "blocked", Func: "f"},
		{TimeNS: 25e8, Kind: "blocked", Func: "f"},
		{TimeNS: 35e8, Kind: "complete"},
	}
	got := lab.Check(evs)
	want := []struct {
		pass bool
		msg  string
	}{
		{true, ""},
		{false, "2 matching event(s), want none within 1s after 0.5s"},
		{false, "no event to start the window: event forced"},
		{false, "no matching event"},
	}
	for i, w := range want {
		if got[i].Pass != w.pass || got[i].Verdict.Msg != w.msg {
			t.Errorf("question %d: pass %v %q, want %v %q", got[i].N, got[i].Pass, got[i].Verdict.Msg, w.pass, w.msg)
		}
	}
	if got[2].Hint != "force it" || got[3].Failed != "expect event blocked func=g" {
		t.Errorf("hint %q, failed %q", got[2].Hint, got[3].Failed)
	}
}

// Every malformed .lab line gets one error naming file:line:col.
func TestParseLabErrors(t *testing.T) {
	const ok = "title \"t\"\nquestion 1 \"q\"\n    expect event start\n"
	for _, tc := range []struct{ src, want string }{
		{"", "t.lab:1:1: not a lab: the file is empty"},
		{"question 1 \"q\"\n expect event start\n", "t.lab:1:1: no title line: expected title \"TEXT\""},
		{"title \"t\"\n", "t.lab:1:1: no question: expected question N \"TEXT\" lines"},
		{"title a b\n", "t.lab:1:1: title: expected one quoted TEXT"},
		{ok + "title \"u\"\n", "t.lab:4:1: second title (the first is at line 1)"},
		{ok + "question 1 \"again\"\n expect event start\n", "t.lab:4:10: question 1 twice (first at line 2)"},
		{ok + "question x \"q\"\n", "t.lab:4:10: question: expected its number (1, 2, …), got \"x\""},
		{ok + "question 2\n", "t.lab:4:1: question: expected question N \"TEXT\""},
		{ok + "question 2 \"empty\"\n", "t.lab:4:1: question 2 has no expect line"},
		{"expect event start\n" + ok, "t.lab:1:1: expect outside a question"},
		{"hint \"h\"\n" + ok, "t.lab:1:1: hint outside a question"},
		{ok + "    hint \"a\"\n    hint \"b\"\n", "t.lab:5:5: question 1: second hint"},
		{ok + "    hint a b\n", "t.lab:4:5: hint: expected one quoted TEXT"},
		{ok + "    expect event blokced\n", "t.lab:4:18: expect event: unknown event kind \"blokced\": did you mean blocked?"},
		{ok + "    expect event start within 1s after start\n", "t.lab:4:34: expect event: after: expected after event KIND"},
		{ok + "    expect event start after event start x\n", "t.lab:4:42: expect event: unexpected \"x\" after the after event clause"},
		{ok + "    expect event start after event nope\n", "t.lab:4:36: expect event after event: unknown event kind \"nope\""},
		{ok + "    expect event start > x\n", "t.lab:4:24: expect event: unexpected \">\""},
		{ok + "    expect event start || die x\n", "t.lab:4:24: '||' is not supported in a lab"},
		{ok + "questoin 2 \"x\"\n", "t.lab:4:1: unknown line \"questoin\": expected title, question, expect or hint: did you mean question?"},
		{ok + "hint 'unterminated\n", "t.lab:4:6: unterminated single quote"},
	} {
		_, err := ParseLab("t.lab", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// FuzzParseLab: no input makes the .lab parser panic.
func FuzzParseLab(f *testing.F) {
	for _, name := range LabNames() {
		data, err := LabFS.ReadFile("labs/" + name + ".lab")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("title \"t\"\nquestion 1 \"q\"\n  expect no event blocked task=k* within 2s after event start patch=p\n  hint \"h\"\n"))
	f.Add([]byte("question 0 \"\"\n expect event x count >= -1 within\\\n 1s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLab("f.lab", data)
		if err == nil {
			l.Check(nil)
		}
	})
}

// Options.RecordEvents keeps the run's events, the scenario's own among
// them: commands, tests, results and the failure that stopped it.
func TestRecordEvents(t *testing.T) {
	s, err := Parse("t.scn", []byte("start_test \"a\"\nsleep 1s\ndie \"stop here\"\nsleep 1s\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, Options{RecordEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Events {
		switch e.Kind {
		case events.KindCommand:
			got = append(got, fmt.Sprintf("command %d %s", e.Line, e.Text))
		case events.KindTest, events.KindResult, events.KindFailed:
			got = append(got, fmt.Sprintf("%s %s %s %s", e.Kind, e.Test, e.Result, e.Msg))
		case events.KindSched:
			t.Errorf("sched event without RecordSched")
		}
	}
	want := []string{`command 1 start_test "a"`, "test a  ", "command 2 sleep 1s", `command 3 die "stop here"`,
		"result a not ok stop here", "failed   stop here"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// lab start's files are self-contained: the starting file parses with
// its includes read from the copies alone (a lab that includes
// ../teach/teach-target.inc gets teach-target.inc beside it).
func TestLabFilesSelfContained(t *testing.T) {
	for _, name := range LabNames() {
		files, err := LabFiles(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for n := range files {
			if strings.Contains(n, "/") {
				t.Errorf("%s: %s is not beside the starting file", name, n)
			}
		}
		read := func(p string) ([]byte, error) {
			rel, ok := strings.CutPrefix(p, "copy/")
			if d, found := files[rel]; ok && found {
				return d, nil
			}
			return nil, os.ErrNotExist
		}
		if _, err := ParseWith("copy/"+name+".scn", files[name+".scn"], testCatalog(), ParseOptions{ReadFile: read}); err != nil {
			t.Errorf("%s: the copy does not parse on its own: %v", name, err)
		}
	}
	files, err := LabFiles("01-unpatch-stall")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["teach-target.inc"]; !ok || !strings.Contains(string(files["01-unpatch-stall.scn"]), "\ninclude teach-target.inc\n") {
		t.Errorf("01-unpatch-stall: teach-target.inc is not copied beside it, or the include line not repointed")
	}
}

// A lab has no variables: a $ is text, in a hint and in a value.
func TestParseLabDollar(t *testing.T) {
	l, err := ParseLab("t.lab", []byte("title \"t\"\nquestion 1 \"q\"\n  expect event blocked task=$T${U}\n  hint \"Look at /proc/$PID/stack\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	q := l.Questions[0]
	if q.Hint != "Look at /proc/$PID/stack" {
		t.Errorf("hint %q", q.Hint)
	}
	got := l.Check([]events.Event{{Kind: "blocked", Task: "$T$U"}})
	if !got[0].Pass {
		t.Errorf("task=$T${U} does not match the text $T$U: %s", got[0].Verdict.Msg)
	}
}

// lab start puts a lab's files in one directory: include lines name the
// copies; sections and other lines stay as they are.
func TestFlattenIncludes(t *testing.T) {
	in := "# include ../x.inc stays a comment\ninclude ../teach/teach-target.inc\n  include  a/b.inc  # why\ninclude 'q/r.inc'\nload_mod x\n-- s --\ninclude ../teach/y.inc\n"
	want := "# include ../x.inc stays a comment\ninclude teach-target.inc\n  include  b.inc  # why\ninclude 'r.inc'\nload_mod x\n-- s --\ninclude ../teach/y.inc\n"
	if got := string(flattenIncludes([]byte(in))); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

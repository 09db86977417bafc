package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"klpsim/events"
)

// Labs (docs/labs.md): a lab is a starting scenario a student edits,
// scenarios/labs/NAME.scn, and its questions, scenarios/labs/NAME.lab:
//
//	# comments
//	title "Make the transition complete"
//	question 1 "The patch's transition starts"
//	    expect event start patch=lab_patch
//	    hint "Load the livepatch with load_lp_nowait."
//
// A question passes when every one of its expect lines holds on the
// events of the student's run. The labs' files are built into the binary
// (klpsim lab list, start, check); the teachers' solutions
// (labs/solutions/) are not.

// LabFS holds the built-in labs: labs/NAME.scn, labs/NAME.lab and the
// files they may include (labs/*.inc, teach/*.inc).
//
//go:embed labs/*.scn labs/*.lab labs/*.inc teach/*.inc
var LabFS embed.FS

// Lab is a parsed .lab file.
type Lab struct {
	Name      string // the file's base name without .lab
	File      string
	Title     string
	Questions []*Question
}

// Question is one question of a lab.
type Question struct {
	Pos   Pos
	N     int
	Text  string
	Conds []*EventCond
	Hint  string
}

// ParseLab reads a .lab file. Errors are an ErrorList with
// file:line:col.
func ParseLab(file string, data []byte) (*Lab, error) {
	var errs ErrorList
	errf := func(p Pos, format string, args ...any) { errs.add(file, p, format, args...) }
	if pos, what := notText(data); what != "" {
		errf(pos, "not a lab: %s", strings.Replace(what, "a scenario is a script of commands, docs/scenarios.md", "a lab is a title and questions, docs/labs.md", 1))
		return nil, errs
	}
	lab := &Lab{Name: strings.TrimSuffix(path.Base(file), ".lab"), File: file}
	var q *Question
	numbers := map[int]Pos{}
	var titlePos Pos
	endQuestion := func() {
		if q != nil && len(q.Conds) == 0 {
			errf(q.Pos, "question %d has no expect line: a question passes when its expect lines hold", q.N)
		}
	}
	for _, l := range lexScript(file, string(data), &errs) {
		ws := make([]Word, 0, len(l.toks))
		bad := false
		for _, t := range l.toks {
			if t.kind != tokWord {
				errf(t.pos(), "%s is not supported in a lab (docs/labs.md)", opName(t.kind))
				bad = true
				break
			}
			ws = append(ws, literalWord(t.word))
		}
		if bad {
			continue
		}
		kw, _ := ws[0].Literal()
		switch kw {
		case "title":
			if len(ws) != 2 {
				errf(ws[0].Pos, "title: expected one quoted TEXT")
				continue
			}
			if lab.Title != "" {
				errf(ws[0].Pos, "second title (the first is at line %d)", titlePos.Line)
				continue
			}
			lab.Title, _ = ws[1].Literal()
			titlePos = ws[0].Pos
		case "question":
			endQuestion()
			q = nil
			if len(ws) != 3 {
				errf(ws[0].Pos, "question: expected question N \"TEXT\"")
				continue
			}
			s, _ := ws[1].Literal()
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				errf(ws[1].Pos, "question: expected its number (1, 2, …), got %q", s)
				continue
			}
			if p, dup := numbers[n]; dup {
				errf(ws[1].Pos, "question %d twice (first at line %d)", n, p.Line)
				continue
			}
			numbers[n] = ws[0].Pos
			text, _ := ws[2].Literal()
			q = &Question{Pos: ws[0].Pos, N: n, Text: text}
			lab.Questions = append(lab.Questions, q)
		case "expect":
			if q == nil {
				errf(ws[0].Pos, "expect outside a question: expected a question N \"TEXT\" line before it")
				continue
			}
			if c := parseEventCond(ws[0].Pos, ws[1:], true, errf); c != nil {
				q.Conds = append(q.Conds, c)
			}
		case "hint":
			if q == nil {
				errf(ws[0].Pos, "hint outside a question: expected a question N \"TEXT\" line before it")
				continue
			}
			if len(ws) != 2 {
				errf(ws[0].Pos, "hint: expected one quoted TEXT")
				continue
			}
			if q.Hint != "" {
				errf(ws[0].Pos, "question %d: second hint", q.N)
				continue
			}
			q.Hint, _ = ws[1].Literal()
		default:
			errf(ws[0].Pos, "unknown line %q: expected title, question, expect or hint%s", ws[0].String(),
				suggestFrom(kw, []string{"title", "question", "expect", "hint"}, "docs/labs.md"))
		}
	}
	endQuestion()
	if len(errs) == 0 {
		if lab.Title == "" {
			errf(Pos{1, 1}, "no title line: expected title \"TEXT\"")
		}
		if len(lab.Questions) == 0 {
			errf(Pos{1, 1}, "no question: expected question N \"TEXT\" lines")
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return lab, nil
}

// NeedsSched reports whether a condition is about sched events: the run
// must record the scheduler's.
func (l *Lab) NeedsSched() bool {
	for _, q := range l.Questions {
		for _, c := range q.Conds {
			if c.Kind == events.KindSched || c.After != nil && c.After.Kind == events.KindSched {
				return true
			}
		}
	}
	return false
}

// QuestionResult is a question's verdict on a run.
type QuestionResult struct {
	N    int
	Text string
	Pass bool
	Hint string
	// Failed is the first condition that does not hold, as written, and
	// Verdict its outcome.
	Failed  string
	Verdict Verdict
}

// Check judges every question on a run's events.
func (l *Lab) Check(evs []events.Event) []QuestionResult {
	lit := func(w Word) string { s, _ := w.Literal(); return s }
	var out []QuestionResult
	for _, q := range l.Questions {
		r := QuestionResult{N: q.N, Text: q.Text, Pass: true}
		for _, c := range q.Conds {
			v := c.labVerdict(evs, lit)
			if !v.OK {
				r.Pass, r.Hint, r.Failed, r.Verdict = false, q.Hint, c.Text, v
				break
			}
		}
		out = append(out, r)
	}
	return out
}

// labVerdict judges c on a whole run: the window starts at the first
// event After matches (or the run's start) and lasts Within (or to the
// end).
func (c *EventCond) labVerdict(evs []events.Event, expand func(Word) string) Verdict {
	from, start := 0, uint64(0)
	if c.After != nil {
		am := c.After.matcher(expand)
		from = -1
		for i := range evs {
			if am.matches(&evs[i]) {
				from, start = i+1, evs[i].TimeNS
				break
			}
		}
		if from < 0 {
			return Verdict{Msg: "no event to start the window: " + strings.TrimPrefix(c.After.Text, "expect ")}
		}
	}
	to := noEnd
	if c.HasWithin {
		to = start + c.Within
	}
	v := c.verdict(c.matcher(expand), evs, from, to)
	if !v.OK && c.HasWithin {
		v.Msg += " within " + fmtDuration(c.Within)
		if c.After != nil {
			v.Msg += " after " + FormatTime(start)
		}
	}
	return v
}

// ----- the built-in labs

// LabNames lists the built-in labs, in order.
func LabNames() []string {
	ents, _ := fs.ReadDir(LabFS, "labs")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".lab"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// ErrNoLab is LookupLab's error for a name no built-in lab has.
var ErrNoLab = errors.New("no such lab")

// LookupLab parses the built-in lab name.
func LookupLab(name string) (*Lab, error) {
	data, err := LabFS.ReadFile("labs/" + name + ".lab")
	if err != nil || strings.ContainsAny(name, "/\\") {
		return nil, fmt.Errorf("%w: %s (klpsim lab list shows them)", ErrNoLab, name)
	}
	return ParseLab("labs/"+name+".lab", data)
}

// LabFiles are the built-in lab's starting file and the files it
// includes, for klpsim lab start: by base name, all in one directory, the
// include lines of each rewritten to name the copies beside it.
func LabFiles(name string) (map[string][]byte, error) {
	if _, err := LookupLab(name); err != nil {
		return nil, err
	}
	start := "labs/" + name + ".scn"
	data, err := LabFS.ReadFile(start)
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no starting file", ErrNoLab, name)
	}
	read := map[string][]byte{start: data}
	readFile := func(p string) ([]byte, error) {
		p = path.Clean(p)
		d, err := LabFS.ReadFile(p)
		if err == nil {
			read[p] = d
		}
		return d, err
	}
	if _, err := ParseWith(start, data, Builtin, ParseOptions{ReadFile: readFile}); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	from := map[string]string{}
	for p, d := range read {
		base := path.Base(p)
		if other, dup := from[base]; dup {
			return nil, fmt.Errorf("lab %s: %s and %s would both be copied as %s", name, other, p, base)
		}
		from[base] = p
		files[base] = flattenIncludes(d)
	}
	return files, nil
}

// includeLine is a script's include line: its file name unquoted or in
// simple quotes.
var includeLine = regexp.MustCompile(`^([ \t]*include[ \t]+['"]?)([^ \t'"#$\\]+)(['"]?[ \t]*(#.*)?)$`)

// flattenIncludes rewrites the script's include lines (before the first
// section) to name their files' base names.
func flattenIncludes(data []byte) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "-- ") {
			break
		}
		body := strings.TrimSuffix(l, "\n")
		if m := includeLine.FindStringSubmatch(body); m != nil {
			lines[i] = m[1] + path.Base(m[2]) + m[3] + l[len(body):]
		}
	}
	return []byte(strings.Join(lines, ""))
}

// literalWord is w with its variables as the text they were written as:
// a lab has no variables, and a hint may well say "/proc/$PID/stack".
func literalWord(w Word) Word {
	out := Word{Pos: w.Pos, Quoted: w.Quoted}
	var b strings.Builder
	for _, p := range w.parts {
		if p.isVar {
			b.WriteString("$" + p.text)
		} else {
			b.WriteString(p.text)
		}
	}
	if b.Len() > 0 || len(w.parts) > 0 {
		out.parts = []part{{text: b.String()}}
	}
	return out
}

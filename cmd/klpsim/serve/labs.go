package serve

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"klpsim/docs"
	"klpsim/scenarios"
)

// The labs view (docs/labs.md, docs/playground.md "Labs"): the built-in
// labs, each opened as the file `klpsim lab start` would copy out, named
// labs/NAME.scn, with its handout; Check runs the editor's text and
// judges it as `klpsim lab check` does.

// LabEntry is one built-in lab.
type LabEntry struct {
	Name      string `json:"name"`
	Title     string `json:"title"`
	Questions int    `json:"questions"`
	Path      string `json:"path"` // the starting file's name in the playground: labs/NAME.scn
	Text      string `json:"text"` // the starting file, as lab start copies it
	Handout   string `json:"handout"`
}

// labs lists the built-in labs.
func (srv *Server) labs(w http.ResponseWriter, r *http.Request) {
	out := []LabEntry{}
	for _, n := range scenarios.LabNames() {
		lab, err := scenarios.LookupLab(n)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		lf, err := scenarios.LabFiles(n)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out = append(out, LabEntry{Name: n, Title: lab.Title, Questions: len(lab.Questions),
			Path: "labs/" + n + ".scn", Text: string(lf[n+".scn"]), Handout: handout(docs.Labs, n)})
	}
	reply(w, out)
}

// handout is lab name's section of docs/labs.md: from its "## Lab NN"
// heading (NN the name's number) to the next heading of that level.
func handout(md, name string) string {
	num, _, _ := strings.Cut(name, "-")
	var b strings.Builder
	in := false
	for _, l := range strings.SplitAfter(md, "\n") {
		if strings.HasPrefix(l, "## ") {
			rest, ok := strings.CutPrefix(l, "## Lab "+num)
			in = ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " "))
		}
		if in {
			b.WriteString(l)
		}
	}
	return strings.TrimSpace(b.String())
}

// readLabFile reads name in the directory a lab's files are copied to
// (labs/): the starting files, and, by base name, the files they include
// (labs/*.inc, teach/*.inc), as in the copies lab start makes.
func readLabFile(name string) ([]byte, bool) {
	base, ok := strings.CutPrefix(name, "labs/")
	if !ok || strings.Contains(base, "/") {
		return nil, false
	}
	if data, err := scenarios.LabFS.ReadFile(name); err == nil {
		return data, true
	}
	if path.Ext(base) == ".inc" {
		if data, err := scenarios.LabFS.ReadFile("teach/" + base); err == nil {
			return data, true
		}
	}
	return nil, false
}

// checkRequest is a Check: the editor's text and the lab to judge it
// by ("" for the one its lab line names).
type checkRequest struct {
	Lab  string `json:"lab"`
	Name string `json:"name"`
	Text string `json:"text"`
}

// LabReport is a Check's answer: lab check --json's object.
type LabReport struct {
	Lab       string           `json:"lab"`
	Title     string           `json:"title"`
	File      string           `json:"file"`
	Passed    int              `json:"passed"`
	Total     int              `json:"total"`
	RunFailed string           `json:"run_failed,omitempty"`
	Questions []QuestionReport `json:"questions"`
}

// QuestionReport is one question's verdict.
type QuestionReport struct {
	N       int    `json:"n"`
	Text    string `json:"text"`
	Pass    bool   `json:"pass"`
	Hint    string `json:"hint,omitempty"`
	Failed  string `json:"failed,omitempty"` // the condition, as written
	Why     string `json:"why,omitempty"`
	Nearest string `json:"nearest,omitempty"` // the event that came nearest
}

// labCheck runs the request's scenario, bounded as a Run is, and judges it
// by its lab's questions; it answers when the run is over. It uses the
// session's machine: a debugged machine is killed first.
func (srv *Server) labCheck(ss *session, w http.ResponseWriter, r *http.Request) {
	var req checkRequest
	if !decode(w, r, srv.cfg.MaxScenario+4096, &req) {
		return
	}
	src := source{Name: req.Name, Text: req.Text}
	if st, msg := srv.check(&src); st != 0 {
		apiError(w, st, msg)
		return
	}
	sc, err := srv.parseSource(src)
	if err != nil {
		replyParseErrors(w, err)
		return
	}
	name := req.Lab
	switch {
	case name == "" && sc.Lab == "":
		apiError(w, http.StatusBadRequest, "which lab? the request names none and the scenario has no lab NAME line")
		return
	case name == "":
		name = sc.Lab
	case sc.Lab != "" && sc.Lab != name:
		apiError(w, http.StatusBadRequest, fmt.Sprintf("the scenario's lab line names lab %s, the request lab %s", sc.Lab, name))
		return
	}
	lab, err := scenarios.LookupLab(name)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, scenarios.ErrNoLab) {
			status = http.StatusNotFound
		}
		apiError(w, status, err.Error())
		return
	}
	if !ss.takeBusy(w) {
		return
	}
	defer ss.busy.Unlock()
	ss.killDebug()
	var intr atomic.Bool
	ss.setInterrupt(func() { intr.Store(true) })
	defer ss.setInterrupt(nil)
	opts := scenarios.Options{Stdout: io.Discard, Stderr: io.Discard, Interrupt: &intr,
		RecordEvents: true, RecordSched: lab.NeedsSched()}
	srv.limits(sc, &opts)
	wall := time.AfterFunc(srv.cfg.MaxWall, func() { intr.Store(true) })
	res, err := runSafely(sc, opts)
	wall.Stop()
	if err != nil {
		apiError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	rep := LabReport{Lab: lab.Name, Title: lab.Title, File: src.Name, Questions: []QuestionReport{}}
	switch {
	case res.Interrupted:
		rep.RunFailed = fmt.Sprintf("interrupted (cancelled, or past %s of wall time)", srv.cfg.MaxWall)
	case res.Failed:
		rep.RunFailed = res.Msg
	}
	for _, q := range lab.Check(res.Events) {
		qr := QuestionReport{N: q.N, Text: q.Text, Pass: q.Pass}
		if q.Pass {
			rep.Passed++
		} else {
			qr.Hint, qr.Failed, qr.Why = q.Hint, q.Failed, q.Verdict.Msg
			if q.Verdict.Nearest != nil {
				qr.Nearest = scenarios.DescribeEvent(q.Verdict.Nearest)
			}
		}
		rep.Questions = append(rep.Questions, qr)
	}
	rep.Total = len(rep.Questions)
	reply(w, rep)
}

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"klpsim/events"
	"klpsim/scenarios"
)

const labUsage = `usage: klpsim lab list
       klpsim lab start NAME [DIR]
       klpsim lab check [--json] FILE.scn

Labs (docs/labs.md): a scenario to complete and questions the machine
answers. list shows the built-in labs; start copies lab NAME's starting
file (and the files it includes) into DIR (default: the current
directory); check runs FILE.scn and says, per question of its lab (its
lab NAME line, else its file name), PASS or FAIL, with a hint and the
condition that failed. check exits 0 only when every question passes.

flags of check:
`

func cmdLab(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, labUsage)
		return exitUsage
	}
	switch args[0] {
	case "list":
		if len(args) != 1 {
			fmt.Fprintln(stderr, "klpsim lab list: expected no arguments")
			return exitUsage
		}
		return labList(stdout, stderr)
	case "start":
		if len(args) < 2 || len(args) > 3 {
			fmt.Fprintln(stderr, "klpsim lab start: expected NAME [DIR]")
			return exitUsage
		}
		dir := "."
		if len(args) == 3 {
			dir = args[2]
		}
		return labStart(args[1], dir, stdout, stderr)
	case "check":
		return labCheck(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, labUsage)
		fmt.Fprintln(stdout, "  --json\twrite the verdicts as one JSON object")
		return exitOK
	}
	fmt.Fprintf(stderr, "klpsim lab: unknown subcommand %q\n%s", args[0], labUsage)
	return exitUsage
}

func labList(stdout, stderr io.Writer) int {
	for _, name := range scenarios.LabNames() {
		l, err := scenarios.LookupLab(name)
		if err != nil {
			fmt.Fprintf(stderr, "klpsim lab list: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%-24s %s (%d questions)\n", name, l.Title, len(l.Questions))
	}
	return exitOK
}

func labStart(name, dir string, stdout, stderr io.Writer) int {
	files, err := scenarios.LabFiles(name)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim lab start: %v\n", err)
		return exitUsage
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "klpsim lab start: %v\n", err)
		return exitUsage
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	// Nothing half-done: refuse before writing when a file is there (a
	// student's work must not be overwritten).
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(n))); err == nil {
			fmt.Fprintf(stderr, "klpsim lab start: %s exists; remove it or choose another DIR\n", filepath.Join(dir, filepath.FromSlash(n)))
			return exitUsage
		} else if !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "klpsim lab start: %v\n", err)
			return exitUsage
		}
	}
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, files[n], 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "klpsim lab start: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	fmt.Fprintf(stdout, "edit %s, then: klpsim lab check %s\n",
		filepath.Join(dir, name+".scn"), filepath.Join(dir, name+".scn"))
	return exitOK
}

// labReport is lab check --json's object.
type labReport struct {
	Lab       string           `json:"lab"`
	Title     string           `json:"title"`
	File      string           `json:"file"`
	Passed    int              `json:"passed"`
	Total     int              `json:"total"`
	RunFailed string           `json:"run_failed,omitempty"` // the scenario's own failure, if any
	Questions []questionReport `json:"questions"`
}

type questionReport struct {
	N       int           `json:"n"`
	Text    string        `json:"text"`
	Pass    bool          `json:"pass"`
	Hint    string        `json:"hint,omitempty"`
	Failed  string        `json:"failed,omitempty"` // the condition, as written
	Why     string        `json:"why,omitempty"`
	Nearest *events.Event `json:"nearest,omitempty"`
}

func labCheck(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("lab check", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(fl.Output(), labUsage); fl.PrintDefaults() }
	jsonOut := fl.Bool("json", false, "write the verdicts as one JSON object")
	names, code, done := parseFlags(fl, args, true, stdout, stderr)
	if done {
		return code
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "klpsim lab check: expected one FILE.scn")
		return exitUsage
	}
	s, code := parseScenarioFile(names[0], "lab check", stderr)
	if s == nil {
		return code
	}
	name := s.Lab
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(names[0]), filepath.Ext(names[0]))
	}
	lab, err := scenarios.LookupLab(name)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim lab check: %s: %v\n", names[0], err)
		return exitUsage
	}
	var out io.Writer = stderr
	if *jsonOut {
		out = io.Discard
	}
	fmt.Fprintf(out, "running %s\n", names[0])
	res, err := scenarios.Run(s, scenarios.Options{Stdout: out, Stderr: out, Catalog: scenarios.Builtin,
		RecordEvents: true, RecordSched: lab.NeedsSched()})
	if err != nil {
		fmt.Fprintf(stderr, "klpsim lab check: %v\n", err)
		return exitUsage
	}
	rep := labReport{Lab: lab.Name, Title: lab.Title, File: names[0]}
	if res.Failed {
		rep.RunFailed = res.Msg
	}
	for _, q := range lab.Check(res.Events) {
		qr := questionReport{N: q.N, Text: q.Text, Pass: q.Pass}
		if q.Pass {
			rep.Passed++
		} else {
			qr.Hint, qr.Failed, qr.Why, qr.Nearest = q.Hint, q.Failed, q.Verdict.Msg, q.Verdict.Nearest
		}
		rep.Questions = append(rep.Questions, qr)
	}
	rep.Total = len(rep.Questions)
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "klpsim lab check: %v\n", err)
			return exitFail
		}
	} else {
		writeLabReport(stdout, &rep)
	}
	if rep.Passed != rep.Total {
		return exitFail
	}
	return exitOK
}

func writeLabReport(w io.Writer, rep *labReport) {
	fmt.Fprintf(w, "lab %s: %s\n", rep.Lab, rep.Title)
	if rep.RunFailed != "" {
		fmt.Fprintf(w, "note: the scenario failed (%s); the questions are judged on the events up to there\n", rep.RunFailed)
	}
	for _, q := range rep.Questions {
		verdict := "PASS"
		if !q.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "%s %d. %s\n", verdict, q.N, q.Text)
		if q.Pass {
			continue
		}
		if q.Hint != "" {
			fmt.Fprintf(w, "     hint: %s\n", q.Hint)
		}
		fmt.Fprintf(w, "     failed: %s: %s\n", q.Failed, q.Why)
		if q.Nearest != nil {
			fmt.Fprintf(w, "     nearest event: %s\n", scenarios.DescribeEvent(q.Nearest))
		}
	}
	fmt.Fprintf(w, "%d of %d questions pass\n", rep.Passed, rep.Total)
}

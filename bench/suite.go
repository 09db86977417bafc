package bench

import (
	"fmt"
	"strings"
)

// Options says how to run the suites.
type Options struct {
	// Count is how many times each suite is run (at least 1).
	Count int
	// Short shrinks every size (hotpath calls, transition tasks) to a
	// smoke test's: the numbers mean nothing, the shape is the same.
	Short bool
	// Loops is a directory whose *.s programs the interp suite runs
	// instead of the built-in bench/loops.
	Loops string
	// Progress, if not nil, is told what runs now ("hotpath 2/5:
	// patched").
	Progress func(string)
}

// suite is one benchmark suite.
type suite struct {
	name    string
	doc     string
	columns []Column
	// run measures once (run i of n), sending each sample to emit, and
	// returns the notes for the table.
	run func(o *Options, step func(string), emit func(Sample)) ([]string, error)
}

// SuiteNames are the suites in the order "all" runs them.
func SuiteNames() []string {
	var s []string
	for _, x := range suites() {
		s = append(s, x.name)
	}
	return s
}

// SuiteDoc is a suite's one-line description.
func SuiteDoc(name string) string {
	for _, x := range suites() {
		if x.name == name {
			return x.doc
		}
	}
	return ""
}

// Columns are a suite's columns.
func Columns(name string) []Column {
	for _, x := range suites() {
		if x.name == name {
			return x.columns
		}
	}
	return nil
}

func suites() []suite { return []suite{hotpathSuite, interpSuite, transitionSuite} }

// Run runs suite name ("all": every suite) o.Count times and returns one
// table per suite.
func Run(name string, o Options) ([]Table, error) {
	if o.Count < 1 {
		o.Count = 1
	}
	var todo []suite
	for _, s := range suites() {
		if name == "all" || name == s.name {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return nil, fmt.Errorf("unknown suite %q (want %s or all)", name, strings.Join(SuiteNames(), ", "))
	}
	var tables []Table
	for _, s := range todo {
		var samples []Sample
		var notes []string
		for i := range o.Count {
			step := func(what string) {
				if o.Progress != nil {
					o.Progress(fmt.Sprintf("%s %d/%d: %s", s.name, i+1, o.Count, what))
				}
			}
			n, err := s.run(&o, step, func(x Sample) { samples = append(samples, x) })
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			notes = n
		}
		t := summarize(s.name, o.Count, s.columns, samples)
		t.Notes = notes
		tables = append(tables, t)
	}
	return tables, nil
}

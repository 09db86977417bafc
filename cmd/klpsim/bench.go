package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"klpsim/bench"
)

const benchUsage = `usage: klpsim bench [FLAGS] [hotpath|interp|transition|all]

Runs klpsim's benchmarks (default: all) --count times and prints, per
suite, a table of medians with their spread (the largest deviation from
the median, in percent). Ratios (x-...) are computed within each run and
then summarized. bench/README.md explains every column.

suites:
%s
flags:
`

// Markers around the results in bench/README.md that --readme replaces.
const (
	readmeBegin = "<!-- klpsim bench --readme: results begin -->"
	readmeEnd   = "<!-- klpsim bench --readme: results end -->"
)

// cmdBench is `klpsim bench`.
func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		var b strings.Builder
		for _, s := range bench.SuiteNames() {
			fmt.Fprintf(&b, "  %-11s %s\n", s, bench.SuiteDoc(s))
		}
		fmt.Fprintf(fs.Output(), benchUsage, b.String())
		fs.PrintDefaults()
	}
	count := fs.String("count", "5", "run each suite `N` times")
	jsonOut := fs.Bool("json", false, "print one JSON object per row instead of the tables")
	markdown := fs.Bool("markdown", false, "print the tables as Markdown (bench/README.md's results)")
	readme := fs.String("readme", "", "write the Markdown tables into `FILE` between its results markers")
	short := fs.Bool("short", false, "tiny sizes: a smoke test whose numbers mean nothing")
	loopsDir := fs.String("loops", "", "interp: run the *.s programs of `DIR` instead of the built-in loops")
	names, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "klpsim bench: "+format+"\n", a...)
		return exitUsage
	}
	n, err := intFlag("count", *count, 1, 1000)
	if err != nil {
		return fail("%v", err)
	}
	if *jsonOut && (*markdown || *readme != "") {
		return fail("--json and --markdown/--readme exclude each other")
	}
	suite := "all"
	switch len(names) {
	case 0:
	case 1:
		suite = names[0]
	default:
		return fail("one suite at a time, got %s", strings.Join(names, " "))
	}
	if suite != "all" && bench.SuiteDoc(suite) == "" {
		return fail("unknown suite %q (want %s or all)", suite, strings.Join(bench.SuiteNames(), ", "))
	}
	if *readme != "" {
		// Check the file before the minutes of measuring.
		if _, err := spliceReadme(*readme, nil); err != nil {
			return fail("%v", err)
		}
	}
	p := startBenchProgress(stderr)
	tables, err := bench.Run(suite, bench.Options{Count: int(n), Short: *short, Loops: *loopsDir, Progress: p.show})
	p.end()
	if err != nil {
		fmt.Fprintf(stderr, "klpsim bench: %v\n", err)
		return exitFail
	}
	switch {
	case *jsonOut:
		for _, t := range tables {
			if err := t.WriteJSON(stdout); err != nil {
				fmt.Fprintf(stderr, "klpsim bench: %v\n", err)
				return exitFail
			}
		}
	case *markdown || *readme != "":
		var b bytes.Buffer
		writeMarkdown(&b, tables)
		if *readme != "" {
			if _, err := spliceReadme(*readme, b.Bytes()); err != nil {
				return fail("%v", err)
			}
			fmt.Fprintf(stdout, "wrote %s\n", *readme)
			break
		}
		stdout.Write(b.Bytes())
	default:
		for i, t := range tables {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			t.WriteText(stdout)
		}
	}
	return exitOK
}

// writeMarkdown is the results section: where and when it was measured,
// then the tables.
func writeMarkdown(w io.Writer, tables []bench.Table) {
	fmt.Fprintf(w, "Measured %s with klpsim %s, %s/%s, %d CPUs (`klpsim bench --markdown`).\n\n",
		time.Now().UTC().Format("2006-01-02"), version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	for _, t := range tables {
		t.WriteMarkdown(w)
	}
}

// spliceReadme replaces what lies between the results markers of file
// with results (nil: only check that the markers are there).
func spliceReadme(file string, results []byte) ([]byte, error) {
	old, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	i := bytes.Index(old, []byte(readmeBegin))
	j := bytes.Index(old, []byte(readmeEnd))
	if i < 0 || j < i {
		return nil, fmt.Errorf("%s: no results markers (a line %q, later a line %q)", file, readmeBegin, readmeEnd)
	}
	if results == nil {
		return old, nil
	}
	var b bytes.Buffer
	b.Write(old[:i+len(readmeBegin)])
	b.WriteString("\n\n")
	b.Write(results)
	b.Write(old[j:])
	return b.Bytes(), os.WriteFile(file, b.Bytes(), 0o644)
}

// benchProgress shows on a terminal which suite, run and step is under
// way, on one line of stderr that is redrawn and cleared at the end;
// elsewhere it shows nothing.
type benchProgress struct {
	w     io.Writer
	t0    time.Time
	drawn bool
}

func startBenchProgress(w io.Writer) *benchProgress {
	f, ok := w.(*os.File)
	if !ok || !isTerminal(f) {
		return nil
	}
	return &benchProgress{w: w, t0: time.Now()}
}

// show draws msg (nil receiver: no terminal, nothing to draw).
func (p *benchProgress) show(msg string) {
	if p == nil {
		return
	}
	fmt.Fprint(p.w, "\r"+formatBenchProgress(msg, time.Since(p.t0))+"\x1b[K")
	p.drawn = true
}

func (p *benchProgress) end() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

// formatBenchProgress is the progress line.
func formatBenchProgress(msg string, elapsed time.Duration) string {
	return fmt.Sprintf("klpsim bench [%s] %s", elapsed.Truncate(time.Second), msg)
}

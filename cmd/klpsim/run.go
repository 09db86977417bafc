package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"klpsim/kernel"
	"klpsim/livepatch"
	"klpsim/scenarios"
	"klpsim/timeline"
)

// defaultScenario is what `klpsim run` runs when given no file.
//
//go:embed default.scn
var defaultScenario []byte

const runUsage = `usage: klpsim run [flags] [FILE.scn|-...]

Runs scenarios (docs/scenarios.md) and prints, per test, "TEST: NAME ... ok"
or the diff of the expected and actual transcripts. With no FILE it runs a
built-in scenario (test-livepatch.sh's "basic function patching"); "-"
reads a scenario from standard input. Flags may come before or after the
files; "--" ends them.

Exit status: 0 when every scenario passes, 1 when an expectation fails, 2
for usage or scenario errors.

flags:
`

// cmdRun runs scenario files.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), runUsage); fs.PrintDefaults() }
	mf := addMachineFlags(fs, "run the livepatch consistency checker: every task running old code after switching, or new code before, is reported and fails the scenario")
	dmesg := fs.Bool("dmesg", false, "print the whole kernel log after each scenario")
	jsonOut := fs.Bool("json", false, "write the livepatch event stream and the test results to stdout as JSON lines (the text output goes to stderr)")
	gdbAddr := fs.String("gdb", "", gdbFlagHelp)
	out := addOutputFlags(fs)
	cpuprofile := addCPUProfileFlag(fs)
	stats := fs.Bool("stats", false, "after each scenario print on stderr: FILE: insns=N seconds=S mips=M simulated=T translated=B (guest instructions of all CPUs, host wall seconds, their rate, simulated time, blocks translated to host code)")
	update := fs.Bool("update", false, "accept the actual transcripts: rewrite each FILE's expected sections that check_result found different (lines that still match keep their $VARs)")
	names, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	stopProfile, ok := startCPUProfile("run", *cpuprofile, stderr)
	if !ok {
		return exitUsage
	}
	defer stopProfile()
	opts := scenarios.Options{Stdout: stdout, Stderr: stderr, Catalog: scenarios.Builtin,
		Dmesg: *dmesg, Update: *update}
	if *update && len(names) == 0 {
		fmt.Fprintln(stderr, "klpsim run: --update needs FILE arguments: the built-in scenario cannot be rewritten")
		return exitUsage
	}
	if err := mf.apply(&opts); err != nil {
		fmt.Fprintf(stderr, "klpsim run: %v\n", err)
		return exitUsage
	}
	if err := out.check(stderr); err != nil {
		fmt.Fprintf(stderr, "klpsim run: %v\n", err)
		return exitUsage
	}

	// Read and parse every file before running any: a bad file runs
	// nothing.
	type file struct {
		name string
		data []byte
	}
	var files []file
	if len(names) == 0 {
		files = append(files, file{"default.scn", defaultScenario})
	}
	readStdin := false
	for _, name := range names {
		var data []byte
		var err error
		if name == "-" {
			if readStdin {
				fmt.Fprintln(stderr, "klpsim run: - (standard input) given twice")
				return exitUsage
			}
			if *update {
				fmt.Fprintln(stderr, "klpsim run: --update cannot rewrite standard input (-)")
				return exitUsage
			}
			readStdin = true
			name = stdinName
			data, err = io.ReadAll(stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			fmt.Fprintf(stderr, "klpsim run: %s\n", fileError(name, err))
			return exitUsage
		}
		files = append(files, file{name, data})
	}
	var parsed []*scenarios.Scenario
	data := map[*scenarios.Scenario][]byte{} // for --update
	bad := false
	for _, f := range files {
		s, err := scenarios.Parse(f.name, f.data, opts.Catalog)
		if err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
			continue
		}
		parsed = append(parsed, s)
		data[s] = f.data
	}
	out.multi = len(parsed) > 1
	if bad {
		return exitUsage
	}

	if *gdbAddr != "" {
		if len(parsed) != 1 {
			fmt.Fprintln(stderr, "klpsim run: --gdb serves one scenario")
			return exitUsage
		}
		return serveGDB(*gdbAddr, parsed[0], data[parsed[0]], opts, stdout, stderr)
	}
	var jw *timeline.JSONWriter
	if *jsonOut {
		jw = timeline.NewJSONWriter(stdout)
		opts.Stdout = stderr
	}
	var intr atomic.Bool
	defer watchSIGINT(&intr)()
	opts.Interrupt = &intr
	if p := startProgress(stderr); p != nil {
		defer p.end()
		opts.Progress, opts.OnProgress = &p.flag, p.draw
		opts.Stdout, opts.Stderr = p.wrap(opts.Stdout), p.wrap(opts.Stderr)
	}
	status := exitOK
	for _, s := range parsed {
		rec := out.recorder(s, data[s], jw, &opts)
		out.log.Debug().Str("scenario", s.File).Int("commands", len(s.Cmds)).Msg("run")
		var k *kernel.Kernel
		sopts := opts
		if *stats {
			booted := opts.Booted
			sopts.Booted = func(kk *kernel.Kernel, c *livepatch.Core) {
				k = kk
				if booted != nil {
					booted(kk, c)
				}
			}
		}
		start := time.Now()
		res, err := scenarios.Run(s, sopts)
		if *stats && k != nil {
			n, _, _ := k.Memory().JITStats()
			fmt.Fprintf(opts.Stderr, "%s: %s simulated=%v translated=%d\n", s.File, statsLine(k.Insns(), time.Since(start)), time.Duration(k.Now()), n)
		}
		if werr := out.finish(rec, s, res, err); werr != nil {
			fmt.Fprintf(stderr, "klpsim run: %v\n", werr)
			status = exitUsage
		}
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", s.File, err)
			var se *scenarios.SetupError
			if errors.As(err, &se) {
				status = exitUsage
			} else if status == exitOK {
				status = exitFail
			}
			continue
		}
		if res.Interrupted {
			return exitInterrupted
		}
		if res.Failed && status == exitOK {
			status = exitFail
		}
		if len(res.Discarded) > 0 {
			// A test case that failed after accepting a transcript may
			// have accepted a broken run's.
			fmt.Fprintf(stderr, "klpsim run: %s: not updated (its test case failed): %s\n", s.File, strings.Join(res.Discarded, ", "))
		}
		if len(res.Updates) > 0 {
			if err := rewriteSections(s, data[s], res.Updates, stderr); err != nil {
				fmt.Fprintf(stderr, "klpsim run: %v\n", err)
				status = exitUsage
			}
		}
	}
	return status
}

// stdinName is how messages name the scenario read from "-".
const stdinName = "<stdin>"

// fileError says why a file could not be read, without Go's wording
// ("open x: no such file or directory" is kept: it is the OS's).
func fileError(name string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, syscall.EISDIR) {
			return name + ": is a directory: expected a scenario file"
		}
		return pe.Op + " " + name + ": " + pe.Err.Error()
	}
	return name + ": " + err.Error()
}

// printStats prints the --stats line of klpsim elf.
func printStats(w io.Writer, insns uint64, elapsed time.Duration, translated int) {
	fmt.Fprintf(w, "%s translated=%d\n", statsLine(insns, elapsed), translated)
}

// statsLine is "insns=N seconds=S mips=M": guest instructions, host wall
// seconds and their rate.
func statsLine(insns uint64, elapsed time.Duration) string {
	secs := elapsed.Seconds()
	mips := 0.0
	if secs > 0 {
		mips = float64(insns) / secs / 1e6
	}
	return fmt.Sprintf("insns=%d seconds=%.3f mips=%.1f", insns, secs, mips)
}

// rewriteSections writes the updated sections into the files holding
// them: the scenario's, or a file it includes.
func rewriteSections(s *scenarios.Scenario, data []byte, updates map[string]string, stderr io.Writer) error {
	byFile := map[string]map[string]string{}
	for name, u := range updates {
		f := s.File
		if sec := s.Sections[name]; sec != nil && sec.File != "" {
			f = sec.File
		}
		if byFile[f] == nil {
			byFile[f] = map[string]string{}
		}
		byFile[f][name] = u
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		old := data
		if f != s.File {
			var err error
			if old, err = os.ReadFile(f); err != nil {
				return err
			}
		}
		names, err := scenarios.RewriteFile(f, old, byFile[f])
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "klpsim run: updated %s: %s\n", f, strings.Join(names, ", "))
	}
	return nil
}

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"klpsim/livepatch"
	"klpsim/scenarios"
)

const compareUsage = `usage: klpsim compare [--models a,b,...] [--seeds N] [--json] FILE.scn

Runs the scenario under each livepatch consistency model (docs/models.md),
with the consistency checker on, and prints a table: runs whose patching
transitions all completed, enables refused, the longest simulated time
the first patching transition took to complete, tasks signalled,
stop_machine calls and the longest one, checker violations, and runs
whose script passed. --seeds N runs each model under N seeds, from the
scenario's.

flags:
`

func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), compareUsage); fs.PrintDefaults() }
	models := fs.String("models", strings.Join(livepatch.ModelNames, ","), "comma-separated `models` to compare")
	seeds := fs.String("seeds", "1", "number of seeds per model (`N`)")
	jsonOut := fs.Bool("json", false, "write the rows, with every run's outcome, as JSON")
	names, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "klpsim compare: expected one FILE.scn")
		return exitUsage
	}
	n, err := intFlag("seeds", *seeds, 1, 1_000_000)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim compare: %v\n", err)
		return exitUsage
	}
	ms := strings.Split(*models, ",")
	for _, m := range ms {
		if _, err := livepatch.ParseModel(m); err != nil {
			fmt.Fprintf(stderr, "klpsim compare: --models: %v\n", err)
			return exitUsage
		}
	}
	s, code := parseScenarioFile(names[0], "compare", stderr)
	if s == nil {
		return code
	}
	rows, err := scenarios.Compare(s, scenarios.Options{Catalog: scenarios.Builtin}, ms, int(n))
	if err != nil {
		fmt.Fprintf(stderr, "klpsim compare: %v\n", err)
		return exitUsage
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			fmt.Fprintf(stderr, "klpsim compare: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	scenarios.WriteCompareTable(stdout, rows)
	return exitOK
}

// parseScenarioFile reads and parses one scenario file.
func parseScenarioFile(name, cmd string, stderr io.Writer) (*scenarios.Scenario, int) {
	data, err := os.ReadFile(name)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim %s: %v\n", cmd, err)
		return nil, exitUsage
	}
	s, err := scenarios.Parse(name, data, scenarios.Builtin)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return nil, exitUsage
	}
	return s, exitOK
}

const exploreUsage = `usage: klpsim explore FILE.scn --seeds A..B [--jobs J] [--model M] [--shard i/n] [--json]
       klpsim explore --merge FILE.json...

Runs the scenario under every seed from A to B (J machines at a time, one
per core by default), with the consistency checker on, and reports the
verdicts (completed, stalled, refused; inconsistent when the checker
fired; script failed), the seeds whose verdict differs from the majority
or where the checker fired, and for the first of each kind its event log
and the command that replays it.

--shard i/n runs only the i-th (0-based) of n deterministic slices of the
seeds and writes its results as JSON; --merge combines such files into
the report the unsharded sweep prints. Simulated results do not depend
on J or on the sharding; the seeds/s line on stderr is wall-clock.

flags:
`

func cmdExplore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explore", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), exploreUsage); fs.PrintDefaults() }
	seedsFlag := fs.String("seeds", "", "seed range `A..B` (inclusive)")
	jobs := fs.String("jobs", strconv.Itoa(runtime.NumCPU()), "machines run at a time (`J`)")
	model := fs.String("model", "", "consistency `model` (default the scenario's)")
	shard := fs.String("shard", "", "run slice `i/n` of the seeds only, and write JSON")
	merge := fs.Bool("merge", false, "merge the JSON results of shards (the arguments) and report")
	jsonOut := fs.Bool("json", false, "write the results as JSON instead of the report")
	names, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "klpsim explore: "+format+"\n", a...)
		return exitUsage
	}
	if *merge {
		if len(names) == 0 {
			return fail("--merge needs the shards' JSON files")
		}
		var parts []*scenarios.ExploreResult
		for _, name := range names {
			data, err := os.ReadFile(name)
			if err != nil {
				return fail("%v", err)
			}
			var r scenarios.ExploreResult
			if err := json.Unmarshal(data, &r); err != nil {
				return fail("%s: not a shard's result: %v", name, err)
			}
			parts = append(parts, &r)
		}
		r, err := scenarios.Merge(parts)
		if err != nil {
			return fail("%v", err)
		}
		return writeExplore(r, *jsonOut, stdout, stderr)
	}
	if len(names) != 1 {
		return fail("expected one FILE.scn")
	}
	a, b, ok := parseSeedRange(*seedsFlag)
	if !ok {
		return fail("--seeds %q: expected a range A..B of unsigned integers with A <= B", *seedsFlag)
	}
	j, err := intFlag("jobs", *jobs, 1, 1024)
	if err != nil {
		return fail("%v", err)
	}
	if *model != "" {
		if _, err := livepatch.ParseModel(*model); err != nil {
			return fail("--model: %v", err)
		}
	}
	si, sn := 0, 1
	if *shard != "" {
		i, n, ok := strings.Cut(*shard, "/")
		x, err1 := strconv.Atoi(i)
		y, err2 := strconv.Atoi(n)
		if !ok || err1 != nil || err2 != nil || y < 1 || x < 0 || x >= y {
			return fail("--shard %q: expected i/n with 0 <= i < n", *shard)
		}
		si, sn = x, y
		*jsonOut = true
	}
	s, code := parseScenarioFile(names[0], "explore", stderr)
	if s == nil {
		return code
	}
	seeds := scenarios.ShardSeeds(a, b, si, sn)
	start := time.Now()
	r, err := scenarios.Explore(s, scenarios.Options{Catalog: scenarios.Builtin}, *model, seeds, int(j))
	if err != nil {
		return fail("%v", err)
	}
	el := time.Since(start).Seconds()
	fmt.Fprintf(stderr, "klpsim explore: %d seeds in %.1f s, %.1f seeds/s (%d jobs)\n", len(seeds), el, float64(len(seeds))/max(el, 1e-9), j)
	return writeExplore(r, *jsonOut, stdout, stderr)
}

func writeExplore(r *scenarios.ExploreResult, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintf(stderr, "klpsim explore: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	scenarios.WriteExploreReport(stdout, r)
	return exitOK
}

// parseSeedRange reads A..B.
func parseSeedRange(s string) (a, b uint64, ok bool) {
	x, y, found := strings.Cut(s, "..")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(x, 10, 64)
	b, err2 := strconv.ParseUint(y, 10, 64)
	return a, b, err1 == nil && err2 == nil && a <= b
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"klpsim/kernel"
	"klpsim/livepatch"
	"klpsim/scenarios"
)

// parseFlags parses a subcommand's flags the way users expect of a modern
// command line: flags may come before, between or after the FILE
// arguments (a "--" ends the flags), and -h/--help prints the usage on
// stdout. It returns the non-flag arguments, or an exit status when the
// command is done (help shown: exitOK; a bad flag: exitUsage, with the
// error and a pointer to --help on stderr, never the whole flag list).
func parseFlags(fs *flag.FlagSet, args []string, interleaved bool, stdout, stderr io.Writer) ([]string, int, bool) {
	var errBuf strings.Builder
	fs.SetOutput(&errBuf)
	usage := fs.Usage
	fs.Usage = func() {} // printed below, on the right stream
	var files []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fs.SetOutput(stdout)
			usage()
			return nil, exitOK, true
		case err != nil:
			// The flag package's messages ("flag provided but not
			// defined: -x", "flag needs an argument: -seed") name the
			// flag; a number's parse error never reaches here: numeric
			// flags are strings checked by the command.
			fmt.Fprintf(stderr, "klpsim %s: %v\nRun 'klpsim %s --help' for usage.\n", fs.Name(), err, fs.Name())
			return nil, exitUsage, true
		}
		rest := fs.Args()
		if !interleaved {
			return rest, 0, false
		}
		// flag.Parse stops at the first non-flag argument, or after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(files, rest...), 0, false
		}
		if len(rest) == 0 {
			return files, 0, false
		}
		files = append(files, rest[0])
		args = rest[1:]
	}
}

// intFlag reads a numeric flag's value: a decimal integer from lo to hi.
// The error is a message in the style of every klpsim usage error, never
// strconv's text.
func intFlag(name, val string, lo, hi uint64) (uint64, error) {
	n, err := strconv.ParseUint(val, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("--%s %q: expected an integer from %d to %d", name, val, lo, hi)
	}
	return n, nil
}

// machineFlags are the flags that set up a scenario's machine, shared by
// run and debug: each overrides the scenario's machine line.
type machineFlags struct {
	seed, cpus, timeout, maxInsns, maxTasks *string
	check                                   *bool
	model                                   *string
	kernel                                  *string
	ftrace                                  *string
}

// addMachineFlags defines them on fs; what is "per scenario" in run's help
// reads the same for debug's one scenario.
func addMachineFlags(fs *flag.FlagSet, checkHelp string) *machineFlags {
	return &machineFlags{
		seed:     fs.String("seed", "", "scheduling `seed` (overrides the scenario's machine line)"),
		cpus:     fs.String("cpus", "", "number of `CPUs`, 1 to 64 (overrides the scenario's machine line)"),
		check:    fs.Bool("check-consistency", false, checkHelp),
		timeout:  fs.String("timeout", "", "simulated time limit per scenario (`duration`, e.g. 10m; default the machine line's, or 10m)"),
		maxInsns: fs.String("max-insns", "", "instruction limit per scenario (`N`; 0: none)"),
		maxTasks: fs.String("max-tasks", "", "task limit per scenario (`N`; default the kernel's, 32768)"),
		model: fs.String("model", "", "livepatch consistency `model`: "+strings.Join(livepatch.ModelNames, ", ")+
			" (overrides the scenario's machine line; default klp)"),
		kernel: fs.String("kernel", "", "kernel `version` the machine runs: "+livepatch.VersionList()+" (overrides the scenario's machine line)"),
		ftrace: fs.String("ftrace", "", "ftrace trampoline `design`: "+strings.Join(kernel.FtraceDesigns(), ", ")+
			" (overrides the scenario's machine line; default the kernel version's, "+kernel.DefaultFtrace+" for 6.12)"),
	}
}

// apply checks the values and sets them in opts; the error is one usage
// line, without the command's name.
func (m *machineFlags) apply(opts *scenarios.Options) error {
	opts.CheckConsistency = *m.check
	if *m.model != "" {
		if _, err := livepatch.ParseModel(*m.model); err != nil {
			return fmt.Errorf("--model %q: expected %s", *m.model, strings.Join(livepatch.ModelNames, ", "))
		}
		opts.Model = *m.model
	}
	if *m.seed != "" {
		n, err := strconv.ParseUint(*m.seed, 0, 64)
		if err != nil {
			return fmt.Errorf("--seed %q: expected an unsigned integer", *m.seed)
		}
		opts.Seed = &n
	}
	for _, f := range []struct {
		name, val string
		lo, hi    uint64
		set       func(uint64)
	}{
		{"cpus", *m.cpus, 1, 64, func(n uint64) { opts.CPUs = int(n) }},
		{"max-insns", *m.maxInsns, 0, 1<<63 - 1, func(n uint64) { opts.MaxInsns = n }},
		{"max-tasks", *m.maxTasks, 16, 1 << 22, func(n uint64) { opts.MaxTasks = int(n) }},
	} {
		if f.val == "" {
			continue
		}
		n, err := intFlag(f.name, f.val, f.lo, f.hi)
		if err != nil {
			return err
		}
		f.set(n)
	}
	if *m.kernel != "" {
		v, err := livepatch.LookupVersion(*m.kernel)
		if err != nil {
			return fmt.Errorf("--kernel %q: expected %s", *m.kernel, livepatch.VersionList())
		}
		opts.Kernel = v.Name
	}
	if *m.ftrace != "" {
		if _, err := kernel.LookupFtraceDesign(*m.ftrace); err != nil {
			return fmt.Errorf("--ftrace %q: expected %s", *m.ftrace, strings.Join(kernel.FtraceDesigns(), ", "))
		}
		opts.Ftrace = *m.ftrace
	}
	if *m.timeout != "" {
		d, err := scenarios.ParseDuration(*m.timeout)
		if err != nil || d == 0 {
			return fmt.Errorf("--timeout %q: expected a duration like 30s or 10m", *m.timeout)
		}
		opts.Timeout = d
	}
	return nil
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"klpsim/emu/elfrun"
)

// defaultElfMaxInsns bounds a `klpsim elf` run unless --max-insns says
// otherwise: minutes of interpretation, so a guest that never exits ends
// with a clear error instead of a hang.
const defaultElfMaxInsns = 100_000_000_000

const elfUsage = `usage: klpsim elf [--stats] [--max-insns N] PROG [ARGS...]

Runs PROG, a static non-PIE x86-64 Linux executable, in the emulator at
user level, with its output on stdout/stderr, and exits with its status
(128+signal when it crashes).

flags:
`

// cmdElf is `klpsim elf`: run a static Linux executable in user mode.
func cmdElf(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("elf", flag.ContinueOnError)
	stats := fs.Bool("stats", false, "print insns=N seconds=S mips=M translated=B as the last line on stderr (B: blocks translated to host code)")
	maxInsnsFlag := fs.String("max-insns", fmt.Sprint(defaultElfMaxInsns), "stop with an error after `N` guest instructions (0: no limit)")
	cpuprofile := addCPUProfileFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), elfUsage)
		fs.PrintDefaults()
	}
	// Flags end at PROG: what follows is PROG's arguments.
	rest, status, done := parseFlags(fs, args, false, stdout, stderr)
	if done {
		return status
	}
	maxInsns, ferr := intFlag("max-insns", *maxInsnsFlag, 0, 1<<63-1)
	if ferr != nil {
		fmt.Fprintf(stderr, "klpsim elf: %v\n", ferr)
		return exitUsage
	}
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "klpsim elf: missing PROG\nRun 'klpsim elf --help' for usage.")
		return exitUsage
	}
	path := rest[0]
	prog, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim elf: %v\n", err)
		return exitUsage
	}
	stopProfile, ok := startCPUProfile("elf", *cpuprofile, stderr)
	if !ok {
		return exitUsage
	}
	defer stopProfile()
	res, err := elfrun.Run(prog, rest, stdout, stderr, elfrun.Options{MaxInsns: maxInsns})
	code := res.ExitCode
	switch {
	case errors.Is(err, elfrun.ErrInsnLimit):
		fmt.Fprintf(stderr, "klpsim elf: %s: %v\n", path, strings.TrimPrefix(err.Error(), "elfrun: "))
		code = exitFail
	case err != nil:
		fmt.Fprintf(stderr, "klpsim elf: %s: %v\n", path, strings.TrimPrefix(err.Error(), "elfrun: "))
		return exitUsage
	case res.Fault != nil:
		fmt.Fprintf(stderr, "%s: %v\n", path, res.Fault)
	}
	if *stats {
		if len(res.Unknown) > 0 {
			var b strings.Builder
			for i, u := range res.Unknown {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%d (x%d)", u.Nr, u.Count)
			}
			fmt.Fprintf(stderr, "klpsim elf: unimplemented system calls (returned -ENOSYS): %s\n", b.String())
		}
		printStats(stderr, res.Insns, res.Elapsed, res.Translated)
	}
	return code
}

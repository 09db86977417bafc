// Command klpsim runs the klpsim machine: scenarios, guest programs and
// benchmarks. See README.md and docs/.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes, as every subcommand uses them.
const (
	exitOK    = 0 // success
	exitFail  = 1 // an expectation failed, or the guest program's own failure
	exitUsage = 2 // bad flags, arguments or input files
)

const usage = `usage: klpsim <command> [arguments]

commands:
  run   [FLAGS] [FILE.scn...]     run scenarios (with no FILE, a built-in one); run -h for the flags
  elf   [--stats] PROG [ARGS...]  run a static x86-64 Linux executable in the emulator
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "elf":
		return cmdElf(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "klpsim: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

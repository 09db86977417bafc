// Command klpsim runs the klpsim machine: scenarios, guest programs and
// benchmarks. See README.md and docs/.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// stdin is what a FILE argument of "-" reads.
var stdin io.Reader = os.Stdin

// Exit codes, as every subcommand uses them.
const (
	exitOK    = 0 // success
	exitFail  = 1 // an expectation failed, or the guest program's own failure
	exitUsage = 2 // bad flags, arguments or input files
)

// kernelRelease is the release the guest kernel reports (uname -r, the
// boot banner).
const kernelRelease = "6.12.0-klpsim"

const usage = `usage: klpsim <command> [arguments]

commands:
  run   [FLAGS] [FILE.scn|-...]   run scenarios (with no FILE, a built-in one; - reads standard input)
  debug [FLAGS] FILE.scn          step-debug a scenario's machine (docs/debugging.md)
  elf   [FLAGS] PROG [ARGS...]    run a static x86-64 Linux executable in the emulator
  vmlinux -o FILE                 write the boot image as an ELF symbol file for gdb
  build [-o FILE.ko] FILE.c...    build a guest module from C with gcc (docs/modules.md)
  compare [FLAGS] FILE.scn        run a scenario under each consistency model, as a table (docs/models.md)
  explore FILE.scn --seeds A..B   run a scenario under many seeds; report the outliers
  serve [--addr HOST:PORT] [DIR]  the playground: edit, run and debug scenarios in a browser (docs/playground.md)
  lab   list|start NAME [DIR]|check FILE.scn   labs: exercises the machine checks (docs/labs.md)
  bench [FLAGS] [SUITE]           run the benchmarks (hotpath, interp, transition) as tables (bench/README.md)
  help  [COMMAND]                 print this text, or COMMAND's usage and flags

flags:
  --version                       print klpsim's version and the emulated kernel's release
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
	case "debug":
		return cmdDebug(args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(args[1:], stdout, stderr)
	case "explore":
		return cmdExplore(args[1:], stdout, stderr)
	case "vmlinux":
		return cmdVmlinux(args[1:], stdout, stderr)
	case "build":
		return cmdBuild(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "lab":
		return cmdLab(args[1:], stdout, stderr)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		switch args[1] {
		case "run":
			return cmdRun([]string{"--help"}, stdout, stderr)
		case "elf":
			return cmdElf([]string{"--help"}, stdout, stderr)
		case "debug":
			return cmdDebug([]string{"--help"}, stdout, stderr)
		case "compare":
			return cmdCompare([]string{"--help"}, stdout, stderr)
		case "explore":
			return cmdExplore([]string{"--help"}, stdout, stderr)
		case "vmlinux":
			return cmdVmlinux([]string{"--help"}, stdout, stderr)
		case "build":
			return cmdBuild([]string{"--help"}, stdout, stderr)
		case "serve":
			return cmdServe([]string{"--help"}, stdout, stderr)
		case "lab":
			return cmdLab([]string{"--help"}, stdout, stderr)
		case "bench":
			return cmdBench([]string{"--help"}, stdout, stderr)
		}
		fmt.Fprintf(stderr, "klpsim help: unknown command %q\n%s", args[1], usage)
		return exitUsage
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "klpsim %s (emulated kernel %s)\n", version(), kernelRelease)
		return exitOK
	}
	fmt.Fprintf(stderr, "klpsim: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// version is the main module's version as the build recorded it: a
// release tag for `go install klpsim@vX`, else "(devel)" with the VCS
// revision when the build knows it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" && v == "(devel)" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + dirty
	}
	return v
}

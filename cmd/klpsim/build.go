package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"klpsim/kernel"
	"klpsim/kernel/kbuild"
)

const buildUsage = `usage: klpsim build [-o FILE.ko] FILE.c...

Builds a guest module from C sources with the host's gcc, klpsim's kernel
headers and the kernel's flags (docs/modules.md), as Kbuild builds an
out-of-tree module: one object per source, joined with ld -r. The module
is named after FILE.ko (dashes become underscores), by default after the
first source. The result is checked as the loader would read it. Objects
are cached by content ($KLPSIM_CACHE, or the user's cache directory).

flags:
`

// cmdBuild is `klpsim build`: compile a module outside a scenario.
func cmdBuild(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	out := fs.String("o", "", "write the module to `FILE.ko` (default: the first source's name with .ko)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), buildUsage)
		fs.PrintDefaults()
	}
	rest, status, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return status
	}
	if len(rest) == 0 {
		fmt.Fprintln(stderr, "klpsim build: missing FILE.c\nRun 'klpsim build --help' for usage.")
		return exitUsage
	}
	var srcs []kbuild.Source
	for _, f := range rest {
		if !strings.HasSuffix(f, ".c") {
			fmt.Fprintf(stderr, "klpsim build: %s: expected a C source (FILE.c)\n", f)
			return exitUsage
		}
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "klpsim build: %v\n", err)
			return exitUsage
		}
		srcs = append(srcs, kbuild.Source{Name: f, Data: data})
	}
	if *out == "" {
		*out = strings.TrimSuffix(filepath.Base(rest[0]), ".c") + ".ko"
	}
	name := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(*out), ".ko"), "-", "_")
	ko, err := kbuild.Build(name, srcs)
	if err != nil {
		var ce *kbuild.CompileError
		if errors.As(err, &ce) {
			fmt.Fprint(stderr, ce.Output)
		} else {
			fmt.Fprintf(stderr, "klpsim build: %v\n", err)
		}
		return exitFail
	}
	if _, err := kernel.ModuleFromELF(name, ko); err != nil {
		fmt.Fprintf(stderr, "klpsim build: %v\n", err)
		return exitFail
	}
	if err := os.WriteFile(*out, ko, 0o644); err != nil {
		fmt.Fprintf(stderr, "klpsim build: %v\n", err)
		return exitFail
	}
	return exitOK
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
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

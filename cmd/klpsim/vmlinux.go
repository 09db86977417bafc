package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"klpsim/isa/symfile"
	"klpsim/kernel"
)

const vmlinuxUsage = `usage: klpsim vmlinux -o FILE

Writes the boot image as an ELF executable at its guest addresses, with
its sections, symbols and sizes, call frame information and DWARF line
tables mapping each instruction to its line in kernel/vmlinux/*.S
(relative to the current directory: run it in a klpsim checkout for gdb's
list to find them): the file to give gdb ("gdb FILE -ex 'target remote :1234'") when it debugs a
machine served by klpsim debug --gdb (docs/debugging.md).

flags:
`

// cmdVmlinux is `klpsim vmlinux`.
func cmdVmlinux(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmlinux", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), vmlinuxUsage); fs.PrintDefaults() }
	out := fs.String("o", "", "write the symbol file to `FILE`")
	rest, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	if *out == "" || len(rest) > 0 {
		fmt.Fprintln(stderr, "klpsim vmlinux: expected -o FILE\nRun 'klpsim vmlinux --help' for usage.")
		return exitUsage
	}
	f, err := kernel.VmlinuxSymbolFile()
	if err != nil {
		fmt.Fprintf(stderr, "klpsim vmlinux: %v\n", err)
		return exitFail
	}
	// The line tables name kernel/vmlinux/*.S: relative to where klpsim
	// runs, a checkout's root when gdb is to list them.
	if wd, err := os.Getwd(); err == nil {
		f.CompDir = wd
	}
	if err := writeSymbolFile(*out, f); err != nil {
		fmt.Fprintf(stderr, "klpsim vmlinux: %v\n", err)
		return exitFail
	}
	return exitOK
}

// writeSymbolFile writes f to path, all or nothing.
func writeSymbolFile(path string, f *symfile.File) error {
	var b bytes.Buffer
	if err := symfile.Write(&b, f); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

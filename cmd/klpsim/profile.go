package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/pprof"
)

// cpuProfileHelp is the help of --cpuprofile, shared by the commands that
// run a machine: it profiles klpsim itself (the host), for whoever is
// making the emulator faster (bench/README.md, docs/RATIONALE.md).
const cpuProfileHelp = "write a Go CPU profile of klpsim itself (the host, not the guest) to `FILE`, for go tool pprof"

// addCPUProfileFlag adds --cpuprofile to fs.
func addCPUProfileFlag(fs *flag.FlagSet) *string {
	return fs.String("cpuprofile", "", cpuProfileHelp)
}

// startCPUProfile starts profiling into path ("" does nothing) and returns
// the function that stops it and closes the file. An unwritable path is
// a usage error reported before anything runs.
func startCPUProfile(cmd, path string, stderr io.Writer) (stop func(), ok bool) {
	if path == "" {
		return func() {}, true
	}
	f, err := os.Create(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(stderr, "klpsim %s: --cpuprofile: cannot write %s: %v\n", cmd, path, err)
		return nil, false
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Fprintf(stderr, "klpsim %s: --cpuprofile: %v\n", cmd, err)
		return nil, false
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "klpsim %s: --cpuprofile: %v\n", cmd, err)
		}
	}, true
}

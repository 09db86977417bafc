package main

import (
	"fmt"
	"io"
	"os"

	"klpsim/scenarios"
	"klpsim/scenarios/debug"
	"klpsim/scenarios/debug/gdbstub"
)

// gdbFlagHelp is --gdb's help, the same for run and debug.
const gdbFlagHelp = "serve the GDB remote protocol on `ADDR` (HOST:PORT; \":1234\" is loopback's) and wait for gdb before running; after gdb detaches the scenario runs to its end"

// serveGDB runs scenario sc under the GDB stub: it boots the machine,
// stopped before the first command, waits for gdb on addr, serves it,
// and once gdb detaches runs the scenario to its end. The scenario's
// output goes to stdout as `klpsim run` prints it; the stub's messages
// to stderr.
func serveGDB(addr string, sc *scenarios.Scenario, data []byte, opts scenarios.Options, stdout, stderr io.Writer) int {
	l, err := gdbstub.Listen(addr)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim: %v\n", err)
		return exitUsage
	}
	ss, err := debug.New(sc, data, opts)
	if err != nil {
		l.Close()
		fmt.Fprintf(stderr, "%s: %v\n", sc.File, err)
		return exitUsage
	}
	defer ss.Kill()
	dir, err := os.MkdirTemp("", "klpsim-gdb-")
	if err != nil {
		fmt.Fprintf(stderr, "klpsim: %v\n", err)
		return exitFail
	}
	defer os.RemoveAll(dir)
	srv := &gdbstub.Server{SS: ss, Out: stdout, Log: stderr, SymbolDir: dir}
	fmt.Fprintf(stderr, "waiting for gdb on %s (gdb -ex 'target remote %s')\n", l.Addr(), l.Addr())
	if err := srv.Serve(l); err != nil {
		fmt.Fprintf(stderr, "klpsim: gdb: %v\n", err)
		return exitFail
	}
	p := ss.Position()
	if p.Kind != debug.AtEnd {
		return exitOK // killed, or gdb left a stopped machine
	}
	if p.Res == nil {
		fmt.Fprintf(stderr, "%s: %s\n", sc.File, p.End)
		return exitFail
	}
	if p.Res.Failed {
		return exitFail
	}
	return exitOK
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"klpsim/cmd/klpsim/serve"
)

const serveUsage = `usage: klpsim serve [flags] [DIR]

Serves the playground (docs/playground.md): a web application, inside this
binary, that edits scenarios with the parser's errors shown as you type,
runs them with the kernel log, the verdicts and the timeline streaming in,
and debugs them with the debugger's commands behind buttons. The gallery
holds the teaching scenarios and the selftests, and DIR's *.scn files
(under dir/). A page's scenario reads no host file outside DIR and builds
no C. It listens on loopback unless --addr says otherwise.

flags:
`

// cmdServe is klpsim serve.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), serveUsage); fs.PrintDefaults() }
	addr := fs.String("addr", "127.0.0.1:8080", "listen on `HOST:PORT` (a non-loopback address serves anyone who can reach it)")
	maxSessions := fs.Int("max-sessions", 4, "browser sessions (each with its own machine) at once")
	maxWall := fs.Duration("max-wall", 60*time.Second, "wall time of one run or one debugger command")
	maxInsns := fs.Uint64("max-insns", 2_000_000_000, "instructions of one machine")
	names, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	if len(names) > 1 {
		fmt.Fprintln(stderr, "klpsim serve: expected at most one DIR\nRun 'klpsim serve --help' for usage.")
		return exitUsage
	}
	cfg := serve.Config{MaxSessions: *maxSessions, MaxWall: *maxWall, MaxInsns: *maxInsns}
	if len(names) == 1 {
		st, err := os.Stat(names[0])
		if err != nil {
			fmt.Fprintf(stderr, "klpsim serve: %s\n", fileError(names[0], err))
			return exitUsage
		}
		if !st.IsDir() {
			fmt.Fprintf(stderr, "klpsim serve: %s is not a directory\n", names[0])
			return exitUsage
		}
		cfg.Dir = names[0]
	}
	ln, err := listen(*addr, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim serve: %v\n", err)
		return exitUsage
	}
	defer ln.Close()
	cfg.LoopbackOnly = serve.Loopback(ln.Addr())
	srv, err := serve.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "klpsim serve: %v\n", err)
		return exitUsage
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "klpsim serve: the playground is at http://%s/\n", ln.Addr())
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	defer signal.Stop(stop)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Close()
		hs.Shutdown(ctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "klpsim serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

// listen opens the server's socket; on an address other than loopback it
// says loudly that anyone reaching it may use the playground.
func listen(addr string, stderr io.Writer) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if !serve.Loopback(ln.Addr()) {
		fmt.Fprintf(stderr, "klpsim serve: WARNING: listening on %s, NOT loopback: anyone who can reach this address can run machines on this host (within the limits) and read DIR's files\n", ln.Addr())
	}
	return ln, nil
}

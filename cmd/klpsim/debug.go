package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"

	"golang.org/x/term"

	"klpsim/scenarios"
	"klpsim/scenarios/debug"
)

const debugUsage = `usage: klpsim debug [flags] FILE.scn

Boots the scenario's machine and stops before its first command, then
reads debugger commands (docs/debugging.md; "help" lists them): from the
terminal with line editing and history, from standard input when it is not
a terminal, or from --batch FILE. Without a terminal every command is
echoed after the prompt, so the output reads as a session. An empty line
repeats the last stepping command. At the end of the input the machine is
killed.

Exit status: 0; 1 when a --batch or standard-input command failed; 2 for
usage or scenario errors.

flags:
`

// prompt is the debugger's prompt, gdb's with klpsim's name.
const prompt = "(klpsim) "

// cmdDebug is `klpsim debug`.
func cmdDebug(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("debug", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), debugUsage); fs.PrintDefaults() }
	mf := addMachineFlags(fs, "run the livepatch consistency checker (break violation stops at its verdicts)")
	batch := fs.String("batch", "", "run the commands in `FILE` and exit")
	jsonOut := fs.Bool("json", false, `answer with one JSON object per command: {"command", "text", "data", "error"}`)
	gdbAddr := fs.String("gdb", "", gdbFlagHelp)
	names, code, done := parseFlags(fs, args, true, stdout, stderr)
	if done {
		return code
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "klpsim debug: expected one FILE.scn\nRun 'klpsim debug --help' for usage.")
		return exitUsage
	}
	opts := scenarios.Options{Catalog: scenarios.Builtin}
	if err := mf.apply(&opts); err != nil {
		fmt.Fprintf(stderr, "klpsim debug: %v\n", err)
		return exitUsage
	}
	data, err := os.ReadFile(names[0])
	if err != nil {
		fmt.Fprintf(stderr, "klpsim debug: %s\n", fileError(names[0], err))
		return exitUsage
	}
	sc, err := scenarios.Parse(names[0], data, opts.Catalog)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if *gdbAddr != "" {
		return serveGDB(*gdbAddr, sc, data, opts, stdout, stderr)
	}
	var in io.Reader = stdin
	if *batch != "" {
		f, err := os.Open(*batch)
		if err != nil {
			fmt.Fprintf(stderr, "klpsim debug: --batch: %s\n", fileError(*batch, err))
			return exitUsage
		}
		defer f.Close()
		in = f
	}
	ss, err := debug.New(sc, data, opts)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", names[0], err)
		return exitUsage
	}
	defer ss.Kill()
	out := &answerWriter{w: stdout, json: *jsonOut}
	out.answer("", ss.Where(), nil)
	if f, ok := in.(*os.File); ok && *batch == "" && isTerminal(f) && !*jsonOut {
		if of, ok := stdout.(*os.File); ok && isTerminal(of) {
			return interactive(ss, f, of)
		}
	}
	failed := false
	sc2 := bufio.NewScanner(in)
	sc2.Buffer(make([]byte, 64*1024), 1<<20)
	for sc2.Scan() {
		line := sc2.Text()
		if !*jsonOut {
			fmt.Fprintf(stdout, "%s%s\n", prompt, line)
		}
		a, err := execInterruptible(ss, line)
		if errors.Is(err, debug.ErrQuit) {
			return status(failed)
		}
		if err != nil {
			failed = true
		}
		out.answer(line, a, err)
	}
	return status(failed)
}

func status(failed bool) int {
	if failed {
		return exitFail
	}
	return exitOK
}

// answerWriter prints answers as text, or one JSON object each.
type answerWriter struct {
	w    io.Writer
	json bool
}

func (o *answerWriter) answer(cmd string, a debug.Answer, err error) {
	if o.json {
		obj := struct {
			Command string `json:"command"`
			Text    string `json:"text"`
			Data    any    `json:"data,omitempty"`
			Error   string `json:"error,omitempty"`
		}{Command: cmd, Text: a.Text, Data: a.Data}
		if err != nil {
			obj.Error = err.Error()
		}
		enc := json.NewEncoder(o.w)
		enc.SetEscapeHTML(false) // "=> 0x... <symbol>" stays readable
		if err := enc.Encode(obj); err != nil {
			_ = enc.Encode(map[string]string{"command": cmd, "error": "answer not encodable: " + err.Error()})
		}
		return
	}
	fmt.Fprint(o.w, a.Text)
	if err != nil {
		fmt.Fprintln(o.w, err)
	}
}

// interactive reads commands from the terminal with golang.org/x/term's
// line editor: arrow keys, backspace, Ctrl-A/E/K/U/W, history on up and
// down, and Tab completing command names.
func interactive(ss *debug.Session, in, out *os.File) int {
	old, err := term.MakeRaw(int(in.Fd()))
	if err != nil {
		fmt.Fprintf(out, "klpsim debug: the terminal: %v\n", err)
		return exitFail
	}
	defer term.Restore(int(in.Fd()), old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{ctrlCEraser{in}, out}, prompt)
	// SIGINT, which only a cooked terminal sends, interrupts a running
	// command; one that lands between commands is dropped.
	var running atomic.Bool
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer func() {
		signal.Stop(sigs)
		close(sigs)
	}()
	go func() {
		for range sigs {
			if running.Load() {
				ss.Interrupt()
			}
		}
	}()
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' || pos != len(line) || strings.Contains(line, " ") {
			return "", 0, false
		}
		c := debug.Complete(line)
		if c == "" {
			return "", 0, false
		}
		return c, len(c), true
	}
	for {
		line, err := t.ReadLine()
		if err != nil { // io.EOF: Ctrl-D on an empty line
			fmt.Fprint(t, "quit\r\n")
			return exitOK
		}
		// The machine runs with the terminal cooked, so that Ctrl-C is a
		// SIGINT that interrupts it, as in gdb.
		_ = term.Restore(int(in.Fd()), old)
		running.Store(true)
		a, err := ss.Exec(line)
		running.Store(false)
		if _, rerr := term.MakeRaw(int(in.Fd())); rerr != nil {
			fmt.Fprintf(out, "klpsim debug: the terminal: %v\n", rerr)
			return exitFail
		}
		if errors.Is(err, debug.ErrQuit) {
			return exitOK
		}
		text := a.Text
		if err != nil {
			text += err.Error() + "\n"
		}
		fmt.Fprint(t, text) // the Terminal returns the carriage at each newline
	}
}

// execInterruptible runs one debugger command; a SIGINT (Ctrl-C) while it
// runs stops the machine and the command returns at that stop, as gdb's
// Ctrl-C does. Outside a command SIGINT keeps its default meaning.
func execInterruptible(ss *debug.Session, line string) (debug.Answer, error) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				ss.Interrupt()
			case <-done:
				return
			}
		}
	}()
	defer func() {
		signal.Stop(ch)
		close(done)
	}()
	return ss.Exec(line)
}

// ctrlCEraser turns Ctrl-C at the prompt into "erase the line" (^A ^K):
// golang.org/x/term's line editor would end input on it, and gdb only
// discards the line.
type ctrlCEraser struct{ r io.Reader }

func (c ctrlCEraser) Read(p []byte) (int, error) {
	buf := make([]byte, (len(p)+1)/2)
	n, err := c.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		if b == 3 {
			out = append(out, 1, 11)
		} else {
			out = append(out, b)
		}
	}
	return len(out), err
}

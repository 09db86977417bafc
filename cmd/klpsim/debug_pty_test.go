//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// klpsim debug on a real terminal: the prompt, line editing (backspace,
// Ctrl-A, arrow keys), history recall with the up arrow, and Ctrl-D
// ending the session.
func TestDebug_Terminal(t *testing.T) {
	p := startPTY(t, "debug", "../../scenarios/selftests/test-livepatch.scn")
	waitFor, typeIn := p.waitFor, p.typeIn
	at := waitFor(0, "test-livepatch.scn:12: set MOD_LIVEPATCH1")
	at = waitFor(at, "(klpsim) ")
	// "breakx", backspace, " 24".
	typeIn("breakx\x7f 24\r")
	at = waitFor(at, "Breakpoint 1: scenario line 24")
	at = waitFor(at, "(klpsim) ")
	// "tepi", Ctrl-A to the start, "s": stepi.
	typeIn("tepi\x01s\r")
	at = waitFor(at, "instruction 1, in scenario line")
	at = waitFor(at, "(klpsim) ")
	// Up twice recalls "break 24"; left puts the cursor before "4" and
	// backspace deletes "2": "break 4", not a command's line, an error.
	typeIn("\x1b[A\x1b[A\x1b[D\x7f\r")
	at = waitFor(at, "line 4: no scenario command starts there")
	at = waitFor(at, "(klpsim) ")
	// Up recalls the edited line as it ran; down goes back to an empty line.
	typeIn("\x1b[A\x1b[B\x1b[A\r")
	at = waitFor(at, "line 4: no scenario command starts there")
	at = waitFor(at, "(klpsim) ")
	typeIn("\x04") // Ctrl-D
	waitFor(at, "quit")
	p.exits()
}

// Ctrl-C on a real terminal: while a command runs the machine it
// interrupts it (the prompt comes back, stopped in the runaway loop); at
// the prompt it only erases the line being typed.
func TestDebug_TerminalCtrlC(t *testing.T) {
	// The runaway init of run_timeout.txtar, with a far time limit.
	p := startPTY(t, "debug", "--timeout", "10m", "testdata/scn/runaway.scn")
	find, waitFor, typeIn := p.find, p.waitFor, p.typeIn
	at := waitFor(0, "(klpsim) ")
	typeIn("continue\r")
	at = waitFor(at, "continue")
	// Ctrl-C until the machine stops: the first may land before the
	// terminal is back in cooked mode, where it is only a byte.
	for deadline := time.Now().Add(60 * time.Second); find(at, "Interrupted (Ctrl-C).") < 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Ctrl-C did not interrupt continue:\n%q", p.output())
		}
		typeIn("\x03")
	}
	at = waitFor(at, "Interrupted (Ctrl-C).")
	// Where it stopped depends on when the signal came (the loop, the
	// timer interrupt's code, another task): a machine stop all the same.
	at = waitFor(at, ") on cpu ")
	at = waitFor(at, "(klpsim) ")
	time.Sleep(300 * time.Millisecond) // let stray Ctrl-Cs reach the prompt
	// At the prompt, Ctrl-C erases the line: "bogus" never runs.
	typeIn("bogus\x03info tasks\r")
	at = waitFor(at, "PID COMM")
	if find(0, `undefined command: "bogus`) >= 0 {
		t.Errorf("the erased line ran:\n%q", p.output())
	}
	at = waitFor(at, "(klpsim) ")
	typeIn("\x04")
	waitFor(at, "quit")
	p.exits()
}

// ptySession is klpsim debug running on a real terminal (a pty), with
// what a test types and reads.
type ptySession struct {
	t   *testing.T
	cmd *exec.Cmd
	tty *os.File
	mu  sync.Mutex
	out bytes.Buffer
}

// startPTY runs `klpsim ARGS...` (this test binary as klpsim) on a pty.
func startPTY(t *testing.T, args ...string) *ptySession {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	p := &ptySession{t: t, cmd: cmd, tty: tty}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = tty.Close()
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return p
}

// output is everything the terminal showed so far.
func (p *ptySession) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// find reports where s ends in the output after byte from, or -1.
func (p *ptySession) find(from int, s string) int {
	if i := strings.Index(p.output()[from:], s); i >= 0 {
		return from + i + len(s)
	}
	return -1
}

// waitFor waits for s after byte from and returns where it ends; the
// deadline only turns a hang into a failure.
func (p *ptySession) waitFor(from int, s string) int {
	p.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if i := p.find(from, s); i >= 0 {
			return i
		}
	}
	p.t.Fatalf("no %q in the terminal output after byte %d:\n%q", s, from, p.output())
	return 0
}

// typeIn types s.
func (p *ptySession) typeIn(s string) {
	p.t.Helper()
	if _, err := p.tty.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// exits waits for klpsim to exit successfully.
func (p *ptySession) exits() {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("klpsim debug: %v", err)
		}
	case <-time.After(60 * time.Second):
		p.t.Fatal("klpsim debug did not exit")
	}
}

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
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "debug", "../../scenarios/selftests/test-livepatch.scn")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	defer cmd.Process.Kill()
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// waitFor waits for s to appear in the output after from; the
	// deadline only turns a hang into a failure.
	waitFor := func(from int, s string) int {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			b := out.String()
			mu.Unlock()
			if i := strings.Index(b[from:], s); i >= 0 {
				return from + i + len(s)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("no %q in the terminal output after byte %d:\n%q", s, from, out.String())
		return 0
	}
	typeIn := func(s string) {
		t.Helper()
		if _, err := tty.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
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
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("klpsim debug: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("klpsim debug did not exit at Ctrl-D")
	}
}

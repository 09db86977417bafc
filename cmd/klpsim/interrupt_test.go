package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runMainEnv makes the test binary run klpsim's main (TestMain).
const runMainEnv = "KLPSIM_TEST_RUN_MAIN"

// Ctrl-C during a run: klpsim stops the machine, prints where the script
// was and what each CPU executes (SysRq-l's backtraces), and exits 130.
func TestRun_SIGINT(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The init never returns and the time limit is far: only the signal
	// ends the run.
	cmd := exec.Command(exe, "run", "--timeout", "10m", "testdata/scn/runaway.scn")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The test line is printed before load_mod runs the machine.
	var stdout []byte
	buf := make([]byte, 256)
	for !bytes.Contains(stdout, []byte("TEST: runaway module init ... ")) {
		n, err := out.Read(buf)
		stdout = append(stdout, buf[:n]...)
		if err != nil {
			t.Fatalf("stdout %q: %v (stderr %s)", stdout, err, stderr.String())
		}
	}
	time.Sleep(200 * time.Millisecond) // let the machine run a while (any time works)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(out)
	stdout = append(stdout, rest...)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("klpsim run: %v, want exit status %d\nstderr:\n%s", err, exitInterrupted, stderr.String())
	}
	if string(stdout) != "TEST: runaway module init ... not ok\n" {
		t.Errorf("stdout %q", stdout)
	}
	got := stderr.String()
	for _, want := range []string{
		"runaway.scn:8: interrupted in load_mod at ",
		"\nsysrq: Show backtrace of all active CPUs\n",
		"\nNMI backtrace for cpu 0 skipped: idling at do_idle+0x",
		"\nSending NMI from CPU 0 to CPUs 1:\nNMI backtrace for cpu 1\nCPU: 1 UID: 0 PID: 5 Comm: insmod ",
		"\nRIP: 0010:runaway_init+0x9/0xb [test_klp_runaway]\n",
		"\nCall Trace:\n <TASK>\n kernel_op+0x",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
}

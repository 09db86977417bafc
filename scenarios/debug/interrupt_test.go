package debug

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"klpsim/scenarios"
)

// runawaySrc is a module init that never returns under a 10-minute limit:
// `continue` would run for minutes of wall time unless interrupted.
const runawaySrc = `machine cpus=2 seed=1 timeout=10m

module runaway init=runaway_init

start_test "runaway"
load_mod runaway
-- runaway.S --
	.text
	.globl runaway_init
	.type runaway_init, @function
runaway_init:
	.fentry
	push rbp
	mov rbp, rsp
1:	jmp 1b
	.size runaway_init, .-runaway_init
`

// Ctrl-C (Session.Interrupt, from another goroutine) stops a running
// machine at its next Run boundary: continue returns, stopped
// "interrupted" in the runaway loop, and the session goes on.
func TestSessionInterrupt(t *testing.T) {
	sc, err := scenarios.Parse("runaway.scn", []byte(runawaySrc), scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := New(sc, []byte(runawaySrc), scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Kill()
	r := execInterrupted(t, ss, "continue")
	if r.err != nil {
		t.Fatalf("continue: %v", r.err)
	}
	// Where depends on when the interrupt came (the loop, the timer
	// interrupt's code, another task): a machine stop all the same.
	if !strings.Contains(r.a.Text, "Interrupted (Ctrl-C).") || !strings.Contains(r.a.Text, ") on cpu ") {
		t.Errorf("continue's answer:\n%s\nwant an interrupted machine stop", r.a.Text)
	}
	if ss.pos.Kind != AtMachine || !strings.Contains(ss.pos.Why, "interrupted") {
		t.Errorf("stopped at %+v, want a machine stop, interrupted", ss.pos)
	}
	// Where it stopped is a point of the history: a straight goto to the
	// same count has the same state.
	n, h := ss.t.K.Insns(), ss.t.K.StateHash()
	again, err := New(sc, []byte(runawaySrc), scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Kill()
	if _, err := again.Exec(fmt.Sprintf("goto %d", n)); err != nil {
		t.Fatal(err)
	}
	if again.t.K.StateHash() != h {
		t.Errorf("a straight goto %d has another state than the interrupted continue", n)
	}
	// The machine is usable: a step executes an instruction.
	a, err := ss.Exec("stepi")
	if err != nil || !strings.Contains(a.Text, ") on cpu ") {
		t.Errorf("stepi after the interrupt: %v\n%s", err, a.Text)
	}
}

// Ctrl-C during a replay (a goto far ahead here; a step back replays the
// same way) stops it where it got to: a point of the history like any
// other, whose state a straight goto to the same count reproduces.
func TestSessionInterruptReplay(t *testing.T) {
	sc, err := scenarios.Parse("runaway.scn", []byte(runawaySrc), scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	open := func() *Session {
		ss, err := New(sc, []byte(runawaySrc), scenarios.Options{Catalog: scenarios.Builtin})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ss.Kill)
		return ss
	}
	ss := open()
	const far = 1 << 40
	r := execInterrupted(t, ss, fmt.Sprintf("goto %d", uint64(far)))
	if r.err != nil {
		t.Fatalf("goto: %v", r.err)
	}
	a := r.a
	if !strings.Contains(a.Text, "Interrupted (Ctrl-C).") {
		t.Fatalf("goto's answer:\n%s\nwant an interrupted stop", a.Text)
	}
	n := ss.t.K.Insns()
	if n == 0 || n >= far {
		t.Fatalf("stopped at instruction %d", n)
	}
	again := open()
	if _, err := again.Exec(fmt.Sprintf("goto %d", n)); err != nil {
		t.Fatal(err)
	}
	if again.t.K.Insns() != n || again.t.K.StateHash() != ss.t.K.StateHash() {
		t.Errorf("a straight goto %d reaches %d with another state than the interrupted replay", n, again.t.K.Insns())
	}
}

type execResult struct {
	a   Answer
	err error
}

// execInterrupted runs line on the session while interrupting it every
// 20 ms, as a user pressing Ctrl-C until the prompt comes back would; the
// deadline only turns a hang into a failure.
func execInterrupted(t *testing.T, ss *Session, line string) execResult {
	t.Helper()
	done := make(chan execResult)
	go func() {
		a, err := ss.Exec(line)
		done <- execResult{a, err}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case r := <-done:
			return r
		case <-tick.C:
			ss.Interrupt()
		case <-deadline:
			t.Fatalf("%s did not return within 60 s of interrupts", line)
		}
	}
}

// Ctrl-C during reverse-continue's search gives up the search: the
// machine is back where the command started, in the same state, and says
// so.
func TestSessionInterruptReverseContinue(t *testing.T) {
	sc, err := scenarios.Parse("runaway.scn", []byte(runawaySrc), scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := New(sc, []byte(runawaySrc), scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Kill()
	if _, err := ss.Exec("goto 100000000"); err != nil {
		t.Fatal(err)
	}
	n, h := ss.t.K.Insns(), ss.t.K.StateHash()
	r := execInterrupted(t, ss, "reverse-continue")
	if r.err == nil || !strings.Contains(r.err.Error(), "reverse-continue: interrupted; the machine is where it was") {
		t.Fatalf("reverse-continue answered %v:\n%s\nwant the interruption", r.err, r.a.Text)
	}
	if ss.t.K.Insns() != n || ss.t.K.StateHash() != h {
		t.Fatalf("after the interrupted reverse-continue: instruction %d (want %d), same state %v", ss.t.K.Insns(), n, ss.t.K.StateHash() == h)
	}
	// The session goes on from there.
	if _, err := ss.Exec("stepi"); err != nil || ss.t.K.Insns() != n+1 {
		t.Fatalf("stepi after it: %v, at %d", err, ss.t.K.Insns())
	}
}

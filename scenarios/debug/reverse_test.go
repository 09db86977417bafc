package debug

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"klpsim/scenarios"
)

const teach01File = "../teach/01-sleeping-task.scn"

// busyScn keeps a CPU busy in user mode while the other sleeps and wakes.
// syscallsScn keeps the kernel busy: two tasks on one CPU, one yielding
// in a loop, one calling getpid and sleeping in nanosleep now and then.
const syscallsScn = `machine cpus=1 seed=5
spawn yield.S
spawn getpid.S
run 50ms
-- yield.S --
_start:
1:  mov eax, 24
    syscall
    jmp 1b
-- getpid.S --
_start:
    lea rdi, [rip + ts]
2:  mov ecx, 100
1:  mov eax, 39
    syscall
    dec ecx
    jnz 1b
    mov eax, 35
    lea rdi, [rip + ts]
    xor esi, esi
    syscall
    jmp 2b
ts: .quad 0, 20000
`

const busyScn = `machine cpus=2 seed=3
spawn spin.S
run 10ms
-- spin.S --
_start:
1:  inc rbx
    jmp 1b
`

func newSession(t testing.TB, file string, src []byte) *Session {
	t.Helper()
	sc, err := scenarios.Parse(file, src, scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := New(sc, src, scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ss.Kill)
	return ss
}

func sessionOf(t *testing.T, file string) (*Session, func() *Session) {
	t.Helper()
	var src []byte
	name := file
	switch file {
	case "busy":
		src, name = []byte(busyScn), "busy.scn"
	case "syscalls":
		src, name = []byte(syscallsScn), "syscalls.scn"
	default:
		var err error
		if src, err = os.ReadFile(file); err != nil {
			t.Fatal(err)
		}
	}
	fresh := func() *Session { return newSession(t, name, src) }
	return fresh(), fresh
}

func rdo(t *testing.T, ss *Session, line string) Answer {
	t.Helper()
	a, err := ss.Exec(line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return a
}

// straightHash is the state hash of a fresh run of the scenario straight to
// instruction count n.
func straightHash(t *testing.T, fresh func() *Session, n uint64) [32]byte {
	t.Helper()
	ss := fresh()
	rdo(t, ss, "goto "+strconv.FormatUint(n, 10))
	if got := ss.t.K.Insns(); got != n {
		t.Fatalf("straight run to %d stopped at %d", n, got)
	}
	return ss.t.K.StateHash()
}

// checkStraight fails unless the Session's machine equals a straight run
// to its instruction count.
func checkStraight(t *testing.T, ss *Session, fresh func() *Session, after string) {
	t.Helper()
	if ss.ended {
		t.Fatalf("after %s: the scenario ended", after)
	}
	n := ss.t.K.Insns()
	if got, want := ss.t.K.StateHash(), straightHash(t, fresh, n); got != want {
		t.Errorf("after %s: the state at instruction %d differs from a straight run's", after, n)
	}
}

// checkStraightStop fails unless the Session's machine equals a fresh
// run's, set up with setup, at the same stop reached forward with next
// (which stops at every scenario line and every breakpoint): a line stop
// can be later than the first moment at its instruction count, when the
// machine was idle, and a straight run to the stop is what it must equal.
func checkStraightStop(t *testing.T, ss *Session, fresh func() *Session, setup string) {
	t.Helper()
	want := ss.pos
	f := fresh()
	rdo(t, f, setup)
	for f.pos.Insns < want.Insns || f.pos.Kind != want.Kind || f.pos.Line != want.Line {
		if f.ended || f.pos.Insns > want.Insns {
			t.Fatalf("a straight run never stops at %s line %d, instruction %d", want.Kind, want.Line, want.Insns)
		}
		rdo(t, f, "next")
	}
	if f.t.K.StateHash() != ss.t.K.StateHash() {
		t.Errorf("the state at the stop at %s line %d, instruction %d differs from a straight run's", want.Kind, want.Line, want.Insns)
	}
}

// Every reverse command lands on a state equal to a straight run's to
// the same instruction count.
func TestReverse_LandsOnAStraightRunsState(t *testing.T) {
	ss, fresh := sessionOf(t, "busy")
	rdo(t, ss, "goto 2000000")
	rdo(t, ss, "stepi 7")
	rdo(t, ss, "reverse-stepi 3")
	checkStraight(t, ss, fresh, "reverse-stepi 3")
	rdo(t, ss, "goto 1000000")
	checkStraight(t, ss, fresh, "goto back")
	rdo(t, ss, "goto 3000000")
	checkStraight(t, ss, fresh, "goto forward (to a parked machine's count and past it)")
	rdo(t, ss, "rsi")
	checkStraight(t, ss, fresh, "rsi")
}

// stepi N then reverse-stepi N from a step's stop is the identity.
func TestReverse_StepiThenReverseStepi(t *testing.T) {
	ss, _ := sessionOf(t, "busy")
	rdo(t, ss, "goto 1500000")
	rdo(t, ss, "stepi")
	before, n := ss.t.K.StateHash(), ss.t.K.Insns()
	rdo(t, ss, "stepi 5")
	if ss.t.K.Insns() == n {
		t.Fatal("stepi 5 did not move")
	}
	rdo(t, ss, "reverse-stepi 5")
	if got := ss.t.K.Insns(); got != n {
		t.Fatalf("reverse-stepi 5 went to instruction %d, want %d", got, n)
	}
	if ss.t.K.StateHash() != before {
		t.Error("reverse-stepi 5 after stepi 5 does not give back the same state")
	}
}

// goto event K lands one instruction after the K-th livepatch event,
// forward and back, on a straight run's state.
func TestReverse_GotoEvent(t *testing.T) {
	ss, fresh := sessionOf(t, teach01File)
	a := rdo(t, ss, "goto event 3")
	if !strings.HasPrefix(a.Text, "Event 3 at instruction ") {
		t.Fatalf("goto event 3 answered:\n%s", a.Text)
	}
	at := ss.rev.eventInsns[2]
	if ss.t.K.Insns() != at+1 || ss.eventsSeen() < 3 {
		t.Fatalf("goto event 3: at instruction %d having seen %d events; want %d, >= 3", ss.t.K.Insns(), ss.eventsSeen(), at+1)
	}
	checkStraight(t, ss, fresh, "goto event 3 (forward)")
	rdo(t, ss, "goto event 5")
	rdo(t, ss, "goto event 1")
	if ss.eventsSeen() != 1 && ss.rev.eventInsns[1] > ss.rev.eventInsns[0] {
		t.Errorf("goto event 1 (back): the machine has seen %d events", ss.eventsSeen())
	}
	checkStraight(t, ss, fresh, "goto event 1 (back)")
	if _, err := ss.Exec("goto event 100000"); err == nil || !strings.Contains(err.Error(), "no event 100000") {
		t.Errorf("goto event 100000: %v", err)
	}
}

// reverse-continue goes back to the previous stop: a breakpoint's, a
// scenario line's.
func TestReverse_Continue(t *testing.T) {
	// The first window holds the whole scenario; the small one makes the
	// search start mid-history and widen.
	for _, w := range []uint64{firstRCWindow, 64} {
		t.Run(fmt.Sprintf("window=%d", w), func(t *testing.T) {
			old := firstRCWindow
			firstRCWindow = w
			defer func() { firstRCWindow = old }()
			testReverseContinue(t)
		})
	}
}

func testReverseContinue(t *testing.T) {
	ss, fresh := sessionOf(t, teach01File)
	rdo(t, ss, "break msleep")
	rdo(t, ss, "continue")
	first := ss.t.K.StateHash()
	firstN := ss.t.K.Insns()
	rdo(t, ss, "continue")
	if ss.t.K.Insns() == firstN {
		t.Fatal("the second continue did not move")
	}
	// Going back stop by stop (lines, breakpoints) reaches the first
	// breakpoint's stop, each stop earlier than the one before.
	last := ss.t.K.Insns()
	for i := 0; ; i++ {
		a := rdo(t, ss, "reverse-continue")
		n := ss.t.K.Insns()
		if n > last {
			t.Fatalf("reverse-continue went forward, from %d to %d:\n%s", last, n, a.Text)
		}
		checkStraightStop(t, ss, fresh, "break msleep")
		last = n
		if n == firstN && len(ss.pos.BPs) > 0 {
			if ss.t.K.StateHash() != first {
				t.Fatal("reverse-continue to the first breakpoint: not the state the breakpoint stopped in")
			}
			if !strings.Contains(a.Text, "Breakpoint 1") {
				t.Errorf("reverse-continue's stop does not say Breakpoint 1:\n%s", a.Text)
			}
			break
		}
		if n < firstN || i > 20 {
			t.Fatalf("reverse-continue passed the first breakpoint (%d): at %d", firstN, n)
		}
	}
	rdo(t, ss, "delete")
	rdo(t, ss, "rc")
	if ss.pos.Kind != AtLine {
		t.Errorf("reverse-continue with no breakpoints stopped at %v, want a scenario line", ss.pos.Kind)
	}
	for range 20 {
		if _, err := ss.Exec("rc"); err != nil {
			if !strings.Contains(err.Error(), "this is the start") {
				t.Fatalf("rc: %v", err)
			}
			return
		}
	}
	t.Error("20 reverse-continues never reached the start")
}

// A goto forward starts from a parked machine when one is closer than the
// machine attached, and still lands on a straight run's state.
func TestReverse_GotoForwardFromAParkedMachine(t *testing.T) {
	ss, fresh := sessionOf(t, "busy")
	rdo(t, ss, "goto 3000000")
	far := ss.t.K
	rdo(t, ss, "goto 1000000")
	near := ss.t.K
	rdo(t, ss, "goto 3500000")
	if ss.t.K != far {
		t.Error("goto 3500000 did not continue the machine parked at 3000000")
	}
	if len(ss.rev.parked) != 1 || ss.rev.parked[0].t.K != near {
		t.Error("the machine left at 1000000 is not parked")
	}
	checkStraight(t, ss, fresh, "goto forward from a parked machine")
	a := rdo(t, ss, "info checkpoints")
	if !strings.Contains(a.Text, "instruction 1000000, scenario line 3") {
		t.Errorf("info checkpoints:\n%s", a.Text)
	}
}

// Bad input gets one clear line and leaves the machine where it was.
func TestReverse_BadInput(t *testing.T) {
	ss, _ := sessionOf(t, "busy")
	rdo(t, ss, "goto 100000")
	h := ss.t.K.StateHash()
	for _, tc := range []struct{ line, err string }{
		{"goto", "usage: goto INSTRUCTION-COUNT | event K"},
		{"goto x", `goto: "x" is not an instruction count`},
		{"goto event 0", `goto: "0" is not an event number`},
		{"reverse-stepi 0", "is not a positive count"},
		{"reverse-stepi 99999999999", "has executed only"},
		{"reverse-continue now", `reverse-continue: unexpected "now"`},
		{"info statehash x", `unexpected "x"`},
		{"goto event 1", "the scenario ended after 0 events; there is no event 1"}, // last: it runs to the end
	} {
		_, err := ss.Exec(tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v; want an error containing %q", tc.line, err, tc.err)
		}
		if tc.line == "goto event 1" {
			continue // it ran the scenario to its end looking for the event
		}
		if ss.t.K.StateHash() != h {
			t.Fatalf("%s moved the machine", tc.line)
		}
	}
}

// With record on, a forward run leaves a checkpoint close behind the
// machine, and reverse-stepi starts from it.
func TestReverse_Record(t *testing.T) {
	old := trailWindow
	trailWindow = 100_000
	defer func() { trailWindow = old }()
	ss, fresh := sessionOf(t, "busy")
	rdo(t, ss, "record")
	rdo(t, ss, "goto 2000000")
	var shadow *machine
	for _, m := range ss.rev.parked {
		if n := m.t.K.Insns(); n < 2000000 && n+trailWindow >= 2000000 {
			shadow = m
		}
	}
	if shadow == nil {
		t.Fatal("record left no checkpoint within the window behind the machine")
	}
	rdo(t, ss, "reverse-stepi")
	if ss.t.K != shadow.t.K {
		t.Error("reverse-stepi did not start from record's checkpoint")
	}
	checkStraight(t, ss, fresh, "reverse-stepi from record's checkpoint")
	rdo(t, ss, "record stop")
	rdo(t, ss, "goto 3000000")
	for _, m := range ss.rev.parked {
		if n := m.t.K.Insns(); n < 3000000 && n+trailWindow >= 3000000 {
			t.Error("record stop: a checkpoint still follows the machine")
		}
	}
}

// A reverse command keeps the breakpoints as they are (a replay's stops
// neither count hits nor delete temporary ones), and one deleted after
// going back does not stop the machine any more.
func TestReverse_KeepsBreakpoints(t *testing.T) {
	ss, _ := sessionOf(t, teach01File)
	rdo(t, ss, "break msleep")
	rdo(t, ss, "continue")
	rdo(t, ss, "watch klp_mutex")
	rdo(t, ss, "tbreak schedule")
	rdo(t, ss, "tbreak mutex_lock")
	rdo(t, ss, "continue")
	before := rdo(t, ss, "info breakpoints").Text
	rdo(t, ss, "reverse-continue")
	rdo(t, ss, "reverse-continue")
	if after := rdo(t, ss, "info breakpoints").Text; after != before {
		t.Errorf("reverse-continue changed the breakpoints:\n%s\nbecame\n%s", before, after)
	}
	rdo(t, ss, "delete")
	a := rdo(t, ss, "continue")
	if ss.pos.Kind != AtEnd {
		t.Errorf("with every breakpoint deleted, continue stopped:\n%s", a.Text)
	}
}

// stepi steps the selected task, as gdb steps the selected thread: on a
// task asleep it runs the machine until that task executes its next
// instruction, and reverse-stepi takes the task's own instructions back,
// across the sleep, to the identical state.
func TestStepi_SelectedTaskSleeps(t *testing.T) {
	ss, fresh := sessionOf(t, teach01File)
	rdo(t, ss, "break msleep")
	rdo(t, ss, "continue")
	task := ss.t.Task
	if task == nil || task.PID == 0 {
		t.Fatalf("stopped at msleep with task %v", task)
	}
	pid := task.PID
	rdo(t, ss, "delete")
	for i := 0; task.Running(); i++ {
		if i == 100_000 {
			t.Fatal("the task never went to sleep")
		}
		rdo(t, ss, "stepi")
		if ss.t.Task != task {
			t.Fatalf("stepi of pid %d stopped pid %d", pid, ss.t.Task.PID)
		}
	}
	asleep, machine, own := ss.t.K.StateHash(), ss.t.K.Insns(), task.Insns()
	a := rdo(t, ss, "stepi")
	if ss.t.Task.PID != pid || ss.pos.Stop.Task.PID != pid {
		t.Fatalf("stepi of sleeping pid %d stopped pid %d:\n%s", pid, ss.pos.Stop.Task.PID, a.Text)
	}
	task = ss.t.Task
	if task.Insns() != own+1 {
		t.Fatalf("the task retired %d instructions, want 1", task.Insns()-own)
	}
	if ss.t.K.Insns()-machine < 100 {
		t.Fatalf("the machine ran %d instructions while the task slept: it did not wait for it", ss.t.K.Insns()-machine)
	}
	rdo(t, ss, "reverse-stepi")
	if ss.t.K.Insns() != machine || ss.t.K.StateHash() != asleep {
		t.Fatalf("reverse-stepi across the sleep: at instruction %d (want %d), same state %v", ss.t.K.Insns(), machine, ss.t.K.StateHash() == asleep)
	}
	checkStraight(t, ss, fresh, "reverse-stepi across a sleep")
}

// Inside one long-running command, going back restores an in-place
// checkpoint instead of replaying from a parked machine or the start,
// and lands on a straight run's state every time — through repeated
// steps back, a goto back, a stepi/reverse-stepi round trip, and with
// the checkpoints thinned.
func TestReverse_InPlaceCheckpoints(t *testing.T) {
	oldEvery, oldMax := checkpointEvery, maxCheckpoints
	checkpointEvery, maxCheckpoints = 1<<15, 6
	defer func() { checkpointEvery, maxCheckpoints = oldEvery, oldMax }()
	for _, tc := range []struct{ file, setup string }{
		{"busy", ""},
		{"syscalls", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ss, fresh := sessionOf(t, tc.file)
			if tc.setup != "" {
				rdo(t, ss, tc.setup)
			}
			start := ss.t.K.Insns()
			rdo(t, ss, "goto "+strconv.FormatUint(start+1_000_000, 10))
			if got := len(ss.d.Checkpoints()); got == 0 || got > maxCheckpoints+1 {
				t.Fatalf("%d checkpoints live after 1M instructions, want 1..%d", got, maxCheckpoints+1)
			}
			for i := range 3 {
				rdo(t, ss, "reverse-stepi")
				checkStraight(t, ss, fresh, fmt.Sprintf("reverse-stepi #%d", i+1))
			}
			rdo(t, ss, "reverse-stepi 5000")
			checkStraight(t, ss, fresh, "reverse-stepi 5000")
			rdo(t, ss, "goto "+strconv.FormatUint(start+400_000, 10))
			checkStraight(t, ss, fresh, "goto back")
			rdo(t, ss, "stepi")
			h, n := ss.t.K.StateHash(), ss.t.K.Insns()
			rdo(t, ss, "stepi 20")
			rdo(t, ss, "reverse-stepi 20")
			if ss.t.K.Insns() != n || ss.t.K.StateHash() != h {
				t.Errorf("stepi 20, reverse-stepi 20 did not come back to instruction %d's state", n)
			}
			if ss.rev.rewinds < 5 {
				t.Errorf("%d travels back used an in-place checkpoint, want at least 5", ss.rev.rewinds)
			}
			if len(ss.rev.parked) != 0 {
				t.Errorf("%d machines parked: a travel back replayed instead", len(ss.rev.parked))
			}
		})
	}
}

// Across the selftests and the teaching scenarios, with checkpoints every
// 4096 instructions: wherever a goto lands inside a command, going back a
// step and a few hundred instructions lands on a straight run's state,
// whether an in-place checkpoint served it or a replay did. Hidden state
// a checkpoint misses (a closure's, a coroutine's) shows up here as a
// difference.
func TestReverse_InPlaceEverywhere(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("replays every selftest and teaching scenario several times: minutes under -race; -short skips it too")
	}
	oldEvery := checkpointEvery
	defer func() { checkpointEvery = oldEvery }()
	files, _ := filepath.Glob("../selftests/*.scn")
	teach, _ := filepath.Glob("../teach/*.scn")
	rewinds := 0
	for _, file := range append(files, teach...) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			checkpointEvery = 0
			ss, fresh := sessionOf(t, file)
			rdo(t, ss, "continue")
			for !ss.ended {
				rdo(t, ss, "continue")
			}
			total := ss.pos.Insns
			if total > 4_000_000 {
				// A checkpoint every 4096 instructions costs a few seconds
				// per replay here; TestReverse_InPlaceCheckpoints covers
				// busy machines with sparser checkpoints.
				t.Skipf("%d instructions: too long for checkpoints every 4096", total)
			}
			checkpointEvery = 1 << 12
			for _, p := range []uint64{total / 3, total * 2 / 3} {
				ss := fresh()
				rdo(t, ss, "goto "+strconv.FormatUint(p, 10))
				if ss.pos.Kind != AtMachine {
					continue
				}
				if _, err := ss.Exec("reverse-stepi"); err != nil {
					if !strings.Contains(err.Error(), "has executed only") {
						t.Fatalf("goto %d, reverse-stepi: %v", p, err)
					}
				} else {
					checkStraight(t, ss, fresh, fmt.Sprintf("goto %d, reverse-stepi", p))
				}
				back := ss.t.K.Insns() - min(ss.t.K.Insns(), 300)
				rdo(t, ss, "goto "+strconv.FormatUint(back, 10))
				checkStraight(t, ss, fresh, fmt.Sprintf("goto %d, goto %d", p, back))
				rewinds += ss.rev.rewinds
			}
		})
	}
	if rewinds == 0 {
		t.Error("no travel back used an in-place checkpoint")
	}
	t.Logf("%d travels back served in place", rewinds)
}

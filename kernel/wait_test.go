package kernel

import (
	"errors"
	"strings"
	"testing"
)

// A host wait ends at the machine's deadline, whatever the waited-for task
// does, with an error that names the task and the function it executes;
// the deadline ends every later wait at once.
func TestWait_Deadline(t *testing.T) {
	k := boot(t, Config{CPUs: 2, ClockHz: 1_000_000})
	addModule(t, k, ModuleSpec{Name: "test_runaway", Init: "runaway_init"},
		gfn("runaway_init", "1:\tjmp 1b\n"))
	k.SetDeadline(3e9, "the time limit (3s) is reached")
	err := k.Insmod("test_runaway", "")
	var we *WaitError
	if !errors.As(err, &we) {
		t.Fatalf("insmod of a runaway init: %v, want a *WaitError", err)
	}
	const want = "the time limit (3s) is reached: insmod (pid 5) is running runaway_init+0x9/0xd [test_runaway] on CPU 1"
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	if k.Now() != 3e9 || k.DeadlineWait() != we {
		t.Errorf("the wait ended at %d ns (DeadlineWait %v), want at the deadline", k.Now(), k.DeadlineWait())
	}
	// A /proc read after the deadline does not run the machine on.
	if _, err := k.FS.Cat(nil, "/proc/cmdline"); !errors.As(err, &we) || we.Comm != "cat" || k.Now() != 3e9 {
		t.Errorf("cat after the deadline: %v at %d ns", err, k.Now())
	}
}

// A task that sleeps past its wait's own budget is shown where it sleeps.
func TestWait_Budget_Sleeping(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, workloads)
	_, err := k.RunOnTask("sleeper", func(ctx *OpCtx) uint64 {
		ctx.Call(testSym(t, k, "sleep_loop"))
		return 0
	}, 2e9)
	var we *WaitError
	if !errors.As(err, &we) || we.Reason != "" {
		t.Fatalf("RunOnTask of a sleeper: %v, want a *WaitError of its budget", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "kernel: sleeper did not finish in 2s of simulated time: sleeper (pid 4) is D (disk sleep) in schedule+0x") ||
		!strings.Contains(msg, " <- schedule_timeout+0x") {
		t.Errorf("error %q", msg)
	}
}

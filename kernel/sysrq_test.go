package kernel

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

// The interrupt flag stops the machine between quanta, and SysRq-l then
// shows what each CPU executes: the busy one's registers and call trace,
// the idle one skipped.
func TestShowAllCPUs_AfterInterrupt(t *testing.T) {
	k := boot(t, Config{CPUs: 2, ClockHz: 1_000_000})
	addModule(t, k, ModuleSpec{Name: "test_runaway", Init: "runaway_init"},
		gfn("runaway_init", "1:\tjmp 1b\n"))
	var intr, poll atomic.Bool
	k.SetInterrupt(&intr)
	polls := 0
	k.SetPoll(&poll, func() {
		polls++
		if k.Now() >= 1e9 {
			intr.Store(true) // as a SIGINT handler would, from another goroutine
		}
		poll.Store(true)
	})
	poll.Store(true)
	if err := k.Insmod("test_runaway", ""); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("insmod: %v, want ErrInterrupted", err)
	}
	if k.Now() < 1e9 || k.Now() > 1e9+maxQuantum || polls == 0 {
		t.Errorf("stopped at %d ns after %d polls, want within a quantum of 1 s", k.Now(), polls)
	}
	st := k.Status()
	if c := st.CPUs[1]; c.Comm != "insmod" || c.Func != "runaway_init+0x9/0xd [test_runaway]" || !st.CPUs[0].Idle {
		t.Errorf("status %+v", st)
	}
	got := k.ShowAllCPUs()
	for _, want := range []string{
		"sysrq: Show backtrace of all active CPUs\nNMI backtrace for cpu 0 skipped: idling at do_idle+0x",
		"\nSending NMI from CPU 0 to CPUs 1:\nNMI backtrace for cpu 1\nCPU: 1 UID: 0 PID: 5 Comm: insmod ",
		"\nRIP: 0010:runaway_init+0x9/0xd [test_runaway]\nRSP: 0018:",
		"\nCall Trace:\n <TASK>\n kernel_op+0x18/0x2a\n op_thread+0x10/0x19\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("SysRq-l output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(strings.Join(logSince(k, 0), "\n"), "NMI backtrace for cpu 1") {
		t.Error("the backtraces are not in the kernel log")
	}
	// The flag stays set: the machine does not run on.
	if err := k.RunFor(1e6); !errors.Is(err, ErrInterrupted) {
		t.Errorf("RunFor after the interrupt: %v", err)
	}
}

package kernel

import (
	"strings"
	"testing"
)

// softLockupReports are the soft-lockup reports in the log, each as its
// lines from the BUG line to the end of the call trace, and when each was
// printed (seconds). A report is printed from the timer interrupt: its
// lines have the CPU as their caller, and the BUG line is KERN_EMERG.
func softLockupReports(t *testing.T, k *Kernel) (reports [][]string, at []uint64) {
	var cur []string
	caller := ""
	for _, r := range k.Log.Records() {
		switch {
		case strings.HasPrefix(r.Text, "watchdog: BUG: soft lockup"):
			if r.Level != 0 || !strings.HasPrefix(r.Caller, "C") {
				t.Errorf("BUG line at level %d from %s, want 0 from a CPU", r.Level, r.Caller)
			}
			cur, caller = []string{r.Text}, r.Caller
			at = append(at, r.TimeNS/1e9)
		case cur != nil && r.Caller == caller:
			cur = append(cur, r.Text)
			if r.Text == " </TASK>" {
				reports = append(reports, cur)
				cur = nil
			}
		}
	}
	return reports, at
}

// A module init that loops forever with interrupts on, on a kernel that
// cannot preempt it, is a soft lockup: watchdog_timer_fn reports it at 24 s
// ("stuck for 22s!", in get_timestamp's 2^30 ns units), then every 24 s
// while it lasts (44s, 67s), and the kernel goes on (softlockup_panic=0)
// with TAINT_SOFTLOCKUP set. The idle CPU never reports.
func TestWatchdog_SoftLockup_RunawayInit(t *testing.T) {
	k := boot(t, Config{CPUs: 2, ClockHz: 1_000_000})
	addModule(t, k, ModuleSpec{Name: "test_runaway", Init: "runaway_init"},
		gfn("runaway_init", "1:\tjmp 1b\n"))
	defer func(old uint64) { insmodTimeout = old }(insmodTimeout)
	insmodTimeout = 75e9
	if err := k.Insmod("test_runaway", ""); err == nil {
		t.Fatal("insmod of a module whose init never returns finished")
	}
	reports, at := softLockupReports(t, k)
	if len(reports) != 3 {
		t.Fatalf("%d soft-lockup reports in 75 s, want 3 (at 24, 48, 72 s):\n%v", len(reports), reports)
	}
	for i, want := range []struct {
		at    uint64
		stuck string
	}{{24, "22"}, {48, "44"}, {72, "67"}} {
		if at[i] != want.at || reports[i][0] != "watchdog: BUG: soft lockup - CPU#1 stuck for "+want.stuck+"s! [insmod:5]" {
			t.Errorf("report %d at %d s: %q, want at %d s stuck for %ss", i, at[i], reports[i][0], want.at, want.stuck)
		}
	}
	got := strings.Join(reports[0], "\n")
	want := `watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [insmod:5]
Modules linked in: test_runaway(O+)
CPU: 1 UID: 0 PID: 5 Comm: insmod Tainted: G           O       6.12.0-klpsim #1
Tainted: [O]=OOT_MODULE
RIP: 0010:runaway_init+0x9/0xd [test_runaway]
RSP: 0018:ffffc9000001def8 EFLAGS: 00000286
RAX: ffffffffa0000000 RBX: ffffc9000001df58 RCX: 0000000000000000
RDX: 0000000000000000 RSI: 0000000000000000 RDI: 0000000000000000
RBP: ffffc9000001def8 R08: 0000000000000000 R09: 0000000000000000
R10: 0000000000000000 R11: 0000000000000000 R12: 0000000000000000
R13: 0000000000000000 R14: 0000000000000000 R15: 0000000000000000
Call Trace:
 <TASK>
 kernel_op+0x18/0x2a
 op_thread+0x10/0x19
 kthread+0x16/0x20
 ret_from_fork+0x19/0x28
 ret_from_fork_asm+0xe/0x2e
 </TASK>`
	if got != want {
		t.Errorf("first report:\n%s\nwant:\n%s", got, want)
	}
	// The first report tainted the kernel L: the next reports say so.
	if want := "CPU: 1 UID: 0 PID: 5 Comm: insmod Tainted: G           O L     6.12.0-klpsim #1"; reports[1][2] != want {
		t.Errorf("second report's CPU line %q, want %q", reports[1][2], want)
	}
	if k.Tainted()&(1<<TaintSoftlockup) == 0 {
		t.Error("a soft lockup did not set TAINT_SOFTLOCKUP")
	}
	if k.err != nil {
		t.Errorf("a soft lockup stopped the machine: %v", k.err)
	}
}

// A user task spinning in user mode is preempted at every tick's exit to
// user mode: no lockup, however long it spins.
func TestWatchdog_NoSoftLockup_UserSpin(t *testing.T) {
	k := boot(t, Config{CPUs: 1, ClockHz: 1_000_000})
	if _, err := k.SpawnUser("spin", userProg(t, "1: inc rbx\n jmp 1b\n")); err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(60e9); err != nil {
		t.Fatal(err)
	}
	if r, _ := softLockupReports(t, k); len(r) != 0 {
		t.Errorf("soft lockup reported:\n%s", strings.Join(r[0], "\n"))
	}
}

// Loops that let the CPU schedule are no lockups: a module init that calls
// cond_resched, a user task spinning in user mode, and a kernel loop on a
// preemptible kernel (the stopper preempts it at the timer interrupt).
func TestWatchdog_NoSoftLockup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		preempt PreemptModel
		body    string
	}{
		{"cond_resched", PreemptVoluntary, "1:\tcall __cond_resched\n\tjmp 1b\n"},
		{"preempt=full", PreemptFull, "1:\tjmp 1b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := boot(t, Config{CPUs: 1, ClockHz: 1_000_000, Preempt: tc.preempt})
			addModule(t, k, ModuleSpec{Name: "test_busy", Init: "busy_init"}, gfn("busy_init", tc.body))
			defer func(old uint64) { insmodTimeout = old }(insmodTimeout)
			insmodTimeout = 60e9
			if err := k.Insmod("test_busy", ""); err == nil {
				t.Fatal("insmod of a module whose init never returns finished")
			}
			if r, _ := softLockupReports(t, k); len(r) != 0 {
				t.Errorf("soft lockup reported:\n%s", strings.Join(r[0], "\n"))
			}
		})
	}
}

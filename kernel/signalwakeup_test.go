package kernel

import (
	"testing"

	"klpsim/kernel/printk"
)

var printkNoTime = printk.DmesgOptions{NoTime: true}

// v5.1's livepatch fake signal, signal_wake_up(task, 0): TIF_SIGPENDING
// with no signal queued wakes a process sleeping interruptibly in the
// kernel (pause), takes it through the exit-to-user path, where its patch
// state switches, and its system call restarts: the process never sees
// it, and TIF_NOTIFY_SIGNAL (5.11) is never used.
func TestSignalWakeUp(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	u, _ := k.SpawnUser("pauser", userProg(t, "1: mov eax, 34\n syscall\n inc r15\n jmp 1b\n"))
	k.RunFor(1e6)
	if u.State != TaskInterruptible || !contains(k.ProcStack(u), "__x64_sys_pause") {
		t.Fatalf("pauser state %#x\n%s", u.State, k.ProcStack(u))
	}
	switched := 0
	k.Hooks.UpdatePatchState = func(t *Task) {
		switched++
		t.TIF &^= TIFPatchPending
		t.PatchState = PatchPatched
	}
	u.TIF |= TIFPatchPending
	k.SignalWakeUp(u)
	if u.TIF&TIFSigpending == 0 || u.TIF&TIFNotifySignal != 0 {
		t.Errorf("after signal_wake_up: TIF %#x, want TIF_SIGPENDING and not TIF_NOTIFY_SIGNAL", u.TIF)
	}
	k.RunFor(1e6)
	returns, _ := k.mem.ReadU64(u.PtRegs() + ptR15)
	if switched != 1 || u.PatchState != PatchPatched || u.TIF&(TIFPatchPending|TIFSigpending) != 0 {
		t.Errorf("switched %d, patch_state %d, TIF %#x", switched, u.PatchState, u.TIF)
	}
	if returns != 0 || u.State != TaskInterruptible {
		t.Errorf("pause returned %d times; state %#x (want a transparent restart)", returns, u.State)
	}
}

// The boot banner is the configured kernel version's.
func TestBoot_Banner(t *testing.T) {
	k := boot(t, Config{CPUs: 1, Banner: "Linux version 5.1.0-klpsim (klpsim) #1 SMP\n"})
	if lines := k.Log.DmesgLines(printkNoTime); len(lines) == 0 || lines[0] != "Linux version 5.1.0-klpsim (klpsim) #1 SMP" {
		t.Errorf("first log line %q", lines)
	}
	k = boot(t, Config{CPUs: 1})
	if lines := k.Log.DmesgLines(printkNoTime); len(lines) == 0 || lines[0] != "Linux version 6.12.0-klpsim (klpsim) #1 SMP PREEMPT_DYNAMIC" {
		t.Errorf("default first log line %q", lines)
	}
}

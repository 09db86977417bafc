package kernel

import "testing"

// Signals with their default actions: SIGSTOP stops a user process on its
// way back to user mode, SIGCONT resumes it, SIGKILL and SIGTERM end it.
func TestSignalsDefaultActions(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	spin := "1: mov eax, 39\n syscall\n inc r15\n jmp 1b\n"
	a, _ := k.SpawnUser("a", userProg(t, spin))
	k.RunFor(5e6)
	k.Kill(a, SIGSTOP)
	k.RunFor(5e6)
	if a.State != TaskStopped {
		t.Fatalf("after SIGSTOP: state %#x", a.State)
	}
	count := func() uint64 { v, _ := k.mem.ReadU64(a.PtRegs() + ptR15); return v }
	before := count()
	k.RunFor(5e6)
	if count() != before {
		t.Error("a stopped process ran")
	}
	if ps := k.ProcStack(a); !contains(ps, "arch_do_signal_or_restart") {
		t.Errorf("a stopped task sleeps in the signal path:\n%s", ps)
	}
	k.Kill(a, SIGCONT)
	k.RunFor(5e6)
	if a.State == TaskStopped || !(count() > before || a.Running()) {
		t.Errorf("after SIGCONT: state %#x", a.State)
	}
	exited := false
	k.onExit(a, func() { exited = true })
	k.Kill(a, SIGTERM)
	k.RunFor(5e6)
	if !exited || a.ExitCode != SIGTERM {
		t.Errorf("after SIGTERM: exited %v code %d", exited, a.ExitCode)
	}
}

// wake_up_state(INTERRUPTIBLE), which livepatch uses on kthreads, wakes
// an interruptible sleeper and not an uninterruptible one.
func TestWakeUpState(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, `
	.globl wait_loop
	.type wait_loop, @function
wait_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	mov rdi, 1000000
	call schedule_timeout_interruptible
	inc qword ptr [rip + wakeups]
	jmp 1b
	.size wait_loop, .-wait_loop
	.data
	.globl wakeups
	.type wakeups, @object
wakeups: .quad 0
	.size wakeups, 8
`+workloads)
	w, _ := k.createKthread("waiter", testSym(t, k, "wait_loop"), 0, nil)
	s, _ := k.createKthread("sleeper", testSym(t, k, "sleep_loop"), 0, nil)
	k.RunFor(1e6)
	if w.State != TaskInterruptible || s.State != TaskUninterruptible {
		t.Fatalf("states %#x %#x", w.State, s.State)
	}
	if !k.WakeUpState(w, TaskInterruptible) {
		t.Error("the interruptible sleeper was not woken")
	}
	k.RunFor(1e6)
	if n, _ := k.mem.ReadU64(testSym(t, k, "wakeups")); n != 1 || w.State != TaskInterruptible {
		t.Errorf("wake-ups %d, state %#x", n, w.State)
	}
	if k.WakeUpState(s, TaskInterruptible) || s.State != TaskUninterruptible {
		t.Errorf("uninterruptible sleeper woken: state %#x", s.State)
	}
}

// The livepatch fake signal wakes a process sleeping interruptibly in the
// kernel (pause), takes it through the exit-to-user path — where a pending
// patch state switches — and restarts its system call: the process never
// sees it.
func TestNotifySignal(t *testing.T) {
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
	k.NotifySignal(u)
	k.RunFor(1e6)
	returns, _ := k.mem.ReadU64(u.PtRegs() + ptR15)
	if switched != 1 || u.PatchState != PatchPatched || u.TIF&(TIFPatchPending|TIFNotifySignal) != 0 {
		t.Errorf("switched %d, patch_state %d, TIF %#x", switched, u.PatchState, u.TIF)
	}
	if returns != 0 || u.State != TaskInterruptible {
		t.Errorf("pause returned %d times; state %#x (want a transparent restart)", returns, u.State)
	}
}

// A child takes its parent's patch state and TIF_PATCH_PENDING
// (klp_copy_process).
func TestForkCopiesPatchState(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	k.kthreadd.PatchState = PatchUnpatched
	k.kthreadd.TIF |= TIFPatchPending
	var hooked bool
	k.Hooks.CopyProcess = func(parent, child *Task) { hooked = parent == k.kthreadd }
	child, err := k.createKthread("child", k.sym("kthreadd"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := k.SpawnUser("user", userProg(t, "1: jmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Task{child, u} {
		if c.PatchState != PatchUnpatched || c.TIF&TIFPatchPending == 0 {
			t.Errorf("%s: patch_state %d TIF %#x", c, c.PatchState, c.TIF)
		}
	}
	if !hooked {
		t.Error("the CopyProcess hook was not called")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

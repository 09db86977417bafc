package kernel

import (
	"testing"
)

const klpHookWorkloads = `
	.text
	.globl freezable_loop
	.type freezable_loop, @function
freezable_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	mov edi, TASK_INTERRUPTIBLE | TASK_FREEZABLE
	mov eax, HC_SET_STATE
	vmcall
	mov edi, 1
	call schedule_timeout
	jmp 1b
	.size freezable_loop, .-freezable_loop

	.globl cond_resched_loop
	.type cond_resched_loop, @function
cond_resched_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call __cond_resched
	mov edi, 4
	call msleep
	jmp 1b
	.size cond_resched_loop, .-cond_resched_loop
`

// 6.12 has one scheduler switch point for livepatch, in cond_resched
// (klp_sched_try_switch): a kthread that sleeps TASK_FREEZABLE over and
// over never reaches SchedTrySwitch (__schedule's TASK_FREEZABLE hook is
// 6.16's); one passing cond_resched does.
func TestSched_KlpSwitchOnlyInCondResched(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, klpHookWorkloads)
	calls := map[string]int{}
	k.Hooks.SchedTrySwitch = func(t *Task) { calls[t.Comm]++ }
	for _, w := range []string{"freezable_loop", "cond_resched_loop"} {
		task, err := k.createKthread(w[:9], testSym(t, k, w), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		task.TIF |= TIFPatchPending
	}
	if err := k.RunFor(100e6); err != nil {
		t.Fatal(err)
	}
	if calls["freezable"] != 0 {
		t.Errorf("a freezable sleep reached klp_sched_try_switch %d times", calls["freezable"])
	}
	if calls["cond_resc"] == 0 {
		t.Error("cond_resched never reached klp_sched_try_switch")
	}
}

// set_notify_signal kicks a task running on another CPU (kick_process):
// the reschedule IPI takes it through the exit to user mode at once,
// where TIF_NOTIFY_SIGNAL is handled, instead of at its next tick or
// system call.
func TestNotifySignal_KicksRunningTask(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	spinner, err := k.SpawnUser("spin", userProg(t, "1:\tjmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(1e6); err != nil {
		t.Fatal(err)
	}
	if !spinner.Running() {
		t.Fatal("the spinner is not on its CPU")
	}
	// Just after a tick, so that the next one is a whole tick away.
	if err := k.RunUntil(k.nextTick()+1000, nil); err != nil {
		t.Fatal(err)
	}
	k.NotifySignal(spinner)
	if err := k.RunFor(200e3); err != nil {
		t.Fatal(err)
	}
	if spinner.TIF&TIFNotifySignal != 0 {
		t.Error("TIF_NOTIFY_SIGNAL still set 200us after the kick: the running task was not interrupted")
	}
}

// klp_copy_process: a process forked from a user process during a
// transition takes its parent's patch_state and TIF_PATCH_PENDING, not
// kthreadd's.
func TestSpawnUserFrom_InheritsParentPatchState(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	parent, err := k.SpawnUser("parent", userProg(t, "1:\tjmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	// A transition to patched: kthreadd has switched, the parent not.
	k.kthreadd.PatchState, k.kthreadd.TIF = PatchPatched, k.kthreadd.TIF&^TIFPatchPending
	parent.PatchState, parent.TIF = PatchUnpatched, parent.TIF|TIFPatchPending
	child, err := k.SpawnUserFrom(parent, "child", userProg(t, "1:\tjmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if child.PatchState != PatchUnpatched || child.TIF&TIFPatchPending == 0 {
		t.Errorf("child: patch_state %d, TIF %#x; want its parent's (0, TIF_PATCH_PENDING)", child.PatchState, child.TIF)
	}
	if child.parent != parent {
		t.Errorf("child's parent %v, want %v", child.parent, parent)
	}
}

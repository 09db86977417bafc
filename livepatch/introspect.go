package livepatch

import (
	"errors"
	"fmt"

	"klpsim/kernel"
	"klpsim/kernel/unwind"
)

// Introspection: what the transition in progress waits for, for the tools
// that explain a stall (the scenario runner's timeout message, the
// debugger). Read-only: it runs klp_try_switch_task's checks without
// switching anyone and without logging or emitting events.

// PendingTask is a task the transition has not switched yet and what holds
// it back, judged now.
type PendingTask struct {
	Comm string
	PID  int
	Why  BlockedWhy // BlockedRunning, BlockedUnreliable or BlockedSleeping
	// Func is, for BlockedSleeping, the changed function whose code is on
	// the task's stack; Addr is that return address.
	Func string
	Addr uint64
	// Detail is, for BlockedUnreliable, why the unwinder refused the stack
	// and where ("return address outside kernel text at foo+0x12/0x0").
	Detail string
}

// TransitionInfo is the transition in progress.
type TransitionInfo struct {
	Patch   string        // klp_transition_patch's name
	Target  int           // klp_target_state: KLPTransitionPatched or KLPTransitionUnpatched
	Pending []PendingTask // the tasks not yet in Target, by pid (idle tasks last)
}

// Transition returns the transition in progress and its pending tasks; ok
// is false when no transition runs.
func (c *Core) Transition() (info TransitionInfo, ok bool) {
	p := c.transitionPatch
	if p == nil {
		return TransitionInfo{}, false
	}
	info = TransitionInfo{Patch: p.Name, Target: c.targetState}
	for _, t := range c.allTasks() {
		if t.PatchState == c.targetState || t.State == kernel.TaskDead {
			continue
		}
		info.Pending = append(info.Pending, c.blocker(t))
	}
	return info, true
}

// blocker is klp_check_and_switch_task's verdict on t without the switch,
// with the detail the debug line does not give.
func (c *Core) blocker(t *kernel.Task) PendingTask {
	pt := PendingTask{Comm: t.Comm, PID: t.PID}
	if t.Running() {
		pt.Why = BlockedRunning
		return pt
	}
	var buf [MaxStackEntries]uint64
	n, err := c.k.StackTraceReliable(t, buf[:])
	var ue *unwind.UnreliableError
	switch {
	case errors.Is(err, kernel.ErrTaskRunning):
		pt.Why = BlockedRunning
		return pt
	case errors.As(err, &ue):
		pt.Why = BlockedUnreliable
		pt.Detail = fmt.Sprintf("%v at %s", ue.Reason, c.k.Syms.Format(ue.IP))
		return pt
	case err != nil:
		pt.Why, pt.Detail = BlockedUnreliable, err.Error()
		return pt
	}
	if f, a := c.blockingFunc(buf[:n]); f != nil {
		pt.Why, pt.Func, pt.Addr = BlockedSleeping, f.OldName, a
	}
	// Nothing holds it now: the next attempt (at most a second away)
	// switches it.
	return pt
}

// String says what holds the task back, as a person would: "kworker/0:1
// (pid 12) sleeping on function busymod_work_func".
func (p PendingTask) String() string {
	who := fmt.Sprintf("%s (pid %d)", p.Comm, p.PID)
	switch p.Why {
	case BlockedRunning:
		return who + " running on a CPU"
	case BlockedUnreliable:
		return who + " has an unreliable stack (" + p.Detail + ")"
	case BlockedSleeping:
		return who + " sleeping on function " + p.Func
	}
	return who + " not checked yet"
}

package livepatch

import (
	"errors"

	"klpsim/kernel"
)

// The consistency model (kernel/livepatch/transition.c): tasks move to the
// target state one at a time, each when it is safe — a sleeping task whose
// stack holds none of the functions being changed, a task leaving the
// kernel, an idle task in its loop — with the fake signal every 15
// retries, force, and reversal for the stuck.

// allTasks is for_each_process_thread plus every CPU's idle task.
func (c *Core) allTasks() []*kernel.Task {
	return append(c.k.Tasks(), c.k.IdleTasks()...)
}

// initTransition is klp_init_transition.
func (c *Core) initTransition(t *kernel.Task, p *Patch, state int) {
	c.debug(t, c.dbg.initTransition, "'%s': initializing %s transition\n", p.Name, stateName(state))
	c.transitionPatch = p
	// The experiment's direct jumps go back to the trampolines first:
	// from now on the handler chooses per task.
	c.syncDirectAll()
	// Every task starts in the opposite state: nothing has switched yet.
	c.targetState = state
	initial := KLPTransitionUnpatched
	if state == KLPTransitionUnpatched {
		initial = KLPTransitionPatched
	}
	for _, task := range c.allTasks() {
		c.k.SetPatchState(task, initial)
	}
	// Pairs with the read barrier in klp_ftrace_handler: task states are
	// set before any func is marked in transition.
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			c.setTransition(f, true)
		}
	}
	// The handler may run as soon as the first func is registered.
	if m, ok := c.model.(*patchedSetModel); ok {
		m.build(c)
	}
	c.emit(Event{Kind: EventInit, Patch: p.Name, Target: state})
}

// startTransition is klp_start_transition.
func (c *Core) startTransition(t *kernel.Task) {
	p := c.transitionPatch
	c.log(t, kernNotice, "'%s': starting %s transition\n", p.Name, stateName(c.targetState))
	if c.model.lazy() {
		for _, task := range c.allTasks() {
			if task.PatchState != c.targetState {
				task.TIF |= kernel.TIFPatchPending
			}
		}
	}
	if m, ok := c.model.(*patchedSetModel); ok {
		m.build(c)
	}
	if c.model.switchesAt(SwitchKernelEntry) {
		c.k.SetTrapSyscalls(true)
	}
	c.schedKey = c.model.switchesAt(SwitchSched)
	c.signalsCnt = 0
	if c.checker != nil {
		c.checker.arm()
	}
	c.emit(Event{Kind: EventStart, Patch: p.Name, Target: c.targetState})
}

// Why a task could not switch (klp_try_switch_task's error codes).
var (
	errRunning    = errors.New("is running")              // -EBUSY
	errUnreliable = errors.New("has an unreliable stack") // -EINVAL
)

// sleepingOnError is -EADDRINUSE: a return address inside a function the
// transition changes.
type sleepingOnError struct {
	fn    string
	trace []uint64 // the stack, when an event consumer wants it
}

func (e *sleepingOnError) Error() string { return "is sleeping on function " + e.fn }

// tryCompleteTransition is klp_try_complete_transition. It runs on a task
// (the enabler, a kworker, a sysfs writer) so that post callbacks can run.
func (c *Core) tryCompleteTransition(ctx *kernel.OpCtx) bool {
	p := c.transitionPatch
	if p == nil {
		return true
	}
	if !c.tryCompletePass(ctx.Task) {
		return false
	}
	c.schedKey = false
	c.completeTransition(ctx)
	// The patch is freed after completion, so that a new replace patch's
	// post_patch callbacks can still see the replaced patches' states.
	if !p.Enabled {
		c.freePatch(p, "disabled")
	} else if p.Replace && c.v().FreeReplacedAfterComplete {
		c.freeReplacedPatches(p)
	}
	return true
}

// tryCompletePass is klp_try_complete_transition up to the completion,
// run by cur: every task's stack check and switch, and when some task is
// left, the fake signals every SignalsTimeout passes and the retry a
// second later. It reports whether every task has switched.
func (c *Core) tryCompletePass(cur *kernel.Task) bool {
	complete := true
	for _, task := range c.k.Tasks() {
		if !c.tryToSwitchTask(cur, task, SwitchStackCheck) {
			complete = false
		}
	}
	for cpu, task := range c.k.IdleTasks() {
		if !c.tryToSwitchTask(cur, task, SwitchStackCheck) {
			complete = false
			// Make it run its idle-loop switch point.
			if c.v().WakeUpIfIdle {
				c.k.WakeUpIfIdle(cpu)
			}
		}
	}
	if complete {
		return true
	}
	if c.model.signals() && c.signalsCnt != 0 && c.signalsCnt%SignalsTimeout == 0 {
		c.sendSignals(cur)
	}
	c.signalsCnt++
	// round_jiffies_relative(HZ): about a second from now.
	c.k.QueueDelayedWork(c.work, c.k.Config().HZ)
	c.emit(Event{Kind: EventRetry, Patch: c.transitionPatch.Name, Target: c.targetState, Retry: c.signalsCnt})
	return false
}

// ErrNoTransition: TryCompleteTransitionPass without a transition.
var ErrNoTransition = errors.New("livepatch: no transition is in progress")

// TryCompleteTransitionPass runs one pass of klp_try_complete_transition
// on behalf of task cur, as the transition work does, but stops short of
// completing: it reports whether every task has now switched and leaves
// the completion (klp_complete_transition, whose callbacks are guest
// calls) to the transition work. It is the pass benchmarks time
// (BenchmarkTryCompleteTransition, `klpsim bench transition`).
func (c *Core) TryCompleteTransitionPass(cur *kernel.Task) (bool, error) {
	if c.transitionPatch == nil {
		return false, ErrNoTransition
	}
	return c.tryCompletePass(cur), nil
}

// transitionWorkFn is klp_transition_work_fn, on a kworker: the retry
// holds klp_mutex across the completion and its post callbacks.
func (c *Core) transitionWorkFn(ctx *kernel.OpCtx) uint64 {
	c.lock(ctx)
	if c.transitionPatch != nil {
		c.tryCompleteTransition(ctx)
	}
	c.unlock(ctx)
	return 0
}

// tryToSwitchTask is klp_try_switch_task, run by cur, with its debug
// lines; how says whose check it is (the transition's of every task, or a
// task's own in cond_resched).
func (c *Core) tryToSwitchTask(cur, task *kernel.Task, how SwitchHow) bool {
	if task.PatchState == c.targetState {
		return true
	}
	switched, err := c.model.check(c, cur, task)
	if err == nil {
		task.TIF &^= kernel.TIFPatchPending
		c.k.SetPatchState(task, c.targetState)
		if how == SwitchStackCheck {
			how = switched // the model's own way (null: at once)
		}
		c.emit(Event{Kind: EventSwitched, Patch: c.transitionPatch.Name, Task: task.Comm, PID: task.PID, How: how, Target: c.targetState})
		return true
	}
	ev := Event{Kind: EventBlocked, Patch: c.transitionPatch.Name, Task: task.Comm, PID: task.PID, Target: c.targetState}
	var sl *sleepingOnError
	switch {
	case errors.Is(err, errRunning):
		c.debug(cur, c.dbg.tryRunning, "%s: %s:%d is running\n", "klp_try_switch_task", task.Comm, task.PID)
		ev.Why = BlockedRunning
	case errors.Is(err, errUnreliable):
		c.debug(cur, c.dbg.tryUnreliable, "%s: %s:%d has an unreliable stack\n", "klp_try_switch_task", task.Comm, task.PID)
		ev.Why = BlockedUnreliable
	case errors.As(err, &sl):
		c.debug(cur, c.dbg.trySleeping, "%s: %s:%d is sleeping on function %s\n", "klp_try_switch_task", task.Comm, task.PID, sl.fn)
		ev.Why, ev.Func, ev.Stack = BlockedSleeping, sl.fn, sl.trace
	case errors.Is(err, errNotCrossed):
		ev.Why = BlockedNotCrossed
	default:
		c.debug(cur, c.dbg.tryUnknown, "%s: Unknown error code (%d) when trying to switch %s:%d\n", "klp_try_switch_task", errnoNeg(err), task.Comm, task.PID)
	}
	c.emit(ev)
	return false
}

// checkStack is klp_check_stack: a reliable trace, then every return
// address against the ranges the transition changes.
func (c *Core) checkStack(task *kernel.Task) error {
	var buf [MaxStackEntries]uint64
	n, err := c.k.StackTraceReliable(task, buf[:])
	if err != nil {
		return errUnreliable
	}
	if f, _ := c.blockingFunc(buf[:n]); f != nil {
		e := &sleepingOnError{fn: f.OldName}
		if c.OnEvent != nil {
			e.trace = append([]uint64(nil), buf[:n]...)
		}
		return e
	}
	return nil
}

// blockingFunc is klp_check_stack_func over every func of the transition:
// the first func whose changed code (checkRange) holds one of the return
// addresses in trace, and that address; nil when none does.
func (c *Core) blockingFunc(trace []uint64) (*Func, uint64) {
	for _, o := range c.transitionPatch.Objs {
		if !o.Patched {
			continue
		}
		for _, f := range o.Funcs {
			lo, size := c.checkRange(f)
			for _, a := range trace {
				if a >= lo && a-lo < size {
					return f, a
				}
			}
		}
	}
	return nil, 0
}

// checkRange is the code klp_check_stack_func looks for: when unpatching,
// the replacement being removed; when patching, the code being replaced —
// the original function, or the previous version on the func_stack.
func (c *Core) checkRange(f *Func) (addr, size uint64) {
	if c.targetState == KLPTransitionUnpatched {
		return f.NewFunc, f.NewSize
	}
	ops := c.findOps(f.OldFunc)
	if ops == nil || len(ops.stack) <= 1 {
		return f.OldFunc, f.OldSize
	}
	prev := ops.below(f)
	if prev == nil {
		return f.OldFunc, f.OldSize
	}
	return prev.NewFunc, prev.NewSize
}

// updatePatchState is klp_update_patch_state: the exit-to-user and idle
// switch point.
func (c *Core) updatePatchState(t *kernel.Task) {
	how := SwitchExitToUser
	if t.IsIdle() {
		how = SwitchIdle
	}
	if !c.model.switchesAt(how) {
		return
	}
	c.switchPending(t, how)
}

// switchPending moves a task with TIF_PATCH_PENDING to the target state.
func (c *Core) switchPending(t *kernel.Task, how SwitchHow) {
	if t.TIF&kernel.TIFPatchPending == 0 {
		return
	}
	t.TIF &^= kernel.TIFPatchPending
	c.k.SetPatchState(t, c.targetState)
	if c.transitionPatch != nil {
		c.emit(Event{Kind: EventSwitched, Patch: c.transitionPatch.Name, Task: t.Comm, PID: t.PID, How: how, Target: c.targetState})
	}
}

// schedTrySwitch is klp_sched_try_switch (behind its static key) and
// __klp_sched_try_switch: a task with TIF_PATCH_PENDING passing
// cond_resched runs klp_try_switch_task on itself, debug lines and all.
func (c *Core) schedTrySwitch(t *kernel.Task) {
	if !c.schedKey || t.TIF&kernel.TIFPatchPending == 0 || c.transitionPatch == nil {
		return
	}
	c.tryToSwitchTask(t, t, SwitchSched)
}

// sendSignals is klp_send_signals: kthreads are woken, user tasks get the
// fake signal.
func (c *Core) sendSignals(t *kernel.Task) {
	if c.signalsCnt == SignalsTimeout {
		c.log(t, kernNotice, "signaling remaining tasks\n")
	}
	for _, task := range c.k.Tasks() {
		if task.PatchState == c.targetState {
			continue
		}
		how := "wake_up_state"
		if task.IsKthread() {
			c.k.WakeUpState(task, kernel.TaskInterruptible)
		} else if c.v().NotifySignal {
			c.k.NotifySignal(task)
			how = "set_notify_signal"
		} else {
			c.k.SignalWakeUp(task)
			how = "signal_wake_up"
		}
		c.stats.Signaled++
		c.emit(Event{Kind: EventFakeSignal, Patch: c.transitionPatch.Name, Target: c.targetState, Task: task.Comm, PID: task.PID, Action: how})
	}
	c.emit(Event{Kind: EventSignals, Patch: c.transitionPatch.Name, Target: c.targetState})
}

// reverseTransition is klp_reverse_transition: the patch heads back, no
// callbacks run, tasks already switched must switch again.
func (c *Core) reverseTransition(t *kernel.Task) {
	p := c.transitionPatch
	from := "patching to unpatching"
	if c.targetState == KLPTransitionUnpatched {
		from = "unpatching to patching"
	}
	c.debug(t, c.dbg.reverseTransition, "'%s': reversing transition from %s\n", p.Name, from)
	for _, task := range c.allTasks() {
		task.TIF &^= kernel.TIFPatchPending
	}
	p.Enabled = !p.Enabled
	c.targetState = 1 - c.targetState
	c.emit(Event{Kind: EventReversed, Patch: p.Name, Target: c.targetState})
	c.startTransition(t)
}

// forceTransition is klp_force_transition: every remaining task is
// switched at once, and the patches whose code may still run are pinned.
func (c *Core) forceTransition(t *kernel.Task) {
	c.log(t, kernWarn, "forcing remaining tasks to the patched state\n")
	for _, task := range c.allTasks() {
		c.switchPending(task, SwitchForced)
	}
	p := c.transitionPatch
	if c.targetState == KLPTransitionUnpatched {
		p.Forced = true
	} else if p.Replace {
		for _, x := range c.patches {
			if x != p {
				x.Forced = true
			}
		}
	}
	c.emit(Event{Kind: EventForced, Patch: p.Name, Target: c.targetState})
}

// completeTransition is klp_complete_transition, called as the guest
// function whose body completeTransitionOp is.
func (c *Core) completeTransition(ctx *kernel.OpCtx) { ctx.Call(c.completeTransitionFn) }

// completeTransitionOp is klp_complete_transition's body, on the task that
// called it.
func (c *Core) completeTransitionOp(ctx *kernel.OpCtx) uint64 {
	p := c.transitionPatch
	t := ctx.Task
	c.debug(t, c.dbg.completeTransition, "'%s': completing %s transition\n", p.Name, stateName(c.targetState))
	if p.Replace && c.targetState == KLPTransitionPatched {
		c.unpatchReplacedPatches(p)
		if !c.v().FreeReplacedAfterComplete {
			// v5.1's klp_discard_replaced_patches: freed here, before
			// the new patch's post_patch callbacks run.
			c.freeReplacedPatches(p)
		}
		c.discardNops(p)
		c.releaseObsoleteStates(ctx, p)
	}
	if c.targetState == KLPTransitionUnpatched {
		c.unpatchObjects(p)
	}
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			c.setTransition(f, false)
		}
	}
	// Every task has switched: one still flagged is a bug, reported (once)
	// and left flagged; its next klp_update_patch_state sets it idle.
	for _, task := range c.k.Tasks() {
		c.k.WarnOnce(ctx, &c.warnPending, task.TIF&kernel.TIFPatchPending != 0)
		c.k.SetPatchState(task, KLPTransitionIdle)
	}
	for _, task := range c.k.IdleTasks() {
		c.k.WarnOnce(ctx, &c.warnIdlePending, task.TIF&kernel.TIFPatchPending != 0)
		c.k.SetPatchState(task, KLPTransitionIdle)
	}
	if c.targetState == KLPTransitionPatched {
		c.enableStates(ctx, p)
	} else {
		c.releaseStates(ctx, p)
	}
	for _, o := range p.Objs {
		if !o.IsLoaded() {
			continue
		}
		if c.targetState == KLPTransitionPatched {
			c.postObjectPatch(ctx, o)
		} else {
			c.postObjectUnpatch(ctx, o)
		}
	}
	c.log(t, kernNotice, "'%s': %s complete\n", p.Name, stateName(c.targetState))
	c.emit(Event{Kind: EventComplete, Patch: p.Name, Target: c.targetState})
	c.targetState = KLPTransitionIdle
	c.transitionPatch = nil
	c.syncDirectAll()
	c.k.CancelDelayedWork(c.work)
	c.k.SetTrapSyscalls(false)
	if c.checker != nil {
		c.checker.disarm()
	}
	return 0
}

// cancelTransition is klp_cancel_transition: an enable that failed before
// its transition started is completed as an unpatching.
func (c *Core) cancelTransition(ctx *kernel.OpCtx) {
	if c.targetState != KLPTransitionPatched {
		return
	}
	c.debug(ctx.Task, c.dbg.cancelTransition, "'%s': canceling patching transition, going to unpatch\n", c.transitionPatch.Name)
	c.targetState = KLPTransitionUnpatched
	c.completeTransition(ctx)
}

// unpatchReplacedPatches is klp_unpatch_replaced_patches.
func (c *Core) unpatchReplacedPatches(p *Patch) {
	for _, old := range c.patches {
		if old == p {
			break
		}
		old.Enabled = false
		c.unpatchObjects(old)
	}
}

// discardNops is klp_discard_nops: pop the nops (the last funcs on their
// stacks now) and free them and the dynamic objects.
func (c *Core) discardNops(p *Patch) {
	c.unpatchObjectsDynamic(p)
	var keep []*Object
	for _, o := range p.Objs {
		if o.Dynamic {
			for _, f := range o.Funcs {
				c.emit(Event{Kind: EventDiscardNop, Patch: p.Name, Object: o.DisplayName(), Func: f.OldName, Nop: true, Target: c.targetState})
			}
			c.sysfsRemoveObject(o)
			continue
		}
		var funcs []*Func
		for _, f := range o.Funcs {
			if f.Nop {
				c.sysfsRemoveFunc(f)
				c.emit(Event{Kind: EventDiscardNop, Patch: p.Name, Object: o.DisplayName(), Func: f.OldName, Nop: true, Target: c.targetState})
				continue
			}
			funcs = append(funcs, f)
		}
		o.Funcs = funcs
		keep = append(keep, o)
	}
	p.Objs = keep
}

package kernel

import "klpsim/isa"

// The scheduler: one run queue per CPU, round robin, tasks stay on the CPU
// they were placed on. It is deliberately simple and fully deterministic;
// what matters to livepatch is where tasks sleep and when they run, not
// fairness.

// wakeUp is try_to_wake_up(t, state): a task sleeping in one of the states
// in mask (or TaskRunning to wake from any state but death and stop)
// becomes runnable on its CPU, which is kicked if idle.
func (k *Kernel) wakeUp(t *Task, mask uint32) bool {
	if t.State == TaskDead {
		return false
	}
	if t.State != TaskRunning && mask != TaskRunning && t.State&mask == 0 {
		return false
	}
	if t.State == TaskStopped && mask != TaskStopped {
		return false // only SIGCONT wakes a stopped task
	}
	t.State = TaskRunning
	if t.onCPU || t.queued {
		return true
	}
	c := t.cpu
	c.rq = append(c.rq, t)
	t.queued = true
	if c.curr.IsIdle() {
		c.curr.TIF |= TIFNeedResched
	}
	c.halted = false
	return true
}

// WakeUpIfIdle kicks a CPU out of its idle loop, so that it passes the
// idle loop's livepatch switch point (wake_up_if_idle).
func (k *Kernel) WakeUpIfIdle(cpu int) {
	c := k.cpus[cpu]
	if c.curr.IsIdle() {
		c.curr.TIF |= TIFNeedResched
		c.halted = false
	}
}

// schedule is __schedule() on CPU c: the current task gives up the CPU —
// leaving the run queue if it has set itself to sleep — and the next
// runnable task, or the idle task, takes it. The switch happens between
// two instructions of the guest's schedule(): the old task resumes after
// its vmcall when it is switched back in.
func (k *Kernel) schedule(c *CPU) {
	k.watchdogSched(c)
	prev := c.curr
	if prev.State&TaskFreezable != 0 && prev.TIF&TIFPatchPending != 0 && k.Hooks.SchedTrySwitch != nil {
		// A kthread going to sleep freezably may switch its own patch
		// state here (__schedule's klp_sched_try_switch, 6.x).
		k.Hooks.SchedTrySwitch(prev)
	}
	prev.TIF &^= TIFNeedResched
	var next *Task
	if len(c.rq) > 0 {
		next = c.rq[0]
		c.rq = c.rq[1:]
		next.queued = false
		if prev.State == TaskRunning && !prev.IsIdle() {
			c.rq = append(c.rq, prev) // round robin
			prev.queued = true
		}
	} else if prev.State == TaskRunning {
		return // nothing else to run
	} else {
		next = c.idle
	}
	if next == prev {
		return
	}
	k.switchTo(c, prev, next)
}

// switchTo saves prev's registers and loads next's (context_switch).
func (k *Kernel) switchTo(c *CPU, prev, next *Task) {
	k.save(c, prev)
	prev.onCPU = false
	k.load(c, next)
	k.switches++
	if prev.State == TaskDead {
		k.reap(prev)
	}
}

// needResched reports whether c's current task should give up the CPU.
func (k *Kernel) needResched(c *CPU) bool {
	return c.curr.TIF&TIFNeedResched != 0 || (c.curr.IsIdle() && len(c.rq) > 0)
}

// tick is the scheduler's part of a timer interrupt on c
// (scheduler_tick): with other tasks waiting, the current one should yield.
func (k *Kernel) tick(c *CPU) {
	if len(c.rq) > 0 && !c.curr.IsIdle() {
		c.curr.TIF |= TIFNeedResched
	}
}

// exit is do_exit: the current task of c dies and never runs again.
func (k *Kernel) exit(c *CPU, code int) {
	t := c.curr
	if t.IsIdle() {
		k.bug(c, "attempted to kill the idle task")
		return
	}
	t.Flags |= PFExiting
	t.ExitCode = code
	k.abortOps(t)
	t.State = TaskDead
	k.cancelTimer(t)
	k.schedule(c)
}

// reap frees a dead task once it is off its CPU.
func (k *Kernel) reap(t *Task) {
	delete(k.byPID, t.PID)
	for i, u := range k.tasks {
		if u == t {
			k.tasks = append(k.tasks[:i], k.tasks[i+1:]...)
			break
		}
	}
	k.stacks.release(k.mem, t.stack)
	for _, w := range k.exitWaiters[t] {
		w()
	}
	delete(k.exitWaiters, t)
}

// onExit runs f when t has died and been reaped.
func (k *Kernel) onExit(t *Task, f func()) {
	if k.exitWaiters == nil {
		k.exitWaiters = map[*Task][]func(){}
	}
	k.exitWaiters[t] = append(k.exitWaiters[t], f)
}

// The scheduler's hypercalls.
func init() {
	registerHypercalls(map[int]hypercall{
		hcSchedule: {"HC_SCHEDULE", func(k *Kernel, c *CPU) uint64 {
			k.schedule(c)
			return 0
		}, 0},
		hcSetState: {"HC_SET_STATE", func(k *Kernel, c *CPU) uint64 {
			c.curr.State = uint32(c.emu.R[isa.RDI])
			return 0
		}, 0},
		hcNeedResched: {"HC_NEED_RESCHED", func(k *Kernel, c *CPU) uint64 {
			k.watchdogSched(c) // cond_resched: the stopper would preempt here
			return b2u(k.needResched(c))
		}, hcFast},
		hcSchedTrySwitch: {"HC_SCHED_TRY_SWITCH", func(k *Kernel, c *CPU) uint64 {
			if t := c.curr; k.Hooks.SchedTrySwitch != nil && t.TIF&TIFPatchPending != 0 {
				k.Hooks.SchedTrySwitch(t)
			}
			return 0
		}, hcFast},
		hcIdle: {"HC_IDLE", func(k *Kernel, c *CPU) uint64 {
			return b2u(k.needResched(c))
		}, 0},
		hcTimerIRQ: {"HC_TIMER_IRQ", func(k *Kernel, c *CPU) uint64 {
			k.tick(c)
			if k.cfg.Preempt == PreemptFull {
				k.watchdogSched(c) // the stopper preempts at the interrupt's return
			}
			return b2u(k.cfg.Preempt == PreemptFull && k.needResched(c))
		}, 0},
		hcDoExit: {"HC_DO_EXIT", func(k *Kernel, c *CPU) uint64 {
			k.exit(c, int(c.emu.R[isa.RDI]))
			return 0
		}, 0},
		hcKthreadStart: {"HC_KTHREAD_START", func(k *Kernel, c *CPU) uint64 {
			t := c.curr
			c.emu.R[isa.RDX] = t.threadd
			return t.threadf
		}, 0},
	})
}

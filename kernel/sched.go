package kernel

import (
	"fmt"

	"klpsim/emu"
	"klpsim/isa"
)

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
	if k.schedObs != nil {
		k.schedObs(t, c.ID, SchedRunnable)
	}
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

// kickProcess is kick_process(t): a task running on another CPU gets a
// reschedule IPI, so that it passes the exit to user mode (or the next
// preemption point) soon and sees the work flagged for it.
func (k *Kernel) kickProcess(t *Task) {
	if t.onCPU && t != k.hcTask {
		t.cpu.ipi = true
	}
}

// deliverIPI takes c through asm_sysvec_reschedule_ipi if an IPI is
// pending and its interrupts are on (else the IPI waits, as the APIC
// holds it).
func (k *Kernel) deliverIPI(c *CPU) {
	if !c.ipi || c.emu.RFLAGS()&emu.FlagIF == 0 {
		return
	}
	c.ipi = false
	if c.curr.IsIdle() {
		return // the idle loop wakes for need_resched anyway
	}
	if err := c.emu.Interrupt(k.sym("asm_sysvec_reschedule_ipi"), c.curr.StackTop(), nil); err != nil {
		// As for the timer: a frame that does not fit is a double fault.
		if addr := min(c.emu.R[isa.RSP]&^15, c.curr.stack) - 8; c.emu.CPL == 0 && onStackGuard(c.curr, addr) {
			k.handleStackOverflow(c, addr)
		} else {
			k.panic(c, "", fmt.Sprintf("double fault delivering a reschedule IPI: %v", err))
		}
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
	// No livepatch switch point here: 6.12 switches a task in
	// cond_resched only (klp_sched_try_switch); __schedule's
	// TASK_FREEZABLE one is 6.16's.
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
	} else if prev.State == TaskRunning && prev.migrate == nil {
		return // nothing else to run
	} else {
		next = c.idle
	}
	if next == prev {
		return
	}
	k.switchTo(c, prev, next)
	if prev.migrate != nil {
		k.migrateOut(prev) // SetCPU moved it while it ran
	}
}

// switchTo saves prev's registers and loads next's (context_switch).
func (k *Kernel) switchTo(c *CPU, prev, next *Task) {
	k.save(c, prev)
	prev.onCPU = false
	k.load(c, next)
	k.switches++
	if k.schedObs != nil {
		k.observeSwitch(c, prev, next)
	}
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

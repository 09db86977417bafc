package kernel

import (
	"fmt"
	"strings"

	"klpsim/emu"
)

// The soft-lockup detector (kernel/watchdog.c, Linux 6.12, with
// watchdog_thresh=10 and softlockup_panic=0).
//
// Each CPU has a watchdog hrtimer that fires every sample_period (4 s).
// When it fires it queues softlockup_fn on the CPU's stopper thread — the
// highest-priority task there is, so it runs as soon as the CPU schedules
// at all — unless the previous one has not run yet; softlockup_fn records
// the time (watchdog_touch_ts). The timer then checks how long ago the
// current reporting period began (watchdog_report_ts, set with the touch
// and by each report): past the soft-lockup threshold (2 * watchdog_thresh
// = 20 s) the CPU has run kernel code without scheduling for that long,
// and the timer prints the report. Timestamps are get_timestamp()'s
// units, running_clock() >> 30 (2^30 ns, about 1.07 s), which is why the
// first report of a CPU stuck since just after a touch says 22s, at 24 s.
//
// klpsim keeps the stopper implicit: "the stopper would run now" is any
// point where the CPU would switch to it — a call to schedule(),
// cond_resched(), the exit to user mode, the idle loop, and, on a
// preemptible kernel, the return from the timer interrupt. Such a point
// runs a queued softlockup_fn at once (watchdogSched). The hrtimer is
// checked at the timer tick the kernel already takes (every 4 s is a tick
// boundary); an idle CPU takes no tick, and the expiries it slept through
// are settled when it next takes one: it was idle, so its stopper ran
// right after each of them. Nothing here is per instruction.

// Tunables (kernel/watchdog.c).
const (
	watchdogThresh   = 10                                          // watchdog_thresh, seconds
	numSamplePeriods = 5                                           // NUM_SAMPLE_PERIODS
	softlockupThresh = 2 * watchdogThresh                          // get_softlockup_thresh()
	samplePeriod     = softlockupThresh * (1e9 / numSamplePeriods) // sample_period, ns
)

// watchdogCPU is a CPU's soft-lockup state (watchdog.c's per-CPU
// variables). Owned by the goroutine stepping the machine.
type watchdogCPU struct {
	touchTS  uint64 // watchdog_touch_ts: when softlockup_fn last ran (get_timestamp units)
	reportTS uint64 // watchdog_report_ts: the start of the current reporting period
	hrtimer  uint64 // the expiry of watchdog_hrtimer, simulated ns
	// queued is !completion_done(softlockup_completion): softlockup_fn is
	// queued on the stopper and has not run.
	queued bool
	// schedAt is the last time the CPU passed a point where its stopper
	// would have run.
	schedAt uint64
}

// getTimestamp is get_timestamp(): running_clock() >> 30, about seconds.
func getTimestamp(ns uint64) uint64 { return ns >> 30 }

// watchdogEnable is watchdog_enable(cpu) at boot: the timer starts, the
// timestamps are fresh, no softlockup_fn is pending.
func (k *Kernel) watchdogEnable(c *CPU) {
	c.wd = watchdogCPU{hrtimer: k.now + samplePeriod, schedAt: k.now}
	k.softlockupFn(c)
}

// softlockupFn is softlockup_fn, run by the stopper: update_touch_ts() and
// complete().
func (k *Kernel) softlockupFn(c *CPU) {
	ts := getTimestamp(k.now)
	c.wd.touchTS, c.wd.reportTS, c.wd.queued = ts, ts, false
}

// watchdogSched is a point where CPU c would switch to its stopper thread
// if it had work: a queued softlockup_fn runs.
func (k *Kernel) watchdogSched(c *CPU) {
	if k.stopm.active {
		k.stopperArrive(c)
	}
	c.wd.schedAt = k.now
	if c.wd.queued {
		k.softlockupFn(c)
	}
}

// watchdogTick runs the watchdog hrtimer of CPU c if it has expired: at a
// timer tick, before the tick's interrupt is delivered, so the registers
// are those of the interrupted code (get_irq_regs()).
func (k *Kernel) watchdogTick(c *CPU) {
	w := &c.wd
	for w.hrtimer <= k.now {
		if c.curr.IsIdle() || w.schedAt >= w.hrtimer {
			// The CPU was idle, or scheduled, after this expiry: its stopper
			// ran softlockup_fn right after it.
			ts := getTimestamp(w.hrtimer)
			w.touchTS, w.reportTS, w.queued = ts, ts, false
			w.hrtimer += samplePeriod
			continue
		}
		if c.halted || c.emu.RFLAGS()&emu.FlagIF == 0 {
			return // the hrtimer interrupt waits for interrupts to be on
		}
		k.watchdogTimerFn(c)
		for w.hrtimer <= k.now { // hrtimer_forward_now
			w.hrtimer += samplePeriod
		}
	}
}

// watchdogTimerFn is watchdog_timer_fn on CPU c, busy in the code its
// registers show.
func (k *Kernel) watchdogTimerFn(c *CPU) {
	w := &c.wd
	// Kick the softlockup detector: stop_one_cpu_nowait(softlockup_fn).
	w.queued = true
	now := getTimestamp(k.now)
	duration := isSoftlockup(w.touchTS, w.reportTS, now)
	if duration == 0 {
		return
	}
	w.reportTS = now // update_report_ts(): the next report is a period away
	t := c.curr
	var b strings.Builder
	// The report is printed from the timer interrupt: the printk caller is
	// the CPU, not a task.
	k.Log.Printk(k.now, fmt.Sprintf("C%d", c.ID), fmt.Sprintf("\x010watchdog: BUG: soft lockup - CPU#%d stuck for %ds! [%s:%d]\n",
		c.ID, duration, t.Comm, t.PID))
	b.WriteString(k.printModules())
	k.oopsTail(&b, c, t, c.emu.RIP) // show_regs(regs)
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		k.Log.Printk(k.now, fmt.Sprintf("C%d", c.ID), l+"\n")
	}
	k.addTaint(TaintSoftlockup, false, nil) // add_taint(TAINT_SOFTLOCKUP, LOCKDEP_STILL_OK)
}

// isSoftlockup is is_softlockup(): the seconds since the last touch once
// the reporting period is over, else 0.
func isSoftlockup(touchTS, periodTS, now uint64) uint64 {
	if now > periodTS+softlockupThresh { // time_after
		return now - touchTS
	}
	return 0
}

// printModules is print_modules()'s line: the loaded modules, newest
// first, each with its flags, and the last one unloaded.
func (k *Kernel) printModules() string {
	var b strings.Builder
	b.WriteString("Modules linked in:")
	for _, m := range k.modules.list {
		if m.State == ModuleStateUnformed {
			continue
		}
		b.WriteString(" " + m.Name + moduleFlags(m, true))
	}
	if k.modules.lastUnloaded != "" {
		b.WriteString(" [last unloaded: " + k.modules.lastUnloaded + "]")
	}
	b.WriteString("\n")
	return b.String()
}

// moduleFlags is module_flags(mod, buf, show_state): "(OK+)" and the like.
func moduleFlags(m *Module, showState bool) string {
	if m.taints == 0 && !showState {
		return ""
	}
	if m.taints == 0 && m.State != ModuleStateGoing && m.State != ModuleStateComing {
		return ""
	}
	s := "(" + taintLetters(m.taints)
	switch {
	case m.State == ModuleStateGoing && showState:
		s += "-"
	case m.State == ModuleStateComing && showState:
		s += "+"
	}
	return s + ")"
}

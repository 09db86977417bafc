package kernel

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// Getting the machine's attention from another goroutine. One goroutine
// steps the machine; a signal handler or a progress ticker on another
// only sets a flag, which RunUntil reads between scheduling quanta (never
// per instruction), and the work — stopping, a backtrace, a progress
// snapshot — happens on the stepping goroutine.

// ErrInterrupted is what RunUntil returns once the interrupt flag is set
// (SetInterrupt). The machine is intact, between two quanta.
var ErrInterrupted = errors.New("kernel: interrupted")

// SetInterrupt makes RunUntil stop with ErrInterrupted, between quanta,
// once flag is set (by a SIGINT handler, say). nil removes it.
func (k *Kernel) SetInterrupt(flag *atomic.Bool) { k.intr = flag }

// SetPoll makes RunUntil call f between quanta whenever flag is set; f
// runs on the goroutine stepping the machine, so it may read it (Status).
// RunUntil clears the flag before calling f.
func (k *Kernel) SetPoll(flag *atomic.Bool, f func()) { k.pollFlag, k.pollFn = flag, f }

// attention handles the flags between quanta: it reports whether RunUntil
// must stop (interrupted).
func (k *Kernel) attention() bool {
	if k.pollFlag != nil && k.pollFlag.Load() {
		k.pollFlag.Store(false)
		k.pollFn()
	}
	return k.intr != nil && k.intr.Load()
}

// Status is a snapshot of the machine for a progress display.
type Status struct {
	Now   uint64      // simulated ns since boot
	Insns uint64      // instructions retired so far, all CPUs
	CPUs  []CPUStatus // by CPU number
}

// CPUStatus is what one CPU runs.
type CPUStatus struct {
	Comm string // the current task's comm
	PID  int
	Idle bool   // in the idle task
	Func string // the function it executes (symbol+off/size [mod])
}

// Status returns a snapshot of the machine. Call it on the goroutine that
// steps the machine (from a SetPoll function).
func (k *Kernel) Status() Status {
	s := Status{Now: k.now, Insns: k.insns, CPUs: make([]CPUStatus, len(k.cpus))}
	for i, c := range k.cpus {
		t := c.curr
		s.CPUs[i] = CPUStatus{Comm: t.Comm, PID: t.PID, Idle: t.IsIdle(), Func: k.Syms.Format(k.executing(c))}
	}
	return s
}

// ShowAllCPUs is SysRq-l, "show backtrace of all active CPUs"
// (sysrq_handle_showallcpus, nmi_trigger_cpumask_backtrace and
// nmi_cpu_backtrace): CPU 0 handles the request and shows its own
// registers and stack, then "sends NMIs" to the others, each of which
// shows its own — or, halted in the idle loop, says so. The lines go to
// the kernel log and are returned.
func (k *Kernel) ShowAllCPUs() string {
	var out strings.Builder
	emit := func(caller, msg string) {
		k.Log.Printk(k.now, caller, msg)
		out.WriteString(msg[2:]) // without the KERN_ level
	}
	emit("C0", "\x016sysrq: Show backtrace of all active CPUs\n")
	for _, c := range k.cpus {
		caller := fmt.Sprintf("C%d", c.ID)
		if c.ID == 1 {
			emit("C0", fmt.Sprintf("\x016Sending NMI from CPU 0 to CPUs %s:\n", cpuList(1, len(k.cpus)-1)))
		}
		if c.halted && c.curr.IsIdle() {
			// cpu_in_idle(): an idle CPU is skipped (backtrace_idle=0).
			emit(caller, fmt.Sprintf("\x014NMI backtrace for cpu %d skipped: idling at %s\n", c.ID, k.Syms.Format(c.emu.RIP)))
			continue
		}
		emit(caller, fmt.Sprintf("\x014NMI backtrace for cpu %d\n", c.ID))
		var b strings.Builder
		k.oopsTail(&b, c, c.curr, c.emu.RIP) // show_regs(regs)
		regs := b.String()
		if c.emu.CPL == 3 {
			// show_regs prints no kernel call trace for user-mode registers.
			regs = regs[:strings.Index(regs, "Call Trace:\n")]
		}
		for _, l := range strings.SplitAfter(strings.TrimSuffix(regs, "\n"), "\n") {
			emit(caller, "\x014"+strings.TrimSuffix(l, "\n")+"\n")
		}
	}
	return out.String()
}

// cpuList is %*pbl of the CPUs first..last: "1" or "1-3".
func cpuList(first, last int) string {
	if first == last {
		return fmt.Sprint(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

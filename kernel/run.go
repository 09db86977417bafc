package kernel

import (
	"fmt"

	"klpsim/emu"
	"klpsim/isa"
)

// maxQuantum bounds how far one CPU runs ahead of the others before the
// machine looks at timers and the other CPUs again: 50 µs of simulated
// time. Shorter makes cross-CPU wake-ups prompter; longer runs faster.
const maxQuantum = 50_000

// RunFor runs the machine for d nanoseconds of simulated time.
func (k *Kernel) RunFor(d uint64) error {
	return k.RunUntil(k.now+d, nil)
}

// RunUntil runs the machine until simulated time deadline, or until cond
// (checked between quanta) reports true. It returns an error when a limit
// is reached or the kernel hit a fatal condition; the machine state is then
// still consistent and inspectable.
func (k *Kernel) RunUntil(deadline uint64, cond func() bool) error {
	k.runDepth++
	k.runEpoch++
	defer func() { k.runDepth--; k.runEpoch++ }()
	for k.now < deadline {
		if k.err != nil {
			if k.dbg != nil && k.dbg.rewound() {
				continue
			}
			return k.err
		}
		if k.intr != nil && k.intr.Load() {
			return ErrInterrupted
		}
		if k.dbg != nil {
			k.dbg.maybeCheckpoint()
		}
		if cond != nil && cond() {
			return nil
		}
		k.runTimers()
		end := deadline
		if t, ok := k.nextTimer(); ok && t < end {
			end = t
		}
		if nt := k.nextTick(); nt < end {
			end = nt
		}
		// The quantum's length and the order the CPUs take their turns in
		// come from the seed: different seeds, different interleavings;
		// the same seed, the same history.
		if q := maxQuantum/2 + k.rng.Uint64N(maxQuantum/2+1); end > k.now+q {
			end = k.now + q
		}
		if end <= k.now {
			end = k.now + 1
		}
		busy := false
		start := k.now
		for _, i := range k.cpuOrder() {
			c := k.cpus[i]
			c.quantumInsns = c.emu.Insns
			if k.runCPU(c, end) {
				busy = true
			}
			if k.err != nil {
				break
			}
		}
		if k.err != nil {
			continue // to the loop's top: a rewind, or the end
		}
		if busy {
			k.now = end
		} else {
			// Every CPU is idle: jump to the next event.
			next := deadline
			if t, ok := k.nextTimer(); ok && t < next {
				next = max(t, k.now)
			}
			k.now = max(next, k.now)
		}
		k.accountIdle(k.now - start)
		if len(k.ftrace.tramps.pending) > 0 {
			k.ftraceReap()
		}
		// Before the tick: an interrupted machine shows the code the tick
		// would have interrupted, not the entry of its handler.
		if k.attention() {
			return ErrInterrupted
		}
		if k.now%k.tickNS() == 0 {
			k.timerInterrupts()
		}
	}
	if cond != nil && cond() {
		return nil
	}
	return k.err
}

// accountIdle charges each CPU that ended a quantum of span ns halted
// with the part of it that it did not spend running instructions.
func (k *Kernel) accountIdle(span uint64) {
	for _, c := range k.cpus {
		if !c.halted {
			continue
		}
		ran := (c.emu.Insns - c.quantumInsns) * 1_000_000_000 / k.cfg.ClockHz
		c.idleNS += span - min(span, ran)
	}
}

// cpuOrder is a seeded permutation of the CPUs for one quantum.
func (k *Kernel) cpuOrder() []int {
	if len(k.order) != len(k.cpus) {
		k.order = make([]int, len(k.cpus))
		for i := range k.order {
			k.order[i] = i
		}
	}
	k.rng.Shuffle(len(k.order), func(i, j int) { k.order[i], k.order[j] = k.order[j], k.order[i] })
	return k.order
}

func (k *Kernel) tickNS() uint64 { return 1_000_000_000 / k.cfg.HZ }

// nextTick is the next tick boundary after now.
func (k *Kernel) nextTick() uint64 { return (k.now/k.tickNS() + 1) * k.tickNS() }

// runCPU runs c until simulated time end (or until it halts), handling
// every exit. It reports whether the CPU did any work.
func (k *Kernel) runCPU(c *CPU, end uint64) bool {
	if c.halted || c.stopped {
		return false
	}
	k.deliverIPI(c)
	budget := (end - k.now) * k.cfg.ClockHz / 1_000_000_000
	if budget == 0 {
		budget = 1
	}
	start := c.emu.Insns
	d := k.dbg
	for used := uint64(0); used < budget && !c.halted && !c.stopped && k.err == nil; used = c.emu.Insns - start {
		if k.cfg.MaxInsns != 0 && k.insns >= k.cfg.MaxInsns {
			k.err = fmt.Errorf("kernel: %d instructions: %w (MaxInsns)", k.cfg.MaxInsns, ErrLimit)
			break
		}
		n := budget - used
		if d != nil {
			if d.Interrupt != nil && d.Interrupt.Load() && d.Interrupt.CompareAndSwap(true, false) {
				d.interrupt()
			}
			if d.soon {
				// Raised outside this CPU's run (a timer): stop here.
				d.stop(c, StopRequest, 0)
				if k.err != nil {
					break
				}
			}
			n = d.limit(c, n)
		}
		before := c.emu.Insns
		x := c.emu.Run(n)
		// The counts are kept current so that a stop sees the machine's
		// position exactly; c.curr changes only in the exit's handling.
		k.insns += c.emu.Insns - before
		c.curr.insns += c.emu.Insns - before
		switch x.Reason {
		case emu.ExitBudget:
		case emu.ExitHypercall:
			k.hypercall(c)
		case emu.ExitHlt:
			if !k.needResched(c) {
				c.halted = true
			}
		case emu.ExitSyscall, emu.ExitSysret:
			// The guest's entry code handles both; only a kernel-entry
			// hook (SetTrapSyscalls) wants to know.
			if x.Reason == emu.ExitSyscall && k.Hooks.KernelEntry != nil {
				k.Hooks.KernelEntry(c.curr)
			}
		case emu.ExitException:
			k.exception(c, x.Exc)
		case emu.ExitBreakpoint:
			// Running again executes the instruction: Run does not
			// report the breakpoint it resumes from.
			k.breakpoint(c)
		}
		if d != nil {
			d.after(c, before)
		}
	}
	return true
}

// Step executes one instruction on CPU cpu (or, if it is halted, nothing)
// and handles what it exits for, without moving the clock: the building
// block of single-stepping a task through a call. A vmcall counts as one
// instruction, whatever the host does for it; a breakpoint first reached
// stops the step before its instruction (the next Step executes it).
func (k *Kernel) Step(cpu int) error {
	c := k.cpus[cpu]
	if c.halted || c.stopped || k.err != nil {
		return k.err
	}
	start := c.emu.Insns
	x := c.emu.Run(1)
	k.insns += c.emu.Insns - start
	c.curr.insns += c.emu.Insns - start
	switch x.Reason {
	case emu.ExitSyscall:
		if k.Hooks.KernelEntry != nil {
			k.Hooks.KernelEntry(c.curr)
		}
	case emu.ExitHypercall:
		k.hypercall(c)
	case emu.ExitHlt:
		if !k.needResched(c) {
			c.halted = true
		}
	case emu.ExitException:
		k.exception(c, x.Exc)
	case emu.ExitBreakpoint:
		k.breakpoint(c)
	}
	return k.err
}

// breakpoint reports a breakpoint hit to the hook that set it; an error
// from the hook stops the machine.
func (k *Kernel) breakpoint(c *CPU) {
	if k.Hooks.Breakpoint != nil && k.hookBPs[c.emu.RIP] {
		if err := k.Hooks.Breakpoint(c.curr, c.emu.RIP); err != nil && k.err == nil {
			k.err = &StopError{Err: err}
		}
	}
	if k.dbg != nil && k.err == nil {
		k.dbg.breakpoint(c)
	}
}

// StopError is how a hook's verdict stops the machine: the machine is
// intact (stopped before an instruction), and ClearStop lets it go on.
type StopError struct{ Err error }

func (e *StopError) Error() string { return e.Err.Error() }
func (e *StopError) Unwrap() error { return e.Err }

// ClearStop returns and clears the error that stopped the machine if it
// was a hook's (a *StopError), so that running can continue; any other
// error stays.
func (k *Kernel) ClearStop() error {
	if se, ok := k.err.(*StopError); ok {
		k.err = nil
		return se.Err
	}
	return nil
}

// SetTrapSyscalls makes every system call entry call Hooks.KernelEntry
// (off: no cost on the system call path).
func (k *Kernel) SetTrapSyscalls(on bool) {
	for _, c := range k.cpus {
		c.emu.TrapSyscalls = on
	}
}

// SetBreakpoint stops the machine's CPUs before the instruction at addr
// and reports each hit to Hooks.Breakpoint; ClearBreakpoint removes it.
// A Debugger's breakpoints share the emulator's bit (debug.go).
func (k *Kernel) SetBreakpoint(addr uint64) {
	if k.hookBPs == nil {
		k.hookBPs = map[uint64]bool{}
	}
	k.hookBPs[addr] = true
	k.mem.SetBreakpoint(addr)
}

// ClearBreakpoint removes a breakpoint set with SetBreakpoint.
func (k *Kernel) ClearBreakpoint(addr uint64) {
	delete(k.hookBPs, addr)
	if k.dbg == nil || !k.dbg.bps[addr] {
		k.mem.ClearBreakpoint(addr)
	}
}

// RIP is where CPU cpu executes next.
func (k *Kernel) RIP(cpu int) uint64 { return k.cpus[cpu].emu.RIP }

// CurrentOn is the task on CPU cpu.
func (k *Kernel) CurrentOn(cpu int) *Task { return k.cpus[cpu].curr }

// timerInterrupts delivers the tick to every CPU that is running a task
// with interrupts enabled; idle CPUs sleep through it (NO_HZ).
func (k *Kernel) timerInterrupts() {
	handler := k.sym("asm_sysvec_apic_timer_interrupt")
	for _, c := range k.cpus {
		if c.stopped {
			continue // spinning with interrupts off in its stopper
		}
		if c.wd.hrtimer <= k.now {
			k.watchdogTick(c)
		}
		if c.halted || c.curr.IsIdle() || c.emu.RFLAGS()&emu.FlagIF == 0 {
			continue
		}
		if err := c.emu.Interrupt(handler, c.curr.StackTop(), nil); err != nil {
			// The frame did not fit on the kernel stack: a double fault.
			// The first push that faulted is the highest one below the
			// stack.
			if addr := min(c.emu.R[isa.RSP]&^15, c.curr.stack) - 8; c.emu.CPL == 0 && onStackGuard(c.curr, addr) {
				k.handleStackOverflow(c, addr)
			} else {
				k.panic(c, "", fmt.Sprintf("double fault delivering the timer interrupt: %v", err))
			}
		}
	}
}

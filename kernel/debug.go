package kernel

import (
	"errors"
	"reflect"
	"sync/atomic"

	"klpsim/emu"
)

// The debugger's stop mechanism. A Debugger stops the machine between two
// instructions and lets it go on as if nothing happened: it only splits
// emu.CPU.Run budgets (never a quantum, a tick or the CPUs' order), so a
// run with stops has the same history, instruction for instruction, as
// one without. OnStop is called on the goroutine running the machine and
// may block there until the debugger resumes it.

// StopReason says why the machine stopped; a stop may have several.
type StopReason uint8

// Stop reasons.
const (
	StopStep    StopReason = 1 << iota // the step budget on a CPU ran out
	StopInsns                          // the machine's instruction count reached the target
	StopBreak                          // a debugger breakpoint, before its instruction
	StopWatch                          // a write to a watched range, after the instruction
	StopRequest                        // RequestStop, at the next instruction boundary
)

// Stop is where the machine stopped: CPU cpu is about to execute RIP, and
// the machine has retired Insns instructions.
type Stop struct {
	Reason    StopReason
	CPU       int
	Task      *Task // the task on that CPU
	RIP       uint64
	Insns     uint64
	WatchAddr uint64 // StopWatch: the first watched byte written (or read)
	WatchRead bool   // StopWatch: the hit was a read (WatchRead)
	Why       string // StopRequest: what asked for it
}

// ErrKilled is the error OnStop returns to end the machine (the
// debugger's kill): RunUntil returns it from then on.
var ErrKilled = errors.New("killed by the debugger")

// Debugger is the kernel's side of a debugger. All of its methods are
// called with the machine stopped (from OnStop, or before it runs).
type Debugger struct {
	k *Kernel
	// OnStop is called at every stop; an error ends the machine with it
	// (a *StopError wrapping it).
	OnStop func(Stop) error
	// Interrupt, when set, is the debugger's Ctrl-C: another goroutine
	// sets it, and the machine stops (StopInsns|StopRequest, Why
	// "interrupt") one instruction later, at a point of the history (see
	// interrupt) — looked at once per Run exit, never per instruction.
	Interrupt *atomic.Bool

	stepCPU  int
	stepLeft uint64 // 0: no step budget
	// stepTask, when set, makes the step budget the task's: it counts
	// what stepTask retires, on whichever CPU; stepOn is the CPU running
	// it in the Run under way (limit to after).
	stepTask *Task
	stepOn   *CPU
	// watchRead: the watch hit being reported was a read.
	watchRead bool
	atInsns   uint64 // 0: no target
	soon      bool
	soonWhy   string
	// intr: the user's Ctrl-C is turned into the atInsns stop that follows
	// (see interrupt).
	intr bool
	bps  map[uint64]bool
	// last is the point of the last stop, so that resuming there does not
	// report the breakpoint under it a second time.
	lastCPU   int
	lastInsns uint64
	lastEmu   uint64 // the CPU's own count there
	lastSet   bool
	// Checkpoints (checkpoint.go): how often, who hears of them, what
	// they leave out, the live ones, and the one to rewind to.
	cpEvery, cpNext uint64
	cpOnTake        func(*Checkpoint)
	cpSkip          func(reflect.Type) bool
	cps             []*Checkpoint
	rewind          *Checkpoint
}

// AttachDebugger gives the machine a debugger (one; a second call returns
// the first with OnStop replaced).
func (k *Kernel) AttachDebugger(onStop func(Stop) error) *Debugger {
	if k.dbg == nil {
		k.dbg = &Debugger{k: k, bps: map[uint64]bool{}}
	}
	k.dbg.OnStop = onStop
	return k.dbg
}

// Insns is how many instructions the machine has retired, all CPUs
// together: the machine's position in its history, the same for the same
// scenario and seed.
func (k *Kernel) Insns() uint64 { return k.insns }

// StepCPU stops the machine after CPU cpu retires n more instructions
// (n 0 cancels). The other CPUs run as they would.
func (d *Debugger) StepCPU(cpu int, n uint64) {
	d.stepCPU, d.stepLeft, d.stepTask, d.stepOn = cpu, n, nil, nil
}

// StepTask stops the machine after task t retires n more instructions,
// on whichever CPU runs it (n 0 cancels): gdb's stepi of a thread with
// the scheduler unlocked. The other CPUs and tasks run as they would; a
// task that sleeps is waited for. The stop's CPU is where t ran.
func (d *Debugger) StepTask(t *Task, n uint64) {
	d.StepCPU(0, n)
	if n != 0 {
		d.stepTask = t
	}
}

// StopAtInsns stops the machine when its instruction count (Kernel.Insns)
// reaches n exactly; n at or below the count now cancels.
func (d *Debugger) StopAtInsns(n uint64) {
	if n <= d.k.insns {
		n = 0
	}
	d.atInsns, d.intr = n, false
}

// interrupt turns the user's Ctrl-C into a stop at the next point of the
// history — the first moment the machine's count passes the present one,
// where StopAtInsns stops — rather than here and now, which may be a later
// moment at the same count (idle time passed, timers ran) that a straight
// run to that count would not reproduce. The stop is StopInsns and
// StopRequest, Why "interrupt"; it replaces any count target.
func (d *Debugger) interrupt() {
	d.atInsns, d.intr = d.k.insns+1, true
}

// RequestStop asks for a stop at the next instruction boundary of the
// CPU running now (from an event callback: a transition event, a
// consistency violation).
func (d *Debugger) RequestStop(why string) {
	if !d.soon {
		d.soon, d.soonWhy = true, why
	}
}

// CancelRequest withdraws a RequestStop not yet served (the debugger
// stopped the machine by other means first).
func (d *Debugger) CancelRequest() { d.soon, d.soonWhy = false, "" }

// SetBreakpoint stops the machine before any CPU executes addr. It shares
// the emulator's breakpoint bit with Kernel.SetBreakpoint's owner (the
// consistency checker): each owner sees its own hits.
func (d *Debugger) SetBreakpoint(addr uint64) {
	d.bps[addr] = true
	d.k.mem.SetBreakpoint(addr)
}

// ClearBreakpoint removes a breakpoint set with SetBreakpoint.
func (d *Debugger) ClearBreakpoint(addr uint64) {
	delete(d.bps, addr)
	if !d.k.hookBPs[addr] {
		d.k.mem.ClearBreakpoint(addr)
	}
}

// Watch stops the machine after any write to [addr, addr+n).
func (d *Debugger) Watch(addr, n uint64) error { return d.k.mem.Watch(addr, n) }

// Unwatch removes a watch set with Watch.
func (d *Debugger) Unwatch(addr, n uint64) { d.k.mem.Unwatch(addr, n) }

// SetTaskReg writes general-purpose register r (emu order, 0 to 15) of
// task t: the CPU's while t runs, else the context it will be switched
// back in with (a debugger's `set $rax` on a sleeping thread).
func (d *Debugger) SetTaskReg(t *Task, r emu.Reg, v uint64) {
	if t.onCPU {
		t.cpu.emu.SetReg(r, v)
		return
	}
	t.ctx.r[r] = v
}

// SetTaskRIP moves task t's next instruction to v (gdb's `jump`, `set
// $pc`): the CPU's rip while it runs, else its saved one.
func (d *Debugger) SetTaskRIP(t *Task, v uint64) {
	if t.onCPU {
		t.cpu.emu.RIP = v
		return
	}
	t.ctx.rip = v
}

// WatchRead stops the machine after any guest load from [addr, addr+n)
// (instruction fetches and the host's own reads do not count).
func (d *Debugger) WatchRead(addr, n uint64) error { return d.k.mem.WatchRead(addr, n) }

// UnwatchRead removes a watch set with WatchRead.
func (d *Debugger) UnwatchRead(addr, n uint64) { d.k.mem.UnwatchRead(addr, n) }

// Reg is general-purpose register r of CPU cpu.
func (d *Debugger) Reg(cpu int, r emu.Reg) uint64 { return d.k.cpus[cpu].emu.Reg(r) }

// limit caps the budget of CPU c's next Run at the next step or
// instruction-count stop.
func (d *Debugger) limit(c *CPU, n uint64) uint64 {
	d.stepOn = nil
	if d.stepLeft != 0 && d.stepping(c) {
		n = min(n, d.stepLeft)
		d.stepOn = c
	}
	if d.atInsns > d.k.insns {
		n = min(n, d.atInsns-d.k.insns)
	}
	return n
}

// stepping reports whether CPU c runs what the step budget counts.
func (d *Debugger) stepping(c *CPU) bool {
	if d.stepTask != nil {
		return c.curr == d.stepTask
	}
	return c.ID == d.stepCPU
}

// after runs when CPU c's Run, begun at its instruction count before,
// returned and the kernel handled its exit: it stops when a condition
// hit.
func (d *Debugger) after(c *CPU, before uint64) {
	var why StopReason
	if d.lastSet && d.lastCPU == c.ID && d.lastEmu > before {
		// The machine stopped at the exit (a breakpoint): a step budget
		// set there counts from there.
		before = d.lastEmu
	}
	ran := c.emu.Insns - before
	if d.stepLeft != 0 && d.stepOn == c {
		d.stepLeft -= min(d.stepLeft, ran)
		if d.stepLeft == 0 {
			why |= StopStep
		}
	}
	d.stepOn = nil
	if d.atInsns != 0 && d.k.insns >= d.atInsns {
		d.atInsns = 0
		why |= StopInsns
		if d.intr {
			d.intr = false
			why |= StopRequest
			if d.soon {
				d.soonWhy += ", interrupt"
			} else {
				d.soonWhy = "interrupt"
			}
		}
	}
	var waddr uint64
	wread := d.k.mem.TakeWatchKind()
	if a, hit := d.k.mem.TakeWatchHit(); hit {
		why |= StopWatch
		waddr = a
	}
	if d.soon {
		why |= StopRequest
	}
	if why != 0 {
		d.watchRead = wread && why&StopWatch != 0
		d.stop(c, why, waddr)
	}
}

// stop reports a stop on CPU c to OnStop.
func (d *Debugger) stop(c *CPU, why StopReason, waddr uint64) {
	k := d.k
	if k.err != nil {
		return
	}
	s := Stop{Reason: why, CPU: c.ID, Task: c.curr, RIP: c.emu.RIP, Insns: k.insns, WatchAddr: waddr, WatchRead: d.watchRead}
	d.watchRead = false
	if t := d.stepTask; why&StopStep != 0 && t != nil && c.curr != t {
		// The task's last instruction switched it out (it slept, or
		// exited): the stop is still the task's, at its saved pc.
		s.Task, s.RIP = t, t.ctx.rip
	}
	if why&StopRequest != 0 {
		s.Why = d.soonWhy
		d.soon, d.soonWhy = false, ""
	}
	d.lastCPU, d.lastInsns, d.lastEmu, d.lastSet = c.ID, k.insns, c.emu.Insns, true
	if d.OnStop == nil {
		return
	}
	if err := d.OnStop(s); err != nil && k.err == nil {
		k.err = &StopError{Err: err}
	}
}

// breakpoint reports a debugger breakpoint on CPU c, unless the machine
// stopped at this very point already (a step that ended on it).
func (d *Debugger) breakpoint(c *CPU) {
	if !d.bps[c.emu.RIP] {
		return
	}
	if d.lastSet && d.lastCPU == c.ID && d.lastInsns == d.k.insns {
		return
	}
	d.stop(c, StopBreak, 0)
}

// SetReg sets general-purpose register r of CPU cpu (a remote debugger's
// register write). The history from here is no longer the scenario's.
func (d *Debugger) SetReg(cpu int, r emu.Reg, v uint64) { d.k.cpus[cpu].emu.SetReg(r, v) }

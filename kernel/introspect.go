package kernel

import (
	"klpsim/isa"
	"klpsim/kernel/unwind"
)

// Introspection: read-only views of the stopped machine for the tools
// that explain it (the debugger). Nothing here changes guest or host
// state, logs, or runs guest code.

// Regs is one register file: a CPU's live registers, or the context a
// switched-out task left (struct inactive_task_frame and friends, as
// klpsim saves them).
type Regs struct {
	R            [16]uint64 // rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15 (isa.RAX order)
	RIP, RFLAGS  uint64
	CPL          uint8  // 0 kernel, 3 user (the low bits of cs)
	FSBase       uint64 // fs_base
	GSBase       uint64 // gs_base: the per-CPU area in the kernel
	KernelGSBase uint64 // the swapgs shadow
}

// TaskRegs returns t's registers: the CPU's live ones while t runs (live
// true), else the context saved when it was switched out. The gs base of
// a saved context is the per-CPU area of the CPU it belongs to.
func (k *Kernel) TaskRegs(t *Task) (r Regs, live bool) {
	if t.onCPU {
		return k.CPURegs(t.cpu.ID), true
	}
	c := t.ctx
	r = Regs{R: c.r, RIP: c.rip, RFLAGS: c.rflags, CPL: c.cpl, FSBase: c.fsbase, KernelGSBase: c.kgsbase, GSBase: t.cpu.pcpu}
	return r, false
}

// CPURegs returns CPU cpu's live registers.
func (k *Kernel) CPURegs(cpu int) Regs {
	e := k.cpus[cpu].emu
	var r Regs
	copy(r.R[:], e.R[:16])
	r.RIP, r.RFLAGS, r.CPL = e.RIP, e.RFLAGS(), e.CPL
	r.FSBase, r.GSBase, r.KernelGSBase = e.FSBase, e.GSBase, e.KernelGSBase
	return r
}

// StateChar is the one-letter state ps prints for t, and the name
// /proc/PID/status gives it (fs/proc/array.c task_state_array).
func StateChar(t *Task) (c byte, name string) {
	s := stateString(t)
	return s[0], s[3 : len(s)-1]
}

// Backtrace is the stack of t from its registers (live while it runs,
// saved otherwise), innermost first: the reliable walk's entries when it
// trusts them (unreliable nil), else the best-effort walk's, with why the
// reliable one refused them. The first entry is the ip itself.
func (k *Kernel) Backtrace(t *Task, buf []uint64) (n int, unreliable *unwind.UnreliableError) {
	r, live := k.TaskRegs(t)
	if live && r.CPL == 3 {
		// In user mode: the kernel stack is empty but for the user regs.
		r.RIP, r.R[isa.RSP], r.R[isa.RBP] = 0, t.PtRegs(), 0
	}
	start := unwind.Start{IP: r.RIP, SP: r.R[isa.RSP], BP: r.R[isa.RBP]}
	n, err := unwind.Walk(k.mem, k.text(), k.taskStack(t), start, len(buf), buf)
	if err == nil {
		return n, nil
	}
	ue, _ := err.(*unwind.UnreliableError)
	if ue == nil {
		ue = &unwind.UnreliableError{Reason: unwind.ErrBadFrame, Err: err}
	}
	n, _ = unwind.WalkUnreliable(k.mem, k.text(), k.taskStack(t), start, len(buf), buf)
	return n, ue
}

// schedFunctions are the functions Linux marks __sched (the .sched.text
// section): a task's wait channel is the first frame outside them
// (get_wchan and in_sched_functions).
var schedFunctions = map[string]bool{
	"schedule": true, "schedule_timeout": true, "schedule_timeout_uninterruptible": true,
	"schedule_timeout_interruptible": true, "wait_for_completion": true, "mutex_lock": true,
	"__mutex_lock_slowpath": true, "preempt_schedule_irq": true, "__cond_resched": true,
}

// InSchedFunctions is in_sched_functions(addr): addr is in a __sched
// function.
func (k *Kernel) InSchedFunctions(addr uint64) bool {
	s, _, ok := k.Syms.Lookup(addr)
	return ok && s.Module == "" && schedFunctions[s.Name]
}

// Wchan is where a sleeping task waits: the innermost return addresses of
// its stack outside the scheduler (get_wchan), at most max of them; nil
// while t runs or is runnable.
func (k *Kernel) Wchan(t *Task, max int) []uint64 {
	if t.onCPU || t.State == TaskRunning || t.State == TaskDead {
		return nil
	}
	var buf [unwind.MaxStackEntries]uint64
	ip, sp, bp, _ := t.SavedRegs()
	n, _ := unwind.WalkUnreliable(k.mem, k.text(), k.taskStack(t), unwind.Start{IP: ip, SP: sp, BP: bp}, len(buf), buf[:])
	var out []uint64
	for _, a := range buf[:n] {
		if len(out) == 0 && k.InSchedFunctions(a) {
			continue
		}
		if len(out) == max {
			break
		}
		out = append(out, a)
	}
	return out
}

// FtraceSite is one ftrace record as `info ftrace` shows it.
type FtraceSite struct {
	IP      uint64
	Func    string
	Module  string // "" for vmlinux
	Enabled bool   // the site holds the call (ftrace has it on)
	Ops     []*FtraceOps
}

// FtraceSites lists every fentry site in address order.
func (k *Kernel) FtraceSites() []FtraceSite {
	out := make([]FtraceSite, 0, len(k.ftrace.recs))
	for _, r := range k.ftrace.recs {
		out = append(out, FtraceSite{IP: r.ip, Func: r.fn, Module: r.module, Enabled: r.enabled, Ops: append([]*FtraceOps(nil), r.ops...)})
	}
	return out
}

// FtraceTrampoline is ftrace_regs_caller, what an enabled site calls.
func (k *Kernel) FtraceTrampoline() uint64 { return k.ftrace.trampoline }

// FtraceOpsOwner names the kernel's own users of an ftrace_ops: "function
// tracer" for global_ops, "kprobe" for kprobes' two ops; "" for any other
// (a livepatch's, which livepatch knows).
func (k *Kernel) FtraceOpsOwner(ops *FtraceOps) string {
	switch {
	case ops == &k.tracing.ops:
		return "function tracer"
	case ops == &k.tracing.kprobes.ftraceOps || ops == &k.tracing.kprobes.ipmodifyOps:
		return "kprobe"
	}
	return ""
}

// Registered reports whether ops is registered (register_ftrace_function).
func (ops *FtraceOps) Registered() bool { return ops.registered }

// WorkNextRun is when a work item will next run: its timer's expiry for a
// delayed item, now for one queued (ok false when it is not pending).
func (k *Kernel) WorkNextRun(w *Work) (when uint64, ok bool) {
	if t := k.workq.delayed[w.addr]; t != nil {
		return t.when, true
	}
	if k.WorkPending(w) {
		return k.now, true
	}
	return 0, false
}

// FtraceSiteEnabled reports whether the fentry site at ip holds the call
// to the trampoline (false for the 5-byte nop, or no site at ip).
func (k *Kernel) FtraceSiteEnabled(ip uint64) bool {
	r := k.record(ip)
	return r != nil && r.enabled
}

package kernel

import (
	"errors"
	"fmt"
	"strings"

	"klpsim/kernel/kallsyms"
	"klpsim/kernel/unwind"
)

// Stack traces of tasks: the reliable walk livepatch's stack check uses,
// and the best-effort one behind /proc/PID/stack and oopses.

// kallsymsText answers the unwinder's "is this kernel text, in which
// function" from kallsyms: only function symbols count. A transition
// pass asks it about every return address of every task, and sleeping
// tasks' stacks hold the same few addresses: the answers are remembered
// in a small direct-mapped cache for as long as kallsyms does not change
// (kallsyms.Table.Gen).
type kallsymsText struct {
	t     *kallsyms.Table
	gen   uint64
	cache [256]funcAt
}

// funcAt is one remembered answer: FuncAt(addr) = start, size, ok.
type funcAt struct {
	addr, start, size uint64
	ok, set           bool
}

func (x *kallsymsText) FuncAt(addr uint64) (start, size uint64, ok bool) {
	if g := x.t.Gen(); x.gen != g {
		x.cache, x.gen = [256]funcAt{}, g
	}
	e := &x.cache[(addr^addr>>8)&255]
	if e.set && e.addr == addr {
		return e.start, e.size, e.ok
	}
	if s, _, found := x.t.Lookup(addr); found && s.IsFunc() {
		start, size, ok = s.Addr, s.Size, true
	}
	*e = funcAt{addr: addr, start: start, size: size, ok: ok, set: true}
	return start, size, ok
}

// text is kallsyms as the unwinder reads it (a pointer: no allocation
// per walk).
func (k *Kernel) text() unwind.Text {
	if k.unwindText.t != k.Syms {
		k.unwindText = kallsymsText{t: k.Syms}
	}
	return &k.unwindText
}

func (k *Kernel) taskStack(t *Task) unwind.Stack {
	return unwind.Stack{Base: t.stack, Size: threadSize}
}

// ErrTaskRunning: a task on a CPU cannot have its stack checked by anyone
// but itself.
var ErrTaskRunning = errors.New("task is running")

// StackTraceReliable is stack_trace_save_tsk_reliable: the return
// addresses on a task's stack, innermost first, or an error saying why
// they cannot be trusted (an *unwind.UnreliableError, or ErrTaskRunning).
// buf bounds the entries (livepatch uses 100, MAX_STACK_ENTRIES).
//
// For the current task of a CPU stopped in a hypercall — the task a host
// operation runs on, checking itself as klp_try_switch_task does for
// current — the walk starts from the live registers at its vmcall.
func (k *Kernel) StackTraceReliable(t *Task, buf []uint64) (int, error) {
	ip, sp, bp, ok := t.SavedRegs()
	if !ok {
		if !k.inHypercall(t) {
			return 0, ErrTaskRunning
		}
		e := t.cpu.emu
		ip, sp, bp = e.RIP, e.R[4], e.R[5]
	}
	return unwind.Walk(k.mem, k.text(), k.taskStack(t), unwind.Start{IP: ip, SP: sp, BP: bp}, len(buf), buf)
}

// inHypercall reports whether t is the task whose vmcall the kernel is
// servicing right now.
func (k *Kernel) inHypercall(t *Task) bool { return k.hcTask == t }

// ProcStack renders /proc/PID/stack as Linux does ("[<0>] %pB" per entry:
// the address itself is hidden), empty for a running task.
func (k *Kernel) ProcStack(t *Task) string {
	ip, sp, bp, ok := t.SavedRegs()
	if !ok {
		return ""
	}
	var buf [64]uint64
	n, _ := unwind.WalkUnreliable(k.mem, k.text(), k.taskStack(t), unwind.Start{IP: ip, SP: sp, BP: bp}, len(buf), buf[:])
	var b strings.Builder
	for _, a := range buf[:n] {
		fmt.Fprintf(&b, "[<0>] %s\n", k.Syms.Format(a))
	}
	return b.String()
}

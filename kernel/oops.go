package kernel

import (
	"fmt"
	"strings"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/kernel/unwind"
)

// Guest faults. A fault in user mode kills the task with the signal Linux
// would send; a fault in the kernel is an oops in the log (with the
// faulting address, RIP, registers and the unwound stack) and the task
// dies; the kernel and the host go on.

// Signal numbers (x86-64).
const (
	SIGHUP  = 1
	SIGINT  = 2
	SIGILL  = 4
	SIGTRAP = 5
	SIGFPE  = 8
	SIGKILL = 9
	SIGSEGV = 11
	SIGTERM = 15
	SIGCONT = 18
	SIGSTOP = 19
)

func (k *Kernel) exception(c *CPU, x emu.Exception) {
	if x.RIP < 1<<47 && c.emu.CPL == 3 {
		k.userFault(c, x)
		return
	}
	k.oops(c, x)
}

// userFault is force_sig_fault for a user task: the default action of the
// signal kills it.
func (k *Kernel) userFault(c *CPU, x emu.Exception) {
	t := c.curr
	sig := SIGSEGV
	switch x.Vector {
	case emu.VecUD:
		sig = SIGILL
	case emu.VecDE:
		sig = SIGFPE
	case emu.VecBP:
		sig = SIGTRAP
	}
	if sig == SIGSEGV && x.Vector == emu.VecPF {
		// show_signal_msg: the segfault line.
		k.Log.Printk(k.now, fmt.Sprintf("T%d", t.PID), fmt.Sprintf("\x016%s[%d]: segfault at %x ip %016x sp %016x error %x\n",
			t.Comm, t.PID, x.Addr, x.RIP, c.emu.R[isa.RSP], x.ErrorCode))
	}
	k.killCurrent(c, sig)
}

// killCurrent ends the current task as a fatal signal does. Kernel stacks
// may be unusable after a fault, so the host does the exit.
func (k *Kernel) killCurrent(c *CPU, sig int) {
	c.emu.SetCPL(0) // the task never returns to user mode
	k.exit(c, sig)
}

// oops prints a kernel oops for exception x on c and kills the task.
func (k *Kernel) oops(c *CPU, x emu.Exception) {
	t := c.curr
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	kind := ""
	switch x.Vector {
	case emu.VecPF:
		if x.Addr < emu.PageSize {
			line("BUG: kernel NULL pointer dereference, address: %016x", x.Addr)
		} else {
			line("BUG: unable to handle page fault for address: %016x", x.Addr)
		}
		access := "read"
		switch {
		case x.ErrorCode&emu.PFFetch != 0:
			access = "instruction fetch"
		case x.ErrorCode&emu.PFWrite != 0:
			access = "write"
		}
		line("#PF: supervisor %s access in kernel mode", access)
		why := "not-present page"
		if x.ErrorCode&emu.PFPresent != 0 {
			why = "permissions violation"
		}
		line("#PF: error_code(0x%04x) - %s", x.ErrorCode, why)
		kind = fmt.Sprintf("Oops: %04x", x.ErrorCode)
	case emu.VecUD:
		kind = "invalid opcode: 0000"
	case emu.VecGP:
		kind = "general protection fault: 0000"
	case emu.VecDE:
		kind = "divide error: 0000"
	case emu.VecBP:
		kind = "int3: 0000"
	default:
		kind = fmt.Sprintf("exception %d: 0000", x.Vector)
	}
	k.oopsCount++
	line("%s [#%d] PREEMPT SMP NOPTI", kind, k.oopsCount)
	k.oopsTail(&b, c, t, x.RIP)
	if x.Vector == emu.VecPF {
		line("CR2: %016x", x.Addr)
	}
	line("---[ end trace 0000000000000000 ]---")
	k.logLines(t, "\x014", b.String())
	// page_fault_oops ends with oops_end(..., SIGKILL); die() for the other
	// exceptions with SIGSEGV. The shell reports "Killed" or
	// "Segmentation fault".
	sig := SIGSEGV
	if x.Vector == emu.VecPF {
		sig = SIGKILL
	}
	k.killCurrent(c, sig)
}

// bug is BUG(): an invalid-opcode oops at the caller, printed with why.
func (k *Kernel) bug(c *CPU, why string) {
	t := c.curr
	var b strings.Builder
	fmt.Fprintf(&b, "kernel BUG: %s\n", why)
	k.oopsCount++
	fmt.Fprintf(&b, "invalid opcode: 0000 [#%d] PREEMPT SMP NOPTI\n", k.oopsCount)
	k.oopsTail(&b, c, t, c.emu.RIP)
	fmt.Fprintf(&b, "---[ end trace 0000000000000000 ]---\n")
	k.logLines(t, "\x014", b.String())
	k.killCurrent(c, SIGSEGV)
}

// oopsTail is the part of an oops after its headline: the task, RIP,
// registers and the call trace (show_regs and show_trace_log_lvl).
func (k *Kernel) oopsTail(b *strings.Builder, c *CPU, t *Task, rip uint64) {
	r := &c.emu.R
	fmt.Fprintf(b, "CPU: %d UID: 0 PID: %d Comm: %s Not tainted 6.12.0-klpsim #1\n", c.ID, t.PID, t.Comm)
	fmt.Fprintf(b, "RIP: %04x:%s\n", csOf(c), k.Syms.Format(rip))
	fmt.Fprintf(b, "RSP: %04x:%016x EFLAGS: %08x\n", ssOf(c), r[isa.RSP], c.emu.RFLAGS())
	fmt.Fprintf(b, "RAX: %016x RBX: %016x RCX: %016x\n", r[isa.RAX], r[isa.RBX], r[isa.RCX])
	fmt.Fprintf(b, "RDX: %016x RSI: %016x RDI: %016x\n", r[isa.RDX], r[isa.RSI], r[isa.RDI])
	fmt.Fprintf(b, "RBP: %016x R08: %016x R09: %016x\n", r[isa.RBP], r[isa.R8], r[isa.R9])
	fmt.Fprintf(b, "R10: %016x R11: %016x R12: %016x\n", r[isa.R10], r[isa.R11], r[isa.R12])
	fmt.Fprintf(b, "R13: %016x R14: %016x R15: %016x\n", r[isa.R13], r[isa.R14], r[isa.R15])
	b.WriteString("Call Trace:\n <TASK>\n")
	start := unwind.Start{IP: rip, SP: r[isa.RSP], BP: r[isa.RBP]}
	if _, _, ok := k.text().FuncAt(rip); !ok {
		// A jump or call to a bad address: the caller's return address is
		// on top of the stack, and its frame is intact.
		if ret, err := k.mem.ReadU64(r[isa.RSP]); err == nil {
			start = unwind.Start{IP: ret, SP: r[isa.RSP] + 8, BP: r[isa.RBP]}
		}
	}
	var buf [64]uint64
	n, _ := unwind.WalkUnreliable(k.mem, k.text(), k.taskStack(t), start, len(buf), buf[:])
	for _, a := range buf[:min(n, len(buf))] {
		if a == rip {
			continue
		}
		fmt.Fprintf(b, " %s\n", k.Syms.Format(a))
	}
	b.WriteString(" </TASK>\n")
}

func csOf(c *CPU) int {
	if c.emu.CPL == 3 {
		return emu.UserCS
	}
	return emu.KernelCS
}

func ssOf(c *CPU) int {
	if c.emu.CPL == 3 {
		return emu.UserDS
	}
	return emu.KernelDS
}

// logLines prints a multi-line report, one record per line, at level.
func (k *Kernel) logLines(t *Task, level, text string) {
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		k.Log.Printk(k.now, fmt.Sprintf("T%d", t.PID), level+l+"\n")
	}
}

// BUG() from guest code.
func init() {
	registerHypercalls(map[int]hypercall{
		hcBug: {"HC_BUG", func(k *Kernel, c *CPU) uint64 {
			k.bug(c, "kernel BUG")
			return 0
		}, hcSetsRegs},
	})
}

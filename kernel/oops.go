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

// exception handles a guest exception on c: a fault in user mode is the
// process's, anything else is the kernel's.
func (k *Kernel) exception(c *CPU, x emu.Exception) {
	if c.emu.CPL == 3 {
		k.userFault(c, x)
		return
	}
	if x.Vector == emu.VecPF && c.curr != nil && onStackGuard(c.curr, x.Addr) {
		// The CPU could not push the #PF frame on the overflowed stack
		// either: a double fault, on its IST stack.
		k.handleStackOverflow(c, x.Addr)
		return
	}
	k.oops(c, x)
}

// userFault is an exception taken in user mode: the entry from user mode
// (idtentry's error_entry swapgs), the report the handler prints, and the
// signal (force_sig_fault), whose default action kills the process on its
// way back to user mode.
func (k *Kernel) userFault(c *CPU, x emu.Exception) {
	// Every entry from user mode switches GS to the kernel's per-CPU
	// area, as entry_SYSCALL_64 and the interrupt entry do in guest code.
	// Leaving the user's GS base in place would hand it to the next task
	// on this CPU, whose next syscall would then swapgs it back into
	// KernelGSBase and fault in entry_SYSCALL_64.
	c.emu.GSBase, c.emu.KernelGSBase = c.emu.KernelGSBase, c.emu.GSBase
	c.emu.SetCPL(0)
	t := c.curr
	log := k.taskLog(t)
	ip, sp := x.RIP, c.emu.R[isa.RSP]
	sig := SIGSEGV
	switch x.Vector {
	case emu.VecPF:
		// show_signal_msg (arch/x86/mm/fault.c), at KERN_INFO for pid > 1.
		code := x.ErrorCode | emu.PFUser
		if x.Addr >= taskSizeMax {
			// sanitize_error_code: a user access to a kernel address is
			// always reported as a protection fault.
			code |= emu.PFPresent
		}
		log(fmt.Sprintf("\x016%s[%d]: segfault at %x ip %016x sp %016x error %x%s likely on CPU %d (core %d, socket 0)\n",
			t.Comm, t.PID, x.Addr, ip, sp, code, k.printVMAAddr(t, " in ", ip), c.ID, c.ID))
		log("\x016" + k.showOpcodes(ip) + "\n")
	case emu.VecUD:
		sig = SIGILL
		k.showSignal(t, "trap ", "invalid opcode", ip, sp, 0)
	case emu.VecDE:
		sig = SIGFPE
		k.showSignal(t, "trap ", "divide error", ip, sp, 0)
	case emu.VecGP:
		k.showSignal(t, "", "general protection fault", ip, sp, 0)
	case emu.VecBP:
		sig = SIGTRAP // do_int3_user: send_sigtrap, no message
	}
	k.killCurrent(c, sig)
}

// showSignal is traps.c's show_signal: "traps: comm[pid] trap invalid
// opcode ip:... sp:... error:0 in file[...]".
func (k *Kernel) showSignal(t *Task, typ, desc string, ip, sp, errorCode uint64) {
	k.taskLog(t)(fmt.Sprintf("\x016traps: %s[%d] %s%s ip:%x sp:%x error:%x%s\n",
		t.Comm, t.PID, typ, desc, ip, sp, errorCode, k.printVMAAddr(t, " in ", ip)))
}

// printVMAAddr is print_vma_addr(prefix, ip): the file mapped at ip, the
// offset of ip in it, and the mapping, "prog[offset,start+size]"; nothing
// when ip is in no file mapping.
func (k *Kernel) printVMAAddr(t *Task, prefix string, ip uint64) string {
	if t.mm == nil {
		return ""
	}
	for _, v := range t.mm.vmas {
		if ip >= v.start && ip < v.end {
			return fmt.Sprintf("%s%s[%x,%x+%x]", prefix, t.mm.file, ip-v.start+v.pgoff<<12, v.start, v.end-v.start)
		}
	}
	return ""
}

// Code bytes around the faulting instruction (show_opcodes).
const (
	opcodeBufSize = 64
	prologueSize  = 42
)

// showOpcodes is show_opcodes's line: the 42 bytes before ip, the byte at
// ip in <>, the 21 after; or why they cannot be read.
func (k *Kernel) showOpcodes(ip uint64) string {
	var buf [opcodeBufSize]byte
	if err := k.mem.Read(ip-prologueSize, buf[:]); err != nil {
		return fmt.Sprintf("Code: Unable to access opcode bytes at 0x%x.", ip-prologueSize)
	}
	var b strings.Builder
	b.WriteString("Code:")
	for i, v := range buf {
		if i == prologueSize {
			fmt.Fprintf(&b, " <%02x>", v)
		} else {
			fmt.Fprintf(&b, " %02x", v)
		}
	}
	return b.String()
}

// killCurrent ends the current task as a fatal signal does. Kernel stacks
// may be unusable after a fault, so the host does the exit.
func (k *Kernel) killCurrent(c *CPU, sig int) {
	c.emu.SetCPL(0) // the task never returns to user mode
	k.exit(c, sig)
}

// dieHeader is __die_header: "Oops: 0002 [#1] PREEMPT SMP NOPTI". A
// PREEMPT_DYNAMIC build prints PREEMPT whatever preempt= says.
func (k *Kernel) dieHeader(b *strings.Builder, str string, err uint64) {
	k.oopsCount++
	fmt.Fprintf(b, "%s: %04x [#%d] PREEMPT SMP NOPTI\n", str, err&0xffff, k.oopsCount)
}

// oopsEnd is oops_end: the kernel is tainted D (the first such taint
// turns lock debugging off) and the end marker is printed.
func (k *Kernel) oopsEnd(t *Task, b *strings.Builder) {
	k.logLines(t, "\x014", b.String())
	k.addTaint(TaintDie, true, k.taskLog(t))
	k.taskLog(t)("\x014---[ end trace 0000000000000000 ]---\n")
}

// oops prints a kernel oops for exception x on c and kills the task.
func (k *Kernel) oops(c *CPU, x emu.Exception) {
	t := c.curr
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
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
		k.dieHeader(&b, "Oops", x.ErrorCode)
	case emu.VecUD:
		k.dieHeader(&b, "invalid opcode", 0)
	case emu.VecGP:
		k.dieHeader(&b, "general protection fault", 0)
	case emu.VecDE:
		k.dieHeader(&b, "divide error", 0)
	case emu.VecBP:
		k.dieHeader(&b, "int3", 0)
	default:
		k.dieHeader(&b, fmt.Sprintf("exception %d", x.Vector), 0)
	}
	k.oopsTail(&b, c, t, x.RIP)
	if x.Vector == emu.VecPF {
		line("CR2: %016x", x.Addr)
	}
	k.oopsEnd(t, &b)
	// page_fault_oops ends with oops_end(..., SIGKILL) and make_task_dead;
	// die() for the other exceptions with SIGSEGV. The shell reports
	// "Killed" or "Segmentation fault".
	sig := SIGSEGV
	if x.Vector == emu.VecPF {
		sig = SIGKILL
	}
	k.killCurrent(c, sig)
}

// onStackGuard reports whether addr is in the guard page below t's kernel
// stack (get_stack_guard_info).
func onStackGuard(t *Task, addr uint64) bool {
	return addr < t.stack && addr >= t.stack-emu.PageSize
}

// handleStackOverflow is exc_double_fault's handle_stack_overflow for a
// fault on the guard page below the current task's stack: the BUG line,
// die("stack guard page") and, as the double fault runs in NMI-like
// interrupt context, panic("Fatal exception in interrupt"). The machine
// stops.
func (k *Kernel) handleStackOverflow(c *CPU, addr uint64) {
	t := c.curr
	var b strings.Builder
	cause := fmt.Sprintf("BUG: TASK stack guard page was hit at %016x (stack is %016x..%016x)", addr, t.StackBase(), t.StackTop())
	k.taskLog(t)("\x010" + cause + "\n")
	k.dieHeader(&b, "stack guard page", 0)
	k.oopsTail(&b, c, t, c.emu.RIP)
	k.oopsEnd(t, &b)
	k.panic(c, cause, "Fatal exception in interrupt")
}

// bug is BUG(): an invalid-opcode oops at the caller, printed with why.
func (k *Kernel) bug(c *CPU, why string) {
	t := c.curr
	var b strings.Builder
	fmt.Fprintf(&b, "kernel BUG: %s\n", why)
	k.dieHeader(&b, "invalid opcode", 0)
	k.oopsTail(&b, c, t, c.emu.RIP)
	k.oopsEnd(t, &b)
	k.killCurrent(c, SIGSEGV)
}

// oopsTail is the part of an oops after its headline: the task, RIP,
// registers and the call trace (show_regs and show_trace_log_lvl).
func (k *Kernel) oopsTail(b *strings.Builder, c *CPU, t *Task, rip uint64) {
	r := &c.emu.R
	// dump_stack_print_info: print_tainted() in the header, and the set
	// flags by name on a line of their own.
	fmt.Fprintf(b, "CPU: %d UID: 0 PID: %d Comm: %s %s 6.12.0-klpsim #1\n", c.ID, t.PID, t.Comm, k.printTainted())
	if k.Tainted() != 0 {
		fmt.Fprintf(b, "%s\n", k.printTaintedVerbose())
	}
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

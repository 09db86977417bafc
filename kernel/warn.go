package kernel

import (
	"fmt"
	"strings"

	"klpsim/isa"
)

// WARN() for kernel code written in Go (kernel/panic.c __warn): the
// splat Linux prints when a WARN_ON fires, with the taint it leaves.

// WarnSite is one WARN_ON_ONCE call site: the C source line it stands for
// and its __already_done flag.
type WarnSite struct {
	File string // the C file, as __FILE__: "kernel/livepatch/transition.c"
	Line int
	done bool
}

// WarnOnce is WARN_ON_ONCE(cond) at site: the first time cond holds it
// prints the splat (see Warn) and later times nothing. It returns cond.
func (k *Kernel) WarnOnce(ctx *OpCtx, site *WarnSite, cond bool) bool {
	if cond && !site.done {
		site.done = true
		k.Warn(ctx, site.File, site.Line, "")
	}
	return cond
}

// Warn is WARN(1, msg) in a host operation running on ctx.Task: it prints
// __warn's splat and taints the kernel with TAINT_WARN.
//
//	------------[ cut here ]------------
//	MSG (if not empty)
//	WARNING: CPU: N PID: P at FILE:LINE FUNC+0xOFF/0xSIZE
//	Modules linked in: MOD(FLAGS) ...
//	CPU: N UID: 0 PID: P Comm: COMM ...        (the oops header)
//	RIP: 0010:FUNC+0xOFF/0xSIZE, the registers, the call trace
//	---[ end trace 0000000000000000 ]---
//
// FUNC is the guest function whose body the operation is: the caller of
// kernel_op, where the operation returns to (a host operation has no
// frame of its own); the trace starts there.
func (k *Kernel) Warn(ctx *OpCtx, file string, line int, msg string) {
	t := ctx.Task
	c := t.cpu
	r := &c.emu.R
	// kernel_op's frame: [rbp] the caller's rbp, [rbp+8] the return address.
	// The splat shows the caller's frame as it is at that return address
	// (where its WARN's ud2 would be), not kernel_op's; the CPU's own
	// registers are put back after.
	rip, _ := k.mem.ReadU64(r[isa.RBP] + 8)
	callerBP, _ := k.mem.ReadU64(r[isa.RBP])
	savedSP, savedBP := r[isa.RSP], r[isa.RBP]
	r[isa.RSP], r[isa.RBP] = savedBP+16, callerBP
	defer func() { r[isa.RSP], r[isa.RBP] = savedSP, savedBP }()
	var b strings.Builder
	b.WriteString("------------[ cut here ]------------\n")
	if msg != "" {
		b.WriteString(strings.TrimSuffix(msg, "\n") + "\n")
	}
	fmt.Fprintf(&b, "WARNING: CPU: %d PID: %d at %s:%d %s\n", c.ID, t.PID, file, line, k.Syms.Format(rip))
	b.WriteString(k.printModules())
	k.oopsTail(&b, c, t, rip)
	b.WriteString("---[ end trace 0000000000000000 ]---\n")
	k.logLines(t, "\x014", b.String())
	k.addTaint(TaintWarn, false, nil) // add_taint(TAINT_WARN, LOCKDEP_STILL_OK)
}

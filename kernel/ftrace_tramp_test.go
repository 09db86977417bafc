package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// redirectHandlerSrc is a guest ftrace handler that sends every call to
// meminfo_proc_show (regs->ip = op->private) and counts its calls.
const redirectHandlerSrc = `
	.globl redirect_handler
	.type redirect_handler, @function
redirect_handler:
	mov rax, qword ptr [rdx + 24]
	mov qword ptr [rcx + PT_IP], rax
	inc qword ptr [rdx + 32]
	ret
	.size redirect_handler, .-redirect_handler
`

// newGuestOps builds a guest ftrace_ops { func, next, flags, private,
// calls } whose handler is redirect_handler.
func newGuestOps(t *testing.T, k *Kernel, flags FtraceFlags) *FtraceOps {
	t.Helper()
	handler := testSym(t, k, "redirect_handler")
	addr, err := k.Kmalloc(40)
	if err != nil {
		t.Fatal(err)
	}
	var b [40]byte
	binary.LittleEndian.PutUint64(b[0:], handler)
	binary.LittleEndian.PutUint64(b[16:], uint64(flags))
	binary.LittleEndian.PutUint64(b[24:], k.sym("meminfo_proc_show"))
	if err := k.mem.Write(addr, b[:]); err != nil {
		t.Fatal(err)
	}
	ops := &FtraceOps{Flags: flags}
	ops.SetGuest(handler, addr)
	return ops
}

func siteTarget(t *testing.T, k *Kernel, ip uint64) uint64 {
	t.Helper()
	b := siteBytes(t, k, ip)
	if b[0] != 0xe8 {
		t.Fatalf("site %#x: % x, not a call", ip, b)
	}
	return ip + 5 + uint64(int64(int32(binary.LittleEndian.Uint32(b[1:]))))
}

func procKallsyms(t *testing.T, k *Kernel) string {
	var b bytes.Buffer
	if err := k.Syms.WriteProcKallsyms(&b, true); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A guest ops alone on a site gets its own trampoline under the designs
// that have them: the site calls it, it calls the handler (or, in v5.1's
// design, ftrace_ops_assist_func), and the handler's redirect works; a
// second ops on the site sends it back to the shared trampoline; a
// dynamic ops' trampoline leaves kallsyms with it, and its page is
// unmapped once no task can be in it.
func TestFtracePerOpsTrampoline(t *testing.T) {
	for _, design := range FtraceDesigns() {
		t.Run(design, func(t *testing.T) {
			d, _ := LookupFtraceDesign(design)
			k := boot(t, Config{CPUs: 2, Ftrace: design})
			loadTestCode(t, k, redirectHandlerSrc)
			cmdline := k.sym("cmdline_proc_show")
			ops := newGuestOps(t, k, FtraceDynamic|FtraceIPModify)
			if err := k.FtraceSetFilterIP(ops, cmdline, false); err != nil {
				t.Fatal(err)
			}
			if err := k.RegisterFtraceFunction(ops); err != nil {
				t.Fatal(err)
			}
			tramp := ops.Trampoline()
			target := siteTarget(t, k, cmdline)
			line := fmt.Sprintf("%016x t ftrace_trampoline\t[__builtin__ftrace]\n", tramp)
			switch {
			case !d.PerOpsTrampolines:
				if tramp != 0 || target != k.sym("ftrace_regs_caller") {
					t.Fatalf("trampoline %#x, site calls %s; want none, ftrace_regs_caller", tramp, k.Syms.Format(target))
				}
			default:
				if tramp == 0 || target != tramp {
					t.Fatalf("trampoline %#x, site calls %#x", tramp, target)
				}
				// The copy ends with ret, then the ops' address; its call
				// goes to the handler or the assist function.
				size := k.sym("ftrace_caller_end") - k.sym("ftrace_caller")
				var tail [16]byte
				if err := k.mem.Read(tramp+size, tail[:]); err != nil {
					t.Fatal(err)
				}
				ptr := (size+1+7)&^7 - size
				if tail[0] != 0xc3 || binary.LittleEndian.Uint64(tail[ptr:]) != ops.guestOps {
					t.Errorf("trampoline tail % x: want ret, then the ops %#x", tail, ops.guestOps)
				}
				callAt := tramp + k.sym("ftrace_call") - k.sym("ftrace_caller")
				want := testSym(t, k, "redirect_handler")
				if d.AssistFunc {
					want = k.sym("ftrace_ops_assist_func")
				}
				if got := siteTarget(t, k, callAt); got != want {
					t.Errorf("the copy calls %s, want %s", k.Syms.Format(got), k.Syms.Format(want))
				}
				if in := strings.Contains(procKallsyms(t, k), line); in != d.TrampolineKallsyms {
					t.Errorf("/proc/kallsyms has %q: %v, want %v", line, in, d.TrampolineKallsyms)
				}
			}
			out, err := k.ReadShow("cat", cmdline, 1e9)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(out, "MemTotal:") || k.opsCalls(t, ops) != 1 {
				t.Errorf("redirected read: %q after %d handler calls", out, k.opsCalls(t, ops))
			}

			// A host ops joins: the shared trampoline, ftrace_caller when
			// no ops wants pt_regs and the design allows it.
			host := &FtraceOps{Func: func(uint64, uint64, *FtraceOps, uint64) {}}
			if err := k.FtraceSetFilterIP(host, cmdline, false); err != nil {
				t.Fatal(err)
			}
			if err := k.RegisterFtraceFunction(host); err != nil {
				t.Fatal(err)
			}
			shared := k.sym("ftrace_caller")
			if d.RegsCallerOnly {
				shared = k.sym("ftrace_regs_caller")
			}
			if got := siteTarget(t, k, cmdline); got != shared {
				t.Errorf("two ops: site calls %s, want %s", k.Syms.Format(got), k.Syms.Format(shared))
			}
			if out, _ := k.ReadShow("cat", cmdline, 1e9); !strings.HasPrefix(out, "MemTotal:") {
				t.Errorf("redirect through the shared trampoline: %q", out)
			}
			if err := k.UnregisterFtraceFunction(host); err != nil {
				t.Fatal(err)
			}
			if got := siteTarget(t, k, cmdline); got != target {
				t.Errorf("one ops again: site calls %#x, want %#x", got, target)
			}

			if err := k.UnregisterFtraceFunction(ops); err != nil {
				t.Fatal(err)
			}
			if ops.Trampoline() != 0 || strings.Contains(procKallsyms(t, k), "ftrace_trampoline") {
				t.Error("the dynamic ops' trampoline outlived it")
			}
			if tramp != 0 {
				if _, mapped := k.mem.PermAt(tramp); !mapped {
					t.Error("trampoline unmapped before the machine ran on")
				}
				k.RunFor(1e6)
				if _, mapped := k.mem.PermAt(tramp); mapped {
					t.Error("trampoline page still mapped once no task can be in it")
				}
			}
		})
	}
}

// A static ops (kprobes') keeps its trampoline across registrations, as
// Linux keeps a non-dynamic ops' one.
func TestFtraceStaticOpsKeepsTrampoline(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, redirectHandlerSrc)
	cmdline := k.sym("cmdline_proc_show")
	ops := newGuestOps(t, k, FtraceSaveRegs)
	if err := k.FtraceSetFilterIP(ops, cmdline, false); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	tramp := ops.Trampoline()
	// SAVE_REGS: a copy of ftrace_regs_caller.
	var first [1]byte
	if err := k.mem.Read(tramp, first[:]); err != nil || first[0] != 0x9c {
		t.Fatalf("trampoline starts % x (%v), want pushfq", first, err)
	}
	if err := k.UnregisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if ops.Trampoline() != tramp || siteTarget(t, k, cmdline) != tramp {
		t.Errorf("re-registered: trampoline %#x, site %#x; want the same %#x", ops.Trampoline(), siteTarget(t, k, cmdline), tramp)
	}
}

func (k *Kernel) opsCalls(t *testing.T, ops *FtraceOps) uint64 {
	v, err := k.mem.ReadU64(ops.guestOps + 32)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFtraceDesignLookup(t *testing.T) {
	if got := fmt.Sprint(FtraceDesigns()); got != "[args regs list direct]" {
		t.Errorf("designs %s, want the default (args) first", got)
	}
	if d, err := LookupFtraceDesign(""); err != nil || d.Name != DefaultFtrace {
		t.Errorf("default design %v, %v", d, err)
	}
	_, err := Boot(Config{Ftrace: "ops"})
	if err == nil || err.Error() != `kernel: unknown ftrace design "ops": expected args, regs, list, direct` {
		t.Errorf("Boot with an unknown design: %v", err)
	}
}

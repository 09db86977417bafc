package kernel

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"klpsim/isa/obj"
	"klpsim/kernel/errno"
)

func siteBytes(t *testing.T, k *Kernel, ip uint64) []byte {
	t.Helper()
	b := make([]byte, 5)
	if err := k.mem.Read(ip, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// An IPMODIFY ftrace_ops that sets regs->ip redirects the call at
// instruction level: the fentry nop becomes a call to ftrace_regs_caller,
// the handler rewrites the saved ip, and the trampoline's ret lands in the
// other function, which returns to the original caller. This is the
// mechanism livepatch's klp_ftrace_handler uses.
func TestFtraceRedirect(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	cmdline, meminfo := k.sym("cmdline_proc_show"), k.sym("meminfo_proc_show")
	var calls int
	var gotParent uint64
	ops := &FtraceOps{Flags: FtraceSaveRegs | FtraceIPModify, Func: func(ip, parent uint64, ops *FtraceOps, regs uint64) {
		calls++
		gotParent = parent
		if ip != cmdline || k.RegsIP(regs) != cmdline+5 {
			t.Errorf("handler: ip %#x regs->ip %#x", ip, k.RegsIP(regs))
		}
		k.SetRegsIP(regs, meminfo)
	}}
	if err := k.FtraceSetFilterIP(ops, cmdline, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(siteBytes(t, k, cmdline), obj.Nop5[:]) {
		t.Fatal("site changed before the ops was registered")
	}
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if b := siteBytes(t, k, cmdline); b[0] != 0xe8 {
		t.Fatalf("site after register: % x, want a call", b)
	}
	out, err := k.ReadShow("cat", cmdline, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "MemTotal:") || calls != 1 {
		t.Errorf("redirected read: %q after %d handler calls", out, calls)
	}
	if name := k.Syms.Name(gotParent); name != "seq_read" {
		t.Errorf("parent ip in %s, want seq_read", name)
	}

	// A second IPMODIFY user of the function is refused.
	other := &FtraceOps{Flags: FtraceIPModify, Func: func(uint64, uint64, *FtraceOps, uint64) {}}
	k.FtraceSetFilterIP(other, cmdline, false)
	if err := k.RegisterFtraceFunction(other); !errors.Is(err, errno.EBUSY) {
		t.Errorf("second IPMODIFY register: %v, want EBUSY", err)
	}

	if err := k.UnregisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(siteBytes(t, k, cmdline), obj.Nop5[:]) {
		t.Fatal("site not restored to the nop")
	}
	out, _ = k.ReadShow("cat", cmdline, 1e9)
	if !strings.HasPrefix(out, "BOOT_IMAGE=") || calls != 1 {
		t.Errorf("after unregister: %q, %d calls", out, calls)
	}
}

// kernel.ftrace_enabled: 0 turns every site back into a nop, and cannot be
// set while a PERMANENT ops is registered (livepatch's).
func TestFtraceEnabledSysctl(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	ip := k.sym("schedule")
	calls := 0
	ops := &FtraceOps{Flags: FtracePermanent, Func: func(uint64, uint64, *FtraceOps, uint64) { calls++ }}
	k.FtraceSetFilterIP(ops, ip, false)
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if err := k.SetFtraceEnabled(false); !errors.Is(err, errno.EBUSY) {
		t.Errorf("ftrace_enabled=0 with a PERMANENT ops: %v, want EBUSY", err)
	}
	k.UnregisterFtraceFunction(ops)
	if err := k.SetFtraceEnabled(false); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterFtraceFunction(ops); !errors.Is(err, errno.EBUSY) {
		t.Errorf("registering a PERMANENT ops with ftrace disabled: %v, want EBUSY", err)
	}
	plain := &FtraceOps{Func: func(uint64, uint64, *FtraceOps, uint64) { calls++ }}
	k.FtraceSetFilterIP(plain, ip, false)
	if err := k.RegisterFtraceFunction(plain); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(siteBytes(t, k, ip), obj.Nop5[:]) {
		t.Error("a site was enabled while ftrace_enabled = 0")
	}
	k.RunFor(1e8)
	if calls != 0 {
		t.Errorf("%d handler calls with ftrace disabled", calls)
	}
	k.SetFtraceEnabled(true)
	k.ReadShow("cat", k.sym("cmdline_proc_show"), 1e9) // the reader's exit schedules
	if calls == 0 {
		t.Error("no handler call after ftrace_enabled = 1")
	}
}

func TestFtraceFilterNeedsLocation(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	ops := &FtraceOps{Func: func(uint64, uint64, *FtraceOps, uint64) {}}
	if err := k.FtraceSetFilterIP(ops, k.sym("schedule")+1, false); !errors.Is(err, errno.EINVAL) {
		t.Errorf("filter on a non-site: %v, want EINVAL", err)
	}
	if err := k.FtraceSetFilterIP(ops, k.sym("ftrace_regs_caller"), false); !errors.Is(err, errno.EINVAL) {
		t.Errorf("filter on notrace code: %v, want EINVAL", err)
	}
}

// The redirect, one instruction at a time: the caller's call lands on the
// poked site, the site calls ftrace_regs_caller, the trampoline saves the
// registers and calls ftrace_ops_list_func, whose vmcall runs the handler
// on the host, and the trampoline's ret lands at the start of the new
// function — which returns to the original caller, seq_read.
func TestFtraceRedirectInstructionByInstruction(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	cmdline, meminfo := k.sym("cmdline_proc_show"), k.sym("meminfo_proc_show")
	handled := 0
	ops := &FtraceOps{Flags: FtraceSaveRegs | FtraceIPModify, Func: func(ip, parent uint64, ops *FtraceOps, regs uint64) {
		handled++
		k.SetRegsIP(regs, meminfo)
	}}
	k.FtraceSetFilterIP(ops, cmdline, false)
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	m, _ := k.kmalloc(seqFileSize)
	k.mem.WriteU64(m+seqFileShow, cmdline)
	k.seqOut = seqOutput{m: &strings.Builder{}}
	if _, err := k.createKthread("cat", k.sym("proc_reader"), m, nil); err != nil {
		t.Fatal(err)
	}
	step := func() {
		if err := k.Step(0); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; k.RIP(0) != cmdline; i++ {
		if i > 10000 {
			t.Fatal("the reader never reached cmdline_proc_show")
		}
		step()
	}
	ret, _ := k.mem.ReadU64(k.cpus[0].emu.R[4]) // the caller's return address
	var path []string
	for k.RIP(0) < meminfo || k.RIP(0) >= meminfo+0x40 {
		name := k.Syms.Name(k.RIP(0))
		if len(path) == 0 || path[len(path)-1] != name {
			path = append(path, name)
		}
		if len(path) > 10 {
			t.Fatalf("lost: %v", path)
		}
		step()
	}
	want := "cmdline_proc_show ftrace_regs_caller ftrace_ops_list_func ftrace_regs_caller"
	if strings.Join(path, " ") != want || handled != 1 || k.RIP(0) != meminfo {
		t.Errorf("path %v, handler ran %d times, landed at %s; want %s, then meminfo_proc_show+0x0",
			path, handled, k.Syms.Format(k.RIP(0)), want)
	}
	// The new function runs with the caller's return address on top of the
	// stack: it will return straight to seq_read.
	if top, _ := k.mem.ReadU64(k.cpus[0].emu.R[4]); top != ret || k.Syms.Name(ret) != "seq_read" {
		t.Errorf("return address %s, want the call site in seq_read (%s)", k.Syms.Format(top), k.Syms.Format(ret))
	}
	k.RunFor(1e6)
	if out := k.seqOut[m].String(); !strings.HasPrefix(out, "MemTotal:") {
		t.Errorf("output %q", out)
	}
}

// A module's addresses leave the ops' filters when it is unloaded
// (clear_mod_from_hashes): the next module placed there is not traced by
// someone else's leftover filter.
func TestFtraceFilterForgetsUnloadedModule(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "first", InTree: true}, gfn("first_fn", ""))
	addModule(t, k, ModuleSpec{Name: "second", InTree: true}, gfn("second_fn", ""))
	if err := k.Insmod("first", ""); err != nil {
		t.Fatal(err)
	}
	ip, _ := k.FindModule("first").ModuleSym("first_fn")
	calls := 0
	ops := &FtraceOps{Func: func(uint64, uint64, *FtraceOps, uint64) { calls++ }}
	if err := k.FtraceSetFilterIP(ops, ip, false); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if err := k.Rmmod("first"); err != nil {
		t.Fatal(err)
	}
	if err := k.Insmod("second", ""); err != nil {
		t.Fatal(err)
	}
	if ip2, _ := k.FindModule("second").ModuleSym("second_fn"); ip2 != ip {
		t.Skip("the second module was not placed where the first was")
	}
	if ops.filter[ip] {
		t.Error("the unloaded module's address is still in the filter")
	}
	if _, err := k.RunOnTask("caller", func(ctx *OpCtx) uint64 { return ctx.Call(ip) }, 1e9); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("second_fn was traced %d times by a filter set for first_fn", calls)
	}
}

package livepatch

import (
	"encoding/binary"
	"testing"

	"klpsim/kernel"
)

// siteInsn decodes a fentry site: "nop", or "call"/"jmp" and the target.
func siteInsn(t *testing.T, k *kernel.Kernel, ip uint64) (string, uint64) {
	t.Helper()
	b := make([]byte, 5)
	if err := k.Memory().Read(ip, b); err != nil {
		t.Fatal(err)
	}
	to := ip + 5 + uint64(int64(int32(binary.LittleEndian.Uint32(b[1:]))))
	switch b[0] {
	case 0xe8:
		return "call", to
	case 0xe9:
		return "jmp", to
	}
	return "nop", 0
}

// The direct design's steady state: after a transition completes, a site
// with one func and no other ftrace user jumps straight to the new
// function, and a call runs it without trampoline or handler; the next
// transition sends the site back to its trampoline first, and a second
// func on the stack keeps it there.
func TestDirectJump(t *testing.T) {
	k, c := tkMachine(t, kernel.Config{CPUs: 2, ClockHz: 100e6, Ftrace: "direct"})
	tkTarget(t, k)
	site := tkSym(t, k, "__x64_sys_getpid")
	tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
	tkAddLP(t, k, "test_klp_h2", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}},
		tkObj{name: "test_klp_target", funcs: []tkFunc{{old: "target_sleep_fn"}}})
	// On an idle machine the transition completes at once; then the
	// caller.
	tkLoadLP(t, k, "test_klp_h1", "")
	h, err := k.SpawnUser("call_getpid", tkUserProg(t, tkHammer))
	if err != nil {
		t.Fatal(err)
	}
	new1 := tkModSym(t, k, "test_klp_h1", tkNewName(0, "__x64_sys_getpid"))
	if kind, to := siteInsn(t, k, site); kind != "jmp" || to != new1 {
		t.Fatalf("after the transition: site is %s %#x, want jmp %#x", kind, to, new1)
	}
	got, path := tkStepCall(t, k, h)
	if got != new1 || path != "__x64_sys_getpid" || tkHotInsns != 1 {
		t.Errorf("direct call: landed at %s via %q in %d instructions", k.Syms.Format(got), path, tkHotInsns)
	}

	// The next transition: back to the trampoline before any task
	// switches, and the handler chooses per task.
	tkStallWith(t, k, "test_klp_h2", "")
	if kind, to := siteInsn(t, k, site); kind != "call" || !k.IsFtraceTrampoline(to) {
		t.Errorf("in transition: site is %s %#x, want a call of a trampoline", kind, to)
	}
	if err := c.MirrorCheck(); err != nil {
		t.Fatal(err)
	}
	if !tkRunUntil(t, k, 1e9, func() bool { return h.Running() }) {
		t.Fatal("the hammer never runs")
	}
	k.SetPatchState(h, KLPTransitionUnpatched)
	h.TIF &^= kernel.TIFPatchPending
	if got, _ := tkStepCall(t, k, h); got != new1 {
		t.Errorf("unpatched task in transition: landed at %s, want test_klp_h1's", k.Syms.Format(got))
	}
}

// A second ftrace user on the site takes the jump away; when it leaves,
// the jump comes back.
func TestDirectJumpSharedSite(t *testing.T) {
	k, _ := tkMachine(t, kernel.Config{CPUs: 2, ClockHz: 100e6, Ftrace: "direct"})
	site := tkSym(t, k, "__x64_sys_getpid")
	tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
	tkLoadLP(t, k, "test_klp_h1", "")
	if kind, _ := siteInsn(t, k, site); kind != "jmp" {
		t.Fatalf("site is %s, want jmp", kind)
	}
	ops := &kernel.FtraceOps{Func: func(uint64, uint64, *kernel.FtraceOps, uint64) {}}
	if err := k.FtraceSetFilterIP(ops, site, false); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if kind, to := siteInsn(t, k, site); kind != "call" || to != tkSym(t, k, "ftrace_caller") {
		t.Errorf("shared site is %s %#x, want call ftrace_caller", kind, to)
	}
	if err := k.UnregisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if kind, _ := siteInsn(t, k, site); kind != "jmp" {
		t.Errorf("site is %s once alone again, want jmp", kind)
	}
	// Other designs never jump.
	k2, _ := tkMachine(t, kernel.Config{CPUs: 2, ClockHz: 100e6})
	tkAddLP(t, k2, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
	tkLoadLP(t, k2, "test_klp_h1", "")
	if kind, _ := siteInsn(t, k2, site); kind != "call" {
		t.Errorf("args design: site is %s, want call", kind)
	}
}

package livepatch

import (
	"strings"
	"testing"

	"klpsim/kernel"
)

// klp_ftrace_handler's choice, at instruction level: a user task's getpid
// system call is single-stepped from the poked fentry site of
// __x64_sys_getpid through ftrace_regs_caller and ftrace_ops_list_func to
// the trampoline's ret, and the test checks where that ret lands for each
// patch_state of the task while a patch is in transition. The transition
// is held open by a kworker sleeping in test_klp_target's target_sleep_fn,
// which the patch in transition also replaces.

// tkStepCall single-steps task h (on its CPU, nothing else moving) until
// it enters __x64_sys_getpid's site, then through the ftrace trampoline,
// and returns where the trampoline's ret lands, with the names of the
// functions passed through.
func tkStepCall(t *testing.T, k *kernel.Kernel, h *kernel.Task) (uint64, string) {
	t.Helper()
	site := tkSym(t, k, "__x64_sys_getpid")
	if !tkRunUntil(t, k, 1e9, func() bool { return h.Running() }) {
		t.Fatalf("%s never got a CPU", h)
	}
	cpu := h.CPU()
	step := func() {
		if err := k.Step(cpu); err != nil {
			t.Fatal(err)
		}
		if k.CurrentOn(cpu) != h {
			t.Fatalf("%s left CPU %d while stepping", h, cpu)
		}
	}
	for i := 0; k.RIP(cpu) != site; i++ {
		if i > 100000 {
			t.Fatal("the task never called __x64_sys_getpid")
		}
		step()
	}
	var path []string
	in := func(rip uint64) bool {
		if _, ok := k.FtraceTrampolineAt(rip); ok {
			return true
		}
		switch k.Syms.Name(rip) {
		case "ftrace_caller", "ftrace_regs_caller", "ftrace_ops_list_func", "ftrace_ops_assist_func", "klp_ftrace_handler":
			return true
		}
		return rip >= site && rip < site+5
	}
	name := func(rip uint64) string {
		if _, ok := k.FtraceTrampolineAt(rip); ok {
			return "ftrace_trampoline"
		}
		return k.Syms.Name(rip)
	}
	insns := 0
	for in(k.RIP(cpu)) {
		if n := name(k.RIP(cpu)); len(path) == 0 || path[len(path)-1] != n {
			path = append(path, n)
		}
		if len(path) > 10 {
			t.Fatalf("lost in %v", path)
		}
		step()
		insns++
	}
	tkHotInsns = insns
	land := k.RIP(cpu)
	// The caller's return address was left alone: the function the ret
	// landed in returns straight to do_syscall_64.
	fn := k.Syms.Name(land)
	for i := 0; k.Syms.Name(k.RIP(cpu)) == fn; i++ {
		if i > 1000 {
			t.Fatalf("%s never returned", fn)
		}
		step()
	}
	if got := k.Syms.Name(k.RIP(cpu)); got != "do_syscall_64" {
		t.Errorf("%s returned to %s, want do_syscall_64", fn, k.Syms.Format(k.RIP(cpu)))
	}
	return land, strings.Join(path, " ")
}

// tkHotInsns is the number of instructions the last tkStepCall stepped
// from the site to the landing.
var tkHotInsns int

// tkHandlerPaths is the way each ftrace design takes from the site to the
// landing (consecutive instructions of one function named once).
var tkHandlerPaths = map[string]string{
	"list": "__x64_sys_getpid ftrace_regs_caller ftrace_ops_list_func ftrace_regs_caller",
	"regs": "__x64_sys_getpid ftrace_trampoline ftrace_ops_assist_func klp_ftrace_handler ftrace_ops_assist_func ftrace_trampoline",
	"args": "__x64_sys_getpid ftrace_trampoline klp_ftrace_handler ftrace_trampoline",
	// In transition the direct design is args.
	"direct": "__x64_sys_getpid ftrace_trampoline klp_ftrace_handler ftrace_trampoline",
}

// tkHandlerCase runs a hammer, builds a stalled transition with setup,
// then for each patch_state steps one getpid call and checks the landing,
// under each ftrace design.
func tkHandlerCase(t *testing.T, setup func(t *testing.T, k *kernel.Kernel), want func(k *kernel.Kernel, state int) (uint64, string)) {
	for _, design := range kernel.FtraceDesigns() {
		t.Run(design, func(t *testing.T) {
			// A 100 MHz guest clock: the busy hammer makes every simulated
			// second cost instructions.
			k, c := tkMachine(t, kernel.Config{CPUs: 2, ClockHz: 100e6, Ftrace: design})
			tkTarget(t, k)
			// The transitions first, on an idle machine (a completing
			// one completes at once); then the caller.
			setup(t, k)
			h, err := k.SpawnUser("call_getpid", tkUserProg(t, tkHammer))
			if err != nil {
				t.Fatal(err)
			}
			for _, state := range []int{KLPTransitionPatched, KLPTransitionUnpatched, KLPTransitionPatched} {
				if !tkRunUntil(t, k, 1e9, func() bool { return h.Running() }) {
					t.Fatal("the hammer never runs")
				}
				// What klp_update_patch_state would have left: no pending
				// switch, so nothing changes the state while the call is
				// stepped.
				k.SetPatchState(h, state)
				h.TIF &^= kernel.TIFPatchPending
				if err := c.MirrorCheck(); err != nil {
					t.Fatal(err)
				}
				got, path := tkStepCall(t, k, h)
				if path != tkHandlerPaths[design] {
					t.Errorf("patch_state %d: path %s, want %s", state, path, tkHandlerPaths[design])
				}
				w, wname := want(k, state)
				if got != w {
					t.Errorf("patch_state %d: the trampoline's ret landed at %s, want %s (%#x)", state, k.Syms.Format(got), wname, w)
				}
				t.Logf("patch_state %d: %d instructions from the site to %s", state, tkHotInsns, k.Syms.Format(got))
				k.RunFor(1e6)
			}
		})
	}
}

// linux612PatchedInsns is the instructions Linux 6.12 runs on x86-64 from
// a livepatched function's fentry call to the replacement's first
// instruction, counted from its source (docs/ftrace.md, "Counting Linux's
// path"): the call, the per-ops copy of ftrace_caller (33 with its ret)
// and klp_ftrace_handler (47).
const linux612PatchedInsns = 1 + 33 + 47

// The default design's patched call, steady state (no transition): no
// more instructions than Linux 6.12's.
func TestHandler_PatchedInsnsVsLinux(t *testing.T) {
	for _, design := range kernel.FtraceDesigns() {
		t.Run(design, func(t *testing.T) {
			k, c := tkMachine(t, kernel.Config{CPUs: 2, ClockHz: 100e6, Ftrace: design})
			// The patch first, on an idle machine: its transition
			// completes at once; then the caller.
			tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
			tkLoadLP(t, k, "test_klp_h1", "")
			if c.TransitionPatch() != nil {
				t.Fatal("the transition did not complete")
			}
			h, err := k.SpawnUser("call_getpid", tkUserProg(t, tkHammer))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.MirrorCheck(); err != nil {
				t.Fatal(err)
			}
			got, _ := tkStepCall(t, k, h)
			if w := tkModSym(t, k, "test_klp_h1", tkNewName(0, "__x64_sys_getpid")); got != w {
				t.Fatalf("landed at %s, want the replacement", k.Syms.Format(got))
			}
			t.Logf("%s: %d instructions from the site to the replacement (Linux 6.12: %d)", design, tkHotInsns, linux612PatchedInsns)
			if design == kernel.DefaultFtrace && tkHotInsns > linux612PatchedInsns {
				t.Errorf("%s: %d instructions, Linux 6.12 takes %d", design, tkHotInsns, linux612PatchedInsns)
			}
		})
	}
}

// tkStallWith loads test_klp_target with its sleeping kworker, then the
// livepatch mod, whose transition stalls on it.
func tkStallWith(t *testing.T, k *kernel.Kernel, mod, params string) {
	t.Helper()
	if k.FindModule("test_klp_target") == nil {
		tkInsmod(t, k, "test_klp_target", "sleep=1")
		if !tkRunUntil(t, k, 1e9, func() bool { return tkModU64(t, k, "test_klp_target", "sleep_entered") == 1 }) {
			t.Fatal("the sleep work never started")
		}
	}
	tkInsmod(t, k, mod, params)
	k.RunFor(10e6)
	if v := tkCat(t, k, "/sys/kernel/livepatch/"+mod+"/transition"); v != "1\n" {
		t.Fatalf("%s did not stall: transition %q", mod, v)
	}
}

var tkGetpidFunc = tkFunc{old: "__x64_sys_getpid", body: tkGetpidBody}

func TestHandler_OnlyPatch(t *testing.T) {
	tkHandlerCase(t, func(t *testing.T, k *kernel.Kernel) {
		tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}},
			tkObj{name: "test_klp_target", funcs: []tkFunc{{old: "target_sleep_fn"}}})
		tkStallWith(t, k, "test_klp_h1", "")
	}, func(k *kernel.Kernel, state int) (uint64, string) {
		if state == KLPTransitionPatched {
			return tkModSym(t, k, "test_klp_h1", tkNewName(0, "__x64_sys_getpid")), "test_klp_h1's replacement"
		}
		return tkSym(t, k, "__x64_sys_getpid") + 5, "the original body, __x64_sys_getpid+0x5"
	})
}

func TestHandler_Stacked(t *testing.T) {
	tkHandlerCase(t, func(t *testing.T, k *kernel.Kernel) {
		tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
		tkAddLP(t, k, "test_klp_h2", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}},
			tkObj{name: "test_klp_target", funcs: []tkFunc{{old: "target_sleep_fn"}}})
		tkLoadLP(t, k, "test_klp_h1", "")
		tkStallWith(t, k, "test_klp_h2", "")
	}, func(k *kernel.Kernel, state int) (uint64, string) {
		if state == KLPTransitionPatched {
			return tkModSym(t, k, "test_klp_h2", tkNewName(0, "__x64_sys_getpid")), "test_klp_h2's replacement"
		}
		return tkModSym(t, k, "test_klp_h1", tkNewName(0, "__x64_sys_getpid")), "test_klp_h1's replacement (the previous patch)"
	})
}

// With atomic replace, the new patch has a nop for getpid: a patched task
// runs the original body, an unpatched one the replaced patch's function.
func TestHandler_ReplaceNop(t *testing.T) {
	var nops int
	tkHandlerCase(t, func(t *testing.T, k *kernel.Kernel) {
		tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
		tkAddLP(t, k, "test_klp_h3", 1, tkObj{name: "test_klp_target", funcs: []tkFunc{{old: "target_sleep_fn"}}})
		tkLoadLP(t, k, "test_klp_h1", "")
		tkStallWith(t, k, "test_klp_h3", "")
	}, func(k *kernel.Kernel, state int) (uint64, string) {
		nops++
		if state == KLPTransitionPatched {
			return tkSym(t, k, "__x64_sys_getpid") + 5, "the original body (the nop), __x64_sys_getpid+0x5"
		}
		return tkModSym(t, k, "test_klp_h1", tkNewName(0, "__x64_sys_getpid")), "test_klp_h1's replacement (replaced, still used by unpatched tasks)"
	})
	if nops == 0 {
		t.Error("no case ran")
	}
}

// The handler's choice, read off func_stacks without running guest code,
// for the same three situations (a table of klp_ftrace_handler's rules).
func TestHandler_FuncStackTop(t *testing.T) {
	k, c := machine(t, 2)
	tkTarget(t, k)
	tkAddLP(t, k, "test_klp_h1", 0, tkObj{funcs: []tkFunc{tkGetpidFunc}})
	tkAddLP(t, k, "test_klp_h3", 1, tkObj{name: "test_klp_target", funcs: []tkFunc{{old: "target_sleep_fn"}}})
	tkLoadLP(t, k, "test_klp_h1", "")
	tkStallWith(t, k, "test_klp_h3", "")
	ops := c.findOps(tkSym(t, k, "__x64_sys_getpid"))
	if ops == nil || len(ops.stack) != 2 {
		t.Fatalf("getpid's func_stack: %v", ops)
	}
	top, below := ops.stack[1], ops.stack[0]
	if !top.Nop || !top.Transition || top.Obj.Patch.Name != "test_klp_h3" || below.Obj.Patch.Name != "test_klp_h1" || below.Transition {
		t.Errorf("func_stack top %+v below %+v", top, below)
	}
	if top.NewFunc != top.OldFunc {
		t.Errorf("the nop's new_func %#x, want old_func %#x", top.NewFunc, top.OldFunc)
	}
}

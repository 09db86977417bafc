package livepatch

import (
	"testing"

	"klpsim/kernel"
)

// tkBenchSrc is test_klp_bench: its init queues a work item whose
// function calls bench_fn forever, counting the calls in ncalls — a
// CPU-bound kthread (a kworker) that never sleeps.
const tkBenchSrc = `
	.text
	.globl bench_fn
	.type bench_fn, @function
bench_fn:
	.fentry
	push rbp
	mov rbp, rsp
	xor eax, eax
	pop rbp
	ret
	.size bench_fn, .-bench_fn

	.type call_loop, @function
call_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call bench_fn
	inc qword ptr [rip + ncalls]
	jmp 1b
	.size call_loop, .-call_loop

	.globl bench_init
	.type bench_init, @function
bench_init:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + call_work]
	call schedule_work
	xor eax, eax
	pop rbp
	ret
	.size bench_init, .-bench_init

	.data
	.balign 8
call_work:	.quad 0, 0, 0, call_loop
	.globl ncalls
ncalls:	.quad 0
`

// tkPauser is a user task asleep in pause(): a task sleeping in
// __x64_sys_pause, which holds a transition that replaces it open.
const tkPauser = "1:\tmov eax, 34\n\tsyscall\n\tjmp 1b\n"

// BenchmarkCall is the cost of one call of bench_fn from a kthread's loop
// with the function's site as a nop, traced by an ftrace ops that does not
// redirect, livepatched, livepatched but in transition with the caller
// still unpatched (the handler falls through to the original), and
// reached through an atomic replace's nop (the caller patched, the nop on
// top), under each ftrace design (BenchmarkCall/DESIGN/MODE). Reports
// guest instructions per call (from simulated time: the one CPU never
// idles) and host ns per call.
func BenchmarkCall(b *testing.B) {
	for _, design := range kernel.FtraceDesigns() {
		b.Run(design, func(b *testing.B) { benchmarkCall(b, design) })
	}
}

func benchmarkCall(b *testing.B, design string) {
	for _, mode := range []string{"nop-site", "traced-no-redirect", "patched", "patched-in-transition", "nop"} {
		b.Run(mode, func(b *testing.B) {
			k, c := tkMachine(b, kernel.Config{CPUs: 1, Ftrace: design})
			// The call loop never yields and kernel code is not preempted:
			// once test_klp_bench is loaded nothing else runs, so it is
			// loaded last.
			addModule(b, k, kernel.ModuleSpec{Name: "test_klp_bench", Init: "bench_init"}, tkBenchSrc)
			// P1 replaces bench_fn (the replacement counts its calls) and,
			// for a stall, __x64_sys_pause; R replaces only
			// __x64_sys_pause and carries the nop for bench_fn.
			benchObj := tkObj{name: "test_klp_bench", funcs: []tkFunc{{old: "bench_fn", body: "\tinc qword ptr [rip + getpid_calls]\n\txor eax, eax\n"}}}
			pause := tkObj{funcs: []tkFunc{{old: "__x64_sys_pause", body: "\tmov rax, -4\n"}}}
			insmod := func(mod string) {
				if err := k.Insmod(mod, ""); err != nil {
					b.Fatal(err)
				}
			}
			pauser := func() {
				if _, err := k.SpawnUser("pauser", tkUserProg(b, tkPauser)); err != nil {
					b.Fatal(err)
				}
				k.RunFor(1e6)
			}
			var caller *kernel.Task
			setState := func(state int) {
				k.SetPatchState(caller, state)
				caller.TIF &^= kernel.TIFPatchPending
			}
			switch mode {
			case "nop-site", "traced-no-redirect":
				insmod("test_klp_bench")
			case "patched":
				tkAddLP(b, k, "test_klp_p1", 0, benchObj)
				insmod("test_klp_p1")
				insmod("test_klp_bench") // klp_module_coming patches bench_fn
			case "patched-in-transition":
				tkAddLP(b, k, "test_klp_p1", 0, tkObj{funcs: pause.funcs}, benchObj)
				pauser()
				insmod("test_klp_p1") // stalls on the pauser
				insmod("test_klp_bench")
			case "nop":
				tkAddLP(b, k, "test_klp_p1", 0, benchObj)
				tkAddLP(b, k, "test_klp_r", 1, pause)
				insmod("test_klp_p1")
				pauser()
				insmod("test_klp_r") // stalls on the pauser
				// Coming last, the module gets P1's bench_fn and, on top,
				// R's nop for it, in transition.
				insmod("test_klp_bench")
			}
			fnAddr := tkModSym(b, k, "test_klp_bench", "bench_fn")
			if mode == "traced-no-redirect" {
				ops := &kernel.FtraceOps{Func: func(uint64, uint64, *kernel.FtraceOps, uint64) {}}
				if err := k.FtraceSetFilterIP(ops, fnAddr, false); err != nil {
					b.Fatal(err)
				}
				if err := k.RegisterFtraceFunction(ops); err != nil {
					b.Fatal(err)
				}
			}
			k.RunFor(1e6)
			caller = tkWorkerIn(b, k, tkModSym(b, k, "test_klp_bench", "call_loop"), 0x40)
			if caller == nil {
				caller = k.CurrentOn(0)
			}
			if caller == nil || !caller.IsKthread() {
				b.Fatalf("no kthread runs the call loop (%v)", caller)
			}
			switch mode {
			case "patched-in-transition":
				setState(KLPTransitionUnpatched)
			case "nop":
				setState(KLPTransitionPatched)
			}
			if inTransition := c.TransitionPatch() != nil; inTransition != (mode == "patched-in-transition" || mode == "nop") {
				b.Fatalf("%s: transition patch %v", mode, c.TransitionPatch())
			}
			ncalls := func() uint64 { return tkModU64(b, k, "test_klp_bench", "ncalls") }
			redirected := func() uint64 {
				if k.FindModule("test_klp_p1") == nil {
					return 0
				}
				return tkModU64(b, k, "test_klp_p1", "getpid_calls")
			}
			k.RunFor(1e6) // warm up the decode caches
			c0, r0, t0 := ncalls(), redirected(), k.Now()
			b.ResetTimer()
			for range b.N {
				if err := k.RunFor(100_000); err != nil { // 100 µs
					b.Fatal(err)
				}
			}
			b.StopTimer()
			n, r := ncalls()-c0, redirected()-r0
			if n == 0 {
				b.Fatal("no calls")
			}
			// The counters are read between quanta: a call may be between
			// the replacement's count and the loop's.
			if (mode == "patched") != (r == n || r == n+1) || (mode != "patched" && r != 0) {
				b.Fatalf("%s: %d of %d calls ran the replacement", mode, r, n)
			}
			insns := float64(k.Now()-t0) * float64(k.Config().ClockHz) / 1e9
			ns := float64(b.Elapsed().Nanoseconds()) / float64(n)
			b.ReportMetric(insns/float64(n), "insns/call")
			b.ReportMetric(ns, "ns/call")
		})
	}
}

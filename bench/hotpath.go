package bench

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"klpsim/isa/asm"
	"klpsim/kernel"
	"klpsim/livepatch"
)

// HotpathCases are the calls the hotpath suite measures, in table order:
// bench_fn's fentry site as the nop; traced by an ftrace ops that does
// not redirect; livepatched; livepatched but in transition with the
// caller still unpatched (the handler falls through to the original);
// reached through an atomic replace's nop (the caller patched, the nop
// on top of the original).
var HotpathCases = []string{"nop-site", "traced", "patched", "in-transition", "nop-func"}

// HotpathRow is one measured case.
type HotpathRow struct {
	Design string // the ftrace design (machine ftrace=NAME); "" is the default
	Case   string // one of HotpathCases
	Calls  uint64 // calls of bench_fn measured
	// InsnsPerCall is guest instructions per call, of the whole machine
	// (the one CPU runs nothing but the call loop).
	InsnsPerCall float64
	// NsPerCall is host CPU time per call (wall time where the CPU
	// time cannot be read).
	NsPerCall float64
}

// Hotpath measures each of HotpathCases on a machine with ftrace design
// design ("" for the machine's default): a kworker calls bench_fn in a
// loop at least calls times.
func Hotpath(design string, calls int) ([]HotpathRow, error) {
	return hotpath([]string{design}, calls, nil)
}

// hotpath measures every case of every design. The machines are all set
// up first and then run in turns, a slice of 100 µs of simulated time
// each, until each has made at least calls calls: a burst of load on the
// host falls on every case alike, and the ratios between them keep
// still.
func hotpath(designs []string, calls int, step func(string)) ([]HotpathRow, error) {
	var hs []*hotpathRun
	for _, d := range designs {
		for _, c := range HotpathCases {
			if step != nil {
				step(fmt.Sprintf("setting up %s %s", d, c))
			}
			h, err := setupHotpath(d, c)
			if err != nil {
				return nil, fmt.Errorf("hotpath %s %s: %w", d, c, err)
			}
			hs = append(hs, h)
		}
	}
	if step != nil {
		step(fmt.Sprintf("%d machines in turns", len(hs)))
	}
	// Collect the set-up's garbage now, not on the clock: the process's
	// CPU time counts the collector's threads too.
	runtime.GC()
	// Every machine runs every turn, until the slowest has made its
	// calls: the same simulated time each, the same exposure to the
	// host's load, and the fast cases measured over more calls.
	for busy := true; busy; {
		busy = false
		for _, h := range hs {
			if err := h.slice(); err != nil {
				return nil, fmt.Errorf("hotpath %s %s: %w", h.row.Design, h.row.Case, err)
			}
			busy = busy || h.n < uint64(calls)
		}
	}
	rows := make([]HotpathRow, len(hs))
	for i, h := range hs {
		r, err := h.finish()
		if err != nil {
			return nil, fmt.Errorf("hotpath %s %s: %w", h.row.Design, h.row.Case, err)
		}
		rows[i] = r
	}
	return rows, nil
}

// benchModSrc is test_klp_bench: its init queues a work item whose
// function calls bench_fn forever, counting the calls in ncalls (a
// CPU-bound kworker that never sleeps).
const benchModSrc = `
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

// lpFunc is one klp_func of a generated livepatch module: old replaced by
// a function whose body is body.
type lpFunc struct{ old, body string }

// lpObj is a klp_object: name "" is vmlinux.
type lpObj struct {
	name  string
	funcs []lpFunc
}

// guestFn is a guest function with a frame.
func guestFn(name, body string) string {
	return "\t.text\n\t.globl " + name + "\n\t.type " + name + ", @function\n" + name + ":\n\t.fentry\n\tpush rbp\n\tmov rbp, rsp\n" +
		body + "\tpop rbp\n\tret\n\t.size " + name + ", .-" + name + "\n"
}

// lpModSrc is a livepatch module: a struct klp_patch (replace set as
// given) over objs, enabled by the init; every replacement function is
// named new<obj>_<old>, and redirected counts the calls of the ones whose
// body increments it.
func lpModSrc(replace bool, objs ...lpObj) string {
	var b, data, table strings.Builder
	data.WriteString("\t.data\n\t.balign 8\n")
	for oi, o := range objs {
		fmt.Fprintf(&data, "funcs%d:\n", oi)
		for fi, f := range o.funcs {
			b.WriteString(guestFn(fmt.Sprintf("new%d_%s", oi, f.old), f.body))
			fmt.Fprintf(&data, "\t.quad oldname%d_%d, new%d_%s, 0\n", oi, fi, oi, f.old)
		}
		data.WriteString("\t.quad 0, 0, 0\n")
		name := "0"
		if o.name != "" {
			name = fmt.Sprintf("objname%d", oi)
		}
		fmt.Fprintf(&table, "\t.quad %s, funcs%d, 0, 0, 0, 0, 0, 0\n", name, oi)
	}
	b.WriteString(guestFn("lp_init", "\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n"))
	b.WriteString(guestFn("lp_exit", ""))
	b.WriteString("\t.section .rodata\n")
	for oi, o := range objs {
		if o.name != "" {
			fmt.Fprintf(&b, "objname%d:\t.asciz %q\n", oi, o.name)
		}
		for fi, f := range o.funcs {
			fmt.Fprintf(&b, "oldname%d_%d:\t.asciz %q\n", oi, fi, f.old)
		}
	}
	b.WriteString(data.String())
	b.WriteString("objs:\n" + table.String() + "\t.quad 0, 0, 0, 0, 0, 0, 0, 0\n")
	r := 0
	if replace {
		r = 1
	}
	fmt.Fprintf(&b, "patch:\t.quad __this_module, objs, 0, %d\n", r)
	b.WriteString("\t.globl redirected\nredirected:\t.quad 0\n")
	return b.String()
}

// addModule assembles src and registers it in the machine's module
// catalog.
func addModule(k *kernel.Kernel, spec kernel.ModuleSpec, src string) error {
	o, err := kernel.AssembleModule(spec.Name+".S", []byte(".intel_syntax noprefix\n"+src))
	if err != nil {
		return err
	}
	spec.Object = o
	return k.RegisterModule(spec)
}

// modU64 reads a module's 8-byte variable.
func modU64(k *kernel.Kernel, mod, sym string) (uint64, error) {
	m := k.FindModule(mod)
	if m == nil {
		return 0, fmt.Errorf("module %s not loaded", mod)
	}
	a, ok := m.ModuleSym(sym)
	if !ok {
		return 0, fmt.Errorf("%s has no %s", mod, sym)
	}
	return k.Memory().ReadU64(a)
}

// pauser is a user task asleep in pause(), in __x64_sys_pause, which
// holds a transition replacing that function open.
const pauser = ".intel_syntax noprefix\n.text\n.globl _start\n_start:\n1:\tmov eax, 34\n\tsyscall\n\tjmp 1b\n"

// hotpathMachine boots a one-CPU machine with livepatch for design.
func hotpathMachine(design string) (*kernel.Kernel, *livepatch.Core, error) {
	if _, err := kernel.LookupFtraceDesign(design); err != nil {
		return nil, nil, err
	}
	cfg := kernel.Config{CPUs: 1, Ftrace: design}
	k, err := kernel.Boot(cfg)
	if err != nil {
		return nil, nil, err
	}
	c, err := livepatch.Init(k)
	if err != nil {
		return nil, nil, err
	}
	return k, c, nil
}

// hotpathRun is one case's machine being measured.
type hotpathRun struct {
	row        HotpathRow
	k          *kernel.Kernel
	c0, r0, i0 uint64        // ncalls, redirected and instructions at the start
	n          uint64        // calls so far
	cpu        time.Duration // host CPU time so far
}

// setupHotpath boots a machine for the case and runs it until the call
// loop runs warm in the state the case is about.
func setupHotpath(design, mode string) (*hotpathRun, error) {
	h := &hotpathRun{row: HotpathRow{Design: design, Case: mode}}
	k, c, err := hotpathMachine(design)
	if err != nil {
		return nil, err
	}
	h.k = k
	lp := func(name string, replace bool, objs ...lpObj) error {
		return addModule(k, kernel.ModuleSpec{Name: name, Livepatch: true, Init: "lp_init", Exit: "lp_exit"}, lpModSrc(replace, objs...))
	}
	// The call loop never yields and kernel code is not preempted: once
	// test_klp_bench is loaded nothing else runs, so it is loaded last.
	if err := addModule(k, kernel.ModuleSpec{Name: "test_klp_bench", Init: "bench_init"}, benchModSrc); err != nil {
		return nil, err
	}
	// P1 replaces bench_fn (the replacement counts its calls) and, for a
	// stall, __x64_sys_pause; R replaces only __x64_sys_pause and carries
	// the nop for bench_fn.
	benchObj := lpObj{name: "test_klp_bench", funcs: []lpFunc{{old: "bench_fn", body: "\tinc qword ptr [rip + redirected]\n\txor eax, eax\n"}}}
	pause := lpObj{funcs: []lpFunc{{old: "__x64_sys_pause", body: "\tmov rax, -4\n"}}}
	startPauser := func() error {
		o, err := asm.Assemble("pauser.S", []byte(pauser))
		if err != nil {
			return err
		}
		if _, err := k.SpawnUser("pauser", kernel.UserProgram{Object: o}); err != nil {
			return err
		}
		return k.RunFor(1e6)
	}
	var steps []func() error
	insmod := func(mod string) func() error { return func() error { return k.Insmod(mod, "") } }
	switch mode {
	case "nop-site", "traced":
		steps = append(steps, insmod("test_klp_bench"))
	case "patched":
		steps = append(steps, func() error { return lp("test_klp_p1", false, benchObj) },
			insmod("test_klp_p1"), insmod("test_klp_bench")) // klp_module_coming patches bench_fn
	case "in-transition":
		steps = append(steps, func() error { return lp("test_klp_p1", false, pause, benchObj) },
			startPauser, insmod("test_klp_p1"), // stalls on the pauser
			insmod("test_klp_bench"))
	case "nop-func":
		// Coming last, the module gets P1's bench_fn and, on top, R's
		// nop for it, in transition.
		steps = append(steps, func() error { return lp("test_klp_p1", false, benchObj) },
			func() error { return lp("test_klp_r", true, pause) },
			insmod("test_klp_p1"), startPauser, insmod("test_klp_r"), // stalls on the pauser
			insmod("test_klp_bench"))
	default:
		return nil, fmt.Errorf("unknown case %q", mode)
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	m := k.FindModule("test_klp_bench")
	if m == nil {
		return nil, errors.New("test_klp_bench not loaded")
	}
	fnAddr, _ := m.ModuleSym("bench_fn")
	loop, _ := m.ModuleSym("call_loop")
	if mode == "traced" {
		ops := &kernel.FtraceOps{Func: func(uint64, uint64, *kernel.FtraceOps, uint64) {}}
		if err := k.FtraceSetFilterIP(ops, fnAddr, false); err != nil {
			return nil, err
		}
		if err := k.RegisterFtraceFunction(ops); err != nil {
			return nil, err
		}
	}
	if err := k.RunFor(1e6); err != nil {
		return nil, err
	}
	caller := k.CurrentOn(0)
	if caller == nil || !caller.IsKthread() {
		return nil, fmt.Errorf("no kthread runs the call loop at %#x (%v)", loop, caller)
	}
	// The caller has not been through the transition's switch points:
	// set the state the case is about.
	// SetPatchState: the guest klp_ftrace_handler reads the guest copy.
	switch mode {
	case "in-transition":
		k.SetPatchState(caller, livepatch.KLPTransitionUnpatched)
		caller.TIF &^= kernel.TIFPatchPending
	case "nop-func":
		k.SetPatchState(caller, livepatch.KLPTransitionPatched)
		caller.TIF &^= kernel.TIFPatchPending
	}
	if inTransition := c.TransitionPatch() != nil; inTransition != (mode == "in-transition" || mode == "nop-func") {
		return nil, fmt.Errorf("transition patch %v", c.TransitionPatch())
	}
	if err := k.RunFor(1e6); err != nil { // warm up the decode caches
		return nil, err
	}
	if h.c0, err = h.ncalls(); err != nil {
		return nil, err
	}
	if h.r0, err = h.redirected(); err != nil {
		return nil, err
	}
	h.i0 = k.Insns()
	return h, nil
}

func (h *hotpathRun) ncalls() (uint64, error) { return modU64(h.k, "test_klp_bench", "ncalls") }

// redirected is how many calls ran P1's replacement of bench_fn.
func (h *hotpathRun) redirected() (uint64, error) {
	if h.k.FindModule("test_klp_p1") == nil {
		return 0, nil
	}
	return modU64(h.k, "test_klp_p1", "redirected")
}

// slice runs the machine for 100 µs of simulated time on the clock.
func (h *hotpathRun) slice() error {
	t0 := cpuNow()
	err := h.k.RunFor(100_000)
	h.cpu += cpuNow() - t0
	if err != nil {
		return err
	}
	c, err := h.ncalls()
	h.n = c - h.c0
	return err
}

// finish checks that the calls went where the case says and computes
// the row.
func (h *hotpathRun) finish() (HotpathRow, error) {
	row := h.row
	r1, err := h.redirected()
	if err != nil {
		return row, err
	}
	n := h.n
	if n == 0 {
		return row, errors.New("no calls")
	}
	// The replacement counts a call before call_loop does: a stop
	// between the two leaves redirected one ahead, at either end.
	if r := r1 - h.r0; (row.Case == "patched" && (r+1 < n || r > n+1)) || (row.Case != "patched" && r != 0) {
		return row, fmt.Errorf("%d of %d calls ran the replacement", r, n)
	}
	row.Calls = n
	row.InsnsPerCall = float64(h.k.Insns()-h.i0) / float64(n)
	row.NsPerCall = float64(h.cpu.Nanoseconds()) / float64(n)
	return row, nil
}

// hotpathDesigns are the ftrace designs the suite compares, side by
// side: every one, the default first.
func hotpathDesigns() []string { return kernel.FtraceDesigns() }

var hotpathSuite = suite{
	name: "hotpath",
	doc:  "a call through bench_fn's ftrace site: nop, traced, patched, in transition, nop func, per ftrace design",
	columns: []Column{
		{Name: "insns/call", Digits: 1, Doc: "guest instructions per call of bench_fn, loop included"},
		{Name: "ns/call", Digits: 1, Doc: "host CPU ns per call"},
		{Name: "x-nop-site", Digits: 2, Doc: "ns/call over the same design's nop-site ns/call in the same run"},
	},
	run: func(o *Options, step func(string), emit func(Sample)) ([]string, error) {
		calls := 200_000
		if o.Short {
			calls = 200
		}
		rows, err := hotpath(hotpathDesigns(), calls, step)
		if err != nil {
			return nil, err
		}
		base := map[string]float64{}
		for _, r := range rows {
			if r.Case == "nop-site" {
				base[r.Design] = r.NsPerCall
			}
		}
		for _, r := range rows {
			row := r.Design + " " + r.Case
			emit(Sample{row, "insns/call", r.InsnsPerCall})
			emit(Sample{row, "ns/call", r.NsPerCall})
			emit(Sample{row, "x-nop-site", Ratios([]float64{r.NsPerCall}, []float64{base[r.Design]})[0]})
		}
		return []string{fmt.Sprintf("%d calls per case; default design %s; goal for it: patched <= 5x nop-site", calls, kernel.DefaultFtrace)}, nil
	},
}

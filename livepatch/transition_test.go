package livepatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/isa/asm"
	"klpsim/kernel"
)

// Test kit shared by transition_test.go, replace_test.go, sysfs_test.go,
// errors_test.go, handler_test.go and bench_test.go. Every package-level
// name here starts with "tk" so that it cannot collide with the helpers of
// the other test files of the package.

// tkFunc is one klp_func of a generated livepatch module: old (with
// sympos) is replaced by a function named new<Obj><old> whose body is body
// (empty: return 0).
type tkFunc struct {
	old    string
	sympos int
	body   string
}

// tkObj is one klp_object: name "" is vmlinux; callbacks adds the four
// printing callbacks of test_klp_callbacks_demo.
type tkObj struct {
	name      string
	funcs     []tkFunc
	callbacks bool
}

// tkNewName is the label of the replacement of old in object index oi.
func tkNewName(oi int, old string) string { return fmt.Sprintf("new%d_%s", oi, old) }

// tkLPSrc is a livepatch module named mod: a struct klp_patch with objs,
// replace copied from the module's int "replace" variable (a module
// parameter when the spec declares it) by the init before it calls
// klp_enable_patch, as test_klp_atomic_replace does.
func tkLPSrc(mod string, replace int, objs ...tkObj) string {
	var b strings.Builder
	var data strings.Builder
	data.WriteString("\t.data\n\t.balign 8\n")
	var objTable strings.Builder
	for oi, o := range objs {
		for _, f := range o.funcs {
			body := f.body
			if body == "" {
				body = "\txor eax, eax\n"
			}
			b.WriteString(fn(tkNewName(oi, f.old), body))
		}
		fmt.Fprintf(&data, "funcs%d:\n", oi)
		for fi, f := range o.funcs {
			fmt.Fprintf(&data, "\t.quad oldname%d_%d, %s, %d\n", oi, fi, tkNewName(oi, f.old), f.sympos)
		}
		data.WriteString("\t.quad 0, 0, 0\n")
		name, cbs := "0", "0, 0, 0, 0"
		if o.name != "" {
			name = fmt.Sprintf("objname%d", oi)
		}
		if o.callbacks {
			cbs = "pre_patch_callback, post_patch_callback, pre_unpatch_callback, post_unpatch_callback"
		}
		fmt.Fprintf(&objTable, "\t.quad %s, funcs%d, %s, 0, 0\n", name, oi, cbs)
	}
	// The four callbacks are test_klp_callbacks_demo's callback_info:
	// "<callback>: vmlinux", or "<callback>: <obj->mod->name> ->
	// <module_state[obj->mod->state]>"; pre_patch returns 0.
	for _, cb := range []string{"pre_patch_callback", "post_patch_callback", "pre_unpatch_callback", "post_unpatch_callback"} {
		b.WriteString(fn(cb, "\tmov rax, qword ptr [rdi + 48]\n\tlea rsi, [rip + s_"+cb+"]\n\ttest rax, rax\n\tjnz 1f\n"+
			"\tlea rdi, [rip + cbfmt]\n\tlea rdx, [rip + s_vmlinux]\n\tcall _printk\n\tjmp 2f\n"+
			"1:\tlea rdx, [rax + 24]\n\tmov rcx, qword ptr [rax]\n\tand ecx, 3\n\tlea r8, [rip + module_state]\n\tmov rcx, qword ptr [r8 + rcx*8]\n"+
			"\tlea rdi, [rip + cbmodfmt]\n\tcall _printk\n"+
			"2:\txor eax, eax\n"))
	}
	b.WriteString(fn("lp_init", "\tmov eax, dword ptr [rip + replace]\n\tmov byte ptr [rip + patch + 24], al\n"+
		"\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n"))
	b.WriteString(fn("lp_exit", ""))
	b.WriteString("\t.section .rodata\n")
	fmt.Fprintf(&b, "cbfmt:\t.asciz \"\\0016%s: %%s: %%s\\n\"\n", mod)
	b.WriteString("s_vmlinux:\t.asciz \"vmlinux\"\n")
	fmt.Fprintf(&b, "cbmodfmt:\t.asciz \"\\0016%s: %%s: %%s -> %%s\\n\"\n", mod)
	b.WriteString("st_live:\t.asciz \"[MODULE_STATE_LIVE] Normal state\"\n" +
		"st_coming:\t.asciz \"[MODULE_STATE_COMING] Full formed, running module_init\"\n" +
		"st_going:\t.asciz \"[MODULE_STATE_GOING] Going away\"\n" +
		"st_unformed:\t.asciz \"[MODULE_STATE_UNFORMED] Still setting it up\"\n" +
		"\t.balign 8\nmodule_state:\t.quad st_live, st_coming, st_going, st_unformed\n")
	for _, cb := range []string{"pre_patch_callback", "post_patch_callback", "pre_unpatch_callback", "post_unpatch_callback"} {
		fmt.Fprintf(&b, "s_%s:\t.asciz %q\n", cb, cb)
	}
	for oi, o := range objs {
		if o.name != "" {
			fmt.Fprintf(&b, "objname%d:\t.asciz %q\n", oi, o.name)
		}
		for fi, f := range o.funcs {
			fmt.Fprintf(&b, "oldname%d_%d:\t.asciz %q\n", oi, fi, f.old)
		}
	}
	b.WriteString(data.String())
	b.WriteString("objs:\n" + objTable.String() + "\t.quad 0, 0, 0, 0, 0, 0, 0, 0\n")
	fmt.Fprintf(&b, "patch:\t.quad __this_module, objs, 0, 0\n\t.globl replace\nreplace:\t.long %d\n\t.long 0\n", replace)
	fmt.Fprintf(&b, "\t.globl getpid_calls\ngetpid_calls:\t.quad 0\n")
	return b.String()
}

// tkReplaceParam is test_klp_atomic_replace's module_param(replace, int, 0644).
var tkReplaceParam = kernel.ParamSpec{Name: "replace", Type: kernel.ParamInt, Perm: 0o644}

// tkAddLP registers a generated livepatch module.
func tkAddLP(t testing.TB, k *kernel.Kernel, mod string, replace int, objs ...tkObj) {
	t.Helper()
	spec := lpSpec(mod)
	spec.Params = []kernel.ParamSpec{tkReplaceParam}
	addModule(t, k, spec, tkLPSrc(mod, replace, objs...))
}

// tkGetpidBody is a replacement __x64_sys_getpid that counts its calls in
// the patch module's getpid_calls and returns the pid.
const tkGetpidBody = "\tinc qword ptr [rip + getpid_calls]\n\tmov eax, HC_GETPID\n\tvmcall\n"

// tkAtomicReplace registers test_klp_atomic_replace: meminfo_proc_show
// prints "test_klp_atomic_replace: this has been live patched"; the
// replace parameter goes into patch.replace before klp_enable_patch.
func tkAtomicReplace(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	tkAddLP(t, k, "test_klp_atomic_replace", 0, tkObj{funcs: []tkFunc{{old: "meminfo_proc_show",
		body: "\tlea rsi, [rip + lpfmt]\n\tlea rdx, [rip + lpmod]\n\tlea rcx, [rip + lpmsg]\n\tcall seq_printf\n\txor eax, eax\n" +
			"\t.section .rodata\nlpfmt:\t.asciz \"%s: %s\\n\"\nlpmod:\t.asciz \"test_klp_atomic_replace\"\nlpmsg:\t.asciz \"this has been live patched\"\n\t.text\n"}}})
}

// tkLivepatch registers test_klp_livepatch (cmdline_proc_show).
func tkLivepatch(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	addModule(t, k, lpSpec("test_klp_livepatch"), lpSrc("test_klp_livepatch", "cmdline_proc_show", 0))
}

// tkSyscall registers a test_klp_syscall-like module: __x64_sys_getpid
// replaced by a function that removes the caller's pid from klp_pids (an
// int array parameter, its count in npids_pending) and counts calls.
func tkSyscall(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	body := tkGetpidBody + `	mov ecx, dword ptr [rip + npids_pending]
	lea rdx, [rip + klp_pids]
	xor esi, esi
2:	cmp esi, 128
	jae 4f
	cmp dword ptr [rdx + rsi*4], eax
	jne 3f
	mov dword ptr [rdx + rsi*4], 0
	dec dword ptr [rip + npids_pending]
	jmp 4f
3:	inc esi
	jmp 2b
4:
	.data
	.balign 8
	.globl klp_pids
klp_pids:	.zero 512
	.globl npids_pending
npids_pending:	.long 0
	.long 0
	.text
`
	spec := lpSpec("test_klp_syscall")
	spec.Params = []kernel.ParamSpec{{Name: "klp_pids", Type: kernel.ParamInt, Array: 128, NumSymbol: "npids_pending"}}
	addModule(t, k, spec, tkLPSrc("test_klp_syscall", 0, tkObj{funcs: []tkFunc{{old: "__x64_sys_getpid", body: body}}}))
}

// tkCallbacksDemo registers a test_klp_callbacks_demo-like module: the
// vmlinux object has only callbacks; its objects for two modules that are
// not loaded in these tests are there as in the original (the busy one
// patching busymod_work_func).
func tkCallbacksDemo(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	tkAddLP(t, k, "test_klp_callbacks_demo", 0,
		tkObj{callbacks: true},
		tkObj{name: "test_klp_callbacks_mod", callbacks: true},
		tkObj{name: "test_klp_callbacks_busy", callbacks: true, funcs: []tkFunc{{old: "busymod_work_func"}}})
}

// tkTargetSrc is a plain module, test_klp_target, whose functions the
// transition tests patch and whose work items give a kworker (a kthread)
// something to sleep in:
//
//	target_sleep_fn  loops msleep(20) while "block" is set (like
//	                 busymod_work_func)
//	target_wait_fn   sleeps interruptibly once: only a wake-up (the
//	                 livepatch fake signal) gets it out
//	target_call_fn   a function the hammer loops call
//
// The work items sleep_work and wait_work call the first two; the init
// queues them as the "sleep" and "wait" parameters say.
const tkTargetSrc = `
	.text
	.globl target_sleep_fn
	.type target_sleep_fn, @function
target_sleep_fn:
	.fentry
	push rbp
	mov rbp, rsp
	inc qword ptr [rip + sleep_entered]
1:	cmp byte ptr [rip + block], 0
	je 2f
	mov edi, 20
	call msleep
	jmp 1b
2:	inc qword ptr [rip + sleep_left]
	pop rbp
	ret
	.size target_sleep_fn, .-target_sleep_fn
` + "" + `
	.globl target_wait_fn
	.type target_wait_fn, @function
target_wait_fn:
	.fentry
	push rbp
	mov rbp, rsp
	inc qword ptr [rip + wait_entered]
	mov edi, TASK_INTERRUPTIBLE
	mov eax, HC_SET_STATE
	vmcall
	call schedule
	inc qword ptr [rip + wait_left]
	pop rbp
	ret
	.size target_wait_fn, .-target_wait_fn

	.globl target_call_fn
	.type target_call_fn, @function
target_call_fn:
	.fentry
	push rbp
	mov rbp, rsp
	xor eax, eax
	pop rbp
	ret
	.size target_call_fn, .-target_call_fn

	.type sleep_work_fn, @function
sleep_work_fn:
	.fentry
	push rbp
	mov rbp, rsp
	call target_sleep_fn
	pop rbp
	ret
	.size sleep_work_fn, .-sleep_work_fn

	.type wait_work_fn, @function
wait_work_fn:
	.fentry
	push rbp
	mov rbp, rsp
	call target_wait_fn
	pop rbp
	ret
	.size wait_work_fn, .-wait_work_fn

	.globl target_init
	.type target_init, @function
target_init:
	.fentry
	push rbp
	mov rbp, rsp
	cmp byte ptr [rip + sleep], 0
	je 1f
	lea rdi, [rip + sleep_work]
	call schedule_work
1:	cmp byte ptr [rip + wait], 0
	je 2f
	lea rdi, [rip + wait_work]
	call schedule_work
2:	xor eax, eax
	pop rbp
	ret
	.size target_init, .-target_init

	.globl target_exit
	.type target_exit, @function
target_exit:
	.fentry
	push rbp
	mov rbp, rsp
	mov byte ptr [rip + block], 0
	lea rdi, [rip + sleep_work]
	call flush_work
	pop rbp
	ret
	.size target_exit, .-target_exit

	.data
	.balign 8
sleep_work:	.quad 0, 0, 0, sleep_work_fn
wait_work:	.quad 0, 0, 0, wait_work_fn
	.globl sleep_entered, sleep_left, wait_entered, wait_left
sleep_entered:	.quad 0
sleep_left:	.quad 0
wait_entered:	.quad 0
wait_left:	.quad 0
	.globl block, sleep, wait
block:	.byte 1
sleep:	.byte 0
wait:	.byte 0
`

// tkTarget registers test_klp_target (see tkTargetSrc).
func tkTarget(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	addModule(t, k, kernel.ModuleSpec{Name: "test_klp_target", Init: "target_init", Exit: "target_exit",
		Params: []kernel.ParamSpec{
			{Name: "block", Type: kernel.ParamBool, Perm: 0o644},
			{Name: "sleep", Type: kernel.ParamBool, Perm: 0o444},
			{Name: "wait", Type: kernel.ParamBool, Perm: 0o444},
		}}, tkTargetSrc)
}

// tkMachine is machine with a configuration of one's own.
func tkMachine(t testing.TB, cfg kernel.Config) (*kernel.Kernel, *Core) {
	t.Helper()
	k, err := kernel.Boot(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Init(k)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctl := range []string{"file kernel/livepatch/* +p", "func klp_try_switch_task -p"} {
		if err := k.Dyndbg.Control(ctl); err != nil {
			t.Fatal(err)
		}
	}
	return k, c
}

// tkModSym is a module's symbol's address.
func tkModSym(t testing.TB, k *kernel.Kernel, mod, sym string) uint64 {
	t.Helper()
	m := k.FindModule(mod)
	if m == nil {
		t.Fatalf("module %s not loaded", mod)
	}
	a, ok := m.ModuleSym(sym)
	if !ok {
		t.Fatalf("%s has no %s", mod, sym)
	}
	return a
}

// tkModU64 reads a module's 8-byte variable.
func tkModU64(t testing.TB, k *kernel.Kernel, mod, sym string) uint64 {
	t.Helper()
	v, err := k.Memory().ReadU64(tkModSym(t, k, mod, sym))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tkSym is a vmlinux symbol's address.
func tkSym(t testing.TB, k *kernel.Kernel, name string) uint64 {
	t.Helper()
	a, ok := k.Sym(name)
	if !ok {
		t.Fatalf("no symbol %s", name)
	}
	return a
}

// tkInsmod is __load_mod: the script line, then insmod, which must succeed.
func tkInsmod(t *testing.T, k *kernel.Kernel, mod, params string) {
	t.Helper()
	kmsg(t, k, strings.TrimSpace("% insmod test_modules/"+mod+".ko "+params))
	if err := k.Insmod(mod, params); err != nil {
		t.Fatal(err)
	}
}

// tkLoadLP is load_lp: insmod, then wait for the transition to finish.
func tkLoadLP(t *testing.T, k *kernel.Kernel, mod, params string) {
	t.Helper()
	tkInsmod(t, k, mod, params)
	waitTransition(t, k, mod)
}

// tkLoadFailing is load_failing_mod: insmod must fail; its error line is
// logged. It returns the error.
func tkLoadFailing(t *testing.T, k *kernel.Kernel, mod, params string) error {
	t.Helper()
	kmsg(t, k, strings.TrimSpace("% insmod test_modules/"+mod+".ko "+params))
	err := k.Insmod(mod, params)
	if err == nil {
		t.Fatalf("insmod %s succeeded", mod)
	}
	kmsg(t, k, err.Error())
	return err
}

// tkDisableLP is disable_lp: echo 0 > enabled, wait for the directory to go.
func tkDisableLP(t *testing.T, k *kernel.Kernel, mod string) {
	t.Helper()
	kmsg(t, k, "% echo 0 > /sys/kernel/livepatch/"+mod+"/enabled")
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/"+mod+"/enabled"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, "/sys/kernel/livepatch/"+mod)
}

// tkUnload is unload_mod/unload_lp: wait for refcnt 0, rmmod, wait for
// /sys/module/MOD to go.
func tkUnload(t *testing.T, k *kernel.Kernel, mod string) {
	t.Helper()
	refcnt := "/sys/module/" + mod + "/refcnt"
	k.RunUntil(k.Now()+60e9, func() bool { v, _ := k.FS.Cat(nil, refcnt); return v == "0\n" })
	if v, err := k.FS.Cat(nil, refcnt); v != "0\n" {
		t.Fatalf("%s = %q (%v)", refcnt, v, err)
	}
	kmsg(t, k, "% rmmod "+mod)
	if err := k.Rmmod(mod); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, "/sys/module/"+mod)
}

// tkCat reads a file, failing the test on an error.
func tkCat(t testing.TB, k *kernel.Kernel, path string) string {
	t.Helper()
	v, err := k.FS.Cat(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// tkGrep is `grep 'live patched' FILE > /dev/kmsg`.
func tkGrep(t *testing.T, k *kernel.Kernel, path string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(tkCat(t, k, path), "\n"), "\n") {
		if strings.Contains(l, "live patched") {
			kmsg(t, k, l)
		}
	}
}

// tkEvents records the core's events.
func tkEvents(c *Core) *[]Event {
	var evs []Event
	c.OnEvent = func(e Event) { evs = append(evs, e) }
	return &evs
}

// tkRunUntil runs at most d ns of simulated time until cond holds, and
// reports whether it does.
func tkRunUntil(t testing.TB, k *kernel.Kernel, d uint64, cond func() bool) bool {
	t.Helper()
	if err := k.RunUntil(k.Now()+d, cond); err != nil {
		t.Fatal(err)
	}
	return cond()
}

// tkNop5 is the ftrace site's nop.
var tkNop5 = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}

// tkSiteIsNop reports whether the ftrace site at addr is back to the nop.
func tkSiteIsNop(t testing.TB, k *kernel.Kernel, addr uint64) bool {
	t.Helper()
	var b [5]byte
	if err := k.Memory().Read(addr, b[:]); err != nil {
		t.Fatal(err)
	}
	return string(b[:]) == string(tkNop5)
}

// tkUserProg assembles a user program.
func tkUserProg(t testing.TB, src string) kernel.UserProgram {
	t.Helper()
	o, err := asm.Assemble("user.S", []byte(".intel_syntax noprefix\n.text\n.globl _start\n_start:\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	return kernel.UserProgram{Object: o}
}

// tkHammer is test_klp-call_getpid: syscall(SYS_getpid) forever.
const tkHammer = "1:\tmov eax, 39\n\tsyscall\n\tjmp 1b\n"

// tkTask finds a task by comm.
func tkTask(k *kernel.Kernel, comm string) *kernel.Task {
	for _, task := range append(k.Tasks(), k.IdleTasks()...) {
		if task.Comm == comm {
			return task
		}
	}
	return nil
}

// tkWorkerIn is the task whose stack holds a return address in fn (a
// kworker sleeping in it), or nil.
func tkWorkerIn(t testing.TB, k *kernel.Kernel, lo, size uint64) *kernel.Task {
	t.Helper()
	var buf [MaxStackEntries]uint64
	for _, task := range k.Tasks() {
		if task.Running() {
			continue
		}
		n, err := k.StackTraceReliable(task, buf[:])
		if err != nil {
			continue
		}
		for _, a := range buf[:n] {
			if a >= lo && a < lo+size {
				return task
			}
		}
	}
	return nil
}

// tkStdLog is the transcript of a load_lp whose transition completes, and
// of its disable_lp.
func tkEnableLog(mod string) string {
	return "livepatch: enabling patch '" + mod + "'\n" +
		"livepatch: '" + mod + "': initializing patching transition\n" +
		"livepatch: '" + mod + "': starting patching transition\n" +
		"livepatch: '" + mod + "': completing patching transition\n" +
		"livepatch: '" + mod + "': patching complete\n"
}

func tkDisableLog(mod string) string {
	return "% echo 0 > /sys/kernel/livepatch/" + mod + "/enabled\n" +
		"livepatch: '" + mod + "': initializing unpatching transition\n" +
		"livepatch: '" + mod + "': starting unpatching transition\n" +
		"livepatch: '" + mod + "': completing unpatching transition\n" +
		"livepatch: '" + mod + "': unpatching complete\n"
}

// tkBlockingBody replaces target_sleep_fn by a function that loops
// msleep(20) while the livepatch module's own lp_block is set: a task that
// enters it stays in the new code, which blocks an unpatching transition.
const tkBlockingBody = `	inc qword ptr [rip + lp_entered]
1:	cmp byte ptr [rip + lp_block], 0
	je 2f
	mov edi, 20
	call msleep
	jmp 1b
2:	xor eax, eax
	.data
	.globl lp_block, lp_entered
lp_block:	.byte 1
	.balign 8
lp_entered:	.quad 0
	.text
`

// tkTargetLP registers a livepatch module for test_klp_target's
// target_sleep_fn (with body, default tkBlockingBody) and the callbacks on
// that object.
func tkTargetLP(t testing.TB, k *kernel.Kernel, mod string, funcs ...tkFunc) {
	t.Helper()
	if len(funcs) == 0 {
		funcs = []tkFunc{{old: "target_sleep_fn", body: tkBlockingBody}}
	}
	tkAddLP(t, k, mod, 0, tkObj{name: "test_klp_target", callbacks: true, funcs: funcs})
}

// tkStalled loads the target module with a kworker sleeping in
// target_sleep_fn (the original), then the livepatch mod without waiting
// for its transition; it checks the transition is stuck and returns the
// kworker.
func tkStalled(t *testing.T, k *kernel.Kernel, mod string) *kernel.Task {
	t.Helper()
	tkInsmod(t, k, "test_klp_target", "sleep=1")
	if !tkRunUntil(t, k, 1e9, func() bool { return tkModU64(t, k, "test_klp_target", "sleep_entered") == 1 }) {
		t.Fatal("the sleep work never started")
	}
	fnAddr := tkModSym(t, k, "test_klp_target", "target_sleep_fn")
	w := tkWorkerIn(t, k, fnAddr, 0x40)
	if w == nil || !w.IsKthread() {
		t.Fatalf("no kthread sleeps in target_sleep_fn (%v)", w)
	}
	tkInsmod(t, k, mod, "")
	k.RunFor(3e9)
	if v := tkCat(t, k, "/sys/kernel/livepatch/"+mod+"/transition"); v != "1\n" {
		t.Fatalf("transition = %q: did not stall", v)
	}
	return w
}

// A transition stalls while a kthread sleeps in the function it replaces
// (an msleep loop inside it), every retry blocked with "sleeping on
// function", and completes once the kthread has left it.
func TestTransition_StallsOnSleepingKthread(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
	evs := tkEvents(c)
	seq := k.Log.NextSeq()
	w := tkStalled(t, k, "test_klp_tpatch")
	blocked := 0
	for _, e := range *evs {
		if e.Kind == EventBlocked && e.PID == w.PID {
			blocked++
			if got := fmt.Sprintf("%s %s", e.Why, e.Func); got != "sleeping-on-function target_sleep_fn" {
				t.Errorf("blocked event %q, want \"sleeping-on-function target_sleep_fn\"", got)
			}
		}
		if e.Kind == EventSwitched && e.PID == w.PID {
			t.Errorf("the sleeping kworker switched: %+v", e)
		}
	}
	if blocked < 3 {
		t.Errorf("%d blocked events for %s in 3 s, want one a second", blocked, w)
	}
	if ps := tkCat(t, k, fmt.Sprintf("/proc/%d/patch_state", w.PID)); ps != "0\n" {
		t.Errorf("kworker patch_state %q, want 0", ps)
	}
	kmsg(t, k, "% echo 0 > /sys/module/test_klp_target/parameters/block")
	if err := k.FS.Echo(nil, "0", "/sys/module/test_klp_target/parameters/block"); err != nil {
		t.Fatal(err)
	}
	released := k.Now()
	waitTransition(t, k, "test_klp_tpatch")
	if d := k.Now() - released; d > 1.2e9 {
		t.Errorf("completed %d ms after the kthread left; the retry is every second", d/1e6)
	}
	var how SwitchHow
	for _, e := range *evs {
		if e.Kind == EventSwitched && e.PID == w.PID {
			how = e.How
		}
	}
	if how != SwitchStackCheck {
		t.Errorf("kworker switched by %v, want stack-check", how)
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_target.ko sleep=1
% insmod test_modules/test_klp_tpatch.ko
livepatch: enabling patch 'test_klp_tpatch'
livepatch: 'test_klp_tpatch': initializing patching transition
test_klp_tpatch: pre_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': starting patching transition
% echo 0 > /sys/module/test_klp_target/parameters/block
livepatch: 'test_klp_tpatch': completing patching transition
test_klp_tpatch: post_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': patching complete
`)
}

// test-syscall.sh: CPU-bound user tasks hammering getpid while it is
// patched switch on their way back to user mode; each runs the new getpid.
func TestTransition_SyscallHammer(t *testing.T) {
	// A slower guest clock: each simulated second of two busy CPUs costs
	// 10% of the instructions it would at the default 1 GHz.
	k, c := tkMachine(t, kernel.Config{CPUs: 2, ClockHz: 100e6})
	c.EnableChecker()
	tkSyscall(t, k)
	var pids []string
	var hammers []*kernel.Task
	for i := range 2 { // min(nproc, 128)
		h, err := k.SpawnUser(fmt.Sprintf("call_getpid%d", i), tkUserProg(t, tkHammer))
		if err != nil {
			t.Fatal(err)
		}
		hammers = append(hammers, h)
		pids = append(pids, fmt.Sprint(h.PID))
	}
	k.RunFor(10e6)
	evs := tkEvents(c)
	seq := k.Log.NextSeq()
	tkLoadLP(t, k, "test_klp_syscall", "klp_pids="+strings.Join(pids, ","))
	if !tkRunUntil(t, k, 60e9, func() bool { return tkModU64(t, k, "test_klp_syscall", "npids_pending")&0xffffffff == 0 }) {
		t.Fatal("some hammers never ran the patched getpid")
	}
	kmsg(t, k, fmt.Sprintf("test_klp_syscall: Remaining not livepatched processes: %d", tkModU64(t, k, "test_klp_syscall", "npids_pending")&0xffffffff))
	exitToUser := 0
	for _, h := range hammers {
		var hows []SwitchHow
		for _, e := range *evs {
			if e.Kind == EventSwitched && e.PID == h.PID {
				hows = append(hows, e.How)
			}
		}
		if len(hows) != 1 || (hows[0] != SwitchExitToUser && hows[0] != SwitchStackCheck) {
			t.Errorf("%s switched %v, want once, on exit to user (or by a stack check while preempted)", h, hows)
		}
		if len(hows) == 1 && hows[0] == SwitchExitToUser {
			exitToUser++
		}
	}
	if exitToUser == 0 {
		t.Error("no hammer switched on its way back to user mode")
	}
	for _, h := range hammers {
		k.Kill(h, 9)
	}
	k.RunFor(10e6)
	tkDisableLP(t, k, "test_klp_syscall")
	tkUnload(t, k, "test_klp_syscall")
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_syscall.ko klp_pids="+strings.Join(pids, ",")+"\n"+
		tkEnableLog("test_klp_syscall")+
		"test_klp_syscall: Remaining not livepatched processes: 0\n"+
		tkDisableLog("test_klp_syscall")+
		"% rmmod test_klp_syscall\n")
}

// Idle tasks switch in the idle loop (do_idle's klp_update_patch_state)
// when their CPU is idle: they are "running" for the stack check.
func TestTransition_IdleTasks(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkLivepatch(t, k)
	k.RunFor(10e6)
	evs := tkEvents(c)
	tkLoadLP(t, k, "test_klp_livepatch", "")
	idle := 0
	for _, it := range k.IdleTasks() {
		var hows []SwitchHow
		for _, e := range *evs {
			if e.Kind == EventSwitched && e.Task == it.Comm {
				hows = append(hows, e.How)
			}
		}
		if len(hows) != 1 {
			t.Errorf("%s switched %v times, want once", it.Comm, hows)
			continue
		}
		if hows[0] == SwitchIdle {
			idle++
		} else if hows[0] != SwitchStackCheck {
			t.Errorf("%s switched by %v", it.Comm, hows[0])
		}
		if it.PatchState != KLPTransitionIdle || it.TIF&kernel.TIFPatchPending != 0 {
			t.Errorf("%s after the transition: patch_state %d, TIF %#x", it.Comm, it.PatchState, it.TIF)
		}
	}
	if idle == 0 {
		t.Error("no idle task switched in the idle loop")
	}
}

// A kthread sleeping interruptibly in the function being replaced, which
// nothing else would wake: on the 16th attempt (15 s) the core prints
// "signaling remaining tasks" once and wakes it; it leaves the function and
// the next retry switches it, about 16 s after the start.
func TestTransition_FakeSignalWakesKthread(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_wait_fn"})
	tkInsmod(t, k, "test_klp_target", "wait=1")
	if !tkRunUntil(t, k, 1e9, func() bool { return tkModU64(t, k, "test_klp_target", "wait_entered") == 1 }) {
		t.Fatal("the wait work never started")
	}
	w := tkWorkerIn(t, k, tkModSym(t, k, "test_klp_target", "target_wait_fn"), 0x40)
	if w == nil || !w.IsKthread() {
		t.Fatal("no kthread waits in target_wait_fn")
	}
	evs := tkEvents(c)
	seq := k.Log.NextSeq()
	start := k.Now()
	tkInsmod(t, k, "test_klp_tpatch", "")
	waitTransition(t, k, "test_klp_tpatch")
	d := k.Now() - start
	if d < 15.5e9 || d > 17.5e9 {
		t.Errorf("transition took %.2f s, want about 16", float64(d)/1e9)
	}
	if n := tkModU64(t, k, "test_klp_target", "wait_left"); n != 1 {
		t.Errorf("wait_left = %d: the kthread was not woken", n)
	}
	signals, switched := 0, 0
	var sigAt uint64
	for _, e := range *evs {
		switch {
		case e.Kind == EventSignals:
			signals++
			sigAt = e.TimeNS
		case e.Kind == EventSwitched && e.PID == w.PID:
			switched++
			if sigAt == 0 || e.TimeNS < sigAt {
				t.Errorf("%s switched at %d ns, before the signals (%d)", w, e.TimeNS-start, sigAt)
			}
		}
	}
	if signals != 1 || switched != 1 {
		t.Errorf("%d signal rounds, kworker switched %d times; want 1 and 1", signals, switched)
	}
	if sigAt != 0 && (sigAt-start < 14.5e9 || sigAt-start > 16e9) {
		t.Errorf("signals at %.2f s, want about 15", float64(sigAt-start)/1e9)
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_tpatch.ko
livepatch: enabling patch 'test_klp_tpatch'
livepatch: 'test_klp_tpatch': initializing patching transition
test_klp_tpatch: pre_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': starting patching transition
livepatch: signaling remaining tasks
livepatch: 'test_klp_tpatch': completing patching transition
test_klp_tpatch: post_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': patching complete
`)
}

// echo 1 > force on a stalled enable: every remaining task is switched at
// once, and the next retry completes the transition.
func TestTransition_ForceEnable(t *testing.T) {
	k, c := machine(t, 2)
	// No checker: force switches tasks that are still in the old code,
	// which is the violation the checker exists to catch (see
	// TestTransition_CheckerCatchesForce).
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
	evs := tkEvents(c)
	seq := k.Log.NextSeq()
	w := tkStalled(t, k, "test_klp_tpatch")
	kmsg(t, k, "% echo 1 > /sys/kernel/livepatch/test_klp_tpatch/force")
	if err := k.FS.Echo(nil, "1", "/sys/kernel/livepatch/test_klp_tpatch/force"); err != nil {
		t.Fatal(err)
	}
	if w.PatchState != KLPTransitionPatched || w.TIF&kernel.TIFPatchPending != 0 {
		t.Errorf("after force: kworker patch_state %d TIF %#x", w.PatchState, w.TIF)
	}
	forcedAt := k.Now()
	waitTransition(t, k, "test_klp_tpatch")
	if d := k.Now() - forcedAt; d > 1.2e9 {
		t.Errorf("completed %d ms after force", d/1e6)
	}
	forced := false
	for _, e := range *evs {
		if e.Kind == EventSwitched && e.PID == w.PID && e.How == SwitchForced {
			forced = true
		}
	}
	if !forced {
		t.Error("no forced switch event for the kworker")
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_target.ko sleep=1
% insmod test_modules/test_klp_tpatch.ko
livepatch: enabling patch 'test_klp_tpatch'
livepatch: 'test_klp_tpatch': initializing patching transition
test_klp_tpatch: pre_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': starting patching transition
% echo 1 > /sys/kernel/livepatch/test_klp_tpatch/force
livepatch: forcing remaining tasks to the patched state
livepatch: 'test_klp_tpatch': completing patching transition
test_klp_tpatch: post_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': patching complete
`)
}

// tkInNewCode loads the livepatch first, then the target with its sleep
// work, which enters the replacement and stays there (lp_block): a
// disable of this patch stalls.
func tkInNewCode(t *testing.T, k *kernel.Kernel, mod string) *kernel.Task {
	t.Helper()
	tkLoadLP(t, k, mod, "")
	tkInsmod(t, k, "test_klp_target", "sleep=1")
	if !tkRunUntil(t, k, 1e9, func() bool { return tkModU64(t, k, mod, "lp_entered") == 1 }) {
		t.Fatal("the sleep work never entered the replacement")
	}
	w := tkWorkerIn(t, k, tkModSym(t, k, mod, tkNewName(0, "target_sleep_fn")), 0x40)
	if w == nil {
		t.Fatal("no task sleeps in the replacement")
	}
	return w
}

// echo 1 > force on a stalled disable: the patch is forced, so its module
// keeps its reference for good and can never be removed.
func TestTransition_ForceDisablePinsModule(t *testing.T) {
	k, _ := machine(t, 2)
	// No checker: force switches tasks that are still in the old code,
	// which is the violation the checker exists to catch (see
	// TestTransition_CheckerCatchesForce).
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch")
	tkInNewCode(t, k, "test_klp_tpatch")
	seq := k.Log.NextSeq()
	kmsg(t, k, "% echo 0 > /sys/kernel/livepatch/test_klp_tpatch/enabled")
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/test_klp_tpatch/enabled"); err != nil {
		t.Fatal(err)
	}
	k.RunFor(3e9)
	if v := tkCat(t, k, "/sys/kernel/livepatch/test_klp_tpatch/transition"); v != "1\n" {
		t.Fatalf("disable did not stall: transition %q", v)
	}
	kmsg(t, k, "% echo 1 > /sys/kernel/livepatch/test_klp_tpatch/force")
	if err := k.FS.Echo(nil, "1", "/sys/kernel/livepatch/test_klp_tpatch/force"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, "/sys/kernel/livepatch/test_klp_tpatch")
	k.RunFor(2e9)
	if v := tkCat(t, k, "/sys/module/test_klp_tpatch/refcnt"); v != "1\n" {
		t.Errorf("refcnt of the forced patch's module = %q, want 1 (never dropped)", v)
	}
	err := k.Rmmod("test_klp_tpatch")
	if err == nil || err.Error() != "rmmod: ERROR: Module test_klp_tpatch is in use" {
		t.Errorf("rmmod of the forced patch's module: %v", err)
	}
	if k.FindModule("test_klp_tpatch") == nil {
		t.Error("the forced patch's module was removed")
	}
	wantLog(t, dmesg(k, seq), `% echo 0 > /sys/kernel/livepatch/test_klp_tpatch/enabled
livepatch: 'test_klp_tpatch': initializing unpatching transition
test_klp_tpatch: pre_unpatch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': starting unpatching transition
% echo 1 > /sys/kernel/livepatch/test_klp_tpatch/force
livepatch: forcing remaining tasks to the patched state
livepatch: 'test_klp_tpatch': completing unpatching transition
test_klp_tpatch: post_unpatch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': unpatching complete
`)
}

// Writing 0 to enabled during a stalled enable reverses it: no
// "initializing unpatching" line and no pre_unpatch; it completes because
// the kthread sleeps in the original code, which unpatching does not
// check.
func TestTransition_Reverse_PatchingToUnpatching(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
	evs := tkEvents(c)
	seq := k.Log.NextSeq()
	tkStalled(t, k, "test_klp_tpatch")
	kmsg(t, k, "% echo 0 > /sys/kernel/livepatch/test_klp_tpatch/enabled")
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/test_klp_tpatch/enabled"); err != nil {
		t.Fatal(err)
	}
	if v := tkCat(t, k, "/sys/kernel/livepatch/test_klp_tpatch/enabled"); v != "0\n" {
		t.Errorf("enabled after reversing = %q", v)
	}
	waitGone(t, k, "/sys/kernel/livepatch/test_klp_tpatch")
	tkUnload(t, k, "test_klp_tpatch")
	reversed := 0
	for _, e := range *evs {
		if e.Kind == EventReversed {
			reversed++
			if e.Target != KLPTransitionUnpatched {
				t.Errorf("reversed event target %d", e.Target)
			}
		}
	}
	if reversed != 1 {
		t.Errorf("%d reversed events", reversed)
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_target.ko sleep=1
% insmod test_modules/test_klp_tpatch.ko
livepatch: enabling patch 'test_klp_tpatch'
livepatch: 'test_klp_tpatch': initializing patching transition
test_klp_tpatch: pre_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': starting patching transition
% echo 0 > /sys/kernel/livepatch/test_klp_tpatch/enabled
livepatch: 'test_klp_tpatch': reversing transition from patching to unpatching
livepatch: 'test_klp_tpatch': starting unpatching transition
livepatch: 'test_klp_tpatch': completing unpatching transition
test_klp_tpatch: post_unpatch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': unpatching complete
% rmmod test_klp_tpatch
`)
}

// Writing 1 during a stalled disable reverses it to patching: the patch
// stays enabled, post_patch runs again, and the module stays pinned.
func TestTransition_Reverse_UnpatchingToPatching(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch")
	tkInNewCode(t, k, "test_klp_tpatch")
	seq := k.Log.NextSeq()
	kmsg(t, k, "% echo 0 > /sys/kernel/livepatch/test_klp_tpatch/enabled")
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/test_klp_tpatch/enabled"); err != nil {
		t.Fatal(err)
	}
	k.RunFor(3e9)
	if v := tkCat(t, k, "/sys/kernel/livepatch/test_klp_tpatch/transition"); v != "1\n" {
		t.Fatalf("disable did not stall: transition %q", v)
	}
	kmsg(t, k, "% echo 1 > /sys/kernel/livepatch/test_klp_tpatch/enabled")
	if err := k.FS.Echo(nil, "1", "/sys/kernel/livepatch/test_klp_tpatch/enabled"); err != nil {
		t.Fatal(err)
	}
	waitTransition(t, k, "test_klp_tpatch")
	if v := tkCat(t, k, "/sys/kernel/livepatch/test_klp_tpatch/enabled"); v != "1\n" {
		t.Errorf("enabled = %q after reversing back to patching", v)
	}
	if v := tkCat(t, k, "/sys/module/test_klp_tpatch/refcnt"); v != "1\n" {
		t.Errorf("refcnt = %q", v)
	}
	wantLog(t, dmesg(k, seq), `% echo 0 > /sys/kernel/livepatch/test_klp_tpatch/enabled
livepatch: 'test_klp_tpatch': initializing unpatching transition
test_klp_tpatch: pre_unpatch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': starting unpatching transition
% echo 1 > /sys/kernel/livepatch/test_klp_tpatch/enabled
livepatch: 'test_klp_tpatch': reversing transition from unpatching to patching
livepatch: 'test_klp_tpatch': starting patching transition
livepatch: 'test_klp_tpatch': completing patching transition
test_klp_tpatch: post_patch_callback: test_klp_target -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_tpatch': patching complete
`)
}

// force is the documented way to break the consistency model: the kthread
// it switches is still in target_sleep_fn's old body. The checker, when
// on, reports exactly that task, once however often it runs the old code,
// and the machine goes on; with StopAtViolation it stops there.
func TestTransition_CheckerCatchesForce(t *testing.T) {
	for _, stop := range []bool{false, true} {
		k, c := machine(t, 2)
		c.EnableChecker()
		tkTarget(t, k)
		tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
		w := tkStalled(t, k, "test_klp_tpatch")
		c.StopAtViolation(stop)
		if err := k.FS.Echo(nil, "1", "/sys/kernel/livepatch/test_klp_tpatch/force"); err != nil {
			t.Fatal(err)
		}
		err := k.RunFor(2e9)
		if stop {
			if !errors.Is(err, ErrInconsistent) || !strings.Contains(err.Error(), w.String()) {
				t.Errorf("after force: %v, want the machine stopped at a consistency violation by %s", err, w)
			}
			continue
		}
		if err != nil {
			t.Fatalf("after force: %v, want the machine to go on", err)
		}
		vs := c.Violations()
		if len(vs) != 1 || vs[0].PID != w.PID || vs[0].Kind != RanReplaced || vs[0].Func != "target_sleep_fn" {
			t.Errorf("violations %+v, want one RanReplaced by %s in target_sleep_fn", vs, w)
		}
	}
}

// On one CPU the kthread waiting in the patched function is a work item on
// the only kworker, the pool klp_transition_work is queued on too. Linux's
// worker pools wake or create another worker when the running one sleeps
// (wq_worker_sleeping, maybe_create_worker), so the retries, the fake
// signal and the completion still happen at about 16 s.
func TestTransition_FakeSignalOneCPU(t *testing.T) {
	k, _ := machine(t, 1)
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_wait_fn"})
	tkInsmod(t, k, "test_klp_target", "wait=1")
	if !tkRunUntil(t, k, 1e9, func() bool { return tkModU64(t, k, "test_klp_target", "wait_entered") == 1 }) {
		t.Fatal("the wait work never started")
	}
	seq := k.Log.NextSeq()
	start := k.Now()
	tkInsmod(t, k, "test_klp_tpatch", "")
	tkRunUntil(t, k, 60e9, func() bool {
		v, _ := k.FS.Cat(nil, "/sys/kernel/livepatch/test_klp_tpatch/transition")
		return v == "0\n"
	})
	if d := k.Now() - start; d < 15.5e9 || d > 17.5e9 {
		t.Errorf("transition took %.2f s, want about 16", float64(d)/1e9)
	}
	if !strings.Contains(dmesg(k, seq), "livepatch: signaling remaining tasks\n") {
		t.Errorf("no signals; log:\n%s", dmesg(k, seq))
	}
}

package livepatch

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"klpsim/kernel"
)

// sleepyLP registers a livepatch module NAME that replaces
// cmdline_proc_show and has four vmlinux callbacks. A callback with a
// sleep in ms prints "NAME: CALLBACK enter", msleep()s that long and
// prints "NAME: CALLBACK exit"; the others print "NAME: CALLBACK".
func sleepyLP(t *testing.T, k *kernel.Kernel, name string, ms map[string]int) {
	t.Helper()
	var src strings.Builder
	src.WriteString(lpSrc(name, "cmdline_proc_show", 0))
	cbs := []string{"pre_patch_callback", "post_patch_callback", "pre_unpatch_callback", "post_unpatch_callback"}
	for _, cb := range cbs {
		body := "\tlea rdi, [rip + cbfmt]\n\tlea rsi, [rip + name_" + cb + "]\n"
		if n := ms[cb]; n > 0 {
			body = "\tlea rdi, [rip + cbfmt_enter]\n\tlea rsi, [rip + name_" + cb + "]\n\tcall _printk\n" +
				fmt.Sprintf("\tmov edi, %d\n\tcall msleep\n", n) +
				"\tlea rdi, [rip + cbfmt_exit]\n\tlea rsi, [rip + name_" + cb + "]\n"
		}
		src.WriteString(fn(cb, body+"\tcall _printk\n\txor eax, eax\n"))
		src.WriteString("\t.section .rodata\nname_" + cb + ": .asciz \"" + cb + "\"\n")
	}
	src.WriteString("\t.section .rodata\ncbfmt: .asciz \"\\0016" + name + ": %s\\n\"\n" +
		"cbfmt_enter: .asciz \"\\0016" + name + ": %s enter\\n\"\n" +
		"cbfmt_exit: .asciz \"\\0016" + name + ": %s exit\\n\"\n")
	// lpSrc's object has no callbacks: point them at ours.
	s := strings.Replace(src.String(), "objs:\t.quad 0, funcs, 0, 0, 0, 0, 0, 0",
		"objs:\t.quad 0, funcs, "+strings.Join(cbs, ", ")+", 0, 0", 1)
	addModule(t, k, lpSpec(name), s)
}

// start runs f on a new task named comm without waiting for it; the
// returned func reports whether it finished, and its error.
func start(t *testing.T, k *kernel.Kernel, comm string, f func(ctx *kernel.OpCtx) error) (*kernel.Task, func() (bool, error)) {
	t.Helper()
	var err error
	done := false
	task, serr := k.StartOnTask(comm, func(ctx *kernel.OpCtx) uint64 {
		err = f(ctx)
		return 0
	}, func(uint64) { done = true })
	if serr != nil {
		t.Fatal(serr)
	}
	return task, func() (bool, error) { return done, err }
}

// waitsOnKlpMutex checks that task sleeps in mutex_lock on klp_mutex,
// behind holder, called from caller (the host operation's kernel_op:
// the core's functions are host code, without frames of their own).
func waitsOnKlpMutex(t *testing.T, k *kernel.Kernel, c *Core, task, holder *kernel.Task, caller string) {
	t.Helper()
	if got := k.MutexOwner(c.KlpMutex()); got != holder {
		t.Errorf("klp_mutex owner %v, want %v", got, holder)
	}
	if got := k.MutexWaiters(c.KlpMutex()); !slices.Equal(got, []*kernel.Task{task}) {
		t.Errorf("klp_mutex waiters %v, want [%v]", got, task)
	}
	if task.State != kernel.TaskUninterruptible {
		t.Errorf("%v: state %#x, want TASK_UNINTERRUPTIBLE", task, task.State)
	}
	st := k.ProcStack(task)
	for _, f := range []string{"schedule+", "__mutex_lock_slowpath+", "mutex_lock+", caller} {
		if !strings.Contains(st, "] "+f) {
			t.Errorf("%v: no %s in its stack:\n%s", task, f, st)
		}
	}
}

// The reproducer: a write to "enabled" while the kworker's
// post_patch callback sleeps in klp_complete_transition waits on
// klp_mutex — in mutex_lock, under the sysfs write — until the kworker
// lets go, then disables the patch normally; rmmod is safe and the
// original function runs again.
func TestKlpMutex_SysfsWriteWaitsForKworker(t *testing.T) {
	k, c := machine(t, 2)
	const mod = "test_klp_sleepy"
	sleepyLP(t, k, mod, map[string]int{"post_patch_callback": 500})
	seq := k.Log.NextSeq()
	kmsg(t, k, "% insmod test_modules/"+mod+".ko")
	if err := k.Insmod(mod, ""); err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(1.2e9 - k.Now()); err != nil {
		t.Fatal(err)
	}
	if c.TransitionPatch() == nil {
		t.Fatal("the transition completed before the write")
	}
	// When the patching completes (after post_patch, still under the
	// mutex), the writer must be waiting behind the kworker.
	var writer *kernel.Task
	checked := false
	c.OnEvent = func(e Event) {
		if e.Kind != EventComplete || e.Target != KLPTransitionPatched {
			return
		}
		checked = true
		holder := k.MutexOwner(c.KlpMutex())
		if holder == nil || !strings.HasPrefix(holder.Comm, "kworker/") {
			t.Errorf("klp_mutex held by %v, want the kworker", holder)
		}
		for _, w := range k.Tasks() {
			if w.Comm == "bash" {
				writer = w
			}
		}
		if writer == nil {
			t.Fatal("no writer task")
		}
		waitsOnKlpMutex(t, k, c, writer, holder, "kernel_op+")
	}
	path := "/sys/kernel/livepatch/" + mod
	kmsg(t, k, "% echo 0 > "+path+"/enabled")
	if err := k.FS.Echo(nil, "0", path+"/enabled"); err != nil {
		t.Fatal(err)
	}
	c.OnEvent = nil
	if !checked {
		t.Error("the patching never completed during the write")
	}
	if err := k.RunUntil(k.Now()+10e9, func() bool { _, err := k.FS.Lookup(nil, path); return err != nil }); err != nil {
		t.Fatal(err)
	}
	kmsg(t, k, "% rmmod "+mod)
	if err := k.Rmmod(mod); err != nil {
		t.Fatal(err)
	}
	if out, err := k.FS.Cat(nil, "/proc/cmdline"); err != nil || strings.Contains(out, "live patched") {
		t.Errorf("cat /proc/cmdline after rmmod: %q, %v", out, err)
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_sleepy.ko
livepatch: enabling patch 'test_klp_sleepy'
livepatch: 'test_klp_sleepy': initializing patching transition
test_klp_sleepy: pre_patch_callback
livepatch: 'test_klp_sleepy': starting patching transition
livepatch: 'test_klp_sleepy': completing patching transition
test_klp_sleepy: post_patch_callback enter
% echo 0 > /sys/kernel/livepatch/test_klp_sleepy/enabled
test_klp_sleepy: post_patch_callback exit
livepatch: 'test_klp_sleepy': patching complete
livepatch: 'test_klp_sleepy': initializing unpatching transition
test_klp_sleepy: pre_unpatch_callback
livepatch: 'test_klp_sleepy': starting unpatching transition
livepatch: 'test_klp_sleepy': completing unpatching transition
test_klp_sleepy: post_unpatch_callback
livepatch: 'test_klp_sleepy': unpatching complete
% rmmod test_klp_sleepy
`)
}

// Loading a second livepatch while the first one's pre_patch callback
// sleeps (in klp_enable_patch, under klp_mutex) waits on klp_mutex — in
// klp_module_coming, which every module load passes, as in Linux — and
// then its klp_enable_patch fails with -EBUSY because the first patch's
// transition is still running, as __klp_enable_patch does.
func TestKlpMutex_EnableWaitsThenBusy(t *testing.T) {
	k, c := machine(t, 2)
	sleepyLP(t, k, "test_klp_sleepy1", map[string]int{"pre_patch_callback": 300})
	sleepyLP(t, k, "test_klp_sleepy2", nil)
	seq := k.Log.NextSeq()
	kmsg(t, k, "% insmod test_modules/test_klp_sleepy1.ko")
	first, done1 := start(t, k, "insmod", func(ctx *kernel.OpCtx) error { return k.InsmodOn(ctx, "test_klp_sleepy1", "") })
	if err := k.RunFor(100e6); err != nil {
		t.Fatal(err)
	}
	kmsg(t, k, "% insmod test_modules/test_klp_sleepy2.ko")
	second, done2 := start(t, k, "insmod", func(ctx *kernel.OpCtx) error { return k.InsmodOn(ctx, "test_klp_sleepy2", "") })
	if err := k.RunFor(100e6); err != nil {
		t.Fatal(err)
	}
	waitsOnKlpMutex(t, k, c, second, first, "kernel_op+")
	if err := k.RunUntil(k.Now()+10e9, func() bool { a, _ := done1(); b, _ := done2(); return a && b }); err != nil {
		t.Fatal(err)
	}
	if _, err := done1(); err != nil {
		t.Errorf("first insmod: %v", err)
	}
	_, err := done2()
	if err == nil {
		t.Fatal("the second insmod succeeded during the first's transition")
	}
	kmsg(t, k, err.Error())
	if err := k.RunUntil(k.Now()+10e9, func() bool { return c.TransitionPatch() == nil }); err != nil {
		t.Fatal(err)
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_sleepy1.ko
livepatch: enabling patch 'test_klp_sleepy1'
livepatch: 'test_klp_sleepy1': initializing patching transition
test_klp_sleepy1: pre_patch_callback enter
% insmod test_modules/test_klp_sleepy2.ko
test_klp_sleepy1: pre_patch_callback exit
livepatch: 'test_klp_sleepy1': starting patching transition
insmod: ERROR: could not insert module test_modules/test_klp_sleepy2.ko: Device or resource busy
livepatch: 'test_klp_sleepy1': completing patching transition
test_klp_sleepy1: post_patch_callback
livepatch: 'test_klp_sleepy1': patching complete
`)
}

// Sleeping pre_unpatch and post_unpatch callbacks: the disable holds
// klp_mutex across pre_unpatch (enabled_store runs __klp_disable_patch
// under it), so a write to "force" meanwhile waits in mutex_lock; it then
// finds the unpatching transition running and forces it. post_unpatch
// sleeps in klp_complete_transition, under the mutex again.
func TestKlpMutex_SleepingUnpatchCallbacks(t *testing.T) {
	k, c := machine(t, 2)
	const mod = "test_klp_sleepy"
	sleepyLP(t, k, mod, map[string]int{"pre_unpatch_callback": 300, "post_unpatch_callback": 300})
	if err := k.Insmod(mod, ""); err != nil {
		t.Fatal(err)
	}
	if err := k.RunUntil(k.Now()+5e9, func() bool { return c.TransitionPatch() == nil }); err != nil {
		t.Fatal(err)
	}
	seq := k.Log.NextSeq()
	path := "/sys/kernel/livepatch/" + mod
	kmsg(t, k, "% echo 0 > "+path+"/enabled")
	disabler, done1 := start(t, k, "bash", func(ctx *kernel.OpCtx) error { return k.FS.Echo(ctx, "0", path+"/enabled") })
	if err := k.RunFor(100e6); err != nil {
		t.Fatal(err)
	}
	kmsg(t, k, "% echo 1 > "+path+"/force")
	forcer, done2 := start(t, k, "bash", func(ctx *kernel.OpCtx) error { return k.FS.Echo(ctx, "1", path+"/force") })
	if err := k.RunFor(50e6); err != nil {
		t.Fatal(err)
	}
	waitsOnKlpMutex(t, k, c, forcer, disabler, "kernel_op+")
	if err := k.RunUntil(k.Now()+10e9, func() bool {
		a, _ := done1()
		b, _ := done2()
		_, err := k.FS.Lookup(nil, path)
		return a && b && err != nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []func() (bool, error){done1, done2} {
		if _, err := d(); err != nil {
			t.Errorf("write: %v", err)
		}
	}
	wantLog(t, dmesg(k, seq), `% echo 0 > /sys/kernel/livepatch/test_klp_sleepy/enabled
livepatch: 'test_klp_sleepy': initializing unpatching transition
test_klp_sleepy: pre_unpatch_callback enter
% echo 1 > /sys/kernel/livepatch/test_klp_sleepy/force
test_klp_sleepy: pre_unpatch_callback exit
livepatch: 'test_klp_sleepy': starting unpatching transition
livepatch: forcing remaining tasks to the patched state
livepatch: 'test_klp_sleepy': completing unpatching transition
test_klp_sleepy: post_unpatch_callback enter
test_klp_sleepy: post_unpatch_callback exit
livepatch: 'test_klp_sleepy': unpatching complete
`)
}

// A module init that sleeps holds no livepatch lock: klp_module_coming
// has let go of klp_mutex before the init runs, so a livepatch can be
// disabled meanwhile, and the module's load completes afterwards.
func TestKlpMutex_SleepingModuleInit(t *testing.T) {
	k, c := machine(t, 2)
	sleepyLP(t, k, "test_klp_sleepy", nil)
	addModule(t, k, kernel.ModuleSpec{Name: "test_klp_slowinit", Init: "slow_init"},
		fn("slow_init", "\tlea rdi, [rip + enter]\n\tcall _printk\n\tmov edi, 300\n\tcall msleep\n\tlea rdi, [rip + leave]\n\tcall _printk\n\txor eax, eax\n")+`
	.section .rodata
enter:	.asciz "\0016test_klp_slowinit: init enter\n"
leave:	.asciz "\0016test_klp_slowinit: init done\n"
`)
	if err := k.Insmod("test_klp_sleepy", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.RunUntil(k.Now()+5e9, func() bool { return c.TransitionPatch() == nil }); err != nil {
		t.Fatal(err)
	}
	seq := k.Log.NextSeq()
	kmsg(t, k, "% insmod test_modules/test_klp_slowinit.ko")
	_, done := start(t, k, "insmod", func(ctx *kernel.OpCtx) error { return k.InsmodOn(ctx, "test_klp_slowinit", "") })
	if err := k.RunFor(50e6); err != nil {
		t.Fatal(err)
	}
	if owner := k.MutexOwner(c.KlpMutex()); owner != nil {
		t.Errorf("klp_mutex held by %v during a module init", owner)
	}
	path := "/sys/kernel/livepatch/test_klp_sleepy"
	kmsg(t, k, "% echo 0 > "+path+"/enabled")
	if err := k.FS.Echo(nil, "0", path+"/enabled"); err != nil {
		t.Fatal(err)
	}
	if d, _ := done(); d {
		t.Error("the init finished before the write: nothing ran while it slept")
	}
	if err := k.RunUntil(k.Now()+5e9, func() bool { d, _ := done(); return d }); err != nil {
		t.Fatal(err)
	}
	if _, err := done(); err != nil {
		t.Errorf("insmod: %v", err)
	}
	got := dmesg(k, seq)
	if i, j := strings.Index(got, "'test_klp_sleepy': starting unpatching transition"), strings.Index(got, "init done"); i < 0 || j < i {
		t.Errorf("the disable did not run while the init slept:\n%s", got)
	}
}

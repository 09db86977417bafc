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

package livepatch

import (
	"sort"
	"strconv"
	"strings"
	"testing"

	"klpsim/kernel"
)

// tkLs lists a directory's entries, sorted.
func tkLs(t testing.TB, k *kernel.Kernel, dir string) []string {
	t.Helper()
	nodes, err := k.FS.ReadDir(nil, dir)
	if err != nil {
		t.Fatalf("ls %s: %v", dir, err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name())
	}
	sort.Strings(names)
	return names
}

// tkPatchDirs is `ls /sys/kernel/livepatch`.
func tkPatchDirs(t testing.TB, k *kernel.Kernel) string {
	return strings.Join(tkLs(t, k, "/sys/kernel/livepatch"), " ")
}

// test-livepatch.sh "multiple livepatches": two patches of different
// functions, each disabled and removed on its own.
func TestReplace_MultipleLivepatches(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkLivepatch(t, k)
	tkAtomicReplace(t, k)
	seq := k.Log.NextSeq()
	grep := func() { tkGrep(t, k, "/proc/cmdline"); tkGrep(t, k, "/proc/meminfo") }
	tkLoadLP(t, k, "test_klp_livepatch", "")
	grep()
	tkLoadLP(t, k, "test_klp_atomic_replace", "replace=0")
	grep()
	tkDisableLP(t, k, "test_klp_atomic_replace")
	tkUnload(t, k, "test_klp_atomic_replace")
	grep()
	tkDisableLP(t, k, "test_klp_livepatch")
	tkUnload(t, k, "test_klp_livepatch")
	grep()
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_livepatch.ko\n"+
		tkEnableLog("test_klp_livepatch")+
		"test_klp_livepatch: this has been live patched\n"+
		"% insmod test_modules/test_klp_atomic_replace.ko replace=0\n"+
		tkEnableLog("test_klp_atomic_replace")+
		"test_klp_livepatch: this has been live patched\n"+
		"test_klp_atomic_replace: this has been live patched\n"+
		tkDisableLog("test_klp_atomic_replace")+
		"% rmmod test_klp_atomic_replace\n"+
		"test_klp_livepatch: this has been live patched\n"+
		tkDisableLog("test_klp_livepatch")+
		"% rmmod test_klp_livepatch\n")
}

// test-livepatch.sh "atomic replace livepatch": three patches, then a
// replace=1 patch of another function. Only it is left; the older
// modules unload without being disabled and none of their callbacks run;
// during the transition the new patch carries nops for everything the
// older ones patched, and afterwards the nops are gone and so are the
// ftrace handlers of functions only the older patches patched.
func TestReplace_AtomicReplaceLivepatch(t *testing.T) {
	k, c := machine(t, 2)
	c.EnableChecker()
	tkLivepatch(t, k)
	tkSyscall(t, k)
	tkCallbacksDemo(t, k)
	tkAtomicReplace(t, k)
	seq := k.Log.NextSeq()
	grep := func() { tkGrep(t, k, "/proc/cmdline"); tkGrep(t, k, "/proc/meminfo") }
	tkLoadLP(t, k, "test_klp_livepatch", "")
	grep()
	tkLoadLP(t, k, "test_klp_syscall", "")
	tkLoadLP(t, k, "test_klp_callbacks_demo", "")
	if got := tkPatchDirs(t, k); got != "test_klp_callbacks_demo test_klp_livepatch test_klp_syscall" {
		t.Fatalf("Expecting three modules listed, found %q", got)
	}
	cmdline, getpid, meminfo := tkSym(t, k, "cmdline_proc_show"), tkSym(t, k, "__x64_sys_getpid"), tkSym(t, k, "meminfo_proc_show")

	// load_lp = load_lp_nowait + the wait: look at the patch in between.
	tkInsmod(t, k, "test_klp_atomic_replace", "replace=1")
	if c.TransitionPatch() == nil || c.TransitionPatch().Name != "test_klp_atomic_replace" {
		t.Fatal("the replace transition finished inside insmod; cannot look at its nops")
	}
	var nops []string
	for _, o := range c.TransitionPatch().Objs {
		for _, f := range o.Funcs {
			if f.Nop {
				nops = append(nops, o.DisplayName()+"/"+f.OldName)
				if o.Name != "test_klp_callbacks_busy" && (!f.Patched || !f.Transition || f.NewFunc != f.OldFunc) {
					t.Errorf("nop %s: patched %v transition %v new_func %#x old_func %#x", f.OldName, f.Patched, f.Transition, f.NewFunc, f.OldFunc)
				}
			}
		}
	}
	sort.Strings(nops)
	if got := strings.Join(nops, " "); got != "test_klp_callbacks_busy/busymod_work_func vmlinux/__x64_sys_getpid vmlinux/cmdline_proc_show" {
		t.Errorf("nops during the transition: %s", got)
	}
	for _, a := range []uint64{cmdline, getpid} {
		ops := c.findOps(a)
		if ops == nil || !ops.top().Nop || len(ops.stack) != 2 {
			t.Errorf("%s's func_stack during the transition: %+v", k.Syms.Name(a), ops)
		}
	}
	dir := "/sys/kernel/livepatch/test_klp_atomic_replace"
	if got := strings.Join(tkLs(t, k, dir), " "); got != "enabled force replace stack_order test_klp_callbacks_busy test_klp_callbacks_mod transition vmlinux" {
		t.Errorf("%s during the transition: %s", dir, got)
	}
	if got := strings.Join(tkLs(t, k, dir+"/vmlinux"), " "); got != "__x64_sys_getpid,1 cmdline_proc_show,1 meminfo_proc_show,1 patched" {
		t.Errorf("%s/vmlinux during the transition: %s", dir, got)
	}
	waitTransition(t, k, "test_klp_atomic_replace")
	grep()
	if !tkRunUntil(t, k, 60e9, func() bool { return len(tkLs(t, k, "/sys/kernel/livepatch")) == 1 }) {
		t.Fatalf("/sys/kernel/livepatch: %s", tkPatchDirs(t, k))
	}
	// The nops are discarded, and with them the handlers of the functions
	// that only the replaced patches patched.
	for _, a := range []uint64{cmdline, getpid} {
		if ops := c.findOps(a); ops != nil {
			t.Errorf("%s still has klp_ops: %+v", k.Syms.Name(a), ops.stack)
		}
		if !tkSiteIsNop(t, k, a) {
			t.Errorf("%s's site is not a nop", k.Syms.Name(a))
		}
	}
	if ops := c.findOps(meminfo); ops == nil || len(ops.stack) != 1 || ops.top().Obj.Patch.Name != "test_klp_atomic_replace" {
		t.Errorf("meminfo_proc_show's func_stack: %+v", ops)
	}
	if got := strings.Join(tkLs(t, k, dir), " "); got != "enabled force replace stack_order transition vmlinux" {
		t.Errorf("%s after the transition: %s", dir, got)
	}
	if got := strings.Join(tkLs(t, k, dir+"/vmlinux"), " "); got != "meminfo_proc_show,1 patched" {
		t.Errorf("%s/vmlinux after the transition: %s", dir, got)
	}
	for _, o := range c.Patches()[0].Objs {
		for _, f := range o.Funcs {
			if f.Nop || f.Transition {
				t.Errorf("func %s left: nop %v transition %v", f.OldName, f.Nop, f.Transition)
			}
		}
	}
	if n := len(c.Patches()); n != 1 {
		t.Errorf("%d patches in klp_patches", n)
	}
	tkUnload(t, k, "test_klp_callbacks_demo")
	tkUnload(t, k, "test_klp_syscall")
	tkUnload(t, k, "test_klp_livepatch")
	grep()
	tkDisableLP(t, k, "test_klp_atomic_replace")
	tkUnload(t, k, "test_klp_atomic_replace")
	grep()
	if !tkSiteIsNop(t, k, meminfo) || len(c.ops) != 0 {
		t.Errorf("after everything: meminfo site nop %v, %d klp_ops", tkSiteIsNop(t, k, meminfo), len(c.ops))
	}
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_livepatch.ko\n"+
		tkEnableLog("test_klp_livepatch")+
		"test_klp_livepatch: this has been live patched\n"+
		"% insmod test_modules/test_klp_syscall.ko\n"+
		tkEnableLog("test_klp_syscall")+
		`% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_atomic_replace.ko replace=1
`+tkEnableLog("test_klp_atomic_replace")+
		"test_klp_atomic_replace: this has been live patched\n"+
		"% rmmod test_klp_callbacks_demo\n"+
		"% rmmod test_klp_syscall\n"+
		"% rmmod test_klp_livepatch\n"+
		"test_klp_atomic_replace: this has been live patched\n"+
		tkDisableLog("test_klp_atomic_replace")+
		"% rmmod test_klp_atomic_replace\n")
}

// Three stacked patches of one function: the func_stack holds them in
// enable order, the top one runs, and any of them can be disabled in any
// order, the next one down taking over.
func TestReplace_StackedAnyOrder(t *testing.T) {
	for _, order := range [][]int{{1, 2, 0}, {0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		name := "disable"
		for _, i := range order {
			name += "-" + strconv.Itoa(i+1)
		}
		t.Run(name, func(t *testing.T) {
			k, c := machine(t, 2)
			c.EnableChecker()
			names := []string{"test_klp_s1", "test_klp_s2", "test_klp_s3"}
			for _, n := range names {
				addModule(t, k, lpSpec(n), lpSrc(n, "cmdline_proc_show", 0))
			}
			for _, n := range names {
				tkLoadLP(t, k, n, "")
			}
			cmdline := tkSym(t, k, "cmdline_proc_show")
			stack := func() string {
				ops := c.findOps(cmdline)
				if ops == nil {
					return ""
				}
				var s []string
				for _, f := range ops.stack {
					s = append(s, f.Obj.Patch.Name)
				}
				return strings.Join(s, " ")
			}
			live := []string{"test_klp_s1", "test_klp_s2", "test_klp_s3"}
			for _, i := range order {
				if got := stack(); got != strings.Join(live, " ") {
					t.Errorf("func_stack %q, want %q", got, strings.Join(live, " "))
				}
				want := live[len(live)-1] + ": this has been live patched\n"
				if got := tkCat(t, k, "/proc/cmdline"); got != want {
					t.Errorf("/proc/cmdline = %q, want %q", got, want)
				}
				tkDisableLP(t, k, names[i])
				tkUnload(t, k, names[i])
				for j, n := range live {
					if n == names[i] {
						live = append(live[:j:j], live[j+1:]...)
						break
					}
				}
				for j, n := range live {
					if got := tkCat(t, k, "/sys/kernel/livepatch/"+n+"/stack_order"); got != strconv.Itoa(j+1)+"\n" {
						t.Errorf("%s stack_order %q, want %d", n, got, j+1)
					}
				}
			}
			if got := tkCat(t, k, "/proc/cmdline"); strings.Contains(got, "live patched") {
				t.Errorf("/proc/cmdline still patched: %q", got)
			}
			if stack() != "" || !tkSiteIsNop(t, k, cmdline) {
				t.Errorf("after all: func_stack %q, site nop %v", stack(), tkSiteIsNop(t, k, cmdline))
			}
		})
	}
}

// A forced atomic replace marks every replaced patch forced: they leave
// /sys/kernel/livepatch but their modules keep their reference for good.
func TestReplace_ForcedReplacePinsReplaced(t *testing.T) {
	k, c := machine(t, 2)
	tkTarget(t, k)
	tkLivepatch(t, k)
	tkAddLP(t, k, "test_klp_r", 1, tkObj{name: "test_klp_target", funcs: []tkFunc{{old: "target_sleep_fn"}}})
	tkLoadLP(t, k, "test_klp_livepatch", "")
	tkStallWith(t, k, "test_klp_r", "")
	seq := k.Log.NextSeq()
	if err := k.FS.Echo(nil, "1", "/sys/kernel/livepatch/test_klp_r/force"); err != nil {
		t.Fatal(err)
	}
	waitTransition(t, k, "test_klp_r")
	waitGone(t, k, "/sys/kernel/livepatch/test_klp_livepatch")
	if got := tkCat(t, k, "/sys/module/test_klp_livepatch/refcnt"); got != "1\n" {
		t.Errorf("replaced, forced patch's module refcnt %q, want 1", got)
	}
	if err := k.Rmmod("test_klp_livepatch"); err == nil {
		t.Error("the forced replaced patch's module could be removed")
	}
	if got := tkCat(t, k, "/sys/module/test_klp_r/refcnt"); got != "1\n" {
		t.Errorf("the replace patch's refcnt %q", got)
	}
	if n := len(c.Patches()); n != 1 {
		t.Errorf("%d patches left", n)
	}
	wantLog(t, dmesg(k, seq), `livepatch: forcing remaining tasks to the patched state
livepatch: 'test_klp_r': completing patching transition
livepatch: 'test_klp_r': patching complete
`)
}

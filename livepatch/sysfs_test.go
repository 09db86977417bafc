package livepatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// tkCallbacksMod registers test_klp_callbacks_mod: init and exit print
// their names.
func tkCallbacksMod(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	pr := func(label string) string {
		return "\tlea rdi, [rip + cmfmt]\n\tlea rsi, [rip + " + label + "]\n\tcall _printk\n"
	}
	addModule(t, k, kernel.ModuleSpec{Name: "test_klp_callbacks_mod", Init: "test_klp_callbacks_mod_init", Exit: "test_klp_callbacks_mod_exit"},
		fn("test_klp_callbacks_mod_init", pr("s_init")+"\txor eax, eax\n")+
			fn("test_klp_callbacks_mod_exit", pr("s_exit"))+
			"\t.section .rodata\ncmfmt:\t.asciz \"\\0016test_klp_callbacks_mod: %s\\n\"\n"+
			"s_init:\t.asciz \"test_klp_callbacks_mod_init\"\ns_exit:\t.asciz \"test_klp_callbacks_mod_exit\"\n")
}

// tkRights is check_sysfs_rights.
func tkRights(t *testing.T, k *kernel.Kernel, mod, rel, want string) {
	t.Helper()
	got, err := k.FS.StatMode(nil, "/sys/kernel/livepatch/"+mod+"/"+rel)
	if err != nil || got != want {
		t.Errorf("rights of %s/%s: %q (%v), want %q", mod, rel, got, err, want)
	}
}

// tkValue is check_sysfs_value.
func tkValue(t *testing.T, k *kernel.Kernel, mod, rel, want string) {
	t.Helper()
	got, err := k.FS.Cat(nil, "/sys/kernel/livepatch/"+mod+"/"+rel)
	if err != nil || got != want+"\n" {
		t.Errorf("value of %s/%s: %q (%v), want %q", mod, rel, got, err, want)
	}
}

// test-sysfs.sh "sysfs test".
func TestSysfs_RightsAndValues(t *testing.T) {
	k, _ := machine(t, 2)
	tkLivepatch(t, k)
	seq := k.Log.NextSeq()
	mod := "test_klp_livepatch"
	tkLoadLP(t, k, mod, "")
	tkRights(t, k, mod, "", "drwxr-xr-x")
	tkRights(t, k, mod, "enabled", "-rw-r--r--")
	tkValue(t, k, mod, "enabled", "1")
	tkRights(t, k, mod, "force", "--w-------")
	tkRights(t, k, mod, "replace", "-r--r--r--")
	tkRights(t, k, mod, "stack_order", "-r--r--r--")
	tkValue(t, k, mod, "stack_order", "1")
	tkRights(t, k, mod, "transition", "-r--r--r--")
	tkValue(t, k, mod, "transition", "0")
	tkRights(t, k, mod, "vmlinux/patched", "-r--r--r--")
	tkValue(t, k, mod, "vmlinux/patched", "1")
	tkRights(t, k, mod, "vmlinux/cmdline_proc_show,1", "drwxr-xr-x")
	if got := strings.Join(tkLs(t, k, "/sys/kernel/livepatch/"+mod+"/vmlinux/cmdline_proc_show,1"), " "); got != "" {
		t.Errorf("the function directory holds %q", got)
	}
	tkDisableLP(t, k, mod)
	tkUnload(t, k, mod)
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_livepatch.ko\n"+tkEnableLog(mod)+tkDisableLog(mod)+"% rmmod test_klp_livepatch\n")
}

// test-sysfs.sh "sysfs test object/patched".
func TestSysfs_ObjectPatched(t *testing.T) {
	k, _ := machine(t, 2)
	tkCallbacksDemo(t, k)
	tkCallbacksMod(t, k)
	seq := k.Log.NextSeq()
	mod, target := "test_klp_callbacks_demo", "test_klp_callbacks_mod"
	tkLoadLP(t, k, mod, "")
	tkValue(t, k, mod, target+"/patched", "0")
	tkInsmod(t, k, target, "")
	tkValue(t, k, mod, target+"/patched", "1")
	tkUnload(t, k, target)
	tkValue(t, k, mod, target+"/patched", "0")
	tkDisableLP(t, k, mod)
	tkUnload(t, k, mod)
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// test-sysfs.sh "sysfs test replace enabled" and "... disabled".
func TestSysfs_Replace(t *testing.T) {
	for _, r := range []string{"1", "0"} {
		t.Run("replace="+r, func(t *testing.T) {
			k, _ := machine(t, 2)
			tkAtomicReplace(t, k)
			mod := "test_klp_atomic_replace"
			seq := k.Log.NextSeq()
			tkLoadLP(t, k, mod, "replace="+r)
			tkRights(t, k, mod, "replace", "-r--r--r--")
			tkValue(t, k, mod, "replace", r)
			tkDisableLP(t, k, mod)
			tkUnload(t, k, mod)
			wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_atomic_replace.ko replace="+r+"\n"+
				tkEnableLog(mod)+tkDisableLog(mod)+"% rmmod test_klp_atomic_replace\n")
		})
	}
}

// test-sysfs.sh "sysfs test stack_order value": disabling the middle patch
// renumbers the last one.
func TestSysfs_StackOrder(t *testing.T) {
	k, _ := machine(t, 2)
	tkAtomicReplace(t, k)
	tkCallbacksDemo(t, k)
	tkSyscall(t, k)
	lp1, lp2, lp3 := "test_klp_atomic_replace", "test_klp_callbacks_demo", "test_klp_syscall"
	seq := k.Log.NextSeq()
	tkLoadLP(t, k, lp1, "")
	tkValue(t, k, lp1, "stack_order", "1")
	tkLoadLP(t, k, lp2, "")
	tkValue(t, k, lp2, "stack_order", "2")
	tkLoadLP(t, k, lp3, "")
	tkValue(t, k, lp3, "stack_order", "3")
	tkDisableLP(t, k, lp2)
	tkUnload(t, k, lp2)
	tkValue(t, k, lp1, "stack_order", "1")
	tkValue(t, k, lp3, "stack_order", "2")
	tkDisableLP(t, k, lp3)
	tkUnload(t, k, lp3)
	tkDisableLP(t, k, lp1)
	tkUnload(t, k, lp1)
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_atomic_replace.ko\n"+tkEnableLog(lp1)+
		`% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
`+"% insmod test_modules/test_klp_syscall.ko\n"+tkEnableLog(lp3)+
		`% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`+tkDisableLog(lp3)+"% rmmod test_klp_syscall\n"+tkDisableLog(lp1)+"% rmmod test_klp_atomic_replace\n")
}

// tkEcho writes value to a file and returns the shell's error line ("" if
// none) and the errno.
func tkEcho(k *kernel.Kernel, value, path string) (string, error) {
	err := k.FS.Echo(nil, value, path)
	if err == nil {
		return "", nil
	}
	e, _ := errno.Of(err)
	return err.Error(), e
}

// Writes to enabled and force, and what they must refuse.
func TestSysfs_WriteSemantics(t *testing.T) {
	k, c := machine(t, 2)
	tkLivepatch(t, k)
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
	dir := "/sys/kernel/livepatch/test_klp_livepatch/"
	tkLoadLP(t, k, "test_klp_livepatch", "")
	evs := tkEvents(c)
	seq := k.Log.NextSeq()
	for _, tc := range []struct {
		value, file string
		msg         string
		err         error
	}{
		{"1", "enabled", "bash: echo: write error: Invalid argument", errno.EINVAL}, // same value
		{"Y", "enabled", "bash: echo: write error: Invalid argument", errno.EINVAL}, // kstrtobool's Y, same value
		{"2", "enabled", "bash: echo: write error: Invalid argument", errno.EINVAL}, // not a bool
		{"abc", "force", "bash: echo: write error: Invalid argument", errno.EINVAL},
		{"1", "force", "bash: echo: write error: Invalid argument", errno.EINVAL}, // not in transition
		{"0", "force", "", nil}, // false: a no-op
		{"n", "force", "", nil},
		{"1", "transition", "bash: " + dir + "transition: Permission denied", errno.EACCES},
		{"1", "replace", "bash: " + dir + "replace: Permission denied", errno.EACCES},
		{"1", "stack_order", "bash: " + dir + "stack_order: Permission denied", errno.EACCES},
		{"1", "vmlinux/patched", "bash: " + dir + "vmlinux/patched: Permission denied", errno.EACCES},
	} {
		msg, err := tkEcho(k, tc.value, dir+tc.file)
		if msg != tc.msg || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("echo %s > %s: %q (%v), want %q (%v)", tc.value, tc.file, msg, err, tc.msg, tc.err)
		}
	}
	if _, err := k.FS.Cat(nil, dir+"force"); err == nil || err.Error() != "cat: "+dir+"force: Permission denied" {
		t.Errorf("cat force: %v", err)
	}
	if got := dmesg(k, seq); got != "" || len(*evs) != 0 {
		t.Errorf("refused writes logged %q, %d events", got, len(*evs))
	}
	tkValue(t, k, "test_klp_livepatch", "enabled", "1")

	// While another patch is in transition: disabling is -EBUSY, and so
	// is enabling a new one (insmod fails and leaves nothing behind).
	tkStallWith(t, k, "test_klp_tpatch", "")
	if msg, err := tkEcho(k, "0", dir+"enabled"); msg != "bash: echo: write error: Device or resource busy" || err != errno.EBUSY {
		t.Errorf("disable during another transition: %q (%v)", msg, err)
	}
	if msg, _ := tkEcho(k, "1", dir+"force"); msg != "bash: echo: write error: Invalid argument" {
		t.Errorf("force of a patch that is not the transition patch: %q", msg)
	}
	// enabled reads 1 during an enable transition; writing 1 is the same
	// value.
	tdir := "/sys/kernel/livepatch/test_klp_tpatch/"
	tkValue(t, k, "test_klp_tpatch", "enabled", "1")
	if msg, _ := tkEcho(k, "1", tdir+"enabled"); msg != "bash: echo: write error: Invalid argument" {
		t.Errorf("echo 1 > enabled during the enable transition: %q", msg)
	}
	if msg, _ := tkEcho(k, "0", tdir+"force"); msg != "" {
		t.Errorf("echo 0 > force during a transition: %q", msg)
	}
	tkValue(t, k, "test_klp_tpatch", "transition", "1")
	tkValue(t, k, "test_klp_tpatch", "stack_order", "2")
	tkValue(t, k, "test_klp_tpatch", "test_klp_target/patched", "1")
}

// /proc/PID/patch_state: -1 outside transitions; during one, 1 for the
// switched tasks and 0 for the one stuck in the old code.
func TestSysfs_ProcPatchState(t *testing.T) {
	k, _ := machine(t, 2)
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
	states := func() map[int]string {
		m := map[int]string{}
		for _, task := range k.Tasks() {
			m[task.PID] = tkCat(t, k, fmt.Sprintf("/proc/%d/patch_state", task.PID))
		}
		return m
	}
	for pid, s := range states() {
		if s != "-1\n" {
			t.Errorf("before: /proc/%d/patch_state = %q", pid, s)
		}
	}
	w := tkStalled(t, k, "test_klp_tpatch")
	for pid, s := range states() {
		want := "1\n"
		if pid == w.PID {
			want = "0\n"
		}
		if s != want {
			t.Errorf("during: /proc/%d/patch_state (%s) = %q, want %q", pid, k.TaskByPID(pid).Comm, s, want)
		}
	}
	if err := k.FS.Echo(nil, "0", "/sys/module/test_klp_target/parameters/block"); err != nil {
		t.Fatal(err)
	}
	waitTransition(t, k, "test_klp_tpatch")
	for pid, s := range states() {
		if s != "-1\n" {
			t.Errorf("after: /proc/%d/patch_state = %q", pid, s)
		}
	}
}

package testmods_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/errno"
	"klpsim/kernel/kbuild"
	"klpsim/livepatch"
	"klpsim/livepatch/testmods"
)

// machine boots two CPUs with the livepatch core and the whole catalog.
func machine(t *testing.T) *kernel.Kernel {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{CPUs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := livepatch.Init(k); err != nil {
		t.Fatal(err)
	}
	if err := testmods.Register(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func cat(t *testing.T, k *kernel.Kernel, path string) string {
	t.Helper()
	v, err := k.FS.Cat(nil, path)
	if err != nil {
		t.Fatalf("cat %s: %v", path, err)
	}
	return v
}

func exists(k *kernel.Kernel, path string) bool {
	_, err := k.FS.Lookup(nil, path)
	return err == nil
}

func waitFor(t *testing.T, k *kernel.Kernel, what string, cond func() bool) {
	t.Helper()
	if err := k.RunUntil(k.Now()+60e9, cond); err != nil {
		t.Fatal(err)
	}
	if !cond() {
		t.Fatalf("%s: not after 60 s", what)
	}
}

func insmod(t *testing.T, k *kernel.Kernel, mod, args string) {
	t.Helper()
	if err := k.Insmod(mod, args); err != nil {
		t.Fatalf("insmod %s %s: %v", mod, args, err)
	}
}

// loadLP is functions.sh's load_lp: insmod, then the transition's end.
func loadLP(t *testing.T, k *kernel.Kernel, mod, args string) {
	t.Helper()
	insmod(t, k, mod, args)
	p := "/sys/kernel/livepatch/" + mod + "/transition"
	waitFor(t, k, p, func() bool { v, _ := k.FS.Cat(nil, p); return v == "0\n" })
}

// unloadLP is disable_lp and unload_lp.
func unloadLP(t *testing.T, k *kernel.Kernel, mod string) {
	t.Helper()
	p := "/sys/kernel/livepatch/" + mod
	if err := k.FS.Echo(nil, "0", p+"/enabled"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, k, p+" gone", func() bool { return !exists(k, p) })
	rmmod(t, k, mod)
}

func rmmod(t *testing.T, k *kernel.Kernel, mod string) {
	t.Helper()
	refcnt := "/sys/module/" + mod + "/refcnt"
	waitFor(t, k, refcnt, func() bool { v, _ := k.FS.Cat(nil, refcnt); return v == "0\n" })
	if err := k.Rmmod(mod); err != nil {
		t.Fatalf("rmmod %s: %v", mod, err)
	}
}

// logSince is the kernel log's text since seq, one line per record.
func logSince(k *kernel.Kernel, seq uint64) string {
	var b strings.Builder
	for _, r := range k.Log.Records() {
		if r.Seq >= seq {
			b.WriteString(r.Text + "\n")
		}
	}
	return b.String()
}

// wantLines checks that want's lines appear in log in order.
func wantLines(t *testing.T, log string, want ...string) {
	t.Helper()
	lines := strings.Split(log, "\n")
	i := 0
	for _, l := range lines {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("log lacks %q (in order); log:\n%s", want[i], log)
	}
}

// The catalog is selftests.md's table of test modules.
func TestCatalog(t *testing.T) {
	want := []string{"test_klp_atomic_replace", "test_klp_callbacks_busy", "test_klp_callbacks_demo",
		"test_klp_callbacks_demo2", "test_klp_callbacks_mod", "test_klp_kprobe", "test_klp_livepatch",
		"test_klp_mod_patch", "test_klp_mod_target", "test_klp_shadow_vars", "test_klp_state",
		"test_klp_state2", "test_klp_state3", "test_klp_syscall"}
	if got := testmods.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	livepatches := map[string]bool{"test_klp_livepatch": true, "test_klp_atomic_replace": true,
		"test_klp_callbacks_demo": true, "test_klp_callbacks_demo2": true, "test_klp_state": true,
		"test_klp_state2": true, "test_klp_state3": true, "test_klp_syscall": true, "test_klp_mod_patch": true}
	for _, name := range want {
		spec, err := testmods.Spec(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if spec.Name != name || spec.Object == nil {
			t.Errorf("%s: spec %q, object %v", name, spec.Name, spec.Object != nil)
		}
		if spec.Livepatch != livepatches[name] {
			t.Errorf("%s: livepatch %v", name, spec.Livepatch)
		}
	}
	if _, err := testmods.Spec("test_klp_nope"); err == nil {
		t.Error("Spec of an unknown module succeeded")
	}
	if got := testmods.ProgramNames(); !slices.Equal(got, []string{"test_klp-call_getpid"}) {
		t.Errorf("ProgramNames() = %v", got)
	}
	if _, err := testmods.Program("nope"); err == nil {
		t.Error("Program of an unknown program succeeded")
	}
}

// Parameters, with their types, permissions and defaults.
func TestCatalog_Params(t *testing.T) {
	k := machine(t)
	for _, c := range []struct {
		mod, args, param, mode, value string
	}{
		{"test_klp_callbacks_demo", "", "pre_patch_ret", "-rw-r--r--", "0\n"},
		{"test_klp_callbacks_demo2", "", "replace", "-rw-r--r--", "0\n"},
		{"test_klp_atomic_replace", "", "replace", "-rw-r--r--", "0\n"},
		{"test_klp_callbacks_busy", "", "block_transition", "-rw-r--r--", "N\n"},
		{"test_klp_kprobe", "", "has_post_handler", "-r--r--r--", "Y\n"},
	} {
		spec, _ := testmods.Spec(c.mod)
		if spec.Livepatch {
			loadLP(t, k, c.mod, c.args)
		} else {
			insmod(t, k, c.mod, c.args)
		}
		p := "/sys/module/" + c.mod + "/parameters/" + c.param
		if mode, err := k.FS.StatMode(nil, p); err != nil || mode != c.mode {
			t.Errorf("%s: %s, %v; want %s", p, mode, err, c.mode)
		}
		if v := cat(t, k, p); v != c.value {
			t.Errorf("%s = %q, want %q", p, v, c.value)
		}
		if spec.Livepatch {
			unloadLP(t, k, c.mod)
		} else {
			rmmod(t, k, c.mod)
		}
	}
}

// test_klp_livepatch patches /proc/cmdline, test_klp_atomic_replace
// /proc/meminfo (replace=1 makes it cumulative).
func TestLivepatchAndAtomicReplace(t *testing.T) {
	k := machine(t)
	orig := cat(t, k, "/proc/cmdline")
	loadLP(t, k, "test_klp_livepatch", "")
	if got := cat(t, k, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("/proc/cmdline = %q", got)
	}
	loadLP(t, k, "test_klp_atomic_replace", "replace=1")
	if got := cat(t, k, "/proc/meminfo"); got != "test_klp_atomic_replace: this has been live patched\n" {
		t.Errorf("/proc/meminfo = %q", got)
	}
	if got := cat(t, k, "/sys/kernel/livepatch/test_klp_atomic_replace/replace"); got != "1\n" {
		t.Errorf("replace = %q", got)
	}
	// The replaced patch is gone; cmdline runs the original again.
	if got := cat(t, k, "/proc/cmdline"); got != orig {
		t.Errorf("/proc/cmdline after atomic replace = %q, want %q", got, orig)
	}
	rmmod(t, k, "test_klp_livepatch")
	unloadLP(t, k, "test_klp_atomic_replace")
	if strings.Contains(cat(t, k, "/proc/meminfo"), "live patched") {
		t.Error("/proc/meminfo still patched")
	}
}

// test_klp_callbacks_busy's init waits for its work item on a completion:
// without block_transition the work is over before init returns; with it,
// a kworker stays in busymod_work_func until the module goes.
func TestCallbacksBusy(t *testing.T) {
	k := machine(t)
	seq := k.Log.NextSeq()
	insmod(t, k, "test_klp_callbacks_busy", "block_transition=N")
	rmmod(t, k, "test_klp_callbacks_busy")
	if got, want := logSince(k, seq), `test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
test_klp_callbacks_busy: busymod_work_func exit
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
`; !strings.HasSuffix(got, want) {
		t.Errorf("log:\n%s\nwant it to end with:\n%s", got, want)
	}

	seq = k.Log.NextSeq()
	insmod(t, k, "test_klp_callbacks_busy", "block_transition=Y")
	k.RunFor(100e6)
	if got := logSince(k, seq); strings.Contains(got, "busymod_work_func exit") || !strings.Contains(got, "busymod_work_func enter") {
		t.Errorf("blocking: log:\n%s", got)
	}
	var worker *kernel.Task
	for _, task := range k.Tasks() {
		if strings.Contains(k.ProcStack(task), "busymod_work_func+") {
			worker = task
		}
	}
	if worker == nil || !strings.HasPrefix(worker.Comm, "kworker/") {
		t.Fatalf("no kworker in busymod_work_func (%v)", worker)
	}
	rmmod(t, k, "test_klp_callbacks_busy")
	wantLines(t, logSince(k, seq), "test_klp_callbacks_busy: busymod_work_func exit", "test_klp_callbacks_busy: test_klp_callbacks_busy_exit")
}

// The callbacks demos print every callback, the target module its init and
// exit.
func TestCallbacksDemo(t *testing.T) {
	k := machine(t)
	seq := k.Log.NextSeq()
	insmod(t, k, "test_klp_callbacks_mod", "")
	loadLP(t, k, "test_klp_callbacks_demo", "")
	loadLP(t, k, "test_klp_callbacks_demo2", "replace=1")
	rmmod(t, k, "test_klp_callbacks_demo")
	unloadLP(t, k, "test_klp_callbacks_demo2")
	rmmod(t, k, "test_klp_callbacks_mod")
	wantLines(t, logSince(k, seq),
		"test_klp_callbacks_mod: test_klp_callbacks_mod_init",
		"test_klp_callbacks_demo: pre_patch_callback: vmlinux",
		"test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state",
		"test_klp_callbacks_demo: post_patch_callback: vmlinux",
		"test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state",
		"test_klp_callbacks_demo2: pre_patch_callback: vmlinux",
		"test_klp_callbacks_demo2: post_patch_callback: vmlinux",
		"test_klp_callbacks_demo2: pre_unpatch_callback: vmlinux",
		"test_klp_callbacks_demo2: post_unpatch_callback: vmlinux",
		"test_klp_callbacks_mod: test_klp_callbacks_mod_exit")
	// pre_patch_ret fails the enable with its errno.
	err := k.Insmod("test_klp_callbacks_demo", "pre_patch_ret=-19")
	if !errors.Is(err, errno.ENODEV) {
		t.Errorf("insmod pre_patch_ret=-19: %v, want ENODEV", err)
	}
}

// test_klp_state's callbacks save console_loglevel and set it to
// CONSOLE_LOGLEVEL_MOTORMOUTH; disabling restores it.
func TestState(t *testing.T) {
	k := machine(t)
	loadLP(t, k, "test_klp_state", "")
	if got := k.Log.ConsoleLoglevel(); got != 15 {
		t.Errorf("console_loglevel %d with test_klp_state, want 15", got)
	}
	loadLP(t, k, "test_klp_state2", "")
	rmmod(t, k, "test_klp_state")
	loadLP(t, k, "test_klp_state3", "")
	rmmod(t, k, "test_klp_state2")
	if got := k.Log.ConsoleLoglevel(); got != 15 {
		t.Errorf("console_loglevel %d after taking over, want 15", got)
	}
	unloadLP(t, k, "test_klp_state3")
	if got := k.Log.ConsoleLoglevel(); got != 7 {
		t.Errorf("console_loglevel %d after disabling, want 7", got)
	}
	// A version 1 patch is refused over a version 2 state.
	loadLP(t, k, "test_klp_state2", "")
	if err := k.Insmod("test_klp_state", ""); !errors.Is(err, errno.EINVAL) {
		t.Errorf("test_klp_state over test_klp_state2: %v, want EINVAL", err)
	}
	unloadLP(t, k, "test_klp_state2")
}

func TestShadowVars(t *testing.T) {
	k := machine(t)
	seq := k.Log.NextSeq()
	insmod(t, k, "test_klp_shadow_vars", "")
	rmmod(t, k, "test_klp_shadow_vars")
	log := logSince(k, seq)
	wantLines(t, log,
		"test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1234) = PTR0",
		"test_klp_shadow_vars:   got expected NULL result",
		"test_klp_shadow_vars: klp_shadow_free_all(id=0x1235, dtor=PTR0)")
	if n := strings.Count(log, "test_klp_shadow_vars: ") - strings.Count(log, "taints kernel"); n != 57 {
		t.Errorf("%d lines from the module, want 57:\n%s", n, log)
	}
}

// test_klp_syscall: every hammering process listed in klp_pids crosses
// itself off when it first runs the patched getpid.
func TestSyscall(t *testing.T) {
	k := machine(t)
	prog, err := testmods.Program("test_klp-call_getpid")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	var tasks []*kernel.Task
	for range 3 {
		task, err := k.SpawnUser("test_klp-call_g", prog)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
		pids = append(pids, fmt.Sprint(task.PID))
	}
	k.RunFor(10e6)
	seq := k.Log.NextSeq()
	// load_lp_nowait: the transition ends at the next retry, a second
	// later, which is expensive to simulate with CPUs busy hammering.
	insmod(t, k, "test_klp_syscall", "klp_pids="+strings.Join(pids, ","))
	npids := "/sys/kernel/test_klp_syscall/npids"
	if mode, err := k.FS.StatMode(nil, npids); err != nil || mode != "-r--r--r--" {
		t.Errorf("%s: %s, %v", npids, mode, err)
	}
	waitFor(t, k, npids, func() bool { v, _ := k.FS.Cat(nil, npids); return v == "0\n" })
	if exists(k, "/sys/module/test_klp_syscall/parameters/klp_pids") {
		t.Error("klp_pids (perm 0) is in sysfs")
	}
	for _, task := range tasks {
		k.Kill(task, kernel.SIGINT)
	}
	k.RunFor(10e6)
	for _, task := range tasks {
		if k.TaskByPID(task.PID) != nil {
			t.Errorf("%s survived SIGINT", task)
		}
	}
	tr := "/sys/kernel/livepatch/test_klp_syscall/transition"
	waitFor(t, k, tr, func() bool { v, _ := k.FS.Cat(nil, tr); return v == "0\n" })
	unloadLP(t, k, "test_klp_syscall")
	if exists(k, "/sys/kernel/test_klp_syscall") {
		t.Error("/sys/kernel/test_klp_syscall is still there after rmmod")
	}
	for _, l := range strings.Split(logSince(k, seq), "\n") {
		if strings.HasPrefix(l, "test_klp_syscall: ") && !strings.Contains(l, "taint") {
			t.Errorf("test_klp_syscall printed %q", l)
		}
	}
	// Loaded again (the kobject went with the module), without pids.
	loadLP(t, k, "test_klp_syscall", "")
	if got := cat(t, k, "/sys/kernel/test_klp_syscall/npids"); got != "0\n" {
		t.Errorf("npids without klp_pids = %q", got)
	}
	unloadLP(t, k, "test_klp_syscall")
}

// test_klp_kprobe with a post_handler owns cmdline_proc_show (IPMODIFY):
// test_klp_livepatch fails with EBUSY; without one they coexist.
func TestKprobe(t *testing.T) {
	k := machine(t)
	insmod(t, k, "test_klp_kprobe", "has_post_handler=true")
	if err := k.Insmod("test_klp_livepatch", ""); !errors.Is(err, errno.EBUSY) {
		t.Errorf("test_klp_livepatch over a post_handler kprobe: %v, want EBUSY", err)
	}
	rmmod(t, k, "test_klp_kprobe")
	insmod(t, k, "test_klp_kprobe", "has_post_handler=false")
	loadLP(t, k, "test_klp_livepatch", "")
	if got := cat(t, k, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("/proc/cmdline = %q", got)
	}
	rmmod(t, k, "test_klp_kprobe")
	unloadLP(t, k, "test_klp_livepatch")
}

// test_klp_mod_target's /proc file, patched by test_klp_mod_patch.
func TestModTargetAndPatch(t *testing.T) {
	k := machine(t)
	const p = "/proc/test_klp_mod_target"
	seq := k.Log.NextSeq()
	insmod(t, k, "test_klp_mod_target", "")
	if mode, err := k.FS.StatMode(nil, p); err != nil || mode != "-r--r--r--" {
		t.Errorf("%s: %s, %v", p, mode, err)
	}
	if got := cat(t, k, p); got != "test_klp_mod_target: original output\n" {
		t.Errorf("%s = %q", p, got)
	}
	loadLP(t, k, "test_klp_mod_patch", "")
	if got := cat(t, k, p); got != "test_klp_mod_patch: this has been live patched\n" {
		t.Errorf("patched %s = %q", p, got)
	}
	unloadLP(t, k, "test_klp_mod_patch")
	if got := cat(t, k, p); got != "test_klp_mod_target: original output\n" {
		t.Errorf("unpatched %s = %q", p, got)
	}
	rmmod(t, k, "test_klp_mod_target")
	if exists(k, p) {
		t.Errorf("%s is still there after rmmod", p)
	}
	wantLines(t, logSince(k, seq), "test_klp_mod_target: test_klp_mod_target_init", "test_klp_mod_target: test_klp_mod_target_exit")
}

// test_klp-call_getpid calls getpid in a loop until a signal ends it.
func TestCallGetpid(t *testing.T) {
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := testmods.Program("test_klp-call_getpid")
	if err != nil {
		t.Fatal(err)
	}
	task, err := k.SpawnUser("test_klp-call_g", prog)
	if err != nil {
		t.Fatal(err)
	}
	k.RunFor(50e6)
	if k.TaskByPID(task.PID) == nil {
		t.Fatal("test_klp-call_getpid ended by itself")
	}
	k.Kill(task, kernel.SIGHUP)
	k.RunFor(10e6)
	if k.TaskByPID(task.PID) != nil {
		t.Error("test_klp-call_getpid survived SIGHUP")
	}
}

// TestCSources: every module of the catalog has a C version, and each
// builds and loads as the loader reads it (the selftests run with them in
// scenarios.TestSelftestsCCatalog).
func TestCSources(t *testing.T) {
	if got, want := strings.Join(testmods.CNames(), " "), strings.Join(testmods.Names(), " "); got != want {
		t.Fatalf("C versions of %s\nwant %s", got, want)
	}
	if _, err := kbuild.GCC(); err != nil {
		t.Skipf("the C catalog: %v", err)
	}
	for _, name := range testmods.CNames() {
		asm, err := testmods.Spec(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := testmods.CSpec(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Livepatch != asm.Livepatch || len(c.Params) != len(asm.Params) {
			t.Errorf("%s: C livepatch=%v params=%d, assembly livepatch=%v params=%d", name, c.Livepatch, len(c.Params), asm.Livepatch, len(asm.Params))
		}
		for i := range c.Params {
			cp, ap := c.Params[i], asm.Params[i]
			if cp.Name != ap.Name || cp.Type != ap.Type || cp.Perm != ap.Perm || cp.Array != ap.Array {
				t.Errorf("%s: C parameter %+v, assembly %+v", name, cp, ap)
			}
		}
	}
}

package kernel

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// Guest modules for the loader tests, written like the selftests' test
// modules: pr_info through _printk with KBUILD_MODNAME ": " prefixes.

// gfn is one guest function with a frame and an ftrace site.
func gfn(name, body string) string {
	return fmt.Sprintf("\t.text\n\t.globl %[1]s\n\t.type %[1]s, @function\n%[1]s:\n\t.fentry\n\tpush rbp\n\tmov rbp, rsp\n%[2]s\tpop rbp\n\tret\n\t.size %[1]s, .-%[1]s\n", name, body)
}

// gprint is the body of pr_info("%s\n", str) for a label of the module's
// .rodata (fmtS must be defined: see rodataFmt).
func gprint(label string) string {
	return "\tlea rdi, [rip + fmtS]\n\tlea rsi, [rip + " + label + "]\n\tcall _printk\n"
}

// rodataStrings defines fmtS for module mod and one .asciz per label.
func rodataStrings(mod string, labels ...string) string {
	var b strings.Builder
	b.WriteString("\t.section .rodata\nfmtS:\t.asciz \"\\0016" + mod + ": %s\\n\"\n")
	for i := 0; i+1 < len(labels); i += 2 {
		fmt.Fprintf(&b, "%s:\t.asciz %q\n", labels[i], labels[i+1])
	}
	return b.String()
}

// callbacksMod is test_klp_callbacks_mod: init and exit print their names.
var callbacksMod = gfn("test_klp_callbacks_mod_init", gprint("s_init")+"\txor eax, eax\n") +
	gfn("test_klp_callbacks_mod_exit", gprint("s_exit")) +
	rodataStrings("test_klp_callbacks_mod", "s_init", "test_klp_callbacks_mod_init", "s_exit", "test_klp_callbacks_mod_exit")

func addModule(t *testing.T, k *Kernel, spec ModuleSpec, src string) {
	t.Helper()
	o, err := AssembleModule(spec.Name+".S", []byte(".intel_syntax noprefix\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	spec.Object = o
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
}

// logSince returns the texts of the log records from seq on.
func logSince(k *Kernel, seq uint64) []string {
	var out []string
	for _, r := range k.Log.Records() {
		if r.Seq >= seq {
			out = append(out, r.Text)
		}
	}
	return out
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func cat(t *testing.T, k *Kernel, p string) string {
	t.Helper()
	s, err := k.FS.Cat(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantShellError(t *testing.T, err error, msg string, e error) {
	t.Helper()
	var se *vfs.ShellError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want %q", err, err, msg)
	}
	if se.Msg != msg {
		t.Errorf("error %q, want %q", se.Msg, msg)
	}
	if e != nil && !errors.Is(err, e) {
		t.Errorf("error %q wraps %v, want %v", se.Msg, se.Err, e)
	}
}

// nothingLeft checks that a module that is gone left nothing behind.
func nothingLeft(t *testing.T, k *Kernel, name string, base, initFn uint64) {
	t.Helper()
	if k.FindModule(name) != nil || k.findModuleAll(name) != nil {
		t.Errorf("%s still in the module list", name)
	}
	if _, err := k.FS.Stat(nil, "/sys/module/"+name); !errors.Is(err, errno.ENOENT) {
		t.Errorf("/sys/module/%s: %v, want ENOENT", name, err)
	}
	if syms := k.Syms.ModuleSyms(name); len(syms) != 0 {
		t.Errorf("%d kallsyms entries of %s left", len(syms), name)
	}
	if base != 0 {
		if _, ok := k.mem.PermAt(base); ok {
			t.Errorf("module memory at %#x still mapped", base)
		}
	}
	if initFn != 0 {
		if _, ok := k.FtraceLocation(initFn); ok {
			t.Errorf("ftrace record at %#x left", initFn)
		}
	}
	if strings.Contains(cat(t, k, "/proc/modules"), name+" ") {
		t.Errorf("/proc/modules still lists %s", name)
	}
}

// The selftests' simplest target module: init and exit print through
// _printk on the insmod and rmmod tasks; the module shows in sysfs,
// /proc/modules and kallsyms while loaded and leaves no trace after.
func TestModule_LoadUnload(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	addModule(t, k, ModuleSpec{Name: "test_klp_callbacks_mod", Init: "test_klp_callbacks_mod_init", Exit: "test_klp_callbacks_mod_exit"}, callbacksMod)
	// Record which task runs init and exit, through the functions' own
	// ftrace sites.
	var comms []string
	var states []ModuleState
	k.Hooks.ModuleComing = func(ctx *OpCtx, m *Module) error {
		states = append(states, m.State)
		fn, _ := m.ModuleSym("test_klp_callbacks_mod_init")
		ex, _ := m.ModuleSym("test_klp_callbacks_mod_exit")
		ops := &FtraceOps{Func: func(ip, _ uint64, _ *FtraceOps, _ uint64) { comms = append(comms, k.Current().Comm) }}
		k.FtraceSetFilterIP(ops, fn, false)
		k.FtraceSetFilterIP(ops, ex, false)
		if err := k.RegisterFtraceFunction(ops); err != nil {
			t.Error(err)
		}
		return nil
	}
	going := 0
	k.Hooks.ModuleGoing = func(ctx *OpCtx, m *Module) { going++; states = append(states, m.State) }
	seq := k.Log.NextSeq()
	if err := k.Insmod("test_klp_callbacks_mod", ""); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq),
		"test_klp_callbacks_mod: loading out-of-tree module taints kernel.",
		"test_klp_callbacks_mod: test_klp_callbacks_mod_init")
	m := k.FindModule("test_klp_callbacks_mod")
	if m == nil || m.State != ModuleStateLive || m.Refcnt() != 0 || m.Livepatch {
		t.Fatalf("module after load: %+v", m)
	}
	if got := cat(t, k, "/sys/module/test_klp_callbacks_mod/initstate"); got != "live\n" {
		t.Errorf("initstate %q", got)
	}
	if got := cat(t, k, "/sys/module/test_klp_callbacks_mod/refcnt"); got != "0\n" {
		t.Errorf("refcnt %q", got)
	}
	if got := cat(t, k, "/sys/module/test_klp_callbacks_mod/taint"); got != "O\n" {
		t.Errorf("taint %q", got)
	}
	for p, want := range map[string]string{"": "drwxr-xr-x", "/refcnt": "-r--r--r--", "/initstate": "-r--r--r--", "/holders": "drwxr-xr-x"} {
		if got, _ := k.FS.StatMode(nil, "/sys/module/test_klp_callbacks_mod"+p); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	if _, err := k.FS.Stat(nil, "/sys/module/test_klp_callbacks_mod/parameters"); err == nil {
		t.Error("parameters/ exists for a module without parameters")
	}
	wantModules := fmt.Sprintf("test_klp_callbacks_mod %d 0 - Live 0x%016x (O)\n", m.Size(), m.Base())
	if got := cat(t, k, "/proc/modules"); got != wantModules {
		t.Errorf("/proc/modules %q, want %q", got, wantModules)
	}
	if k.Tainted() != 1<<TaintOOTModule || cat(t, k, "/proc/sys/kernel/tainted") != "4096\n" {
		t.Errorf("taint mask %#x", k.Tainted())
	}
	initFn, _ := m.ModuleSym("test_klp_callbacks_mod_init")
	if s, _, ok := k.Syms.Lookup(initFn); !ok || s.Module != "test_klp_callbacks_mod" || s.Name != "test_klp_callbacks_mod_init" {
		t.Errorf("kallsyms at init: %+v", s)
	}
	if text, _ := m.Text(); text != m.Base() || initFn < text || k.ModuleAddress(initFn) != m {
		t.Errorf("text at %#x, init at %#x, base %#x", text, initFn, m.Base())
	}
	base := m.Base()

	seq = k.Log.NextSeq()
	if err := k.Rmmod("test_klp_callbacks_mod"); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "test_klp_callbacks_mod: test_klp_callbacks_mod_exit")
	if strings.Join(comms, ",") != "insmod,rmmod" {
		t.Errorf("init and exit ran on %v, want insmod,rmmod", comms)
	}
	if fmt.Sprint(states) != "[MODULE_STATE_COMING MODULE_STATE_GOING]" || going != 1 {
		t.Errorf("hooks saw states %v (%d going)", states, going)
	}
	nothingLeft(t, k, "test_klp_callbacks_mod", base, initFn)

	// Loaded again, it gets the same place and prints no second taint line.
	seq = k.Log.NextSeq()
	if err := k.Insmod("test_modules/test_klp_callbacks_mod.ko", ""); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "test_klp_callbacks_mod: test_klp_callbacks_mod_init")
	if m := k.FindModule("test_klp_callbacks_mod"); m == nil || m.Base() != base {
		t.Errorf("reloaded module at %v", m)
	}
}

// An init that sleeps and one that queues work and flushes it: init is
// ordinary guest code on the insmod task, which may sleep while the
// machine goes on.
func TestModule_InitSleepsAndFlushesWork(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	src := gfn("sleepy_init", "\tmov edi, 200\n\tcall msleep\n"+gprint("s_awake")+"\txor eax, eax\n") +
		gfn("busy_work_func", gprint("s_work")) +
		gfn("busy_init",
			"\tlea rdi, [rip + busy_work]\n\tcall schedule_work\n"+
				"\tlea rdi, [rip + busy_work]\n\tcall flush_work\n"+gprint("s_flushed")+"\txor eax, eax\n") +
		rodataStrings("sleepy", "s_awake", "awake", "s_work", "busy_work_func", "s_flushed", "flushed") +
		"\t.data\n\t.align 8\nbusy_work:\t.quad 0, 0, 0, busy_work_func\n"
	o, err := AssembleModule("sleepy.S", []byte(".intel_syntax noprefix\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterModule(ModuleSpec{Name: "sleepy", Object: o, Init: "sleepy_init"}); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterModule(ModuleSpec{Name: "busy", Object: o, Init: "busy_init"}); err != nil {
		t.Fatal(err)
	}
	start := k.Now()
	seq := k.Log.NextSeq()
	if err := k.Insmod("sleepy", ""); err != nil {
		t.Fatal(err)
	}
	if d := k.Now() - start; d < 200e6 {
		t.Errorf("insmod took %d ns; init sleeps 200 ms", d)
	}
	wantLines(t, logSince(k, seq), "sleepy: loading out-of-tree module taints kernel.", "sleepy: awake")

	seq = k.Log.NextSeq()
	if err := k.Insmod("busy", ""); err != nil {
		t.Fatal(err)
	}
	recs := k.Log.Records()
	var work, flushed string
	for _, r := range recs {
		if r.Seq < seq {
			continue
		}
		switch r.Text {
		case "sleepy: busy_work_func":
			work = r.Caller
		case "sleepy: flushed":
			flushed = r.Caller
		}
	}
	wantLines(t, logSince(k, seq), "sleepy: busy_work_func", "sleepy: flushed")
	if work == "" || work == flushed {
		t.Errorf("work ran as %q, init as %q: want a kworker and insmod", work, flushed)
	}
	for _, task := range k.Tasks() {
		if fmt.Sprintf("T%d", task.PID) == work && !strings.HasPrefix(task.Comm, "kworker/") {
			t.Errorf("work ran on %s", task)
		}
	}
}

// An init that fails: insmod prints kmod's text for the errno, the
// livepatch going hook runs, and nothing of the module is left.
func TestModule_InitFails(t *testing.T) {
	for _, tc := range []struct {
		ret  int
		text string
		e    errno.Errno
	}{
		{-19, "No such device", errno.ENODEV},
		{-16, "Device or resource busy", errno.EBUSY},
		{-22, "Invalid parameters", errno.EINVAL}, // kmod's mod_strerror
		{-2, "Unknown symbol in module", errno.ENOENT},
		{-8, "Invalid module format", errno.ENOEXEC},
		{-3, "Module has wrong symbol version", errno.ESRCH},
		{-12, "Cannot allocate memory", errno.ENOMEM},
	} {
		t.Run(tc.e.Name(), func(t *testing.T) {
			k := boot(t, Config{CPUs: 1})
			addModule(t, k, ModuleSpec{Name: "failing", Init: "failing_init", Exit: "failing_exit"},
				gfn("failing_init", gprint("s_init")+fmt.Sprintf("\tmov eax, %d\n", tc.ret))+
					gfn("failing_exit", gprint("s_exit"))+
					rodataStrings("failing", "s_init", "failing_init", "s_exit", "failing_exit"))
			var base, initFn uint64
			var events []string
			k.Hooks.ModuleComing = func(ctx *OpCtx, m *Module) error {
				base = m.Base()
				initFn, _ = m.ModuleSym("failing_init")
				events = append(events, "coming")
				return nil
			}
			k.Hooks.ModuleGoing = func(ctx *OpCtx, m *Module) {
				events = append(events, "going "+m.State.String()+" "+cat(t, k, "/sys/module/failing/initstate"))
			}
			seq := k.Log.NextSeq()
			err := k.Insmod("failing", "")
			wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/failing.ko: "+tc.text, tc.e)
			wantLines(t, logSince(k, seq), "failing: loading out-of-tree module taints kernel.", "failing: failing_init")
			if strings.Join(events, ",") != "coming,going MODULE_STATE_GOING going\n" {
				t.Errorf("hooks: %q", events)
			}
			nothingLeft(t, k, "failing", base, initFn)
		})
	}
}

// Undefined symbols resolve against the exports; each unknown one is
// reported, and the load fails with ENOENT before anything is mapped.
func TestModule_UnknownSymbol(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "broken", Init: "broken_init"},
		gfn("broken_init", "\tcall no_such_function\n\tcall msleep\n\tmov rax, qword ptr [rip + missing_variable]\n\tcall no_such_function\n"))
	coming := false
	k.Hooks.ModuleComing = func(*OpCtx, *Module) error { coming = true; return nil }
	seq := k.Log.NextSeq()
	err := k.Insmod("broken", "")
	wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/broken.ko: Unknown symbol in module", errno.ENOENT)
	wantLines(t, logSince(k, seq),
		"broken: loading out-of-tree module taints kernel.",
		"broken: Unknown symbol no_such_function (err -2)",
		"broken: Unknown symbol missing_variable (err -2)")
	if coming {
		t.Error("the coming hook ran for a module that failed to link")
	}
	nothingLeft(t, k, "broken", 0, 0)
	if k.Tainted()&(1<<TaintOOTModule) == 0 {
		t.Error("the out-of-tree taint stays after a failed load")
	}
}

// A second insmod of a loaded module fails with EEXIST; a file that is not
// in the catalog is kmod's "could not load module".
func TestModule_DuplicateAndMissing(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "test_klp_callbacks_mod", Init: "test_klp_callbacks_mod_init", Exit: "test_klp_callbacks_mod_exit"}, callbacksMod)
	if err := k.Insmod("test_klp_callbacks_mod", ""); err != nil {
		t.Fatal(err)
	}
	seq := k.Log.NextSeq()
	err := k.Insmod("test_klp_callbacks_mod", "")
	wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/test_klp_callbacks_mod.ko: File exists", errno.EEXIST)
	wantLines(t, logSince(k, seq))
	err = k.Insmod("test_klp_nothing", "")
	wantShellError(t, err, "insmod: ERROR: could not load module test_modules/test_klp_nothing.ko: No such file or directory", errno.ENOENT)
	err = k.Rmmod("test_klp_nothing")
	wantShellError(t, err, "rmmod: ERROR: Module test_klp_nothing is not currently loaded", errno.ENOENT)
	if err := k.RegisterModule(ModuleSpec{Name: "test_klp_callbacks_mod", Object: k.modules.catalog["test_klp_callbacks_mod"].Object}); err == nil {
		t.Error("a second registration of the same name succeeded")
	}
}

// A reference (try_module_get, as a livepatch keeps on its own module)
// keeps rmmod away with kmod's message; module_put lets it go.
func TestModule_RefcntBlocksRmmod(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "test_klp_callbacks_mod", Init: "test_klp_callbacks_mod_init", Exit: "test_klp_callbacks_mod_exit"}, callbacksMod)
	var during string
	k.Hooks.ModuleComing = func(ctx *OpCtx, m *Module) error {
		during = fmt.Sprint(m.Refcnt())
		return nil
	}
	if err := k.Insmod("test_klp_callbacks_mod", ""); err != nil {
		t.Fatal(err)
	}
	m := k.FindModule("test_klp_callbacks_mod")
	if during != "1" || m.Refcnt() != 0 {
		t.Errorf("refcnt %s while coming, %d when live; want 1 and 0", during, m.Refcnt())
	}
	if !k.TryModuleGet(m) {
		t.Fatal("try_module_get on a live module failed")
	}
	if got := cat(t, k, "/sys/module/test_klp_callbacks_mod/refcnt"); got != "1\n" {
		t.Errorf("refcnt %q", got)
	}
	seq := k.Log.NextSeq()
	err := k.Rmmod("test_klp_callbacks_mod")
	wantShellError(t, err, "rmmod: ERROR: Module test_klp_callbacks_mod is in use", errno.EBUSY)
	wantLines(t, logSince(k, seq))
	k.ModulePut(m)
	if err := k.Rmmod("test_klp_callbacks_mod"); err != nil {
		t.Fatal(err)
	}
	if k.TryModuleGet(m) {
		t.Error("try_module_get on a removed (going) module succeeded")
	}
	err = k.Rmmod("test_klp_callbacks_mod")
	wantShellError(t, err, "rmmod: ERROR: Module test_klp_callbacks_mod is not currently loaded", errno.ENOENT)
}

// A module with an init but no exit cannot be removed: delete_module
// fails, and kmod prints both libkmod's and rmmod's lines.
func TestModule_NoExitIsPermanent(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "permanent", Init: "permanent_init"}, gfn("permanent_init", "\txor eax, eax\n"))
	if err := k.Insmod("permanent", ""); err != nil {
		t.Fatal(err)
	}
	// One text page and one data page (the struct module).
	if got := cat(t, k, "/proc/modules"); !strings.HasPrefix(got, "permanent 8192 0 [permanent], Live ") {
		t.Errorf("/proc/modules %q", got)
	}
	err := k.Rmmod("permanent")
	wantShellError(t, err, "rmmod: ERROR: could not remove 'permanent': Device or resource busy\nrmmod: ERROR: could not remove module permanent: Device or resource busy", errno.EBUSY)
	if k.FindModule("permanent") == nil {
		t.Error("the module went away")
	}
}

// The livepatch hooks: ModuleComing sees COMING before init runs and can
// refuse the load (init never runs, no going hook); TAINT_LIVEPATCH is
// announced once per boot, after the out-of-tree line.
func TestModule_LivepatchHooks(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "test_klp_callbacks_mod", Init: "test_klp_callbacks_mod_init", Exit: "test_klp_callbacks_mod_exit"}, callbacksMod)
	lp := gfn("lp_init", "\txor eax, eax\n") + gfn("lp_exit", "")
	addModule(t, k, ModuleSpec{Name: "test_klp_livepatch", Livepatch: true, Init: "lp_init", Exit: "lp_exit"}, lp)
	addModule(t, k, ModuleSpec{Name: "test_klp_atomic_replace", Livepatch: true, Init: "lp_init", Exit: "lp_exit"}, lp)
	var coming, going []string
	refuse := errno.ENODEV
	k.Hooks.ModuleComing = func(ctx *OpCtx, m *Module) error {
		coming = append(coming, m.Name+":"+m.State.String())
		if m.Name == "test_klp_callbacks_mod" && refuse != 0 {
			// A hook may run guest code on the insmod task, as
			// livepatch's callbacks do.
			ctx.Call(k.sym("msleep"), 1)
			return refuse
		}
		return nil
	}
	k.Hooks.ModuleGoing = func(ctx *OpCtx, m *Module) { going = append(going, m.Name) }

	seq := k.Log.NextSeq()
	if err := k.Insmod("test_klp_livepatch", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.Insmod("test_klp_atomic_replace", "replace=1"); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq),
		"test_klp_livepatch: loading out-of-tree module taints kernel.",
		"test_klp_livepatch: tainting kernel with TAINT_LIVEPATCH",
		"test_klp_atomic_replace: unknown parameter 'replace' ignored")
	if m := k.FindModule("test_klp_livepatch"); !m.Livepatch || m.Taints() != "OK" {
		t.Errorf("livepatch module: %v, taint %q", m.Livepatch, m.Taints())
	}

	seq = k.Log.NextSeq()
	err := k.Insmod("test_klp_callbacks_mod", "")
	wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/test_klp_callbacks_mod.ko: No such device", errno.ENODEV)
	wantLines(t, logSince(k, seq)) // init never ran
	if len(going) != 0 {
		t.Errorf("going hook after a refused coming: %v", going)
	}
	nothingLeft(t, k, "test_klp_callbacks_mod", 0, 0)

	refuse = 0
	seq = k.Log.NextSeq()
	if err := k.Insmod("test_klp_callbacks_mod", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.Rmmod("test_klp_callbacks_mod"); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "test_klp_callbacks_mod: test_klp_callbacks_mod_init", "test_klp_callbacks_mod: test_klp_callbacks_mod_exit")
	want := "test_klp_livepatch:MODULE_STATE_COMING,test_klp_atomic_replace:MODULE_STATE_COMING,test_klp_callbacks_mod:MODULE_STATE_COMING,test_klp_callbacks_mod:MODULE_STATE_COMING"
	if strings.Join(coming, ",") != want || strings.Join(going, ",") != "test_klp_callbacks_mod" {
		t.Errorf("coming %v, going %v", coming, going)
	}
}

// A positive init return loads the module anyway, with do_init_module's
// warning.
func TestModule_InitReturnsPositive(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "odd", InTree: true, Init: "odd_init", Exit: "odd_exit"},
		gfn("odd_init", "\tmov eax, 5\n")+gfn("odd_exit", ""))
	seq := k.Log.NextSeq()
	if err := k.Insmod("odd", ""); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq),
		"do_init_module: 'odd'->init suspiciously returned 5, it should follow 0/-E convention",
		"do_init_module: loading module anyway...")
	if m := k.FindModule("odd"); m == nil || m.State != ModuleStateLive || m.Taints() != "" {
		t.Errorf("module %+v", m)
	}
}

// A guest fault in init is an oops; insmod is killed and the kernel goes
// on. The module stays COMING with its init reference, as in Linux, so
// rmmod refuses it and a new insmod waits for it.
func TestModule_InitOops(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	addModule(t, k, ModuleSpec{Name: "oopsy", Init: "oopsy_init", Exit: "oopsy_exit"},
		gfn("oopsy_init", "\txor eax, eax\n\tmov rax, qword ptr [rax + 8]\n")+gfn("oopsy_exit", ""))
	err := k.Insmod("oopsy", "")
	// A page-fault oops ends with SIGKILL (page_fault_oops), which the
	// shell reports as "Killed".
	wantShellError(t, err, "Killed", nil)
	var ke *KilledError
	if !errors.As(err, &ke) || ke.Signal != SIGKILL {
		t.Errorf("error %v, want a KilledError for SIGKILL", err)
	}
	log := strings.Join(logSince(k, 0), "\n")
	if !strings.Contains(log, "BUG: kernel NULL pointer dereference, address: 0000000000000008") ||
		!strings.Contains(log, "Comm: insmod") || !strings.Contains(log, "RIP: 0010:oopsy_init+0x") {
		t.Errorf("no oops of insmod in oopsy_init:\n%s", log)
	}
	if err := k.RunFor(1e8); err != nil {
		t.Fatal(err)
	}
	if got := cat(t, k, "/sys/module/oopsy/initstate"); got != "coming\n" {
		t.Errorf("initstate %q", got)
	}
	wantShellError(t, k.Rmmod("oopsy"), "rmmod: ERROR: Module oopsy is in use", errno.EBUSY)
	old := insmodTimeout
	insmodTimeout = 1e9
	defer func() { insmodTimeout = old }()
	if err := k.Insmod("oopsy", ""); err == nil || errors.As(err, new(*vfs.ShellError)) {
		t.Errorf("insmod of a module stuck in init: %v, want a timeout", err)
	}
	// Another module still loads.
	addModule(t, k, ModuleSpec{Name: "test_klp_callbacks_mod", Init: "test_klp_callbacks_mod_init", Exit: "test_klp_callbacks_mod_exit"}, callbacksMod)
	if err := k.Insmod("test_klp_callbacks_mod", ""); err != nil {
		t.Fatal(err)
	}
}

// A module's fentry sites are ftrace records while it is loaded: an ops
// filtered on a module function traces calls to it.
func TestModule_FtraceSites(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "traced", Init: "traced_init", Exit: "traced_exit"},
		gfn("traced_init", "\txor eax, eax\n")+gfn("traced_exit", "")+gfn("traced_func", "\tmov eax, 42\n"))
	if err := k.Insmod("traced", ""); err != nil {
		t.Fatal(err)
	}
	m := k.FindModule("traced")
	fn, _ := m.ModuleSym("traced_func")
	if ip, ok := k.FtraceLocation(fn); !ok || ip != fn {
		t.Fatalf("no ftrace record at traced_func")
	}
	calls := 0
	ops := &FtraceOps{Func: func(ip, parent uint64, _ *FtraceOps, _ uint64) {
		if ip == fn {
			calls++
		}
	}}
	if err := k.FtraceSetFilterIP(ops, fn, false); err != nil {
		t.Fatal(err)
	}
	if err := k.RegisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	ret, err := k.RunOnTask("caller", func(ctx *OpCtx) uint64 { return ctx.Call(fn) }, 1e9)
	if err != nil || ret != 42 || calls != 1 {
		t.Errorf("traced call: ret %d, %d handler calls, %v", ret, calls, err)
	}
	if err := k.UnregisterFtraceFunction(ops); err != nil {
		t.Fatal(err)
	}
	if err := k.Rmmod("traced"); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.FtraceLocation(fn); ok {
		t.Error("the record outlived the module")
	}
}

// A module that uses another's export holds it: rmmod of the exporter
// names the holder, /proc/modules and holders/ show it.
func TestModule_Dependencies(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "provider", Init: "provider_init", Exit: "provider_exit", Exports: []string{"provider_get"}},
		gfn("provider_init", "\txor eax, eax\n")+gfn("provider_exit", "")+gfn("provider_get", "\tmov eax, 7\n"))
	addModule(t, k, ModuleSpec{Name: "consumer", Init: "consumer_init", Exit: "consumer_exit"},
		gfn("consumer_init", "\tcall provider_get\n\tsub eax, 7\n")+gfn("consumer_exit", ""))
	seq := k.Log.NextSeq()
	err := k.Insmod("consumer", "")
	wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/consumer.ko: Unknown symbol in module", errno.ENOENT)
	wantLines(t, logSince(k, seq), "consumer: loading out-of-tree module taints kernel.", "consumer: Unknown symbol provider_get (err -2)")
	if err := k.Insmod("provider", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.Insmod("consumer", ""); err != nil {
		t.Fatal(err)
	}
	p := k.FindModule("provider")
	if p.Refcnt() != 1 {
		t.Errorf("provider refcnt %d", p.Refcnt())
	}
	if names, err := k.FS.ReadDir(nil, "/sys/module/provider/holders"); err != nil || len(names) != 1 || names[0].Name() != "consumer" {
		t.Errorf("holders: %v %v", names, err)
	}
	if got := cat(t, k, "/proc/modules"); !strings.Contains(got, fmt.Sprintf("\nprovider %d 1 consumer, Live ", p.Size())) {
		t.Errorf("/proc/modules:\n%s", got)
	}
	wantShellError(t, k.Rmmod("provider"), "rmmod: ERROR: Module provider is in use by: consumer", errno.EBUSY)
	if err := k.Rmmod("consumer"); err != nil {
		t.Fatal(err)
	}
	if err := k.Rmmod("provider"); err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Syms.LookupExport("provider_get"); ok {
		t.Error("the export outlived its module")
	}
}

// Licenses: a proprietary module taints the kernel once and cannot bind
// to EXPORT_SYMBOL_GPL symbols.
func TestModule_License(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "gplonly", InTree: true, Init: "gplonly_init", Exit: "gplonly_exit", ExportsGPL: []string{"gpl_func"}},
		gfn("gplonly_init", "\txor eax, eax\n")+gfn("gplonly_exit", "")+gfn("gpl_func", ""))
	addModule(t, k, ModuleSpec{Name: "closed", InTree: true, License: "Proprietary", Init: "closed_init"},
		gfn("closed_init", "\tcall gpl_func\n\txor eax, eax\n"))
	if err := k.Insmod("gplonly", ""); err != nil {
		t.Fatal(err)
	}
	seq := k.Log.NextSeq()
	err := k.Insmod("closed", "")
	wantShellError(t, err, "insmod: ERROR: could not insert module test_modules/closed.ko: Unknown symbol in module", errno.ENOENT)
	wantLines(t, logSince(k, seq),
		"closed: module license 'Proprietary' taints kernel.",
		"Disabling lock debugging due to kernel taint",
		"closed: Unknown symbol gpl_func (err -2)")
	if k.Tainted() != 1<<TaintProprietaryModule {
		t.Errorf("taints %#x", k.Tainted())
	}
}

// Bad specs are Go errors at registration.
func TestModule_RegisterChecks(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	o, err := AssembleModule("m.S", []byte(".intel_syntax noprefix\n"+gfn("f", "")+"\t.data\nv:\t.long 0\n\t.section .rodata\nr:\t.long 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []ModuleSpec{
		{Name: "", Object: o},
		{Name: "a-b", Object: o},
		{Name: strings.Repeat("x", 56), Object: o},
		{Name: "m"},
		{Name: "m", Object: o, Init: "missing"},
		{Name: "m", Object: o, Init: "v"},
		{Name: "m", Object: o, Params: []ParamSpec{{Name: "p", Type: "float", Symbol: "v"}}},
		{Name: "m", Object: o, Params: []ParamSpec{{Name: "p", Type: ParamInt, Symbol: "r"}}},
		{Name: "m", Object: o, Params: []ParamSpec{{Name: "p", Type: ParamInt}}},
		{Name: "m", Object: o, Params: []ParamSpec{{Name: "p", Type: ParamInt, Symbol: "v", Default: "x"}}},
		{Name: "m", Object: o, Params: []ParamSpec{{Name: "p", Type: ParamInt, Symbol: "v", Perm: fs.ModeDir | 0o644}}},
		{Name: "m", Object: o, Exports: []string{"v"}}, // a local symbol
	} {
		if err := k.RegisterModule(spec); err == nil {
			t.Errorf("RegisterModule(%+v) succeeded", spec)
		}
	}
}

// THIS_MODULE: guest code reads its module's name and state from the
// struct module the loader builds (livepatch's patch->mod points there).
func TestModule_ThisModule(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	addModule(t, k, ModuleSpec{Name: "selfaware", InTree: true, Init: "sa_init", Exit: "sa_exit"},
		gfn("sa_init", "\tlea rdi, [rip + fmtS]\n\tlea rsi, [rip + __this_module + 24]\n\tcall _printk\n"+
			"\tmov rax, qword ptr [rip + __this_module]\n\tmov qword ptr [rip + seen_state], rax\n\txor eax, eax\n")+
			gfn("sa_exit", "")+rodataStrings("selfaware")+"\t.data\nseen_state: .quad 99\n\t.globl seen_state\n")
	seq := k.Log.NextSeq()
	if err := k.Insmod("selfaware", ""); err != nil {
		t.Fatal(err)
	}
	wantLines(t, logSince(k, seq), "selfaware: selfaware")
	m := k.FindModule("selfaware")
	addr, _ := m.ModuleSym("seen_state")
	if st, _ := k.mem.ReadU64(addr); st != uint64(ModuleStateComing) {
		t.Errorf("init saw state %d, want COMING (%d)", st, ModuleStateComing)
	}
	if st, _ := k.mem.ReadU64(m.Guest()); st != uint64(ModuleStateLive) {
		t.Errorf("guest state after load %d, want LIVE", st)
	}
}

package livepatch

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// tkNothingLeft checks what a failed livepatch load must leave behind:
// no module, no sysfs directory, no patch in klp_patches, the func_stacks
// as before (want: the number of klp_ops), and the sites given back as
// nops.
func tkNothingLeft(t *testing.T, k *kernel.Kernel, c *Core, mod string, wantOps int, sites ...uint64) {
	t.Helper()
	if k.FindModule(mod) != nil {
		t.Errorf("module %s still loaded", mod)
	}
	if _, err := k.FS.Lookup(nil, "/sys/kernel/livepatch/"+mod); err == nil {
		t.Errorf("/sys/kernel/livepatch/%s still there", mod)
	}
	if _, err := k.FS.Lookup(nil, "/sys/module/"+mod); err == nil {
		t.Errorf("/sys/module/%s still there", mod)
	}
	for _, p := range c.Patches() {
		if p.Name == mod {
			t.Errorf("%s still in klp_patches", mod)
		}
	}
	if c.TransitionPatch() != nil && c.TransitionPatch().Name == mod {
		t.Errorf("%s still the transition patch", mod)
	}
	if len(c.ops) != wantOps {
		t.Errorf("%d klp_ops, want %d", len(c.ops), wantOps)
	}
	for _, a := range sites {
		if !tkSiteIsNop(t, k, a) {
			t.Errorf("the site of %s is not a nop", k.Syms.Format(a))
		}
		if c.findOps(a) != nil {
			t.Errorf("%s has klp_ops", k.Syms.Format(a))
		}
	}
	for _, task := range append(k.Tasks(), k.IdleTasks()...) {
		if c.TransitionPatch() == nil && (task.PatchState != KLPTransitionIdle || task.TIF&kernel.TIFPatchPending != 0) {
			t.Errorf("%s: patch_state %d TIF %#x", task, task.PatchState, task.TIF)
		}
	}
}

// tkWantInsmodErr checks a failed insmod's error.
func tkWantInsmodErr(t *testing.T, err error, mod string, e errno.Errno, text string) {
	t.Helper()
	want := "insmod: ERROR: could not insert module test_modules/" + mod + ".ko: " + text
	if err == nil || err.Error() != want || !errors.Is(err, e) {
		t.Errorf("insmod error %v, want %q (%s)", err, want, e.Name())
	}
}

// klp_find_object_symbol's three failures, for vmlinux: all -EINVAL
// before "enabling patch".
func TestErrors_Symbols(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    tkFunc
		msg  string
	}{
		{"missing", tkFunc{old: "no_such_function"}, "livepatch: symbol 'no_such_function' not found in symbol table"},
		{"missing-sympos", tkFunc{old: "no_such_function", sympos: 2}, "livepatch: symbol 'no_such_function' not found in symbol table"},
		{"sympos-out-of-range", tkFunc{old: "cmdline_proc_show", sympos: 2}, "livepatch: symbol position 2 for symbol 'cmdline_proc_show' in object 'vmlinux' not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, c := machine(t, 2)
			tkAddLP(t, k, "test_klp_err", 0, tkObj{funcs: []tkFunc{tc.f}})
			seq := k.Log.NextSeq()
			err := tkLoadFailing(t, k, "test_klp_err", "")
			tkWantInsmodErr(t, err, "test_klp_err", errno.EINVAL, "Invalid parameters")
			wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_err.ko\n"+tc.msg+"\n"+
				"insmod: ERROR: could not insert module test_modules/test_klp_err.ko: Invalid parameters\n")
			tkNothingLeft(t, k, c, "test_klp_err", 0, tkSym(t, k, "cmdline_proc_show"))
		})
	}
}

// tkDupMod registers test_klp_dup, a module with two local functions
// named dup_fn (two static functions of one name from different files):
// it is assembled with dup_a and dup_b, renamed afterwards.
func tkDupMod(t *testing.T, k *kernel.Kernel) {
	t.Helper()
	src := ".intel_syntax noprefix\n" + strings.ReplaceAll(fn("dup_a", "\tmov eax, 1\n")+fn("dup_b", "\tmov eax, 2\n"), "\t.globl dup_a\n", "")
	src = strings.ReplaceAll(src, "\t.globl dup_b\n", "")
	o, err := kernel.AssembleModule("test_klp_dup.S", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range o.Symbols {
		if s.Name == "dup_a" || s.Name == "dup_b" {
			s.Name = "dup_fn"
			n++
		}
	}
	if n != 2 {
		t.Fatalf("renamed %d symbols", n)
	}
	if err := k.RegisterModule(kernel.ModuleSpec{Name: "test_klp_dup", Object: o}); err != nil {
		t.Fatal(err)
	}
}

// A name that occurs twice in a module: sympos 0 is ambiguous ("(null)"
// only for vmlinux: the module's name here), sympos 3 is out of range,
// sympos 1 and 2 pick the first and the second in address order; the
// sysfs directory carries the sympos.
func TestErrors_AmbiguousModuleSymbol(t *testing.T) {
	for _, tc := range []struct {
		sympos int
		msg    string
	}{
		{0, "livepatch: unresolvable ambiguity for symbol 'dup_fn' in object 'test_klp_dup'"},
		{3, "livepatch: symbol position 3 for symbol 'dup_fn' in object 'test_klp_dup' not found"},
		{1, ""},
		{2, ""},
	} {
		t.Run("sympos="+strconv.Itoa(tc.sympos), func(t *testing.T) {
			k, c := machine(t, 2)
			tkDupMod(t, k)
			tkAddLP(t, k, "test_klp_err", 0, tkObj{name: "test_klp_dup", funcs: []tkFunc{{old: "dup_fn", sympos: tc.sympos}}})
			tkInsmod(t, k, "test_klp_dup", "")
			m := k.FindModule("test_klp_dup")
			text, _ := m.Text()
			var addrs []uint64
			for a := text; a < text+0x100; a++ {
				if s, off, ok := k.Syms.Lookup(a); ok && off == 0 && s.Name == "dup_fn" {
					addrs = append(addrs, a)
				}
			}
			if len(addrs) != 2 {
				t.Fatalf("dup_fn found at %x", addrs)
			}
			first, second := addrs[0], addrs[1]
			seq := k.Log.NextSeq()
			if tc.msg != "" {
				err := tkLoadFailing(t, k, "test_klp_err", "")
				tkWantInsmodErr(t, err, "test_klp_err", errno.EINVAL, "Invalid parameters")
				wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_err.ko\n"+tc.msg+"\n"+
					"insmod: ERROR: could not insert module test_modules/test_klp_err.ko: Invalid parameters\n")
				tkNothingLeft(t, k, c, "test_klp_err", 0, first, second)
				if m.Refcnt() != 0 {
					t.Errorf("test_klp_dup refcnt %d", m.Refcnt())
				}
				return
			}
			tkLoadLP(t, k, "test_klp_err", "")
			want := []uint64{first, second}[tc.sympos-1]
			p := c.Patches()[0]
			if f := p.Objs[0].Funcs[0]; f.OldFunc != want {
				t.Errorf("sympos %d resolved to %#x, want %#x", tc.sympos, f.OldFunc, want)
			}
			if _, err := k.FS.Lookup(nil, "/sys/kernel/livepatch/test_klp_err/test_klp_dup/dup_fn,"+strconv.Itoa(tc.sympos)); err != nil {
				t.Error(err)
			}
			tkDisableLP(t, k, "test_klp_err")
			tkUnload(t, k, "test_klp_err")
			tkNothingLeft(t, k, c, "test_klp_err", 0, first, second)
		})
	}
}

// A target module whose symbol is ambiguous, loaded after the patch:
// klp_module_coming fails and the module is refused.
func TestErrors_AmbiguousOnModuleComing(t *testing.T) {
	k, c := machine(t, 2)
	tkDupMod(t, k)
	tkAddLP(t, k, "test_klp_err", 0, tkObj{name: "test_klp_dup", funcs: []tkFunc{{old: "dup_fn"}}})
	tkLoadLP(t, k, "test_klp_err", "")
	seq := k.Log.NextSeq()
	err := tkLoadFailing(t, k, "test_klp_dup", "")
	tkWantInsmodErr(t, err, "test_klp_dup", errno.EINVAL, "Invalid parameters")
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_dup.ko
livepatch: unresolvable ambiguity for symbol 'dup_fn' in object 'test_klp_dup'
livepatch: failed to initialize patch 'test_klp_err' for module 'test_klp_dup' (-22)
livepatch: patch 'test_klp_err' failed for module 'test_klp_dup', refusing to load module 'test_klp_dup'
insmod: ERROR: could not insert module test_modules/test_klp_dup.ko: Invalid parameters
`)
	tkValue(t, k, "test_klp_err", "test_klp_dup/patched", "0")
	if k.FindModule("test_klp_dup") != nil || len(c.ops) != 0 {
		t.Errorf("after the refused load: module %v, %d klp_ops", k.FindModule("test_klp_dup"), len(c.ops))
	}
}

// A module calling klp_enable_patch without MODULE_INFO(livepatch, "Y").
func TestErrors_NotMarkedLivepatch(t *testing.T) {
	k, c := machine(t, 2)
	spec := lpSpec("test_klp_notlp")
	spec.Livepatch = false
	addModule(t, k, spec, lpSrc("test_klp_notlp", "cmdline_proc_show", 0))
	seq := k.Log.NextSeq()
	err := tkLoadFailing(t, k, "test_klp_notlp", "")
	tkWantInsmodErr(t, err, "test_klp_notlp", errno.EINVAL, "Invalid parameters")
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_notlp.ko
livepatch: module test_klp_notlp is not marked as a livepatch module
insmod: ERROR: could not insert module test_modules/test_klp_notlp.ko: Invalid parameters
`)
	tkNothingLeft(t, k, c, "test_klp_notlp", 0, tkSym(t, k, "cmdline_proc_show"))
}

// Another patch in transition: klp_enable_patch's __klp_enable_patch is
// -EBUSY, before "enabling patch"; the patch in transition is untouched.
func TestErrors_AnotherTransition(t *testing.T) {
	k, c := machine(t, 2)
	tkTarget(t, k)
	tkTargetLP(t, k, "test_klp_tpatch", tkFunc{old: "target_sleep_fn"})
	tkLivepatch(t, k)
	tkStallWith(t, k, "test_klp_tpatch", "")
	seq := k.Log.NextSeq()
	err := tkLoadFailing(t, k, "test_klp_livepatch", "")
	tkWantInsmodErr(t, err, "test_klp_livepatch", errno.EBUSY, "Device or resource busy")
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_livepatch.ko
insmod: ERROR: could not insert module test_modules/test_klp_livepatch.ko: Device or resource busy
`)
	tkNothingLeft(t, k, c, "test_klp_livepatch", 1, tkSym(t, k, "cmdline_proc_show"))
	if p := c.TransitionPatch(); p == nil || p.Name != "test_klp_tpatch" || len(c.Patches()) != 1 {
		t.Errorf("the patch in transition: %v, %d patches", p, len(c.Patches()))
	}
	tkValue(t, k, "test_klp_tpatch", "stack_order", "1")
}

// tkSysctlFtrace is set_ftrace_enabled [--fail] VAL.
func tkSysctlFtrace(t *testing.T, k *kernel.Kernel, val string, canFail bool) {
	t.Helper()
	err := k.FS.Echo(nil, val, "/proc/sys/kernel/ftrace_enabled")
	result := strings.TrimSpace(tkCat(t, k, "/proc/sys/kernel/ftrace_enabled"))
	if result != val {
		if !canFail {
			t.Fatalf("failed to set kernel.ftrace_enabled = %s: %v", val, err)
		}
		e, _ := errno.Of(err)
		kmsg(t, k, `livepatch: sysctl: setting key "kernel.ftrace_enabled": `+e.Error())
		return
	}
	kmsg(t, k, "livepatch: kernel.ftrace_enabled = "+result)
}

// tkFailedEnableLog is the transcript of an enable whose ftrace
// registration fails with -EBUSY.
func tkFailedEnableLog(mod, fn string) string {
	return "livepatch: enabling patch '" + mod + "'\n" +
		"livepatch: '" + mod + "': initializing patching transition\n" +
		"livepatch: failed to register ftrace handler for function '" + fn + "' (-16)\n" +
		"livepatch: failed to patch object 'vmlinux'\n" +
		"livepatch: failed to enable patch '" + mod + "'\n" +
		"livepatch: '" + mod + "': canceling patching transition, going to unpatch\n" +
		"livepatch: '" + mod + "': completing unpatching transition\n" +
		"livepatch: '" + mod + "': unpatching complete\n" +
		"insmod: ERROR: could not insert module test_modules/" + mod + ".ko: Device or resource busy\n"
}

// test-ftrace.sh "livepatch interaction with ftrace_enabled sysctl".
func TestErrors_FtraceEnabledSysctl(t *testing.T) {
	k, c := machine(t, 2)
	tkLivepatch(t, k)
	mod := "test_klp_livepatch"
	cmdline := tkSym(t, k, "cmdline_proc_show")
	seq := k.Log.NextSeq()
	tkSysctlFtrace(t, k, "0", false)
	err := tkLoadFailing(t, k, mod, "")
	tkWantInsmodErr(t, err, mod, errno.EBUSY, "Device or resource busy")
	tkNothingLeft(t, k, c, mod, 0, cmdline)
	tkSysctlFtrace(t, k, "1", false)
	tkLoadLP(t, k, mod, "")
	if got := tkCat(t, k, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("/proc/cmdline %q", got)
	}
	tkSysctlFtrace(t, k, "0", true)
	if got := tkCat(t, k, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("livepatch lost after the refused sysctl: %q", got)
	}
	tkDisableLP(t, k, mod)
	tkUnload(t, k, mod)
	wantLog(t, dmesg(k, seq), "livepatch: kernel.ftrace_enabled = 0\n"+
		"% insmod test_modules/test_klp_livepatch.ko\n"+
		tkFailedEnableLog(mod, "cmdline_proc_show")+
		"livepatch: kernel.ftrace_enabled = 1\n"+
		"% insmod test_modules/test_klp_livepatch.ko\n"+
		tkEnableLog(mod)+
		`livepatch: sysctl: setting key "kernel.ftrace_enabled": Device or resource busy`+"\n"+
		tkDisableLog(mod)+
		"% rmmod test_klp_livepatch\n")
	tkNothingLeft(t, k, c, mod, 0, cmdline)
}

// tkKprobeSrc is test_klp_kprobe: a kprobe on cmdline_proc_show with an
// (empty) post_handler if has_post_handler (default true).
const tkKprobeSrc = `
	.text
	.globl kprobe_init
	.type kprobe_init, @function
kprobe_init:
	.fentry
	push rbp
	mov rbp, rsp
	cmp byte ptr [rip + has_post_handler], 0
	je 1f
	lea rax, [rip + post_handler]
	mov qword ptr [rip + kp + 72], rax
1:	lea rdi, [rip + kp]
	call register_kprobe
	pop rbp
	ret
	.size kprobe_init, .-kprobe_init

	.globl kprobe_exit
	.type kprobe_exit, @function
kprobe_exit:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + kp]
	call unregister_kprobe
	pop rbp
	ret
	.size kprobe_exit, .-kprobe_exit

	.type post_handler, @function
post_handler:
	.fentry
	push rbp
	mov rbp, rsp
	inc qword ptr [rip + post_calls]
	xor eax, eax
	pop rbp
	ret
	.size post_handler, .-post_handler

	.section .rodata
kp_name:	.asciz "cmdline_proc_show"
	.data
	.balign 8
kp:
	.zero 48
	.quad kp_name
	.long 0
	.long 0
	.quad 0
	.quad 0
	.zero 48
	.globl has_post_handler, post_calls
has_post_handler:	.byte 1
	.balign 8
post_calls:	.quad 0
`

func tkKprobeMod(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	addModule(t, k, kernel.ModuleSpec{Name: "test_klp_kprobe", Init: "kprobe_init", Exit: "kprobe_exit",
		Params: []kernel.ParamSpec{{Name: "has_post_handler", Type: kernel.ParamBool, Perm: 0o444}}}, tkKprobeSrc)
}

// test-kprobe.sh "livepatch interaction with kprobed function with
// post_handler": the probe's IPMODIFY ops owns cmdline_proc_show, the
// livepatch's registration is -EBUSY.
func TestErrors_KprobeWithPostHandler(t *testing.T) {
	k, c := machine(t, 2)
	tkLivepatch(t, k)
	tkKprobeMod(t, k)
	cmdline := tkSym(t, k, "cmdline_proc_show")
	seq := k.Log.NextSeq()
	if err := k.FS.Echo(nil, "1", "/sys/kernel/debug/kprobes/enabled"); err != nil {
		t.Fatal(err)
	}
	tkInsmod(t, k, "test_klp_kprobe", "has_post_handler=true")
	err := tkLoadFailing(t, k, "test_klp_livepatch", "")
	tkWantInsmodErr(t, err, "test_klp_livepatch", errno.EBUSY, "Device or resource busy")
	tkNothingLeft(t, k, c, "test_klp_livepatch", 0)
	if got := tkCat(t, k, "/proc/cmdline"); strings.Contains(got, "live patched") {
		t.Errorf("/proc/cmdline %q", got)
	}
	tkUnload(t, k, "test_klp_kprobe")
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_kprobe.ko has_post_handler=true\n"+
		"% insmod test_modules/test_klp_livepatch.ko\n"+
		tkFailedEnableLog("test_klp_livepatch", "cmdline_proc_show")+
		"% rmmod test_klp_kprobe\n")
	tkNothingLeft(t, k, c, "test_klp_livepatch", 0, cmdline)
}

// test-kprobe.sh "livepatch interaction with kprobed function without
// post_handler": the two share the site.
func TestErrors_KprobeWithoutPostHandler(t *testing.T) {
	k, c := machine(t, 2)
	tkLivepatch(t, k)
	tkKprobeMod(t, k)
	mod := "test_klp_livepatch"
	seq := k.Log.NextSeq()
	tkInsmod(t, k, "test_klp_kprobe", "has_post_handler=false")
	tkLoadLP(t, k, mod, "")
	if got := tkCat(t, k, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("/proc/cmdline with the kprobe: %q", got)
	}
	tkUnload(t, k, "test_klp_kprobe")
	if got := tkCat(t, k, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("/proc/cmdline after the kprobe went: %q", got)
	}
	tkDisableLP(t, k, mod)
	tkUnload(t, k, mod)
	wantLog(t, dmesg(k, seq), "% insmod test_modules/test_klp_kprobe.ko has_post_handler=false\n"+
		"% insmod test_modules/test_klp_livepatch.ko\n"+
		tkEnableLog(mod)+
		"% rmmod test_klp_kprobe\n"+
		tkDisableLog(mod)+
		"% rmmod test_klp_livepatch\n")
	tkNothingLeft(t, k, c, mod, 0, tkSym(t, k, "cmdline_proc_show"))
}

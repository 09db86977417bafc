package livepatch

import (
	"strings"
	"testing"

	"klpsim/kernel"
)

// machine boots a kernel with the livepatch core and the selftests'
// dynamic debug settings (set_dynamic_debug in functions.sh).
func machine(t testing.TB, cpus int) (*kernel.Kernel, *Core) {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{CPUs: cpus})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Init(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Dyndbg.Control("file kernel/livepatch/* +p"); err != nil {
		t.Fatal(err)
	}
	if err := k.Dyndbg.Control("func klp_try_switch_task -p"); err != nil {
		t.Fatal(err)
	}
	return k, c
}

// addModule assembles src and registers it as module spec.
func addModule(t testing.TB, k *kernel.Kernel, spec kernel.ModuleSpec, src string) {
	t.Helper()
	o, err := kernel.AssembleModule(spec.Name+".S", []byte(".intel_syntax noprefix\n"+src))
	if err != nil {
		t.Fatal(err)
	}
	spec.Object = o
	if err := k.RegisterModule(spec); err != nil {
		t.Fatal(err)
	}
}

// fn is a guest function with a frame.
func fn(name, body string) string {
	return "\t.text\n\t.globl " + name + "\n\t.type " + name + ", @function\n" + name + ":\n\t.fentry\n\tpush rbp\n\tmov rbp, rsp\n" +
		body + "\tpop rbp\n\tret\n\t.size " + name + ", .-" + name + "\n"
}

// lpSrc is a livepatch module like test_klp_livepatch: it replaces
// cmdline_proc_show with a function printing "<name>: this has been live
// patched", and its init enables the patch.
func lpSrc(name, oldFunc string, replace int) string {
	return fn("livepatch_"+oldFunc, "\tlea rsi, [rip + fmt2]\n\tlea rdx, [rip + modname]\n\tlea rcx, [rip + lpmsg]\n\tcall seq_printf\n\txor eax, eax\n") +
		fn("lp_init", "\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n") +
		fn("lp_exit", "") + `
	.section .rodata
fmt2:	.asciz "%s: %s\n"
modname: .asciz "` + name + `"
lpmsg:	.asciz "this has been live patched"
oldname: .asciz "` + oldFunc + `"
	.data
	.balign 8
funcs:	.quad oldname, livepatch_` + oldFunc + `, 0
	.quad 0, 0, 0
objs:	.quad 0, funcs, 0, 0, 0, 0, 0, 0
	.quad 0, 0, 0, 0, 0, 0, 0, 0
patch:	.quad __this_module, objs, 0, ` + itoa(replace) + `
`
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	return "1"
}

func lpSpec(name string) kernel.ModuleSpec {
	return kernel.ModuleSpec{Name: name, Livepatch: true, Init: "lp_init", Exit: "lp_exit"}
}

// dmesg is the kernel log since seq, filtered as check_result does.
func dmesg(k *kernel.Kernel, seq uint64) string {
	var b strings.Builder
	for _, r := range k.Log.Records() {
		if r.Seq < seq {
			continue
		}
		if (strings.Contains(r.Text, "livepatch:") || strings.Contains(r.Text, "test_klp")) &&
			!strings.Contains(r.Text, "tainting kernel") && !strings.Contains(r.Text, "taints kernel") {
			b.WriteString(r.Text + "\n")
		}
	}
	return b.String()
}

func wantLog(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("log:\n%s\nwant:\n%s", got, want)
	}
}

// kmsg logs a script line as functions.sh's log does.
func kmsg(t *testing.T, k *kernel.Kernel, line string) {
	t.Helper()
	if err := k.FS.Echo(nil, line, "/dev/kmsg"); err != nil {
		t.Fatal(err)
	}
}

// test-livepatch.sh "basic function patching".
func TestBasicFunctionPatching(t *testing.T) {
	k, _ := machine(t, 2)
	addModule(t, k, lpSpec("test_klp_livepatch"), lpSrc("test_klp_livepatch", "cmdline_proc_show", 0))
	seq := k.Log.NextSeq()
	kmsg(t, k, "% insmod test_modules/test_klp_livepatch.ko")
	if err := k.Insmod("test_klp_livepatch", ""); err != nil {
		t.Fatal(err)
	}
	waitTransition(t, k, "test_klp_livepatch")
	if got, _ := k.FS.Cat(nil, "/proc/cmdline"); got != "test_klp_livepatch: this has been live patched\n" {
		t.Errorf("/proc/cmdline = %q", got)
	}
	kmsg(t, k, "% echo 0 > /sys/kernel/livepatch/test_klp_livepatch/enabled")
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/test_klp_livepatch/enabled"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, k, "/sys/kernel/livepatch/test_klp_livepatch")
	kmsg(t, k, "% rmmod test_klp_livepatch")
	if err := k.Rmmod("test_klp_livepatch"); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.FS.Cat(nil, "/proc/cmdline"); strings.Contains(got, "live patched") {
		t.Errorf("/proc/cmdline still patched: %q", got)
	}
	wantLog(t, dmesg(k, seq), `% insmod test_modules/test_klp_livepatch.ko
livepatch: enabling patch 'test_klp_livepatch'
livepatch: 'test_klp_livepatch': initializing patching transition
livepatch: 'test_klp_livepatch': starting patching transition
livepatch: 'test_klp_livepatch': completing patching transition
livepatch: 'test_klp_livepatch': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_livepatch/enabled
livepatch: 'test_klp_livepatch': initializing unpatching transition
livepatch: 'test_klp_livepatch': starting unpatching transition
livepatch: 'test_klp_livepatch': completing unpatching transition
livepatch: 'test_klp_livepatch': unpatching complete
% rmmod test_klp_livepatch
`)
}

// waitTransition is load_lp's wait: until transition reads 0.
func waitTransition(t *testing.T, k *kernel.Kernel, name string) {
	t.Helper()
	path := "/sys/kernel/livepatch/" + name + "/transition"
	err := k.RunUntil(k.Now()+60e9, func() bool {
		v, err := k.FS.Cat(nil, path)
		return err == nil && v == "0\n"
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := k.FS.Cat(nil, path); v != "0\n" {
		t.Fatalf("%s never reached 0 (%q)", path, v)
	}
}

// waitGone is disable_lp's and unload_mod's wait for a path to vanish.
func waitGone(t *testing.T, k *kernel.Kernel, path string) {
	t.Helper()
	k.RunUntil(k.Now()+60e9, func() bool {
		_, err := k.FS.Lookup(nil, path)
		return err != nil
	})
	if _, err := k.FS.Lookup(nil, path); err == nil {
		t.Fatalf("%s still there", path)
	}
}

package livepatch

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// pocState is one state of a generated POC livepatch: its id, whether
// its setup fails (with -ENODEV), block_disable and is_shadow.
type pocState struct {
	id                      int
	failSetup, block, owned bool
}

// pocLPSrc is a states POC livepatch named mod (cumulative when replace)
// with states; each state callback prints "<mod>: <callback>: state
// <id>"; setup allocates the shadow variable <&pocObj, id> in the kernel
// image's console_loglevel; shadow_dtor prints "<mod>: shadow_dtor". Its
// init also checks klp_get_state(&patch, id) for every state against
// &states[i] and prints "<mod>: klp_get_state(<id>) ok" or "... wrong".
func pocLPSrc(mod string, replace bool, states ...pocState) string {
	var b strings.Builder
	b.WriteString("\t.section .rodata\n")
	fmt.Fprintf(&b, "fmt_cb:\t.asciz \"\\0016%s: %%s: state %%lu\\n\"\n", mod)
	fmt.Fprintf(&b, "fmt_dtor:\t.asciz \"\\0016%s: shadow_dtor\\n\"\n", mod)
	fmt.Fprintf(&b, "fmt_get_ok:\t.asciz \"\\0016%s: klp_get_state(%%lu) ok\\n\"\n", mod)
	fmt.Fprintf(&b, "fmt_get_bad:\t.asciz \"\\0016%s: klp_get_state(%%lu) wrong\\n\"\n", mod)
	for _, n := range []string{"setup", "enable", "disable", "release"} {
		fmt.Fprintf(&b, "s_%s:\t.asciz %q\n", n, n)
	}
	for _, n := range []string{"setup", "setup_fail", "enable", "disable", "release"} {
		name := strings.TrimSuffix(n, "_fail")
		body := "\tmov rdx, qword ptr [rsi]\n\tlea rdi, [rip + fmt_cb]\n\tlea rsi, [rip + s_" + name + "]\n\tcall _printk\n"
		switch n {
		case "setup":
			body += "\tlea rdi, [rip + console_loglevel]\n\tmov rsi, qword ptr [rbx]\n\tmov edx, 4\n\tmov ecx, 0xcc0\n\txor r8d, r8d\n\txor r9d, r9d\n\tcall klp_shadow_alloc\n\txor eax, eax\n"
		case "setup_fail":
			body += "\tmov eax, -19\n"
		}
		b.WriteString(fn("cb_"+n, "\tpush rbx\n\tpush r12\n\tmov rbx, rsi\n"+body+"\tpop r12\n\tpop rbx\n"))
	}
	b.WriteString(fn("cb_dtor", "\tlea rdi, [rip + fmt_dtor]\n\tcall _printk\n"))
	var check strings.Builder
	for i, s := range states {
		fmt.Fprintf(&check, "\tlea rdi, [rip + patch]\n\tmov esi, %d\n\tcall klp_get_state\n\tlea rcx, [rip + states + %d]\n\tlea rdi, [rip + fmt_get_ok]\n\tcmp rax, rcx\n\tje 1f\n\tlea rdi, [rip + fmt_get_bad]\n1:\tmov esi, %d\n\tcall _printk\n", s.id, i*POCStateSize, s.id)
	}
	b.WriteString(fn("lp_init", check.String()+"\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n"))
	b.WriteString(fn("lp_exit", ""))
	b.WriteString("\t.data\n\t.balign 8\nfuncs:\t.quad 0, 0, 0\nobjs:\t.quad 0, funcs, 0, 0, 0, 0, 0, 0\n\t.zero 64\nstates:\n")
	for _, s := range states {
		setup := "cb_setup"
		if s.failSetup {
			setup = "cb_setup_fail"
		}
		fmt.Fprintf(&b, "\t.quad %d, %s, cb_enable, cb_disable, cb_release, cb_dtor\n\t.byte 0\n\t.zero 7\n\t.byte %d, %d\n\t.zero 6\n\t.quad 0\n",
			s.id, setup, b2i(s.block), b2i(s.owned))
	}
	fmt.Fprintf(&b, "\t.zero %d\npatch:\t.quad __this_module, objs, states, %d\n", POCStateSize, b2i(replace))
	return b.String()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func pocAddLP(t *testing.T, k *kernel.Kernel, mod string, replace bool, states ...pocState) {
	t.Helper()
	addModule(t, k, lpSpec(mod), pocLPSrc(mod, replace, states...))
}

// klp_get_state walks the POC's larger struct klp_state; a setup that
// fails releases the states set up before it (and only those), and the
// patch is not enabled.
func TestStatesPOC_SetupFails(t *testing.T) {
	k, _ := machineVersion(t, 2, VStatesPOC)
	pocAddLP(t, k, "test_klp_poc", false, pocState{id: 1}, pocState{id: 2, failSetup: true}, pocState{id: 3})
	seq := k.Log.NextSeq()
	err := k.Insmod("test_klp_poc", "")
	if !errors.Is(err, errno.ENODEV) {
		t.Errorf("insmod: %v, want ENODEV", err)
	}
	wantLog(t, dmesg(k, seq), `test_klp_poc: klp_get_state(1) ok
test_klp_poc: klp_get_state(2) ok
test_klp_poc: klp_get_state(3) ok
livepatch: enabling patch 'test_klp_poc'
livepatch: 'test_klp_poc': initializing patching transition
test_klp_poc: setup: state 1
test_klp_poc: setup: state 2
test_klp_poc: release: state 1
livepatch: failed to enable patch 'test_klp_poc'
livepatch: 'test_klp_poc': canceling patching transition, going to unpatch
livepatch: 'test_klp_poc': completing unpatching transition
livepatch: 'test_klp_poc': unpatching complete
`)
}

// A non-cumulative patch sharing a state: the state is not new, so no
// setup or enable; disabling the first patch leaves the state to the
// second (no disable or release); disabling the last one removes it,
// and the shadow variables it owns go with it.
func TestStatesPOC_SharedState(t *testing.T) {
	k, _ := machineVersion(t, 2, VStatesPOC)
	pocAddLP(t, k, "test_klp_poc_a", false, pocState{id: 5, owned: true})
	pocAddLP(t, k, "test_klp_poc_b", false, pocState{id: 5, owned: true})
	for _, m := range []string{"test_klp_poc_a", "test_klp_poc_b"} {
		if err := k.Insmod(m, ""); err != nil {
			t.Fatal(err)
		}
		waitTransition(t, k, m)
	}
	seq := k.Log.NextSeq()
	tkDisableLP(t, k, "test_klp_poc_a")
	tkDisableLP(t, k, "test_klp_poc_b")
	wantLog(t, dmesg(k, seq), `% echo 0 > /sys/kernel/livepatch/test_klp_poc_a/enabled
livepatch: 'test_klp_poc_a': initializing unpatching transition
livepatch: 'test_klp_poc_a': starting unpatching transition
livepatch: 'test_klp_poc_a': completing unpatching transition
livepatch: 'test_klp_poc_a': unpatching complete
% echo 0 > /sys/kernel/livepatch/test_klp_poc_b/enabled
livepatch: 'test_klp_poc_b': initializing unpatching transition
test_klp_poc_b: disable: state 5
livepatch: 'test_klp_poc_b': starting unpatching transition
livepatch: 'test_klp_poc_b': completing unpatching transition
test_klp_poc_b: release: state 5
test_klp_poc_b: shadow_dtor
livepatch: 'test_klp_poc_b': unpatching complete
`)
}

// block_disable: the patch cannot be disabled - not even by reversing
// its own enable transition - and the write fails with EINVAL.
func TestStatesPOC_BlockDisable(t *testing.T) {
	k, c := machineVersion(t, 2, VStatesPOC)
	pocAddLP(t, k, "test_klp_poc", true, pocState{id: 1, block: true})
	if err := k.Insmod("test_klp_poc", ""); err != nil {
		t.Fatal(err)
	}
	waitTransition(t, k, "test_klp_poc")
	seq := k.Log.NextSeq()
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/test_klp_poc/enabled"); !errors.Is(err, errno.EINVAL) {
		t.Errorf("echo 0 > enabled: %v, want EINVAL", err)
	}
	wantLog(t, dmesg(k, seq), "livepatch: The livepatch 'test_klp_poc' does not support disable\n")
	if len(c.Patches()) != 1 || !c.Patches()[0].Enabled {
		t.Error("the patch is not enabled any more")
	}
}

// POC 7/7's klp_is_patch_compatible: only a cumulative patch that drops a
// state whose disable is blocked is refused; versions do not matter.
func TestStatesPOC_IsPatchCompatible(t *testing.T) {
	blocking := &Patch{Name: "old", States: []*State{{ID: 1, cb: stateCallbacks{blockDisable: true}}, {ID: 2}}}
	for _, tc := range []struct {
		name string
		new  *Patch
		want bool
	}{
		{"non-cumulative without the states", &Patch{}, true},
		{"cumulative keeping the blocking state", &Patch{Replace: true, States: []*State{{ID: 1}}}, true},
		{"cumulative dropping only a plain state", &Patch{Replace: true, States: []*State{{ID: 1}}}, true},
		{"cumulative dropping the blocking state", &Patch{Replace: true, States: []*State{{ID: 2}}}, false},
		{"cumulative without states", &Patch{Replace: true}, false},
	} {
		c := &Core{ver: VStatesPOC, patches: []*Patch{blocking}}
		if got := c.isPatchCompatible(tc.new); got != tc.want {
			t.Errorf("%s: compatible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

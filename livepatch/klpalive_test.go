package livepatch

import (
	"strings"
	"testing"

	"klpsim/kernel"
)

// A module whose exit sleeps, with a function to patch.
var goingModSrc = fn("going_fn", "") +
	fn("going_exit", "\tlea rdi, [rip + enter]\n\tcall _printk\n\tmov edi, 300\n\tcall msleep\n\tlea rdi, [rip + leave]\n\tcall _printk\n") + `
	.section .rodata
enter:	.asciz "\0016test_klp_going_mod: exit enter\n"
leave:	.asciz "\0016test_klp_going_mod: exit done\n"
`

var goingLPSrc = fn("new_going_fn", "") +
	fn("lp_init", "\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n") + fn("lp_exit", "") + `
	.section .rodata
modname: .asciz "test_klp_going_mod"
oldname: .asciz "going_fn"
	.data
	.balign 8
funcs:	.quad oldname, new_going_fn, 0
	.quad 0, 0, 0
objs:	.quad modname, funcs, 0, 0, 0, 0, 0, 0
	.quad 0, 0, 0, 0, 0, 0, 0, 0
patch:	.quad __this_module, objs, 0, 0
`

// mod->klp_alive stays set while a GOING module's exit runs (it is
// cleared in klp_module_going, after the exit): a patch enabled then
// finds the module (klp_find_object_module) and patches it, and
// klp_module_going reverts it when the exit has returned, as in Linux.
func TestKlpAlive_GoingModuleWhileExitRuns(t *testing.T) {
	k, _ := machine(t, 2)
	addModule(t, k, kernel.ModuleSpec{Name: "test_klp_going_mod", Exit: "going_exit"}, goingModSrc)
	addModule(t, k, lpSpec("test_klp_going_lp"), goingLPSrc)
	if err := k.Insmod("test_klp_going_mod", ""); err != nil {
		t.Fatal(err)
	}
	seq := k.Log.NextSeq()
	kmsg(t, k, "% rmmod test_klp_going_mod")
	_, done := start(t, k, "rmmod", func(ctx *kernel.OpCtx) error { return k.DeleteModuleOn(ctx, "test_klp_going_mod") })
	if err := k.RunFor(50e6); err != nil {
		t.Fatal(err)
	}
	if m := k.FindModule("test_klp_going_mod"); m == nil || m.State != kernel.ModuleStateGoing || !m.KlpAlive {
		t.Fatalf("module %+v: want GOING and klp_alive during its exit", m)
	}
	kmsg(t, k, "% insmod test_modules/test_klp_going_lp.ko")
	if err := k.Insmod("test_klp_going_lp", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.RunUntil(k.Now()+5e9, func() bool { d, _ := done(); return d }); err != nil {
		t.Fatal(err)
	}
	if _, err := done(); err != nil {
		t.Fatalf("delete_module: %v", err)
	}
	got := dmesg(k, seq)
	if !strings.Contains(got, "livepatch: reverting patch 'test_klp_going_lp' on unloading module 'test_klp_going_mod'\n") ||
		strings.Index(got, "exit done") > strings.Index(got, "reverting patch") {
		t.Errorf("the patch did not take the going module, or was not reverted after its exit:\n%s", got)
	}
}

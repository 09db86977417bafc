package testmods

// This file mirrors test_klp_mod_patch.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// modPatch is test_klp_mod_patch.c: a livepatch for the module
// test_klp_mod_target, replacing test_klp_mod_target_show.
func modPatch() module {
	const mod = "test_klp_mod_patch"
	src := Header + `
	.section .rodata
.Lfmt_show:	.asciz "%s: %s\n"
.Lpatched:	.asciz "this has been live patched"
.Ltarget:	.asciz "test_klp_mod_target"
.Lshow:		.asciz "test_klp_mod_target_show"

# static int livepatch_mod_target_show(struct seq_file *m, void *v)
# {
#	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "this has been live patched");
#	return 0;
# }
	.text
	.type livepatch_mod_target_show, @function
livepatch_mod_target_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lfmt_show]
	lea rdx, [rip + __this_module + MOD_NAME]
	lea rcx, [rip + .Lpatched]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size livepatch_mod_target_show, .-livepatch_mod_target_show

	.data
	.balign 8
# static struct klp_func funcs[] = {
#	{ .old_name = "test_klp_mod_target_show", .new_func = livepatch_mod_target_show, }, { }
# };
funcs:
	.quad .Lshow, livepatch_mod_target_show, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = { { .name = "test_klp_mod_target", .funcs = funcs, }, { } };
objs:
	.quad .Ltarget, funcs, 0, 0, 0, 0, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + EnableInit(mod, "")
	return module{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

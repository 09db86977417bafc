package testmods

// This file mirrors test_klp_mod_target.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// modTarget is test_klp_mod_target.c: /proc/test_klp_mod_target, whose
// show function test_klp_mod_target_show prints "test_klp_mod_target:
// original output" — the function test_klp_mod_patch replaces.
func modTarget() module {
	const mod = "test_klp_mod_target"
	src := Header + `
	.section .rodata
.Lfmt_show:	.asciz "%s: %s\n"
.Loriginal:	.asciz "original output"
.Lproc_name:	.asciz "test_klp_mod_target"

# static struct proc_dir_entry *pde;
	.bss
	.balign 8
pde:	.zero 8

# static int test_klp_mod_target_show(struct seq_file *m, void *v)
# {
#	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "original output");
#	return 0;
# }
	.text
	.type test_klp_mod_target_show, @function
test_klp_mod_target_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lfmt_show]
	lea rdx, [rip + __this_module + MOD_NAME]
	lea rcx, [rip + .Loriginal]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size test_klp_mod_target_show, .-test_klp_mod_target_show

# static int test_klp_mod_target_init(void)
# {
#	pr_info("%s\n", __func__);
#	pde = proc_create_single("test_klp_mod_target", 0, NULL,
#				 test_klp_mod_target_show);
#	if (!pde)
#		return -ENOMEM;
#	return 0;
# }
` + PrintFunc(mod, mod+"_init", "", `	lea rdi, [rip + .Lproc_name]
	xor esi, esi
	xor edx, edx
	lea rcx, [rip + test_klp_mod_target_show]
	call proc_create_single
	mov qword ptr [rip + pde], rax
	test rax, rax
	mov eax, 0
	jnz 1f
	mov eax, -ENOMEM
1:
`) + `
# static void test_klp_mod_target_exit(void)
# {
#	proc_remove(pde);
#	pr_info("%s\n", __func__);
# }
` + PrintFunc(mod, mod+"_exit", `	mov rdi, qword ptr [rip + pde]
	call proc_remove
`, "")
	return module{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

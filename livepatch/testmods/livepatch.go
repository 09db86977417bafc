package testmods

// This file mirrors test_klp_livepatch.c and test_klp_atomic_replace.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// proShow is a replacement /proc show function,
//
//	static int NAME(struct seq_file *m, void *v)
//	{
//		seq_printf(m, "%s: %s\n", THIS_MODULE->name,
//			   "this has been live patched");
//		return 0;
//	}
//
// and the patch replacing old with it on vmlinux:
//
//	static struct klp_func funcs[] = {
//		{ .old_name = OLD, .new_func = NAME, }, { }
//	};
//	static struct klp_object objs[] = {
//		{ /* name being NULL means vmlinux */ .funcs = funcs, }, { }
//	};
//	static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
func procShowPatch(name, old string) string {
	return `
	.section .rodata
.Lfmt_show:	.asciz "%s: %s\n"
.Lpatched:	.asciz "this has been live patched"
.Lold_name:	.asciz "` + old + `"

	.text
	.type ` + name + `, @function
` + name + `:
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
	.size ` + name + `, .-` + name + `

	.data
	.balign 8
funcs:
	.quad .Lold_name, ` + name + `, 0
	.quad 0, 0, 0
objs:
	.quad 0, funcs, 0, 0, 0, 0, 0, 0
	.zero 64
patch:
	.quad __this_module, objs, 0, 0
`
}

// livepatchMod is test_klp_livepatch.c: cmdline_proc_show replaced by
// livepatch_cmdline_proc_show, so that /proc/cmdline reads
// "test_klp_livepatch: this has been live patched".
//
//	static int test_klp_livepatch_init(void)
//	{
//		return klp_enable_patch(&patch);
//	}
//	static void test_klp_livepatch_exit(void) { }
func livepatchMod() module {
	const mod = "test_klp_livepatch"
	return module{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit"},
		src:  Header + procShowPatch("livepatch_cmdline_proc_show", "cmdline_proc_show") + EnableInit(mod, ""),
	}
}

// atomicReplace is test_klp_atomic_replace.c: meminfo_proc_show replaced
// by livepatch_meminfo_proc_show, and the parameter replace copied into
// patch.replace.
//
//	static int replace;
//	module_param(replace, int, 0644);
//	MODULE_PARM_DESC(replace, "replace (default=0)");
//
//	static int test_klp_atomic_replace_init(void)
//	{
//		patch.replace = replace;
//		return klp_enable_patch(&patch);
//	}
//	static void test_klp_atomic_replace_exit(void) { }
func atomicReplace() module {
	const mod = "test_klp_atomic_replace"
	return module{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "replace", Type: kernel.ParamInt, Perm: 0o644}}},
		src: Header + `
	.data
	.balign 4
replace:	.long 0
` + procShowPatch("livepatch_meminfo_proc_show", "meminfo_proc_show") + EnableInit(mod, `	# patch.replace = replace;
	mov eax, dword ptr [rip + replace]
	test eax, eax
	setne byte ptr [rip + patch + KLP_PATCH_REPLACE]
`),
	}
}

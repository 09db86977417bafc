package testmods

// This file mirrors test_klp_callbacks_demo2.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// callbacksDemo2 is test_klp_callbacks_demo2.c: the same callbacks on
// vmlinux only (pre_patch returns 0), and the parameter replace copied
// into patch.replace by the init.
func callbacksDemo2() module {
	const mod = "test_klp_callbacks_demo2"
	src := Header + `
# static int replace;
# module_param(replace, int, 0644);
	.data
	.balign 4
replace:	.long 0
` + CallbackInfo(mod) + DemoCallbacks("\txor eax, eax\n") + `
	.data
	.balign 8
# static struct klp_func no_funcs[] = { { } };
no_funcs:
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = NULL /* vmlinux */, .funcs = no_funcs, .callbacks = {...} }, { }
# };
objs:
	.quad 0, no_funcs, ` + DemoObjCallbacks + `, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + EnableInit(mod, `	# patch.replace = replace;
	mov eax, dword ptr [rip + replace]
	test eax, eax
	setne byte ptr [rip + patch + KLP_PATCH_REPLACE]
`)
	return module{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "replace", Type: kernel.ParamInt, Perm: 0o644}}},
		src: src,
	}
}

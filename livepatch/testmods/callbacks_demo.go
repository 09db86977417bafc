package testmods

// This file mirrors test_klp_callbacks_demo.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// callbacksDemo is test_klp_callbacks_demo.c: callbacks on vmlinux, on
// test_klp_callbacks_mod and on test_klp_callbacks_busy, whose
// busymod_work_func it replaces; every pre_patch returns the parameter
// pre_patch_ret.
func callbacksDemo() module {
	const mod = "test_klp_callbacks_demo"
	src := Header + `
# static int pre_patch_ret;
# module_param(pre_patch_ret, int, 0644);
	.data
	.balign 4
pre_patch_ret:	.long 0
` + CallbackInfo(mod) + `
# /* Executed on object patching (ie, patch enablement) */
# static int pre_patch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	return pre_patch_ret;
# }
# /* Executed on object unpatching (ie, patch disablement) */
# static void post_patch_callback(struct klp_object *obj) ... and the
# other two, each only callback_info(__func__, obj).
` + DemoCallbacks("\tmov eax, dword ptr [rip + pre_patch_ret]\n") + `
# static void patched_work_func(struct work_struct *work)
# {
#	pr_info("%s\n", __func__);
# }
` + PrintFunc(mod, "patched_work_func", "", "") + `
	.section .rodata
.Lmod_name:	.asciz "test_klp_callbacks_mod"
.Lbusy_name:	.asciz "test_klp_callbacks_busy"
.Lbusymod_work_func: .asciz "busymod_work_func"

	.data
	.balign 8
# static struct klp_func no_funcs[] = { {} };
no_funcs:
	.quad 0, 0, 0
# static struct klp_func busymod_funcs[] = {
#	{ .old_name = "busymod_work_func", .new_func = patched_work_func, }, { }
# };
busymod_funcs:
	.quad .Lbusymod_work_func, patched_work_func, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = NULL /* vmlinux */, .funcs = no_funcs, .callbacks = {...} },
#	{ .name = "test_klp_callbacks_mod", .funcs = no_funcs, .callbacks = {...} },
#	{ .name = "test_klp_callbacks_busy", .funcs = busymod_funcs, .callbacks = {...} },
#	{ }
# };
objs:
	.quad 0, no_funcs, ` + DemoObjCallbacks + `, 0, 0
	.quad .Lmod_name, no_funcs, ` + DemoObjCallbacks + `, 0, 0
	.quad .Lbusy_name, busymod_funcs, ` + DemoObjCallbacks + `, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + EnableInit(mod, "")
	return module{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "pre_patch_ret", Type: kernel.ParamInt, Perm: 0o644}}},
		src: src,
	}
}

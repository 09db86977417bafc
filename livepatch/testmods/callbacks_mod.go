package testmods

// This file mirrors test_klp_callbacks_mod.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// callbacksMod is test_klp_callbacks_mod.c: a target module whose init
// and exit print their names.
func callbacksMod() module {
	const mod = "test_klp_callbacks_mod"
	src := Header + `
# static int test_klp_callbacks_mod_init(void)
# {
#	pr_info("%s\n", __func__);
#	return 0;
# }
` + PrintFunc(mod, mod+"_init", "", "\txor eax, eax\n") + `
# static void test_klp_callbacks_mod_exit(void)
# {
#	pr_info("%s\n", __func__);
# }
` + PrintFunc(mod, mod+"_exit", "", "")
	return module{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

package livepatch

import "testing"

// tools/testing/selftests/livepatch/test-livepatch.sh cases 4 and 5
// (2026): a livepatch for a function of a module, test_klp_mod_patch
// replacing test_klp_mod_target_show, loaded after and before its target.

const (
	mtTarget = "test_klp_mod_target"
	mtPatch  = "test_klp_mod_patch"

	mtOriginal = "test_klp_mod_target: original output\n"
	mtPatched  = "test_klp_mod_patch: this has been live patched\n"
)

// "module function patching": the target first; the patch resolves the
// module's function at enable time (§2 step 10, klp_init_object_loaded).
func TestModules_ModuleFunctionPatching(t *testing.T) {
	s := newKselftest(t, mtTarget, mtPatch)
	s.loadMod(mtTarget, "")
	if got := readModTarget(t, s.k); got != mtOriginal {
		t.Fatalf("cat /proc/%s: %q, want %q", mtTarget, got, mtOriginal)
	}
	s.loadLP(mtPatch, "")
	if got := readModTarget(t, s.k); got != mtPatched {
		t.Errorf("cat /proc/%s with the patch: %q, want %q", mtTarget, got, mtPatched)
	}
	s.disableLP(mtPatch)
	s.unloadLP(mtPatch)
	if got := readModTarget(t, s.k); got != mtOriginal {
		t.Errorf("cat /proc/%s after the patch: %q, want %q", mtTarget, got, mtOriginal)
	}
	s.unloadMod(mtTarget)
	s.checkResult(`
% insmod test_modules/test_klp_mod_target.ko
test_klp_mod_target: test_klp_mod_target_init
% insmod test_modules/test_klp_mod_patch.ko
livepatch: enabling patch 'test_klp_mod_patch'
livepatch: 'test_klp_mod_patch': initializing patching transition
livepatch: 'test_klp_mod_patch': starting patching transition
livepatch: 'test_klp_mod_patch': completing patching transition
livepatch: 'test_klp_mod_patch': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_mod_patch/enabled
livepatch: 'test_klp_mod_patch': initializing unpatching transition
livepatch: 'test_klp_mod_patch': starting unpatching transition
livepatch: 'test_klp_mod_patch': completing unpatching transition
livepatch: 'test_klp_mod_patch': unpatching complete
% rmmod test_klp_mod_patch
% rmmod test_klp_mod_target
test_klp_mod_target: test_klp_mod_target_exit
`)
}

// "module function patching (livepatch first)": the patch's object waits
// (sysfs patched=0) until the target loads; klp_module_coming then
// patches it before the module's init runs ("applying patch" before the
// init's message: §7, invariant 5). The patch is gone when the target is
// removed, so no "reverting patch" line.
func TestModules_ModuleFunctionPatchingLivepatchFirst(t *testing.T) {
	s := newKselftest(t, mtTarget, mtPatch)
	s.loadLP(mtPatch, "")
	patched := "/sys/kernel/livepatch/" + mtPatch + "/" + mtTarget + "/patched"
	if got := s.read(patched); got != "0\n" {
		t.Errorf("%s before the target loads: %q, want 0", patched, got)
	}
	s.loadMod(mtTarget, "")
	if got := s.read(patched); got != "1\n" {
		t.Errorf("%s after the target loaded: %q, want 1", patched, got)
	}
	if got := readModTarget(t, s.k); got != mtPatched {
		t.Errorf("cat /proc/%s: %q, want %q", mtTarget, got, mtPatched)
	}
	s.disableLP(mtPatch)
	s.unloadLP(mtPatch)
	if got := readModTarget(t, s.k); got != mtOriginal {
		t.Errorf("cat /proc/%s after the patch: %q, want %q", mtTarget, got, mtOriginal)
	}
	s.unloadMod(mtTarget)
	s.checkResult(`
% insmod test_modules/test_klp_mod_patch.ko
livepatch: enabling patch 'test_klp_mod_patch'
livepatch: 'test_klp_mod_patch': initializing patching transition
livepatch: 'test_klp_mod_patch': starting patching transition
livepatch: 'test_klp_mod_patch': completing patching transition
livepatch: 'test_klp_mod_patch': patching complete
% insmod test_modules/test_klp_mod_target.ko
livepatch: applying patch 'test_klp_mod_patch' to loading module 'test_klp_mod_target'
test_klp_mod_target: test_klp_mod_target_init
% echo 0 > /sys/kernel/livepatch/test_klp_mod_patch/enabled
livepatch: 'test_klp_mod_patch': initializing unpatching transition
livepatch: 'test_klp_mod_patch': starting unpatching transition
livepatch: 'test_klp_mod_patch': completing unpatching transition
livepatch: 'test_klp_mod_patch': unpatching complete
% rmmod test_klp_mod_patch
% rmmod test_klp_mod_target
test_klp_mod_target: test_klp_mod_target_exit
`)
}

// tools/testing/selftests/livepatch/test-shadow-vars.sh, "basic shadow
// variable API": test_klp_shadow_vars walks the API in its init and echoes
// every call with pointers as ids in first-seen order — PTR0 is NULL, the
// three objects PTR1, PTR9 and PTR14, the ctor PTR4, the dtor PTR17
// (selftests.md). A ctor logs before its wrapper (it runs inside
// klp_shadow_*alloc), a dtor before klp_shadow_free's wrapper; an existing
// variable's get_or_alloc calls no ctor (§8); %pGg prints the gfp flags'
// names.
func TestModules_ShadowVarsBasicAPI(t *testing.T) {
	s := newKselftest(t, "test_klp_shadow_vars")
	s.loadMod("test_klp_shadow_vars", "")
	s.unloadMod("test_klp_shadow_vars")
	s.checkResult(`
% insmod test_modules/test_klp_shadow_vars.ko
test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1234) = PTR0
test_klp_shadow_vars:   got expected NULL result
test_klp_shadow_vars: shadow_ctor: PTR3 -> PTR2
test_klp_shadow_vars: klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3
test_klp_shadow_vars: shadow_ctor: PTR6 -> PTR5
test_klp_shadow_vars: klp_shadow_alloc(obj=PTR1, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR5 = PTR6
test_klp_shadow_vars: shadow_ctor: PTR8 -> PTR7
test_klp_shadow_vars: klp_shadow_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8
test_klp_shadow_vars: shadow_ctor: PTR11 -> PTR10
test_klp_shadow_vars: klp_shadow_alloc(obj=PTR9, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR10 = PTR11
test_klp_shadow_vars: shadow_ctor: PTR13 -> PTR12
test_klp_shadow_vars: klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13
test_klp_shadow_vars: shadow_ctor: PTR16 -> PTR15
test_klp_shadow_vars: klp_shadow_alloc(obj=PTR14, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR15 = PTR16
test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1234) = PTR3
test_klp_shadow_vars:   got expected PTR3 -> PTR2 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1235) = PTR6
test_klp_shadow_vars:   got expected PTR6 -> PTR5 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR9, id=0x1234) = PTR8
test_klp_shadow_vars:   got expected PTR8 -> PTR7 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR9, id=0x1235) = PTR11
test_klp_shadow_vars:   got expected PTR11 -> PTR10 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR14, id=0x1234) = PTR13
test_klp_shadow_vars:   got expected PTR13 -> PTR12 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR14, id=0x1235) = PTR16
test_klp_shadow_vars:   got expected PTR16 -> PTR15 result
test_klp_shadow_vars: klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3
test_klp_shadow_vars:   got expected PTR3 -> PTR2 result
test_klp_shadow_vars: klp_shadow_get_or_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8
test_klp_shadow_vars:   got expected PTR8 -> PTR7 result
test_klp_shadow_vars: klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13
test_klp_shadow_vars:   got expected PTR13 -> PTR12 result
test_klp_shadow_vars: shadow_dtor(obj=PTR1, shadow_data=PTR3)
test_klp_shadow_vars: klp_shadow_free(obj=PTR1, id=0x1234, dtor=PTR17)
test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1234) = PTR0
test_klp_shadow_vars:   got expected NULL result
test_klp_shadow_vars: shadow_dtor(obj=PTR9, shadow_data=PTR8)
test_klp_shadow_vars: klp_shadow_free(obj=PTR9, id=0x1234, dtor=PTR17)
test_klp_shadow_vars: klp_shadow_get(obj=PTR9, id=0x1234) = PTR0
test_klp_shadow_vars:   got expected NULL result
test_klp_shadow_vars: shadow_dtor(obj=PTR14, shadow_data=PTR13)
test_klp_shadow_vars: klp_shadow_free(obj=PTR14, id=0x1234, dtor=PTR17)
test_klp_shadow_vars: klp_shadow_get(obj=PTR14, id=0x1234) = PTR0
test_klp_shadow_vars:   got expected NULL result
test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1235) = PTR6
test_klp_shadow_vars:   got expected PTR6 -> PTR5 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR9, id=0x1235) = PTR11
test_klp_shadow_vars:   got expected PTR11 -> PTR10 result
test_klp_shadow_vars: klp_shadow_get(obj=PTR14, id=0x1235) = PTR16
test_klp_shadow_vars:   got expected PTR16 -> PTR15 result
test_klp_shadow_vars: klp_shadow_free_all(id=0x1235, dtor=PTR0)
test_klp_shadow_vars: klp_shadow_get(obj=PTR1, id=0x1235) = PTR0
test_klp_shadow_vars:   got expected NULL result
test_klp_shadow_vars: klp_shadow_get(obj=PTR9, id=0x1235) = PTR0
test_klp_shadow_vars:   got expected NULL result
test_klp_shadow_vars: klp_shadow_get(obj=PTR14, id=0x1235) = PTR0
test_klp_shadow_vars:   got expected NULL result
% rmmod test_klp_shadow_vars
`)
}

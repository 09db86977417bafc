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

package livepatch

import (
	"strings"
	"testing"

	"klpsim/kernel"
)

// tools/testing/selftests/livepatch/test-callbacks.sh, case by case: the
// callbacks of test_klp_callbacks_demo (on vmlinux, test_klp_callbacks_mod
// and test_klp_callbacks_busy) as modules and patches come and go. The
// expected logs follow livepatch.md §2 (enable and disable), §5 (the
// transition messages), §6 (replace) and §7 (callbacks, module coming and
// going), and selftests.md's invariants.

const (
	cbDemo  = "test_klp_callbacks_demo"
	cbDemo2 = "test_klp_callbacks_demo2"
	cbMod   = "test_klp_callbacks_mod"
	cbBusy  = "test_klp_callbacks_busy"
)

func cbSelftest(t *testing.T) *kselftest {
	return newKselftest(t, cbDemo, cbDemo2, cbMod, cbBusy)
}

// Test a combination of loading a kernel module and a livepatch that
// patches a function in the first module. Load the target module before
// the livepatch module. Unload them in the same order.
//
//   - On livepatch enable, before the livepatch transition starts,
//     pre-patch callbacks are executed for vmlinux and $MOD_TARGET (those
//     klp_objects currently loaded). After klp_objects are patched
//     according to the klp_patch, their post-patch callbacks run and the
//     transition completes.
//
//   - Similarly, on livepatch disable, pre-patch callbacks run before the
//     unpatching transition starts. klp_objects are reverted, post-patch
//     callbacks execute and the transition completes.
func TestCallbacks_TargetModuleBeforeLivepatch(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbMod, "")
	s.loadLP(cbDemo, "")
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.unloadMod(cbMod)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_mod.ko
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
`)
}

// This test is similar to the previous test, but (un)load the livepatch
// module before the target kernel module. This tests the livepatch core's
// module_coming handler.
//
//   - On livepatch enable, only pre/post-patch callbacks are executed for
//     currently loaded klp_objects, in this case, vmlinux.
//
//   - When a targeted module is subsequently loaded, only its pre/post-patch
//     callbacks are executed ("applying patch" first, then pre_patch and,
//     the patch not being in transition, post_patch, all before the
//     module's init: §7 klp_module_coming, invariant 5).
//
//   - On livepatch disable, all currently loaded klp_objects' (vmlinux and
//     $MOD_TARGET) pre/post-unpatch callbacks are executed.
func TestCallbacks_ModuleComingNotifier(t *testing.T) {
	s := cbSelftest(t)
	s.loadLP(cbDemo, "")
	// The callbacks klp_module_coming runs, outside any transition, are
	// the patch's: their events name it.
	var cbs []string
	s.c.OnEvent = func(e Event) {
		if e.Kind == EventCallback {
			cbs = append(cbs, e.Patch+" "+e.Callback+" "+e.Object)
		}
	}
	s.loadMod(cbMod, "")
	s.c.OnEvent = nil
	if want := []string{cbDemo + " pre_patch " + cbMod, cbDemo + " post_patch " + cbMod}; strings.Join(cbs, "\n") != strings.Join(want, "\n") {
		t.Errorf("callback events: %q, want %q", cbs, want)
	}
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.unloadMod(cbMod)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
`)
}

// Test loading the livepatch after a targeted kernel module, then unload
// the kernel module before disabling the livepatch. This tests the
// livepatch core's module_going handler.
//
// - First load a target module, then the livepatch.
//
//   - When a target module is unloaded, the livepatch is only reverted from
//     that klp_object ($MOD_TARGET). As such, only its pre and post-unpatch
//     callbacks are executed when this occurs: after the module's own exit
//     message, pre_unpatch, "reverting patch", post_unpatch (§7
//     klp_module_going; the module is GOING in both callbacks).
//
//   - When the livepatch is disabled, pre and post-unpatch callbacks are run
//     for the remaining klp_object, vmlinux.
func TestCallbacks_ModuleGoingNotifier(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbMod, "")
	s.loadLP(cbDemo, "")
	s.unloadMod(cbMod)
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_mod.ko
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': patching complete
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// This test is similar to the previous test, however the livepatch is
// loaded first. This tests the livepatch core's module_coming and
// module_going handlers.
//
// - First load the livepatch.
//
//   - When a targeted kernel module is subsequently loaded, only its
//     pre/post-patch callbacks are executed.
//
//   - When the target module is unloaded, the livepatch is only reverted
//     from the $MOD_TARGET klp_object. As such, only pre and post-unpatch
//     callbacks are executed when this occurs.
func TestCallbacks_ModuleComingAndGoingNotifiers(t *testing.T) {
	s := cbSelftest(t)
	s.loadLP(cbDemo, "")
	s.loadMod(cbMod, "")
	s.unloadMod(cbMod)
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// A simple test of loading a livepatch without one of its patch target
// klp_objects ever loaded ($MOD_TARGET).
//
// - Load the livepatch.
//
//   - As expected, only pre/post-(un)patch handlers are executed for
//     vmlinux.
func TestCallbacks_TargetModuleNotPresent(t *testing.T) {
	s := cbSelftest(t)
	s.loadLP(cbDemo, "")
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// Test a scenario where a vmlinux pre-patch callback returns a non-zero
// status (ie, failure).
//
// - First load a target module.
//
//   - Load the livepatch module, setting its 'pre_patch_ret' value to -19
//     (-ENODEV). When its vmlinux pre-patch callback executes, this status
//     code will propagate back to the module-loading subsystem. The result
//     is that the insmod command refuses to load the livepatch module.
//
// The failure stops the enable loop at vmlinux, so the module object's
// callbacks never run; klp_cancel_transition completes an unpatching in
// which post_unpatch runs only where pre_patch succeeded — nowhere (§2
// step 11, §5 klp_cancel_transition, invariant 3: no "starting" line).
func TestCallbacks_PrePatchCallbackENODEV(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbMod, "")
	s.loadFailingMod(cbDemo, "pre_patch_ret=-19")
	s.unloadMod(cbMod)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_mod.ko
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% insmod test_modules/test_klp_callbacks_demo.ko pre_patch_ret=-19
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: pre-patch callback failed for object 'vmlinux'
livepatch: failed to enable patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': canceling patching transition, going to unpatch
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
livepatch: 'test_klp_callbacks_demo': unpatching complete
insmod: ERROR: could not insert module test_modules/test_klp_callbacks_demo.ko: No such device
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
`)
	// Nothing of the refused patch is left.
	if s.exists("/sys/kernel/livepatch/" + cbDemo) {
		t.Error("the refused patch's sysfs directory is still there")
	}
	if len(s.c.Patches()) != 0 || s.c.TransitionPatch() != nil {
		t.Errorf("patches %v, transition patch %v after the refused load", s.c.Patches(), s.c.TransitionPatch())
	}
}

// Similar to the previous test, setup a livepatch such that its vmlinux
// pre-patch callback returns success. However, when a targeted kernel
// module is later loaded, have the livepatch return a failing status
// code.
//
// - Load the livepatch, vmlinux pre-patch callback succeeds.
//
//   - Set a trap so subsequent pre-patch callbacks to this livepatch will
//     return -ENODEV.
//
//   - The livepatch pre-patch callback for subsequently loaded target
//     modules will return failure, so the module loader refuses to load the
//     kernel module. No post-patch or pre/post-unpatch callbacks are
//     executed for this klp_object, and the target's init never runs.
//
// - Pre/post-unpatch callbacks are run for the vmlinux klp_object.
func TestCallbacks_ModuleComingPrePatchCallbackENODEV(t *testing.T) {
	s := cbSelftest(t)
	s.loadLP(cbDemo, "")
	s.setPrePatchRet(cbDemo, -19)
	s.loadFailingMod(cbMod, "")
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% echo -19 > /sys/module/test_klp_callbacks_demo/parameters/pre_patch_ret
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
livepatch: pre-patch callback failed for object 'test_klp_callbacks_mod'
livepatch: patch 'test_klp_callbacks_demo' failed for module 'test_klp_callbacks_mod', refusing to load module 'test_klp_callbacks_mod'
insmod: ERROR: could not insert module test_modules/test_klp_callbacks_mod.ko: No such device
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// Test loading multiple targeted kernel modules. This test-case is mainly
// for comparing with the next test-case.
//
//   - Load a target "busy" kernel module which kicks off a worker function
//     that immediately exits.
//
//   - Proceed with loading the livepatch and another ordinary target
//     module. Post-patch callbacks are executed and the transition
//     completes quickly.
func TestCallbacks_MultipleTargetModules(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbBusy, "block_transition=N")
	s.loadLP(cbDemo, "")
	s.loadMod(cbMod, "")
	s.unloadMod(cbMod)
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.unloadMod(cbBusy)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_busy.ko block_transition=N
test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
test_klp_callbacks_busy: busymod_work_func exit
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
% rmmod test_klp_callbacks_busy
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
`)
}

// A similar test as the previous one, but force the "busy" kernel module
// to block the livepatch transition.
//
// The livepatching core will refuse to patch a task that is currently
// executing a to-be-patched function -- the consistency model stalls the
// current patch transition until this safety-check is met. Test a
// scenario where one of a livepatch's target klp_objects sits on such a
// function for a long time. Meanwhile, load and unload other target
// kernel modules while the livepatch transition is in progress.
//
// - Load the "busy" kernel module, this time make its work function loop.
//
//   - Meanwhile, the livepatch is loaded. Notice that the patch transition
//     does not complete as the targeted "busy" module is sitting on a
//     to-be-patched function (the kworker's stack check says "is sleeping
//     on function busymod_work_func", a klp_try_switch_task debug line the
//     selftests keep off: invariant 2).
//
//   - Load a second target module (this one is an ordinary idle kernel
//     module). Note that *no* post-patch callbacks will be executed while
//     the livepatch is still in transition.
//
//   - Request an unload of the simple kernel module. The patch is still
//     transitioning, so its pre-unpatch callbacks are skipped.
//
//   - Finally the livepatch is disabled. Since none of the patch's
//     klp_object's post-patch callbacks executed, the remaining
//     klp_object's pre-unpatch callbacks are skipped: the write reverses
//     the transition (invariant 7), which completes because unpatching
//     only waits for tasks in the new patched_work_func.
func TestCallbacks_BusyTargetModule(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbBusy, "block_transition=Y")
	// What stalls the transition is the stack check of the kworker: the
	// debug line is off, the event says it.
	sleeping := 0
	s.c.OnEvent = func(e Event) {
		if e.Kind == EventBlocked && e.Why == BlockedSleeping && e.Func == "busymod_work_func" {
			sleeping++
		}
	}
	s.loadLPNowait(cbDemo, "")
	// Wait until the livepatch reports in-transition state, i.e. that
	// it's stalled on $MOD_TARGET_BUSY::busymod_work_func().
	if !s.loopUntil(func() bool { return s.read("/sys/kernel/livepatch/"+cbDemo+"/transition") == "1\n" }) {
		t.Fatal("failed to stall transition")
	}
	if sleeping == 0 {
		t.Error("no task was found sleeping on busymod_work_func")
	}
	s.loadMod(cbMod, "")
	s.unloadMod(cbMod)
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.unloadMod(cbBusy)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_busy.ko block_transition=Y
test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': reversing transition from patching to unpatching
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
% rmmod test_klp_callbacks_busy
test_klp_callbacks_busy: busymod_work_func exit
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
`)
}

// Test loading multiple livepatches. This test-case is mainly for
// comparing with the next test-case.
//
//   - Load and unload two livepatches, pre and post (un)patch callbacks
//     execute as each patch progresses through its (un)patching transition.
func TestCallbacks_MultipleLivepatches(t *testing.T) {
	s := cbSelftest(t)
	s.loadLP(cbDemo, "")
	s.loadLP(cbDemo2, "")
	s.disableLP(cbDemo2)
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo2)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_demo2.ko
livepatch: enabling patch 'test_klp_callbacks_demo2'
livepatch: 'test_klp_callbacks_demo2': initializing patching transition
test_klp_callbacks_demo2: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': starting patching transition
livepatch: 'test_klp_callbacks_demo2': completing patching transition
test_klp_callbacks_demo2: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo2/enabled
livepatch: 'test_klp_callbacks_demo2': initializing unpatching transition
test_klp_callbacks_demo2: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': starting unpatching transition
livepatch: 'test_klp_callbacks_demo2': completing unpatching transition
test_klp_callbacks_demo2: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': unpatching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo2
% rmmod test_klp_callbacks_demo
`)
}

// Load multiple livepatches, but the second as an 'atomic-replace'
// patch. When the latter loads, the original livepatch should be
// disabled and *none* of its pre/post-unpatch callbacks executed. On the
// other hand, when the atomic-replace livepatch is disabled, its
// pre/post-unpatch callbacks *should* be executed (§6, invariant 6).
//
//   - Load and unload two livepatches, the second of which has its
//     .replace flag set true.
//
// - Pre and post patch callbacks are executed for both livepatches.
//
//   - Once the atomic replace module is loaded, only its pre and post
//     unpatch callbacks are executed.
func TestCallbacks_AtomicReplace(t *testing.T) {
	s := cbSelftest(t)
	s.loadLP(cbDemo, "")
	s.loadLP(cbDemo2, "replace=1")
	// The replaced patch is gone from sysfs without being disabled, and
	// its module may go without a disable_lp.
	if !s.loopUntil(func() bool { return !s.exists("/sys/kernel/livepatch/" + cbDemo) }) {
		t.Error("the replaced patch is still in /sys/kernel/livepatch")
	}
	s.disableLP(cbDemo2)
	s.unloadLP(cbDemo2)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_demo2.ko replace=1
livepatch: enabling patch 'test_klp_callbacks_demo2'
livepatch: 'test_klp_callbacks_demo2': initializing patching transition
test_klp_callbacks_demo2: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': starting patching transition
livepatch: 'test_klp_callbacks_demo2': completing patching transition
test_klp_callbacks_demo2: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo2/enabled
livepatch: 'test_klp_callbacks_demo2': initializing unpatching transition
test_klp_callbacks_demo2: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': starting unpatching transition
livepatch: 'test_klp_callbacks_demo2': completing unpatching transition
test_klp_callbacks_demo2: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': unpatching complete
% rmmod test_klp_callbacks_demo2
% rmmod test_klp_callbacks_demo
`)
}

// Beyond test-callbacks.sh: the same modules in the situations its cases
// stop short of.

// The busy module's transition stalls with a module loaded in the middle
// (pre_patch only, as in the busy-target case), then the work function is
// let go: the transition completes, and the module loaded mid-transition
// now gets its post_patch along with the others — post_patch runs in
// klp_complete_transition for every loaded object (§5 step 7, §7 "Where
// each runs").
func TestCallbacks_BusyTargetModuleReleased(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbBusy, "block_transition=Y")
	s.loadLPNowait(cbDemo, "")
	if !s.loopUntil(func() bool { return s.read("/sys/kernel/livepatch/"+cbDemo+"/transition") == "1\n" }) {
		t.Fatal("failed to stall transition")
	}
	s.loadMod(cbMod, "")
	param := "/sys/module/" + cbBusy + "/parameters/block_transition"
	s.log("% echo N > " + param)
	if err := s.k.FS.Echo(nil, "N", param); err != nil {
		t.Fatal(err)
	}
	if !s.loopUntil(func() bool { return s.read("/sys/kernel/livepatch/"+cbDemo+"/transition") == "0\n" }) {
		t.Fatal("the transition did not complete once the work function returned")
	}
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.unloadMod(cbMod)
	s.unloadMod(cbBusy)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_busy.ko block_transition=Y
test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% echo N > /sys/module/test_klp_callbacks_busy/parameters/block_transition
test_klp_callbacks_busy: busymod_work_func exit
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
% rmmod test_klp_callbacks_busy
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
`)
}

// The module the transition waits for goes away: its exit lets the work
// function return, klp_module_going reverts the patch from it without
// pre_unpatch (the patch is in transition) but with post_unpatch (§7),
// and the transition then completes, with post_patch for vmlinux only —
// the busy object is no longer loaded.
func TestCallbacks_BusyTargetModuleUnloaded(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbBusy, "block_transition=Y")
	s.loadLPNowait(cbDemo, "")
	if !s.loopUntil(func() bool { return s.read("/sys/kernel/livepatch/"+cbDemo+"/transition") == "1\n" }) {
		t.Fatal("failed to stall transition")
	}
	s.unloadMod(cbBusy)
	if !s.loopUntil(func() bool { return s.read("/sys/kernel/livepatch/"+cbDemo+"/transition") == "0\n" }) {
		t.Fatal("the transition did not complete once its target module was gone")
	}
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_busy.ko block_transition=Y
test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
% rmmod test_klp_callbacks_busy
test_klp_callbacks_busy: busymod_work_func exit
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_busy'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_GOING] Going away
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// The stalled transition reversed, reversed back before the reversal
// could complete (the retry comes a second later), and reversed again:
// each write prints "reversing transition from ..." and "starting ...
// transition" only (invariant 7, §5 klp_reverse_transition: no
// callbacks, no "initializing"); the second patching attempt stalls on
// the same kworker; the last reversal completes with the post_unpatch
// callbacks of the objects whose pre_patch ran.
func TestCallbacks_BusyTargetModuleReversedTwice(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbBusy, "block_transition=Y")
	s.loadLPNowait(cbDemo, "")
	transition := "/sys/kernel/livepatch/" + cbDemo + "/transition"
	enabled := "/sys/kernel/livepatch/" + cbDemo + "/enabled"
	if !s.loopUntil(func() bool { return s.read(transition) == "1\n" }) {
		t.Fatal("failed to stall transition")
	}
	for _, v := range []string{"0", "1"} {
		s.log("% echo " + v + " > " + enabled)
		if err := s.k.FS.Echo(nil, v, enabled); err != nil {
			t.Fatalf("echo %s > enabled: %v", v, err)
		}
		if got := s.read(transition); got != "1\n" {
			t.Fatalf("transition reads %q right after echo %s, want 1", got, v)
		}
		if got := s.read(enabled); got != v+"\n" {
			t.Errorf("enabled reads %q after echo %s", got, v)
		}
	}
	// Two seconds: the retries find the kworker still in
	// busymod_work_func.
	if err := s.k.RunFor(2e9); err != nil {
		t.Fatal(err)
	}
	if got := s.read(transition); got != "1\n" {
		t.Fatalf("transition reads %q with the kworker in busymod_work_func, want 1", got)
	}
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.unloadMod(cbBusy)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_busy.ko block_transition=Y
test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': reversing transition from patching to unpatching
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
% echo 1 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': reversing transition from unpatching to patching
livepatch: 'test_klp_callbacks_demo': starting patching transition
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': reversing transition from patching to unpatching
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
% rmmod test_klp_callbacks_busy
test_klp_callbacks_busy: busymod_work_func exit
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
`)
}

// cbRefuseSrc is a livepatch whose callbacks on test_klp_callbacks_mod
// refuse it: pre_patch returns -ENODEV, silently.
var cbRefuseSrc = fn("refuse_pre_patch", "\tmov eax, -19\n") +
	fn("refuse_init", "\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n") +
	fn("refuse_exit", "") + `
	.section .rodata
target:	.asciz "test_klp_callbacks_mod"
	.data
	.balign 8
no_funcs: .quad 0, 0, 0
objs:	.quad target, no_funcs, refuse_pre_patch, 0, 0, 0, 0, 0
	.zero 64
patch:	.quad __this_module, objs, 0, 0
`

// A target module refused by the second of two patches: klp_module_coming
// undoes what the first patch did to it through
// klp_cleanup_module_patches_limited(mod, patch) — the same code as
// module going, hence pre_unpatch (the first patch is not in transition),
// "reverting patch ... on unloading module ...", post_unpatch, all while
// the module is still COMING (§7 klp_module_coming "err" and
// klp_module_going; core.c).
func TestCallbacks_ModuleComingRefusedBySecondPatch(t *testing.T) {
	s := cbSelftest(t)
	addModule(t, s.k, kernel.ModuleSpec{Name: "test_klp_refuse", Livepatch: true, Init: "refuse_init", Exit: "refuse_exit"}, cbRefuseSrc)
	s.loadLP(cbDemo, "")
	s.log(insmodLine("test_klp_refuse", ""))
	if err := s.k.Insmod("test_klp_refuse", ""); err != nil {
		t.Fatal(err)
	}
	waitTransition(t, s.k, "test_klp_refuse")
	s.loadFailingMod(cbMod, "")
	if m := s.k.FindModule(cbMod); m != nil {
		t.Errorf("%s is loaded (state %v)", cbMod, m.State)
	}
	s.disableLP("test_klp_refuse")
	s.unloadLP("test_klp_refuse")
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_refuse.ko
livepatch: enabling patch 'test_klp_refuse'
livepatch: 'test_klp_refuse': initializing patching transition
livepatch: 'test_klp_refuse': starting patching transition
livepatch: 'test_klp_refuse': completing patching transition
livepatch: 'test_klp_refuse': patching complete
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
livepatch: applying patch 'test_klp_refuse' to loading module 'test_klp_callbacks_mod'
livepatch: pre-patch callback failed for object 'test_klp_callbacks_mod'
livepatch: patch 'test_klp_refuse' failed for module 'test_klp_callbacks_mod', refusing to load module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
insmod: ERROR: could not insert module test_modules/test_klp_callbacks_mod.ko: No such device
% echo 0 > /sys/kernel/livepatch/test_klp_refuse/enabled
livepatch: 'test_klp_refuse': initializing unpatching transition
livepatch: 'test_klp_refuse': starting unpatching transition
livepatch: 'test_klp_refuse': completing unpatching transition
livepatch: 'test_klp_refuse': unpatching complete
% rmmod test_klp_refuse
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

// runBusyWork queues test_klp_callbacks_busy's work item again and waits
// for it: which busymod_work_func runs shows what the patches did.
func (s *kselftest) runBusyWork() {
	s.t.Helper()
	m := s.k.FindModule(cbBusy)
	if m == nil {
		s.t.Fatal("test_klp_callbacks_busy is not loaded")
	}
	work, _ := m.ModuleSym("work")
	schedule, _ := s.k.Sym("schedule_work")
	flush, _ := s.k.Sym("flush_work")
	if _, err := s.k.RunOnTask("bash", func(ctx *kernel.OpCtx) uint64 {
		ctx.Call(schedule, work)
		ctx.Call(flush, work)
		return 0
	}, 1e9); err != nil {
		s.t.Fatal(err)
	}
}

// Atomic replace over a patch that changes a loaded module's function:
// the replace patch has no object for test_klp_callbacks_busy, so a
// dynamic object holds a nop for busymod_work_func (§6 klp_add_nops);
// once the transition completes the replaced patch is unpatched, the nop
// discarded, and the original function runs again. The replaced patch's
// callbacks never run — not at replacement, not when its target module
// goes (it is no longer in klp_patches, and the replace patch's dynamic
// object is gone, so there is no "reverting patch" either).
func TestCallbacks_AtomicReplaceBusyTarget(t *testing.T) {
	s := cbSelftest(t)
	s.loadMod(cbBusy, "block_transition=N")
	s.loadLP(cbDemo, "")
	s.runBusyWork()
	s.loadLP(cbDemo2, "replace=1")
	s.runBusyWork()
	s.unloadMod(cbBusy)
	s.disableLP(cbDemo2)
	s.unloadLP(cbDemo2)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_busy.ko block_transition=N
test_klp_callbacks_busy: test_klp_callbacks_busy_init
test_klp_callbacks_busy: busymod_work_func enter
test_klp_callbacks_busy: busymod_work_func exit
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_busy -> [MODULE_STATE_LIVE] Normal state
livepatch: 'test_klp_callbacks_demo': patching complete
test_klp_callbacks_demo: patched_work_func
% insmod test_modules/test_klp_callbacks_demo2.ko replace=1
livepatch: enabling patch 'test_klp_callbacks_demo2'
livepatch: 'test_klp_callbacks_demo2': initializing patching transition
test_klp_callbacks_demo2: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': starting patching transition
livepatch: 'test_klp_callbacks_demo2': completing patching transition
test_klp_callbacks_demo2: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': patching complete
test_klp_callbacks_busy: busymod_work_func enter
test_klp_callbacks_busy: busymod_work_func exit
% rmmod test_klp_callbacks_busy
test_klp_callbacks_busy: test_klp_callbacks_busy_exit
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo2/enabled
livepatch: 'test_klp_callbacks_demo2': initializing unpatching transition
test_klp_callbacks_demo2: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': starting unpatching transition
livepatch: 'test_klp_callbacks_demo2': completing unpatching transition
test_klp_callbacks_demo2: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo2': unpatching complete
% rmmod test_klp_callbacks_demo2
% rmmod test_klp_callbacks_demo
`)
	if len(s.c.ops) != 0 {
		t.Errorf("%d klp_ops left after every patch was removed", len(s.c.ops))
	}
}

// cbHalfSrc is a livepatch like test_klp_callbacks_demo whose vmlinux
// pre_patch succeeds and whose test_klp_callbacks_mod pre_patch returns
// -ENODEV.
func cbHalfSrc() string {
	const mod = "test_klp_callbacks_half"
	return tmHeader + tmCallbackInfo(mod) +
		tmDemoCallbacks("\txor eax, eax\n") +
		tmCallback("pre_patch_refuse", "\tmov eax, -19\n") + `
	.section .rodata
.Lmod_name:	.asciz "test_klp_callbacks_mod"
	.data
	.balign 8
no_funcs:
	.quad 0, 0, 0
objs:
	.quad 0, no_funcs, ` + tmDemoObjCallbacks + `, 0, 0
	.quad .Lmod_name, no_funcs, pre_patch_refuse, post_patch_callback, pre_unpatch_callback, post_unpatch_callback, 0, 0
	.zero 64
patch:
	.quad __this_module, objs, 0, 0
` + tmEnableInit(mod, "")
}

// The enable fails at the second object, after vmlinux's pre_patch
// succeeded: klp_cancel_transition's unpatching runs post_unpatch for
// vmlinux only — post_unpatch_enabled is set by a successful pre_patch
// (§1 klp_callbacks, §7 "Object patched but transition never started").
func TestCallbacks_PrePatchFailsOnSecondObject(t *testing.T) {
	s := cbSelftest(t)
	addModule(t, s.k, kernel.ModuleSpec{Name: "test_klp_callbacks_half", Livepatch: true,
		Init: "test_klp_callbacks_half_init", Exit: "test_klp_callbacks_half_exit"}, strings.TrimPrefix(cbHalfSrc(), "\t.intel_syntax noprefix\n"))
	s.loadMod(cbMod, "")
	s.loadFailingMod("test_klp_callbacks_half", "")
	s.unloadMod(cbMod)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_mod.ko
test_klp_callbacks_mod: test_klp_callbacks_mod_init
% insmod test_modules/test_klp_callbacks_half.ko
livepatch: enabling patch 'test_klp_callbacks_half'
livepatch: 'test_klp_callbacks_half': initializing patching transition
test_klp_callbacks_half: pre_patch_callback: vmlinux
test_klp_callbacks_half: pre_patch_refuse: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state
livepatch: pre-patch callback failed for object 'test_klp_callbacks_mod'
livepatch: failed to enable patch 'test_klp_callbacks_half'
livepatch: 'test_klp_callbacks_half': canceling patching transition, going to unpatch
livepatch: 'test_klp_callbacks_half': completing unpatching transition
test_klp_callbacks_half: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_half': unpatching complete
insmod: ERROR: could not insert module test_modules/test_klp_callbacks_half.ko: No such device
% rmmod test_klp_callbacks_mod
test_klp_callbacks_mod: test_klp_callbacks_mod_exit
`)
}

// A target module whose init fails after klp_module_coming patched it:
// do_init_module's failure path marks it GOING and calls
// klp_module_going, so the patch is reverted from it as on rmmod —
// pre_unpatch, "reverting patch", post_unpatch, in GOING state (§7) —
// after the init's own message, and insmod reports the init's errno.
func TestCallbacks_TargetModuleInitFails(t *testing.T) {
	s := newKselftest(t, cbDemo)
	failing := tmCallbacksMod()
	failing.src = strings.Replace(failing.src, "\txor eax, eax\n", "\tmov eax, -19\n", 1)
	failing.spec.Object = nil
	addModule(t, s.k, failing.spec, strings.TrimPrefix(failing.src, "\t.intel_syntax noprefix\n"))
	s.loadLP(cbDemo, "")
	s.loadFailingMod(cbMod, "")
	s.disableLP(cbDemo)
	s.unloadLP(cbDemo)
	s.checkResult(`
% insmod test_modules/test_klp_callbacks_demo.ko
livepatch: enabling patch 'test_klp_callbacks_demo'
livepatch: 'test_klp_callbacks_demo': initializing patching transition
test_klp_callbacks_demo: pre_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting patching transition
livepatch: 'test_klp_callbacks_demo': completing patching transition
test_klp_callbacks_demo: post_patch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': patching complete
% insmod test_modules/test_klp_callbacks_mod.ko
livepatch: applying patch 'test_klp_callbacks_demo' to loading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: pre_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_COMING] Full formed, running module_init
test_klp_callbacks_mod: test_klp_callbacks_mod_init
test_klp_callbacks_demo: pre_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
livepatch: reverting patch 'test_klp_callbacks_demo' on unloading module 'test_klp_callbacks_mod'
test_klp_callbacks_demo: post_unpatch_callback: test_klp_callbacks_mod -> [MODULE_STATE_GOING] Going away
insmod: ERROR: could not insert module test_modules/test_klp_callbacks_mod.ko: No such device
% echo 0 > /sys/kernel/livepatch/test_klp_callbacks_demo/enabled
livepatch: 'test_klp_callbacks_demo': initializing unpatching transition
test_klp_callbacks_demo: pre_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': starting unpatching transition
livepatch: 'test_klp_callbacks_demo': completing unpatching transition
test_klp_callbacks_demo: post_unpatch_callback: vmlinux
livepatch: 'test_klp_callbacks_demo': unpatching complete
% rmmod test_klp_callbacks_demo
`)
}

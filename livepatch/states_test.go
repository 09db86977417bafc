package livepatch

import "testing"

// tools/testing/selftests/livepatch/test-state.sh: cumulative patches
// (replace=true) carrying the system state CONSOLE_LOGLEVEL_STATE, which
// test_klp_state (version 1) and test_klp_state2/3 (version 2, migrating
// through klp_get_prev_state) manage from their callbacks. Expected logs
// follow livepatch.md §5 (transition messages), §6 (replaced patches get
// no callbacks) and §8 (states, klp_get_prev_state, compatibility).

const (
	stState  = "test_klp_state"
	stState2 = "test_klp_state2"
	stState3 = "test_klp_state3"
)

// The CONSOLE_LOGLEVEL_STATE change itself: what console_loglevel is
// before (CONSOLE_LOGLEVEL_DEFAULT) and while a patch holds it
// (CONSOLE_LOGLEVEL_MOTORMOUTH).
const (
	stLoglevelDefault    = 7
	stLoglevelMotormouth = 15
)

func stSelftest(t *testing.T) *kselftest {
	return newKselftest(t, stState, stState2, stState3)
}

func (s *kselftest) wantLoglevel(want int32, when string) {
	s.t.Helper()
	if got := consoleLoglevel(s.t, s.k); got != want {
		s.t.Errorf("console_loglevel %d %s, want %d", got, when, want)
	}
}

// Load and remove a module that modifies the system state.
func TestState_SystemStateModification(t *testing.T) {
	s := stSelftest(t)
	s.loadLP(stState, "")
	s.wantLoglevel(stLoglevelMotormouth, "with the patch")
	s.disableLP(stState)
	s.wantLoglevel(stLoglevelDefault, "after the disable")
	s.unloadLP(stState)
	s.checkResult(`
% insmod test_modules/test_klp_state.ko
livepatch: enabling patch 'test_klp_state'
livepatch: 'test_klp_state': initializing patching transition
test_klp_state: pre_patch_callback: vmlinux
test_klp_state: allocate_loglevel_state: allocating space to store console_loglevel
livepatch: 'test_klp_state': starting patching transition
livepatch: 'test_klp_state': completing patching transition
test_klp_state: post_patch_callback: vmlinux
test_klp_state: fix_console_loglevel: fixing console_loglevel
livepatch: 'test_klp_state': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_state/enabled
livepatch: 'test_klp_state': initializing unpatching transition
test_klp_state: pre_unpatch_callback: vmlinux
test_klp_state: restore_console_loglevel: restoring console_loglevel
livepatch: 'test_klp_state': starting unpatching transition
livepatch: 'test_klp_state': completing unpatching transition
test_klp_state: post_unpatch_callback: vmlinux
test_klp_state: free_loglevel_state: freeing space for the stored console_loglevel
livepatch: 'test_klp_state': unpatching complete
% rmmod test_klp_state
`)
}

// Take over system state change by a cumulative patch.
//
// test_klp_state2's pre_patch runs inside its transition, so
// klp_get_prev_state finds test_klp_state's state; so does its post_patch,
// because the replaced patch is freed only after the post_patch callbacks
// (§5 klp_complete_transition, "made in v5.5"). The replaced
// test_klp_state gets no callbacks (§6) and is removed without a disable.
func TestState_TakingOverSystemStateModification(t *testing.T) {
	s := stSelftest(t)
	s.loadLP(stState, "")
	s.loadLP(stState2, "")
	s.wantLoglevel(stLoglevelMotormouth, "after the take-over")
	s.unloadLP(stState)
	s.disableLP(stState2)
	s.wantLoglevel(stLoglevelDefault, "after the disable")
	s.unloadLP(stState2)
	s.checkResult(`
% insmod test_modules/test_klp_state.ko
livepatch: enabling patch 'test_klp_state'
livepatch: 'test_klp_state': initializing patching transition
test_klp_state: pre_patch_callback: vmlinux
test_klp_state: allocate_loglevel_state: allocating space to store console_loglevel
livepatch: 'test_klp_state': starting patching transition
livepatch: 'test_klp_state': completing patching transition
test_klp_state: post_patch_callback: vmlinux
test_klp_state: fix_console_loglevel: fixing console_loglevel
livepatch: 'test_klp_state': patching complete
% insmod test_modules/test_klp_state2.ko
livepatch: enabling patch 'test_klp_state2'
livepatch: 'test_klp_state2': initializing patching transition
test_klp_state2: pre_patch_callback: vmlinux
test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated
livepatch: 'test_klp_state2': starting patching transition
livepatch: 'test_klp_state2': completing patching transition
test_klp_state2: post_patch_callback: vmlinux
test_klp_state2: fix_console_loglevel: taking over the console_loglevel change
livepatch: 'test_klp_state2': patching complete
% rmmod test_klp_state
% echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
livepatch: 'test_klp_state2': initializing unpatching transition
test_klp_state2: pre_unpatch_callback: vmlinux
test_klp_state2: restore_console_loglevel: restoring console_loglevel
livepatch: 'test_klp_state2': starting unpatching transition
livepatch: 'test_klp_state2': completing unpatching transition
test_klp_state2: post_unpatch_callback: vmlinux
test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
livepatch: 'test_klp_state2': unpatching complete
% rmmod test_klp_state2
`)
}

// Take over system state change by a cumulative patch, in both
// directions: test_klp_state3 (version 2) replaces test_klp_state2
// (version 2), then a fresh test_klp_state2 replaces test_klp_state3:
// new.version >= old.version either way (§8 klp_is_patch_compatible).
func TestState_CompatibleCumulativeLivepatches(t *testing.T) {
	s := stSelftest(t)
	s.loadLP(stState2, "")
	s.loadLP(stState3, "")
	s.unloadLP(stState2)
	s.loadLP(stState2, "")
	s.wantLoglevel(stLoglevelMotormouth, "after two take-overs")
	s.disableLP(stState2)
	s.wantLoglevel(stLoglevelDefault, "after the disable")
	s.unloadLP(stState2)
	s.unloadLP(stState3)
	s.checkResult(`
% insmod test_modules/test_klp_state2.ko
livepatch: enabling patch 'test_klp_state2'
livepatch: 'test_klp_state2': initializing patching transition
test_klp_state2: pre_patch_callback: vmlinux
test_klp_state2: allocate_loglevel_state: allocating space to store console_loglevel
livepatch: 'test_klp_state2': starting patching transition
livepatch: 'test_klp_state2': completing patching transition
test_klp_state2: post_patch_callback: vmlinux
test_klp_state2: fix_console_loglevel: fixing console_loglevel
livepatch: 'test_klp_state2': patching complete
% insmod test_modules/test_klp_state3.ko
livepatch: enabling patch 'test_klp_state3'
livepatch: 'test_klp_state3': initializing patching transition
test_klp_state3: pre_patch_callback: vmlinux
test_klp_state3: allocate_loglevel_state: space to store console_loglevel already allocated
livepatch: 'test_klp_state3': starting patching transition
livepatch: 'test_klp_state3': completing patching transition
test_klp_state3: post_patch_callback: vmlinux
test_klp_state3: fix_console_loglevel: taking over the console_loglevel change
livepatch: 'test_klp_state3': patching complete
% rmmod test_klp_state2
% insmod test_modules/test_klp_state2.ko
livepatch: enabling patch 'test_klp_state2'
livepatch: 'test_klp_state2': initializing patching transition
test_klp_state2: pre_patch_callback: vmlinux
test_klp_state2: allocate_loglevel_state: space to store console_loglevel already allocated
livepatch: 'test_klp_state2': starting patching transition
livepatch: 'test_klp_state2': completing patching transition
test_klp_state2: post_patch_callback: vmlinux
test_klp_state2: fix_console_loglevel: taking over the console_loglevel change
livepatch: 'test_klp_state2': patching complete
% echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
livepatch: 'test_klp_state2': initializing unpatching transition
test_klp_state2: pre_unpatch_callback: vmlinux
test_klp_state2: restore_console_loglevel: restoring console_loglevel
livepatch: 'test_klp_state2': starting unpatching transition
livepatch: 'test_klp_state2': completing unpatching transition
test_klp_state2: post_unpatch_callback: vmlinux
test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
livepatch: 'test_klp_state2': unpatching complete
% rmmod test_klp_state2
% rmmod test_klp_state3
`)
}

// Failure caused by incompatible cumulative livepatches: test_klp_state
// (version 1) may not replace test_klp_state2 (version 2). The check
// comes before "enabling patch" (§2 step 7, invariant 4) and fails with
// -EINVAL, which insmod prints as "Invalid parameters".
func TestState_IncompatibleCumulativeLivepatches(t *testing.T) {
	s := stSelftest(t)
	s.loadLP(stState2, "")
	s.loadFailingMod(stState, "")
	s.wantLoglevel(stLoglevelMotormouth, "after the refused load")
	s.disableLP(stState2)
	s.unloadLP(stState2)
	s.checkResult(`
% insmod test_modules/test_klp_state2.ko
livepatch: enabling patch 'test_klp_state2'
livepatch: 'test_klp_state2': initializing patching transition
test_klp_state2: pre_patch_callback: vmlinux
test_klp_state2: allocate_loglevel_state: allocating space to store console_loglevel
livepatch: 'test_klp_state2': starting patching transition
livepatch: 'test_klp_state2': completing patching transition
test_klp_state2: post_patch_callback: vmlinux
test_klp_state2: fix_console_loglevel: fixing console_loglevel
livepatch: 'test_klp_state2': patching complete
% insmod test_modules/test_klp_state.ko
livepatch: Livepatch patch (test_klp_state) is not compatible with the already installed livepatches.
insmod: ERROR: could not insert module test_modules/test_klp_state.ko: Invalid parameters
% echo 0 > /sys/kernel/livepatch/test_klp_state2/enabled
livepatch: 'test_klp_state2': initializing unpatching transition
test_klp_state2: pre_unpatch_callback: vmlinux
test_klp_state2: restore_console_loglevel: restoring console_loglevel
livepatch: 'test_klp_state2': starting unpatching transition
livepatch: 'test_klp_state2': completing unpatching transition
test_klp_state2: post_unpatch_callback: vmlinux
test_klp_state2: free_loglevel_state: freeing space for the stored console_loglevel
livepatch: 'test_klp_state2': unpatching complete
% rmmod test_klp_state2
`)
}

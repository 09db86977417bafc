package livepatch

import (
	"klpsim/kernel"
)

// Core is the livepatch core's global state (kernel/livepatch/core.c and
// transition.c): the list of patches in use, the one in transition and its
// target state. The kernel goroutine owns it; klp_mutex is implicit.
type Core struct {
	k *kernel.Kernel

	// patches is klp_patches: enabled patches and the one in transition,
	// in enable order; stack_order is the 1-based position here.
	patches []*Patch
	// transitionPatch is klp_transition_patch; nil when none.
	transitionPatch *Patch
	// targetState is klp_target_state.
	targetState int
}

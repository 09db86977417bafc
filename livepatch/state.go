package livepatch

import (
	"bytes"
	_ "embed"
	"fmt"

	"klpsim/kernel"
)

// System states (kernel/livepatch/state.c): a patch declares, in its
// klp_state array, which system-wide changes it makes (id) and at which
// version; callbacks and new code ask which patch did what, and
// klp_enable_patch refuses a patch that cannot take over the states the
// installed ones made.
//
//	klp_get_state(patch, id)   patch's own struct klp_state with id, or NULL (guest code)
//	klp_get_prev_state(id)     the latest installed patch's state with id, or NULL;
//	                           only during a transition (WARN_ON_ONCE and NULL otherwise)
//	isPatchCompatible(patch)   klp_is_patch_compatible
//
// klp_get_prev_state's WARN_ON_ONCE prints, once per boot, the splat
// klpWarn describes, without a message line:
//
//	------------[ cut here ]------------
//	WARNING: CPU: 0 PID: 42 at kernel/livepatch/state.c:69 klp_get_prev_state+0x10/0x17
//	---[ end trace 0000000000000000 ]---

//go:embed guest/state.S
var stateSource []byte

// initState registers klp_get_prev_state's host operation, linking
// guest/state.S into the kernel image first unless Init already did. Call
// it once, right after Boot and before any module loads.
func (c *Core) initState() error {
	k := c.k
	// klp_get_state steps through the states array by the version's
	// sizeof(struct klp_state).
	const size = "\t.set KLP_STATE_SIZE, 24\n"
	if !bytes.Contains(stateSource, []byte(size)) {
		return fmt.Errorf("livepatch: guest/state.S does not set KLP_STATE_SIZE to 24")
	}
	src := bytes.Replace(stateSource, []byte(size), []byte(fmt.Sprintf("\t.set KLP_STATE_SIZE, %d\n", c.v().stateSize())), 1)
	if err := loadGuestOnce(k, "klp_op_get_prev_state", "kernel/livepatch/state.S", src); err != nil {
		return err
	}
	site, err := opCallSite(k, "klp_get_prev_state")
	if err != nil {
		return err
	}
	warned := false // WARN_ON_ONCE's __warned
	return setGuestOp(k, "klp_get_prev_state", "klp_op_get_prev_state", func(ctx *kernel.OpCtx) uint64 {
		s, ok := c.prevState(ctx.Args[0])
		if !ok {
			if !warned {
				warned = true
				klpWarn(k, ctx.Task, "kernel/livepatch/state.c:69", site, "")
			}
			return 0
		}
		if s == nil {
			return 0
		}
		return s.Addr
	})
}

// stateByID is klp_get_state on the host: p's state with id, or nil.
func (p *Patch) stateByID(id uint64) *State {
	for _, s := range p.States {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// prevState is klp_get_prev_state: the state with id of the last patch
// in klp_patches before the transition patch, or nil. ok is false when no
// transition is running (Linux's WARN_ON_ONCE case).
func (c *Core) prevState(id uint64) (s *State, ok bool) {
	if c.transitionPatch == nil {
		return nil, false
	}
	for _, p := range c.patches {
		if p == c.transitionPatch {
			break
		}
		if st := p.stateByID(id); st != nil {
			s = st
		}
	}
	return s, true
}

// isPatchCompatible is klp_is_patch_compatible: whether patch can be
// enabled on top of the patches in use. Every state of every patch in
// klp_patches must be handled: a cumulative (replace) patch must declare
// each id at the same or a higher version; a non-cumulative patch may
// leave an id out, but if it declares it, the version must not be lower.
//
// Preconditions: patch is not in c.patches yet (klp_enable_patch checks
// before klp_init_patch adds it). On false, the caller prints
// "livepatch: Livepatch patch (%s) is not compatible with the already
// installed livepatches." at KERN_ERR and fails with -EINVAL, before
// "enabling patch".
func (c *Core) isPatchCompatible(patch *Patch) bool {
	if c.v().StateCallbacks {
		return c.isPatchCompatiblePOC(patch)
	}
	for _, old := range c.patches {
		for _, oldState := range old.States {
			s := patch.stateByID(oldState.ID)
			if s == nil {
				if patch.Replace {
					return false
				}
				continue
			}
			if s.Version < oldState.Version {
				return false
			}
		}
	}
	return true
}

package livepatch

import (
	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// The per-state callbacks POC (kernel=states-poc): "livepatch: Make
// livepatch states, callbacks, and shadow variables work together",
// Petr Mladek, POC 1/7..7/7, 2023-11-10. klpsim follows the POC as
// posted, not the 2025 rework (v1 00/19); docs/versions.md says why.
//
// A state carries its own callbacks, called with the patch and the state:
//
//	setup    before the transition, when the state is introduced (may fail: the patch is not enabled)
//	enable   after the transition, when the state is introduced
//	disable  before the transition, when the state goes away (disable, or a replace without it)
//	release  after the transition, when the state goes away
//
// "Introduced" and "goes away" mean: no other patch in klp_patches has a
// state with that id (is_state_in_other_patches). A state only carried
// over by an atomic replace gets no callbacks at all, and the disable and
// release callbacks of a state the new patch drops are the old patch's
// own (a downgrade). A state with is_shadow owns the shadow variables of
// its id: they are freed (klp_shadow_free_all with shadow_dtor) when the
// state is released. block_disable replaces the version: a patch with a
// blocking state cannot be disabled ("The livepatch '%s' does not support
// disable", -EINVAL), nor replaced by a patch without that state
// (klp_is_patch_compatible). The per-object callbacks are gone.
//
// Under the other versions states have no callbacks, is_shadow or
// block_disable, so every function here does nothing: the core calls
// them where the POC does, unconditionally.
//
// The guest struct klp_state of the POC (klpsim's layout, C's order):
//
//	struct klp_state {
//		unsigned long id;                                                 0
//		struct klp_state_callbacks {
//			int  (*setup)(struct klp_patch *, struct klp_state *);    8
//			void (*enable)(struct klp_patch *, struct klp_state *);   16
//			void (*disable)(struct klp_patch *, struct klp_state *);  24
//			void (*release)(struct klp_patch *, struct klp_state *);  32
//			klp_shadow_dtor_t shadow_dtor;                            40
//			bool setup_succeeded;                                     48 (kept on the host)
//		} callbacks;
//		bool block_disable;                                               56
//		bool is_shadow;                                                   57
//		void *data;                                                       64
//	};                                                                        72 bytes
//
// POC 7/7 also adds an unused "unsigned int version" to struct klp_patch;
// klpsim's klp_patch keeps its layout (PatchReplace at 24) without it.
const (
	POCStateID           = 0
	POCStateSetup        = 8
	POCStateEnable       = 16
	POCStateDisable      = 24
	POCStateRelease      = 32
	POCStateShadowDtor   = 40
	POCStateBlockDisable = 56
	POCStateIsShadow     = 57
	POCStateData         = 64
	POCStateSize         = 72
)

// stateCallbacks are a POC state's struct klp_state_callbacks and flags.
type stateCallbacks struct {
	setup, enable, disable, release, shadowDtor uint64 // guest functions, 0 if absent
	setupSucceeded                              bool
	blockDisable, isShadow                      bool
}

// readStates reads patch p's guest states array at addr in the version's
// struct klp_state layout.
func (c *Core) readStates(p *Patch, addr uint64) {
	mem := c.k.Memory()
	word := func(a uint64) uint64 { v, _ := mem.ReadU64(a); return v }
	byteAt := func(a uint64) bool { var b [1]byte; _ = mem.Read(a, b[:]); return b[0] != 0 }
	if !c.v().StateCallbacks {
		for s := addr; word(s+StateID) != 0; s += StateSize {
			p.States = append(p.States, &State{Addr: s, ID: word(s + StateID), Version: word(s+StateVersion) & 0xffffffff})
		}
		return
	}
	for s := addr; word(s+POCStateID) != 0; s += POCStateSize {
		p.States = append(p.States, &State{Addr: s, ID: word(s + POCStateID), cb: stateCallbacks{
			setup: word(s + POCStateSetup), enable: word(s + POCStateEnable),
			disable: word(s + POCStateDisable), release: word(s + POCStateRelease),
			shadowDtor:   word(s + POCStateShadowDtor),
			blockDisable: byteAt(s + POCStateBlockDisable), isShadow: byteAt(s + POCStateIsShadow)}})
	}
}

// stateSize is sizeof(struct klp_state) in the guest: what klp_get_state
// steps by.
func (v *Version) stateSize() int {
	if v.StateCallbacks {
		return POCStateSize
	}
	return StateSize
}

// isStateInOtherPatches is is_state_in_other_patches: whether a patch in
// klp_patches other than p has a state with s's id.
func (c *Core) isStateInOtherPatches(p *Patch, s *State) bool {
	for _, old := range c.patches {
		if old != p && old.stateByID(s.ID) != nil {
			return true
		}
	}
	return false
}

func (c *Core) callState(ctx *kernel.OpCtx, fn uint64, p *Patch, s *State) uint64 {
	return ctx.Call(fn, p.Addr, s.Addr)
}

// setupStates is klp_setup_states: setup for each state p introduces; on
// a failure, the states set up so far are released.
func (c *Core) setupStates(ctx *kernel.OpCtx, p *Patch) error {
	for _, s := range p.States {
		if !c.isStateInOtherPatches(p, s) && s.cb.setup != 0 {
			if ret := int32(c.callState(ctx, s.cb.setup, p, s)); ret != 0 {
				c.releaseStates(ctx, p)
				return errno.FromInt(int(ret))
			}
		}
		s.cb.setupSucceeded = true
	}
	return nil
}

// enableStates is klp_enable_states: enable for each state p introduced.
func (c *Core) enableStates(ctx *kernel.OpCtx, p *Patch) {
	for _, s := range p.States {
		if !c.isStateInOtherPatches(p, s) && s.cb.enable != 0 {
			c.callState(ctx, s.cb.enable, p, s)
		}
	}
}

// disableStates is klp_disable_states: disable for each state of p no
// other patch keeps.
func (c *Core) disableStates(ctx *kernel.OpCtx, p *Patch) {
	for _, s := range p.States {
		if !c.isStateInOtherPatches(p, s) && s.cb.disable != 0 {
			c.callState(ctx, s.cb.disable, p, s)
		}
	}
}

// releaseStates is klp_release_states: release (if its setup succeeded)
// for each state of p no other patch keeps, then the shadow variables the
// state owns.
func (c *Core) releaseStates(ctx *kernel.OpCtx, p *Patch) {
	for _, s := range p.States {
		if c.isStateInOtherPatches(p, s) {
			continue
		}
		if s.cb.release != 0 && s.cb.setupSucceeded {
			c.callState(ctx, s.cb.release, p, s)
		}
		if s.cb.isShadow {
			c.shadow.freeAll(ctx, s.ID, s.cb.shadowDtor)
		}
		// release is supposed to undo setup.
		s.cb.setupSucceeded = false
	}
}

// The *ObsoleteStates functions run the same for every patch in
// klp_patches but p: the states a replace patch p drops are disabled and
// released by the patches that had them (klp_*_obsolete_states).

func (c *Core) enableObsoleteStates(ctx *kernel.OpCtx, p *Patch) {
	for _, old := range c.Patches() {
		if old != p {
			c.enableStates(ctx, old)
		}
	}
}

func (c *Core) disableObsoleteStates(ctx *kernel.OpCtx, p *Patch) {
	for _, old := range c.Patches() {
		if old != p {
			c.disableStates(ctx, old)
		}
	}
}

func (c *Core) releaseObsoleteStates(ctx *kernel.OpCtx, p *Patch) {
	for _, old := range c.Patches() {
		if old != p {
			c.releaseStates(ctx, old)
		}
	}
}

// disableBlocked is klp_patch_disable_blocked: a state of p does not
// support disable.
func (p *Patch) disableBlocked() bool {
	for _, s := range p.States {
		if s.cb.blockDisable {
			return true
		}
	}
	return false
}

// isPatchCompatiblePOC is POC 7/7's klp_is_patch_compatible: a
// non-cumulative patch always is; a cumulative one is unless it drops a
// state whose disable is blocked.
func (c *Core) isPatchCompatiblePOC(patch *Patch) bool {
	if !patch.Replace {
		return true
	}
	for _, old := range c.patches {
		for _, s := range old.States {
			if patch.stateByID(s.ID) == nil && s.cb.blockDisable {
				return false
			}
		}
	}
	return true
}

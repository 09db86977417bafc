package livepatch

import (
	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// Modules coming and going while patches exist (core.c klp_module_coming
// and klp_module_going): a patch for a module that is not loaded yet is
// completed when the module loads, and reverted when it goes.

// moduleComing is klp_module_coming: the loader calls it in COMING state,
// after ftrace knows the module's sites and before its init runs, on the
// insmod task.
func (c *Core) moduleComing(ctx *kernel.OpCtx, m *kernel.Module) error {
	t := ctx.Task
	if m.Name == "vmlinux" {
		c.log(t, kernErr, "vmlinux.ko: invalid module name\n")
		return errno.EINVAL
	}
	c.lock(ctx)
	defer c.unlock(ctx)
	// Each module has to know that klp_module_coming has been called: a
	// later patch may be for it.
	m.KlpAlive = true
	for _, p := range c.patches {
		o := p.object(m.Name)
		if o == nil {
			continue
		}
		o.Mod = m
		fail := func(err error) error {
			c.log(t, kernWarn, "patch '%s' failed for module '%s', refusing to load module '%s'\n", p.Name, m.Name, m.Name)
			m.KlpAlive = false
			o.Mod = nil
			c.setGuestObjMod(o)
			c.cleanupModulePatches(ctx, m, p)
			return err
		}
		if err := c.initObjectLoaded(o); err != nil {
			c.log(t, kernWarn, "failed to initialize patch '%s' for module '%s' (%d)\n", p.Name, m.Name, errnoNeg(err))
			return fail(err)
		}
		c.log(t, kernNotice, "applying patch '%s' to loading module '%s'\n", p.Name, m.Name)
		if err := c.preObjectPatch(ctx, o); err != nil {
			c.log(t, kernWarn, "pre-patch callback failed for object '%s'\n", o.DisplayName())
			return fail(err)
		}
		if err := c.patchObject(o); err != nil {
			c.log(t, kernWarn, "failed to apply patch '%s' to module '%s' (%d)\n", p.Name, m.Name, errnoNeg(err))
			c.postObjectUnpatch(ctx, o)
			return fail(err)
		}
		if p != c.transitionPatch {
			c.postObjectPatch(ctx, o)
		}
	}
	return nil
}

// cleanupModulePatches is klp_cleanup_module_patches_limited: every patch
// before limit (all of them for a nil limit) lets go of the module —
// pre_unpatch unless it is the transition patch, "reverting patch", unpatch,
// post_unpatch. It serves both a module going away and a coming module
// refused by a later patch.
func (c *Core) cleanupModulePatches(ctx *kernel.OpCtx, m *kernel.Module, limit *Patch) {
	for _, p := range c.patches {
		if p == limit {
			break
		}
		o := p.object(m.Name)
		if o == nil || o.Mod == nil {
			continue
		}
		if p != c.transitionPatch {
			c.preObjectUnpatch(ctx, o)
		}
		c.log(ctx.Task, kernNotice, "reverting patch '%s' on unloading module '%s'\n", p.Name, m.Name)
		c.unpatchObject(o)
		c.postObjectUnpatch(ctx, o)
		_ = c.k.KlpWriteObjectRelocs(p.Mod, o.Name, false) // klp_clear_object_relocs
		c.freeObjectLoaded(o)
	}
}

// moduleGoing is klp_module_going: after the module's exit ran (or its
// load failed), on the rmmod (or insmod) task.
func (c *Core) moduleGoing(ctx *kernel.OpCtx, m *kernel.Module) {
	c.lock(ctx)
	defer c.unlock(ctx)
	m.KlpAlive = false
	c.cleanupModulePatches(ctx, m, nil)
}

// freeObjectLoaded is klp_free_object_loaded: the object forgets the
// module's addresses.
func (c *Core) freeObjectLoaded(o *Object) {
	o.Mod = nil
	for _, f := range o.Funcs {
		f.OldFunc = 0
		if f.Nop {
			f.NewFunc = 0
		}
	}
	c.setGuestObjMod(o)
}

// object is the patch's object for a module name ("" for vmlinux).
func (p *Patch) object(name string) *Object {
	for _, o := range p.Objs {
		if o.Name == name {
			return o
		}
	}
	return nil
}

package livepatch

// Freeing patches (core.c's klp_free_*): leaving klp_patches, removing
// the sysfs directories, dropping the module reference.

// freePatchStart is klp_free_patch_start: the patch leaves klp_patches and
// its objects are freed (sysfs goes away).
func (c *Core) freePatchStart(p *Patch) {
	for i, x := range c.patches {
		if x == p {
			c.patches = append(c.patches[:i:i], c.patches[i+1:]...)
			break
		}
	}
	c.sysfsRemovePatch(p)
}

// freePatchFinish is klp_free_patch_finish: the module reference is
// dropped unless the patch was forced, so the module can be removed.
func (c *Core) freePatchFinish(p *Patch) {
	if !p.Forced {
		c.k.ModulePut(p.Mod)
	}
}

// freePatch frees a disabled patch once its transition completed
// (klp_free_patch_async, done at once: nothing can observe the delay).
// why is the event's Action: disabled, or replaced by an atomic replace.
func (c *Core) freePatch(p *Patch, why string) {
	c.freePatchStart(p)
	c.freePatchFinish(p)
	c.emit(Event{Kind: EventFree, Patch: p.Name, Action: why, Target: c.targetState})
}

// freeReplacedPatches is klp_free_replaced_patches_async: every patch
// before the new replace patch goes, without callbacks.
func (c *Core) freeReplacedPatches(p *Patch) {
	for _, old := range c.Patches() {
		if old == p {
			break
		}
		c.freePatch(old, "replaced")
	}
}

package livepatch

import (
	"errors"

	"klpsim/kernel"
	"klpsim/kernel/errno"
	"klpsim/kernel/kallsyms"
)

// Reading a livepatch module's guest struct klp_patch, klp_object and
// klp_func into host structures, and initialising them (core.c's
// klp_init_patch_early, klp_init_patch, klp_init_object and friends).

// readPatch reads a guest struct klp_patch and everything it points to
// into host structures (klp_init_patch_early's view), checking what
// klp_enable_patch checks first.
func (c *Core) readPatch(addr uint64) (*Patch, error) {
	mem := c.k.Memory()
	word := func(a uint64) uint64 { v, _ := mem.ReadU64(a); return v }
	if addr == 0 {
		return nil, errno.EINVAL
	}
	modAddr, objs := word(addr+PatchMod), word(addr+PatchObjs)
	if modAddr == 0 || objs == 0 {
		return nil, errno.EINVAL
	}
	var mod *kernel.Module
	for _, m := range c.k.Modules() {
		if m.Guest() == modAddr {
			mod = m
		}
	}
	if mod == nil {
		return nil, errno.EINVAL
	}
	p := &Patch{Name: mod.Name, Mod: mod, Addr: addr, Replace: word(addr+PatchReplace)&0xff != 0}
	for o := objs; ; o += ObjSize {
		nameAddr, funcs := word(o+ObjName), word(o+ObjFuncs)
		if nameAddr == 0 && funcs == 0 {
			break
		}
		if funcs == 0 {
			return nil, errno.EINVAL
		}
		obj := &Object{Patch: p, Addr: o}
		if !c.v().StateCallbacks { // the POC has no per-object callbacks
			obj.PrePatch, obj.PostPatch = word(o+ObjPrePatch), word(o+ObjPostPatch)
			obj.PreUnpatch, obj.PostUnpatch = word(o+ObjPreUnpatch), word(o+ObjPostUnpatch)
		}
		if nameAddr != 0 {
			name, ok := c.guestString(nameAddr, moduleNameLen)
			if !ok {
				return nil, errno.EINVAL
			}
			obj.Name = name
		}
		for f := funcs; ; f += FuncSize {
			oldName, newFunc, sympos := word(f+FuncOldName), word(f+FuncNewFunc), word(f+FuncOldSympos)
			if oldName == 0 && newFunc == 0 && sympos == 0 {
				break
			}
			fn := &Func{Obj: obj, NewFunc: newFunc, OldSympos: sympos}
			if oldName == 0 {
				return nil, errno.EINVAL
			}
			name, ok := c.guestString(oldName, ksymNameLen)
			if !ok {
				return nil, errno.EINVAL
			}
			fn.OldName = name
			obj.Funcs = append(obj.Funcs, fn)
		}
		p.Objs = append(p.Objs, obj)
	}
	if st := word(addr + PatchStates); st != 0 && c.v().StatesAPI {
		c.readStates(p, st)
	}
	return p, nil
}

// guestString reads a NUL-terminated guest string of at most max-1 bytes;
// a longer one is too long (ok is false), as strnlen(..., max) >= max is.
func (c *Core) guestString(addr uint64, max int) (string, bool) {
	var b []byte
	for i := 0; i < max; i++ {
		var ch [1]byte
		if err := c.k.Memory().Read(addr+uint64(i), ch[:]); err != nil {
			return "", false
		}
		if ch[0] == 0 {
			return string(b), true
		}
		b = append(b, ch[0])
	}
	return "", false
}

// initPatch is klp_init_patch: sysfs, nops for a replace patch, objects
// and their functions, then the patch joins klp_patches.
func (c *Core) initPatch(p *Patch) error {
	if err := c.sysfsAddPatch(p); err != nil {
		return err
	}
	if p.Replace {
		c.addNops(p)
	}
	for _, o := range p.Objs {
		if err := c.initObject(o); err != nil {
			return err
		}
	}
	c.patches = append(c.patches, p)
	return nil
}

// initObject is klp_init_object.
func (c *Core) initObject(o *Object) error {
	if len(o.Name) >= moduleNameLen {
		return errno.EINVAL
	}
	o.Patched = false
	o.Mod = nil
	if o.Name != "" {
		// klp_find_object_module: only a module klp_module_coming has
		// announced and klp_module_going has not yet let go of counts:
		// a GOING module's functions may run until its exit returns.
		if m := c.k.FindModule(o.Name); m != nil && m.KlpAlive {
			o.Mod = m
		}
	}
	if err := c.sysfsAddObject(o); err != nil {
		return err
	}
	for _, f := range o.Funcs {
		if f.NewFunc == 0 && !f.Nop {
			return errno.EINVAL
		}
		if len(f.OldName) >= ksymNameLen {
			return errno.EINVAL
		}
		f.Patched = false
		c.setTransition(f, false)
		if err := c.sysfsAddFunc(f); err != nil {
			return err
		}
	}
	if o.IsLoaded() {
		return c.initObjectLoaded(o)
	}
	return nil
}

// initObjectLoaded is klp_init_object_loaded: resolve every function's old
// address and sizes now that the object is in memory.
func (c *Core) initObjectLoaded(o *Object) error {
	t := (*kernel.Task)(nil)
	if o.Name != "" {
		// klp_apply_object_relocs: the module-specific .klp.rela
		// sections; vmlinux's were written when the patch module loaded.
		if err := c.k.KlpWriteObjectRelocs(o.Patch.Mod, o.Name, true); err != nil {
			var kr *kernel.KlpRelocError
			if errors.As(err, &kr) {
				for _, line := range kr.Lines {
					c.k.Log.Printk(c.k.Now(), "C0", kernErr+line+"\n") // the kernel's own prefixes
				}
				return kr.Err
			}
			return errno.EINVAL
		}
	}
	for _, f := range o.Funcs {
		if err := c.findObjectSymbol(o, f); err != nil {
			return err
		}
		// kallsyms_lookup_size_offset(old_func): by address, so that a
		// sympos-selected duplicate gets its own size.
		old, _, ok := c.k.Syms.Lookup(f.OldFunc)
		if !ok {
			c.log(t, kernErr, "kallsyms size lookup failed for '%s'\n", f.OldName)
			return errno.ENOENT
		}
		f.OldSize = old.Size
		if f.Nop {
			f.NewFunc = f.OldFunc
		}
		s, _, ok := c.k.Syms.Lookup(f.NewFunc)
		if !ok {
			c.log(t, kernErr, "kallsyms size lookup failed for '%s' replacement\n", f.OldName)
			return errno.ENOENT
		}
		f.NewSize = s.Size
	}
	c.setGuestObjMod(o)
	return nil
}

// findObjectSymbol is klp_find_object_symbol, with its three messages; all
// three failures are -EINVAL.
func (c *Core) findObjectSymbol(o *Object, f *Func) error {
	s, err := c.k.Syms.Find(o.Name, f.OldName, int(f.OldSympos))
	if err == nil {
		f.OldFunc = s.Addr
		return nil
	}
	var amb *kallsyms.AmbiguousError
	var pos *kallsyms.PositionError
	switch {
	case errors.As(err, &amb):
		c.log(nil, kernErr, "unresolvable ambiguity for symbol '%s' in object '%s'\n", f.OldName, objNameOrNull(o))
	case errors.As(err, &pos):
		c.log(nil, kernErr, "symbol position %d for symbol '%s' in object '%s' not found\n", f.OldSympos, f.OldName, o.DisplayName())
	default:
		c.log(nil, kernErr, "symbol '%s' not found in symbol table\n", f.OldName)
	}
	return errno.EINVAL
}

// objNameOrNull is the object name as the ambiguity message prints it: the
// kernel passes obj->name, which is NULL for vmlinux.
func objNameOrNull(o *Object) string {
	if o.Name == "" {
		return "(null)"
	}
	return o.Name
}

// setGuestObjMod writes obj->mod (and obj->patched) into the guest struct,
// for callbacks that print the module and its state.
func (c *Core) setGuestObjMod(o *Object) {
	if o.Addr == 0 {
		return
	}
	var mod uint64
	if o.Mod != nil {
		mod = o.Mod.Guest()
	}
	_ = c.k.Memory().WriteU64(o.Addr+ObjMod, mod)
	_ = c.k.Memory().WriteU64(o.Addr+ObjPatched, b2u(o.Patched))
}

// addNops is klp_add_nops: for everything the older patches patch that the
// new replace patch does not, a nop func (in a dynamic object when the new
// patch has no object for that module).
func (c *Core) addNops(p *Patch) {
	for _, old := range c.patches {
		for _, oo := range old.Objs {
			var obj *Object
			for _, o := range p.Objs {
				if o.Name == oo.Name {
					obj = o
				}
			}
			if obj == nil {
				obj = &Object{Patch: p, Name: oo.Name, Dynamic: true}
				p.Objs = append(p.Objs, obj)
			}
			for _, of := range oo.Funcs {
				found := false
				for _, f := range obj.Funcs {
					if f.OldName == of.OldName && f.OldSympos == of.OldSympos {
						found = true
					}
				}
				if !found {
					obj.Funcs = append(obj.Funcs, &Func{Obj: obj, OldName: of.OldName, OldSympos: of.OldSympos, Nop: true})
				}
			}
		}
	}
}

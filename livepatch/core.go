package livepatch

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"klpsim/kernel"
	"klpsim/kernel/errno"
	"klpsim/kernel/kallsyms"
	"klpsim/kernel/printk"
)

// Core is the livepatch core's global state (kernel/livepatch/core.c and
// transition.c): the list of patches in use, the one in transition and its
// target state. The kernel goroutine owns it; klp_mutex is implicit, since
// one goroutine steps the whole machine.
type Core struct {
	k *kernel.Kernel

	// patches is klp_patches: enabled patches and the one in transition,
	// in enable order; stack_order is the 1-based position here.
	patches []*Patch
	// transitionPatch is klp_transition_patch; nil when none.
	transitionPatch *Patch
	// targetState is klp_target_state.
	targetState int

	ops        []*klpOps    // klp_ops: one per patched function address
	signalsCnt int          // klp_signals_cnt
	work       *kernel.Work // klp_transition_work: the retry every second
	// schedKey is the klp_sched_try_switch static key: on while a
	// transition runs.
	schedKey bool
	dbg      debugSites

	// OnEvent, when set, receives every Event as it happens (the debugger,
	// the timeline and tests subscribe here).
	OnEvent func(Event)
	// comingAlive is mod->klp_alive for modules in COMING state.
	comingAlive map[*kernel.Module]bool
	// checker, when on, watches every task's execution for consistency
	// violations (see checker.go).
	checker *checker
}

// Constants of the consistency model (transition.c).
const (
	// MaxStackEntries is MAX_STACK_ENTRIES: deeper stacks are unreliable.
	MaxStackEntries = 100
	// SignalsTimeout is SIGNALS_TIMEOUT: retries between fake signals.
	SignalsTimeout = 15
	// ksymNameLen is KSYM_NAME_LEN; moduleNameLen is MODULE_NAME_LEN.
	ksymNameLen   = 512
	moduleNameLen = 56
)

//go:embed guest/*.S
var guestSources embed.FS

// Init brings up the livepatch core on a booted kernel (klp_init): links
// its guest entry points (klp_enable_patch, the shadow-variable and state
// API) into the kernel image, registers the kernel hooks and the dynamic
// debug sites, and prepares the transition work.
func Init(k *kernel.Kernel) (*Core, error) {
	c := &Core{k: k, targetState: KLPTransitionIdle}
	files, err := fs.Glob(guestSources, "guest/*.S")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		src, err := guestSources.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if err := k.LoadBuiltin("kernel/livepatch/"+f[len("guest/"):], src); err != nil {
			return nil, err
		}
	}
	if err := c.setOp("klp_op_enable_patch", "klp_enable_patch", c.enablePatchOp); err != nil {
		return nil, err
	}
	if err := c.initShadow(); err != nil {
		return nil, err
	}
	if err := c.initState(); err != nil {
		return nil, err
	}
	c.work, err = k.NewWork("klp_transition_work_fn", c.transitionWorkFn)
	if err != nil {
		return nil, err
	}
	c.dbg.register(k.Dyndbg)
	k.Hooks.UpdatePatchState = c.updatePatchState
	k.Hooks.SchedTrySwitch = c.schedTrySwitch
	k.Hooks.ModuleComing = c.moduleComing
	k.Hooks.ModuleGoing = c.moduleGoing
	return c, nil
}

// setOp registers f as a host operation and stores its number in the
// guest .data word named word, where the guest entry point reads it.
func (c *Core) setOp(word, name string, f kernel.OpFunc) error {
	addr, ok := c.k.Sym(word)
	if !ok {
		return fmt.Errorf("livepatch: guest code lacks %s", word)
	}
	return c.k.Memory().WriteU64(addr, c.k.RegisterOp(name, f))
}

// Patches returns klp_patches, in order.
func (c *Core) Patches() []*Patch { return append([]*Patch(nil), c.patches...) }

// TransitionPatch is the patch in transition, or nil.
func (c *Core) TransitionPatch() *Patch { return c.transitionPatch }

// TargetState is klp_target_state.
func (c *Core) TargetState() int { return c.targetState }

// Logging: every line goes through pr_fmt "livepatch: ".

func (c *Core) log(t *kernel.Task, level, format string, args ...any) {
	caller := "C0"
	if t != nil {
		caller = fmt.Sprintf("T%d", t.PID)
	}
	c.k.Log.Printk(c.k.Now(), caller, level+"livepatch: "+fmt.Sprintf(format, args...))
}

const (
	kernErr    = "\x013"
	kernWarn   = "\x014"
	kernNotice = "\x015"
	kernDebug  = "\x017"
)

// debug prints a pr_debug line if its dynamic-debug site is on.
func (c *Core) debug(t *kernel.Task, site *printk.Site, format string, args ...any) {
	if site != nil && site.Enabled() {
		c.log(t, kernDebug, format, args...)
	}
}

// debugSites are the pr_debug call sites of kernel/livepatch, registered
// with dynamic debug under their file and function, so that the
// selftests' "file kernel/livepatch/* +p; func klp_try_switch_task -p"
// turns exactly the right ones on.
type debugSites struct {
	initTransition, completeTransition, cancelTransition, reverseTransition *printk.Site
	tryRunning, tryUnreliable, trySleeping, tryUnknown                      *printk.Site
}

func (d *debugSites) register(dd *printk.Dyndbg) {
	const tr = "kernel/livepatch/transition.c"
	d.completeTransition = dd.Register("livepatch", tr, "klp_complete_transition", 82, "'%s': completing %s transition\n")
	d.cancelTransition = dd.Register("livepatch", tr, "klp_cancel_transition", 157, "'%s': canceling patching transition, going to unpatch\n")
	d.tryRunning = dd.Register("livepatch", tr, "klp_try_switch_task", 341, "%s: %s:%d is running\n")
	d.tryUnreliable = dd.Register("livepatch", tr, "klp_try_switch_task", 345, "%s: %s:%d has an unreliable stack\n")
	d.trySleeping = dd.Register("livepatch", tr, "klp_try_switch_task", 348, "%s: %s:%d is sleeping on function %s\n")
	d.tryUnknown = dd.Register("livepatch", tr, "klp_try_switch_task", 352, "%s: Unknown error code (%d) when trying to switch %s:%d\n")
	d.initTransition = dd.Register("livepatch", tr, "klp_init_transition", 554, "'%s': initializing %s transition\n")
	d.reverseTransition = dd.Register("livepatch", tr, "klp_reverse_transition", 661, "'%s': reversing transition from %s\n")
}

// stateName is what messages call a direction.
func stateName(state int) string {
	if state == KLPTransitionPatched {
		return "patching"
	}
	return "unpatching"
}

// The guest's klp_enable_patch(patch): a livepatch module's init calls it,
// and its result is the init's result, so a failing enable makes insmod
// fail with that errno.
func (c *Core) enablePatchOp(ctx *kernel.OpCtx) uint64 {
	if err := c.enablePatch(ctx, ctx.Arg); err != nil {
		e, ok := errno.Of(err)
		if !ok {
			e = errno.EINVAL
		}
		return uint64(int64(e.Neg()))
	}
	return 0
}

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
		obj := &Object{Patch: p, Addr: o,
			PrePatch: word(o + ObjPrePatch), PostPatch: word(o + ObjPostPatch),
			PreUnpatch: word(o + ObjPreUnpatch), PostUnpatch: word(o + ObjPostUnpatch)}
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
	if st := word(addr + PatchStates); st != 0 {
		for s := st; word(s+StateID) != 0; s += StateSize {
			p.States = append(p.States, &State{Addr: s, ID: word(s + StateID), Version: word(s+StateVersion) & 0xffffffff})
		}
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

// enablePatch is klp_enable_patch, step by step as core.c does it.
func (c *Core) enablePatch(ctx *kernel.OpCtx, addr uint64) error {
	t := ctx.Task
	p, err := c.readPatch(addr)
	if err != nil {
		return err
	}
	if !p.Mod.Livepatch {
		c.log(t, kernErr, "module %s is not marked as a livepatch module\n", p.Mod.Name)
		return errno.EINVAL
	}
	if !c.isPatchCompatible(p) {
		c.log(t, kernErr, "Livepatch patch (%s) is not compatible with the already installed livepatches.\n", p.Mod.Name)
		return errno.EINVAL
	}
	if !c.k.TryModuleGet(p.Mod) {
		return errno.ENODEV
	}
	if err := c.initPatch(p); err != nil {
		c.freePatchStart(p)
		c.freePatchFinish(p)
		return err
	}
	if err := c.enablePatchLocked(ctx, p); err != nil {
		c.freePatchStart(p)
		c.freePatchFinish(p)
		return err
	}
	return nil
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
		// klp_find_object_module: only a module the loader has announced
		// (klp_alive: COMING or LIVE) counts.
		if m := c.k.FindModule(o.Name); m != nil && c.klpAlive(m) {
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
		f.Patched, f.Transition = false, false
		if err := c.sysfsAddFunc(f); err != nil {
			return err
		}
	}
	if o.IsLoaded() {
		return c.initObjectLoaded(o)
	}
	return nil
}

// klpAlive is mod->klp_alive: set in klp_module_coming, cleared in
// klp_module_going.
func (c *Core) klpAlive(m *kernel.Module) bool {
	return m.State == kernel.ModuleStateLive || (m.State == kernel.ModuleStateComing && c.comingAlive[m])
}

// initObjectLoaded is klp_init_object_loaded: resolve every function's old
// address and sizes now that the object is in memory.
func (c *Core) initObjectLoaded(o *Object) error {
	t := (*kernel.Task)(nil)
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

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// enablePatchLocked is __klp_enable_patch.
func (c *Core) enablePatchLocked(ctx *kernel.OpCtx, p *Patch) error {
	t := ctx.Task
	if c.transitionPatch != nil {
		return errno.EBUSY
	}
	if p.Enabled {
		return errno.EINVAL
	}
	c.log(t, kernNotice, "enabling patch '%s'\n", p.Name)
	c.initTransition(t, p, KLPTransitionPatched)
	var err error
	for _, o := range p.Objs {
		if !o.IsLoaded() {
			continue
		}
		if e := c.preObjectPatch(ctx, o); e != nil {
			c.log(t, kernWarn, "pre-patch callback failed for object '%s'\n", o.DisplayName())
			err = e
			break
		}
		if e := c.patchObject(o); e != nil {
			c.log(t, kernWarn, "failed to patch object '%s'\n", o.DisplayName())
			err = e
			break
		}
	}
	if err != nil {
		c.log(t, kernWarn, "failed to enable patch '%s'\n", p.Name)
		c.cancelTransition(ctx)
		return err
	}
	c.startTransition(t)
	p.Enabled = true
	c.tryCompleteTransition(ctx)
	return nil
}

// disablePatch is __klp_disable_patch (reached from sysfs only).
func (c *Core) disablePatch(ctx *kernel.OpCtx, p *Patch) error {
	if !p.Enabled {
		return errno.EINVAL
	}
	if c.transitionPatch != nil {
		return errno.EBUSY
	}
	c.initTransition(ctx.Task, p, KLPTransitionUnpatched)
	for _, o := range p.Objs {
		if o.Patched {
			c.preObjectUnpatch(ctx, o)
		}
	}
	c.startTransition(ctx.Task)
	p.Enabled = false
	c.tryCompleteTransition(ctx)
	return nil
}

// Callbacks (core.h klp_pre_patch_callback and friends): guest functions
// called with the guest struct klp_object, on the task doing the work.

func (c *Core) preObjectPatch(ctx *kernel.OpCtx, o *Object) error {
	if o.PrePatch != 0 {
		if ret := int32(ctx.Call(o.PrePatch, o.Addr)); ret != 0 {
			o.postUnpatchEnabled = false
			e := errno.FromInt(int(ret))
			return e
		}
	}
	o.postUnpatchEnabled = true
	return nil
}

func (c *Core) postObjectPatch(ctx *kernel.OpCtx, o *Object) {
	if o.PostPatch != 0 {
		ctx.Call(o.PostPatch, o.Addr)
	}
}

func (c *Core) preObjectUnpatch(ctx *kernel.OpCtx, o *Object) {
	if o.PreUnpatch != 0 {
		ctx.Call(o.PreUnpatch, o.Addr)
	}
}

func (c *Core) postObjectUnpatch(ctx *kernel.OpCtx, o *Object) {
	if o.PostUnpatch != 0 && o.postUnpatchEnabled {
		ctx.Call(o.PostUnpatch, o.Addr)
	}
	o.postUnpatchEnabled = false
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
func (c *Core) freePatch(p *Patch) {
	c.freePatchStart(p)
	c.freePatchFinish(p)
}

// freeReplacedPatches is klp_free_replaced_patches_async: every patch
// before the new replace patch goes, without callbacks.
func (c *Core) freeReplacedPatches(p *Patch) {
	for _, old := range c.Patches() {
		if old == p {
			break
		}
		c.freePatch(old)
	}
}

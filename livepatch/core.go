package livepatch

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"klpsim/kernel"
	"klpsim/kernel/errno"
	"klpsim/kernel/printk"
)

// Core is the livepatch core's global state (kernel/livepatch/core.c and
// transition.c): the list of patches in use, the one in transition and its
// target state. The kernel goroutine owns it, and klp_mutex serialises
// every operation on it as in Linux: host operations call guest code
// (callbacks, module inits) that may sleep while other tasks run, so a
// second operation can start before the first has finished; it then sleeps
// in mutex_lock until the first one lets go (see lock).
type Core struct {
	k   *kernel.Kernel
	ver *Version // the kernel version's behaviours (version.go)

	// klpMutex is the address of the guest DEFINE_MUTEX(klp_mutex);
	// mutexLock and mutexUnlock are the guest functions that take it.
	klpMutex, mutexLock, mutexUnlock uint64
	// completeTransitionFn is the guest klp_complete_transition, whose
	// body is completeTransitionOp.
	completeTransitionFn uint64
	// warnPending and warnIdlePending are klp_complete_transition's two
	// WARN_ON_ONCE(test_tsk_thread_flag(task, TIF_PATCH_PENDING)).
	warnPending, warnIdlePending kernel.WarnSite

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
	// OnViolation, when set, receives each consistency violation the
	// checker reports, as it is reported (the debugger's break violation).
	OnViolation func(Violation)
	// checker, when on, watches every task's execution for consistency
	// violations (see checker.go).
	checker *checker
	// shadow is klp_shadow_hash, for the state hash (its guest entry
	// points hold it too).
	shadow *shadowTable
	// model is the consistency model (model.go), chosen at boot; stats
	// are the numbers a comparison of models reads; msleep is the guest
	// msleep, for kpatch's retries.
	model  Model
	stats  Stats
	msleep uint64
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
func Init(k *kernel.Kernel) (*Core, error) { return InitVersion(k, V612) }

// InitVersion is Init for the livepatch core of kernel version v.
func InitVersion(k *kernel.Kernel, v *Version) (*Core, error) {
	c := &Core{k: k, ver: v, targetState: KLPTransitionIdle, model: klpModel{},
		warnPending:     kernel.WarnSite{File: "kernel/livepatch/transition.c", Line: 132},
		warnIdlePending: kernel.WarnSite{File: "kernel/livepatch/transition.c", Line: 139}}
	files, err := fs.Glob(guestSources, "guest/*.S")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		if f == "guest/state.S" {
			continue // initState links it, in the version's layout
		}
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
	if err := c.setOp("klp_op_complete_transition", "klp_complete_transition", c.completeTransitionOp); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name string
		addr *uint64
	}{{"klp_complete_transition", &c.completeTransitionFn}, {"klp_mutex", &c.klpMutex}, {"mutex_lock", &c.mutexLock}, {"mutex_unlock", &c.mutexUnlock}, {"msleep", &c.msleep}} {
		a, ok := k.Sym(s.name)
		if !ok {
			return nil, fmt.Errorf("livepatch: kernel lacks %s", s.name)
		}
		*s.addr = a
	}
	if err := c.initShadow(); err != nil {
		return nil, err
	}
	if v.StatesAPI {
		if err := c.initState(); err != nil {
			return nil, err
		}
	}
	c.work, err = k.NewWork("klp_transition_work_fn", c.transitionWorkFn)
	if err != nil {
		return nil, err
	}
	c.dbg.register(k.Dyndbg)
	k.Hooks.UpdatePatchState = c.updatePatchState
	if v.SchedTrySwitch {
		k.Hooks.SchedTrySwitch = c.schedTrySwitch
	}
	k.Hooks.ModuleComing = c.moduleComing
	k.Hooks.ModuleGoing = c.moduleGoing
	k.Hooks.StateHash = c.writeStateHash
	k.Hooks.KernelEntry = c.kernelEntry
	k.AddStateRoot(c) // the hooks' closures hide it from checkpoints
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

// lock is mutex_lock(&klp_mutex) on the operation's task: guest code, so
// that a task that finds the mutex held sleeps in mutex_lock
// (TASK_UNINTERRUPTIBLE) while the machine goes on, and /proc/PID/stack
// shows where it waits.
func (c *Core) lock(ctx *kernel.OpCtx) { ctx.Call(c.mutexLock, c.klpMutex) }

// unlock is mutex_unlock(&klp_mutex): the first waiter gets it.
func (c *Core) unlock(ctx *kernel.OpCtx) { ctx.Call(c.mutexUnlock, c.klpMutex) }

// KlpMutex is the guest address of klp_mutex, for tools that show who
// holds it and who waits (kernel.MutexOwner, kernel.MutexWaiters).
func (c *Core) KlpMutex() uint64 { return c.klpMutex }

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
	c.lock(ctx)
	if !c.isPatchCompatible(p) {
		c.log(t, kernErr, "Livepatch patch (%s) is not compatible with the already installed livepatches.\n", p.Mod.Name)
		c.unlock(ctx)
		return errno.EINVAL
	}
	if !c.k.TryModuleGet(p.Mod) {
		c.unlock(ctx)
		return errno.ENODEV
	}
	err = c.initPatch(p)
	if err == nil {
		err = c.enablePatchLocked(ctx, p)
	}
	if err != nil {
		c.stats.Refused++
		c.freePatchStart(p)
		c.unlock(ctx)
		c.freePatchFinish(p)
		return err
	}
	c.unlock(ctx)
	return nil
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
	// The states POC's per-state callbacks (state_poc.go; nothing on
	// other versions): setup of the states p introduces, disable of those
	// a replace drops.
	if err := c.setupStates(ctx, p); err != nil {
		c.log(t, kernWarn, "failed to enable patch '%s'\n", p.Name)
		c.cancelTransition(ctx)
		return err
	}
	if p.Replace {
		c.disableObsoleteStates(ctx, p)
	}
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
		if p.Replace {
			c.enableObsoleteStates(ctx, p)
		}
		c.releaseStates(ctx, p)
		c.log(t, kernWarn, "failed to enable patch '%s'\n", p.Name)
		c.cancelTransition(ctx)
		return err
	}
	c.startTransition(t)
	p.Enabled = true
	if err := c.model.run(c, ctx); err != nil {
		// Only kpatch's stop_machine fails here: nothing switched.
		p.Enabled = false
		c.cancelTransition(ctx)
		return err
	}
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
	c.disableStates(ctx, p)
	for _, o := range p.Objs {
		if o.Patched {
			c.preObjectUnpatch(ctx, o)
		}
	}
	c.startTransition(ctx.Task)
	p.Enabled = false
	if err := c.model.run(c, ctx); err != nil {
		// kpatch's stop_machine refused: the patch stays enabled.
		p.Enabled = true
		c.abortTransition()
		return err
	}
	return nil
}

// abortTransition undoes a transition in which no task switched (an
// unpatching kpatch's stop_machine refused): the patch stays as it was.
func (c *Core) abortTransition() {
	p := c.transitionPatch
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			c.setTransition(f, false)
		}
	}
	for _, task := range c.allTasks() {
		c.k.SetPatchState(task, KLPTransitionIdle)
	}
	c.targetState = KLPTransitionIdle
	c.transitionPatch = nil
	c.syncDirectAll()
	c.k.SetTrapSyscalls(false)
	if c.checker != nil {
		c.checker.disarm()
	}
}

// Callbacks (core.h klp_pre_patch_callback and friends): guest functions
// called with the guest struct klp_object, on the task doing the work.

func (c *Core) preObjectPatch(ctx *kernel.OpCtx, o *Object) error {
	if o.PrePatch != 0 {
		ret := int32(ctx.Call(o.PrePatch, o.Addr))
		c.emitCallback("pre_patch", o, int(ret))
		if ret != 0 {
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
		c.emitCallback("post_patch", o, 0)
	}
}

func (c *Core) preObjectUnpatch(ctx *kernel.OpCtx, o *Object) {
	if o.PreUnpatch != 0 {
		ctx.Call(o.PreUnpatch, o.Addr)
		c.emitCallback("pre_unpatch", o, 0)
	}
}

func (c *Core) postObjectUnpatch(ctx *kernel.OpCtx, o *Object) {
	if o.PostUnpatch != 0 && o.postUnpatchEnabled {
		ctx.Call(o.PostUnpatch, o.Addr)
		c.emitCallback("post_unpatch", o, 0)
	}
	o.postUnpatchEnabled = false
}

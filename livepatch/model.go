package livepatch

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/btree"

	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// Consistency models: how a patch takes effect. The 2014 live-patching
// thread classified them by what a task must leave before it switches
// (LEAVE_*) and how much switches at once (SWITCH_*); docs/models.md has
// the table. A machine picks one at boot (Core.SetModel) and the core
// consults it wherever the models differ: the ftrace handler's choice
// (pick), how a started transition is driven (run), whether one task may
// switch now (check), and which kernel switch points apply (switchesAt).
// Everything else — klp_patch, func_stacks, callbacks, sysfs, the log —
// is the same core.

// Model is a consistency model. The klp model (Linux since 4.12) is the
// default.
type Model interface {
	// Name is the model's name, as `machine model=NAME` spells it.
	Name() string
	// pick is the ftrace handler's choice for a call of ops's function by
	// t from parentIP: the func whose code runs, or nil for the original.
	pick(c *Core, ops *klpOps, t *kernel.Task, parentIP uint64) *Func
	// lazy models switch tasks one at a time, with TIF_PATCH_PENDING and
	// the retry work; the others switch every task within run.
	lazy() bool
	// run drives a started transition as far as it goes now (completing
	// it when it can); an error abandons it (kpatch's -EBUSY).
	run(c *Core, ctx *kernel.OpCtx) error
	// check decides whether task (not yet in the target state) may switch
	// now, and how; cur is the task doing the check.
	check(c *Core, cur, task *kernel.Task) (SwitchHow, error)
	// switchesAt says whether tasks switch at a kernel switch point.
	switchesAt(how SwitchHow) bool
	// signals says whether stalled retries send the fake signal.
	signals() bool
}

// ModelNames are the models, the default first.
var ModelNames = []string{"klp", "null", "patched-set", "kpatch", "kpatch-retry", "kgraft"}

// ParseModel returns the model called name.
func ParseModel(name string) (Model, error) {
	switch name {
	case "klp":
		return klpModel{}, nil
	case "null":
		return nullModel{}, nil
	case "patched-set":
		return &patchedSetModel{}, nil
	case "kpatch":
		return kpatchModel{tries: 1}, nil
	case "kpatch-retry":
		return kpatchModel{tries: KpatchTries}, nil
	case "kgraft":
		return kgraftModel{}, nil
	}
	return nil, fmt.Errorf("unknown consistency model %q: expected %s", name, strings.Join(ModelNames, ", "))
}

// SetModel selects the consistency model; only before any patch exists
// (a machine's model is chosen at boot).
func (c *Core) SetModel(m Model) error {
	if len(c.patches) > 0 || c.transitionPatch != nil {
		return errors.New("livepatch: the consistency model is chosen before any patch is loaded")
	}
	c.model = m
	return nil
}

// Model is the machine's consistency model.
func (c *Core) Model() Model { return c.model }

// ---- klp: per-task switching with stack checks (LEAVE_PATCHED_SET +
// SWITCH_THREAD, Linux's choice).

type klpModel struct{}

func (klpModel) Name() string { return "klp" }
func (klpModel) pick(c *Core, ops *klpOps, t *kernel.Task, _ uint64) *Func {
	return ops.pick(t)
}
func (klpModel) lazy() bool { return true }
func (klpModel) run(c *Core, ctx *kernel.OpCtx) error {
	c.tryCompleteTransition(ctx)
	return nil
}
func (klpModel) check(c *Core, cur, task *kernel.Task) (SwitchHow, error) {
	return SwitchStackCheck, c.checkTaskStack(cur, task)
}
func (klpModel) switchesAt(how SwitchHow) bool {
	return how == SwitchExitToUser || how == SwitchIdle || how == SwitchSched
}
func (klpModel) signals() bool { return true }

// checkTaskStack is klp_check_and_switch_task's check: a task running on
// another CPU cannot be checked; any other must have none of the changed
// functions on its stack.
func (c *Core) checkTaskStack(cur, task *kernel.Task) error {
	if task.Running() && task != cur {
		return errRunning
	}
	return c.checkStack(task)
}

// ---- null: redirect every call as soon as the handler is registered.

type nullModel struct{}

func (nullModel) Name() string { return "null" }
func (nullModel) pick(c *Core, ops *klpOps, _ *kernel.Task, _ uint64) *Func {
	if c.targetState == KLPTransitionUnpatched && ops.top().Transition {
		// Unpatching: the func leaves now; the version below it runs.
		return ops.below(ops.top())
	}
	return ops.top()
}
func (nullModel) lazy() bool { return false }
func (nullModel) run(c *Core, ctx *kernel.OpCtx) error {
	c.tryCompleteTransition(ctx)
	return nil
}
func (nullModel) check(*Core, *kernel.Task, *kernel.Task) (SwitchHow, error) {
	return SwitchImmediate, nil
}
func (nullModel) switchesAt(SwitchHow) bool { return false }
func (nullModel) signals() bool             { return false }

// ---- patched-set: Vojtěch Pavlík's "trivial" handler: a call from code
// of the patched set (the code being replaced) stays in that code's
// version; every other call goes to the target version. Completion is
// per task by stack analysis and kernel exits, as klp's.

type patchedSetModel struct {
	// set is the patched set of the transition: the code it retires, as
	// intervals keyed by start address.
	set *btree.BTreeG[codeRange]
	// Lookup state, so that within allocates nothing: the iterator is a
	// method value made once.
	ip    uint64
	found bool
	visit btree.ItemIteratorG[codeRange]
}

type codeRange struct{ lo, hi uint64 }

func (m *patchedSetModel) Name() string { return "patched-set" }
func (m *patchedSetModel) pick(c *Core, ops *klpOps, _ *kernel.Task, parentIP uint64) *Func {
	f := ops.top()
	if !f.Transition {
		return f
	}
	retiring := m.within(parentIP)
	if c.targetState == KLPTransitionPatched {
		if retiring {
			return ops.below(f) // called from old code: the old version
		}
		return f
	}
	if retiring {
		return f // called from the code being removed: that version
	}
	return ops.below(f)
}
func (m *patchedSetModel) lazy() bool { return true }
func (m *patchedSetModel) run(c *Core, ctx *kernel.OpCtx) error {
	c.tryCompleteTransition(ctx)
	return nil
}
func (m *patchedSetModel) check(c *Core, cur, task *kernel.Task) (SwitchHow, error) {
	return SwitchStackCheck, c.checkTaskStack(cur, task)
}
func (m *patchedSetModel) switchesAt(how SwitchHow) bool {
	return how == SwitchExitToUser || how == SwitchIdle || how == SwitchSched
}
func (m *patchedSetModel) signals() bool { return true }

// within is within_patched_set(ip): one descent of the interval tree.
func (m *patchedSetModel) within(ip uint64) bool {
	if m.set == nil {
		return false
	}
	m.ip, m.found = ip, false
	m.set.DescendLessOrEqual(codeRange{lo: ip}, m.visit)
	return m.found
}

func (m *patchedSetModel) visitRange(r codeRange) bool {
	m.found = m.ip < r.hi
	return false // the nearest start at or below ip is the only candidate
}

// build fills the patched set with the code the transition in progress
// retires: what klp's stack check looks for (checkRange), computed before
// the funcs are on their func_stacks too.
func (m *patchedSetModel) build(c *Core) {
	if m.visit == nil {
		m.visit = m.visitRange
	}
	m.set = btree.NewG(8, func(a, b codeRange) bool { return a.lo < b.lo })
	p := c.transitionPatch
	if p == nil {
		return
	}
	for _, o := range p.Objs {
		if !o.IsLoaded() {
			continue
		}
		for _, f := range o.Funcs {
			lo, size := c.retiringRange(f)
			if size > 0 {
				m.set.ReplaceOrInsert(codeRange{lo, lo + size})
			}
		}
	}
}

// retiringRange is checkRange for a func that may not be on its
// func_stack yet (the patched set is built as the transition begins).
func (c *Core) retiringRange(f *Func) (uint64, uint64) {
	if c.targetState == KLPTransitionUnpatched {
		if f.Nop {
			return 0, 0
		}
		return f.NewFunc, f.NewSize
	}
	ops := c.findOps(f.OldFunc)
	if ops == nil || len(ops.stack) == 0 || (len(ops.stack) == 1 && ops.stack[0] == f) {
		return f.OldFunc, f.OldSize
	}
	prev := ops.top()
	if prev == f {
		prev = ops.below(f)
	}
	if prev == nil || prev.Nop {
		return f.OldFunc, f.OldSize
	}
	return prev.NewFunc, prev.NewSize
}

// ---- kpatch: stop_machine, every stack checked, everything switches at
// once (LEAVE_PATCHED_SET + SWITCH_KERNEL), or -EBUSY.

// KpatchTries and KpatchRetryDelay are what kpatch's user-space tool did
// on -EBUSY: five attempts, two seconds apart (the kpatch-retry model).
const (
	KpatchTries      = 5
	KpatchRetryDelay = 2000 // ms
)

type kpatchModel struct{ tries int }

func (m kpatchModel) Name() string {
	if m.tries > 1 {
		return "kpatch-retry"
	}
	return "kpatch"
}

// pick: until the stop_machine flips every task at once, all run the
// version they ran before; after, the new one.
func (kpatchModel) pick(c *Core, ops *klpOps, t *kernel.Task, _ uint64) *Func {
	return ops.pick(t)
}
func (kpatchModel) lazy() bool { return false }

func (m kpatchModel) run(c *Core, ctx *kernel.OpCtx) error {
	for try := 1; ; try++ {
		var busy *Func
		stood, err := c.k.StopMachine(ctx, func() {
			busy = c.activenessSafetyCheck()
			if busy != nil {
				return
			}
			for _, task := range c.allTasks() {
				if task.PatchState != c.targetState {
					c.k.SetPatchState(task, c.targetState)
					c.emit(Event{Kind: EventSwitched, Patch: c.transitionPatch.Name, Task: task.Comm, PID: task.PID, How: SwitchStopMachine, Target: c.targetState})
				}
			}
		})
		if err != nil {
			return err
		}
		ev := Event{Kind: EventStopMachine, Patch: c.transitionPatch.Name, Target: c.targetState, StopNS: stood}
		if busy != nil {
			ev.Func = busy.OldName
		}
		c.emit(ev)
		c.noteStop(stood)
		if busy == nil {
			c.tryCompleteTransition(ctx)
			return nil
		}
		if try >= m.tries {
			return errno.EBUSY
		}
		ctx.Call(c.msleep, KpatchRetryDelay)
	}
}

// activenessSafetyCheck is kpatch_verify_activeness_safety, in
// stop_machine context: every task's stack against the code the
// transition retires; the first hit is printed as kpatch's core printed
// it and fails the patch.
func (c *Core) activenessSafetyCheck() *Func {
	var buf [MaxStackEntries]uint64
	for _, task := range c.allTasks() {
		if task.State == kernel.TaskDead {
			continue
		}
		n, _ := c.k.Backtrace(task, buf[:])
		if f, _ := c.blockingFunc(buf[:n]); f != nil {
			c.k.Log.Printk(c.k.Now(), fmt.Sprintf("T%d", task.PID), kernErr+"kpatch: activeness safety check failed for "+f.OldName+"\n")
			return f
		}
	}
	return nil
}

func (kpatchModel) check(c *Core, _, task *kernel.Task) (SwitchHow, error) {
	return SwitchStopMachine, errNotCrossed // only the stop_machine switches
}
func (kpatchModel) switchesAt(SwitchHow) bool { return false }
func (kpatchModel) signals() bool             { return false }

// ---- kgraft: a per-task universe flag, flipped when the task crosses
// the kernel boundary (entry or exit) or, for a kthread, at its safe
// point; no stack checks (LEAVE_KERNEL + SWITCH_THREAD).

type kgraftModel struct{}

func (kgraftModel) Name() string { return "kgraft" }
func (kgraftModel) pick(c *Core, ops *klpOps, t *kernel.Task, _ uint64) *Func {
	return ops.pick(t) // by the task's universe
}
func (kgraftModel) lazy() bool { return true }
func (kgraftModel) run(c *Core, ctx *kernel.OpCtx) error {
	c.tryCompleteTransition(ctx)
	return nil
}

// check: only a kthread sleeping at its safe point (in its main loop)
// switches here; everyone else waits for a kernel crossing.
func (kgraftModel) check(c *Core, _, task *kernel.Task) (SwitchHow, error) {
	if task.IsKthread() && !task.Running() && c.atKthreadSafePoint(task) {
		return SwitchKthreadSafe, nil
	}
	if task.IsKthread() {
		c.k.WakeUpState(task, kernel.TaskInterruptible) // kgr_wakeup_kthreads
	}
	return SwitchExitToUser, errNotCrossed
}
func (kgraftModel) switchesAt(how SwitchHow) bool {
	return how == SwitchExitToUser || how == SwitchIdle || how == SwitchKernelEntry
}
func (kgraftModel) signals() bool { return false }

// kthreadLoops are the kthread main loops whose sleep is a kGraft safe
// point (kgr_task_safe in the loop).
var kthreadLoops = map[string]bool{"worker_thread": true, "kthreadd": true}

// atKthreadSafePoint: the first frame outside the scheduler is the
// kthread's main loop.
func (c *Core) atKthreadSafePoint(t *kernel.Task) bool {
	var buf [8]uint64
	n, _ := c.k.Backtrace(t, buf[:])
	for _, a := range buf[:n] {
		if c.k.InSchedFunctions(a) {
			continue
		}
		return kthreadLoops[c.k.Syms.Name(a)]
	}
	return false
}

// errNotCrossed: the task has not crossed a switch point of its model.
var errNotCrossed = errors.New("has not crossed the kernel boundary")

// kernelEntry is the kernel-entry switch point (Hooks.KernelEntry).
func (c *Core) kernelEntry(t *kernel.Task) {
	if t.TIF&kernel.TIFPatchPending != 0 && c.model.switchesAt(SwitchKernelEntry) {
		c.switchPending(t, SwitchKernelEntry)
	}
}

// noteStop records a whole-machine stop's length.
func (c *Core) noteStop(ns uint64) {
	c.stats.Stops++
	c.stats.LongestStopNS = max(c.stats.LongestStopNS, ns)
}

// Stats are what a comparison of models reads from a run.
type Stats struct {
	Stops         int    // stop_machine calls
	LongestStopNS uint64 // the longest whole-machine stop
	Signaled      int    // tasks sent the fake signal (or woken, kthreads)
	Refused       int    // enables that failed after the patch was read (-EBUSY, a pre-patch callback)
}

// Stats returns the run's statistics so far.
func (c *Core) Stats() Stats { return c.stats }

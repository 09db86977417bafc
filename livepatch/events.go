package livepatch

import "fmt"

// Events: a typed stream of what the core does, for the debugger, the
// timeline and tests. Core.OnEvent receives them as they happen.

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	EventInit        EventKind = iota // klp_init_transition
	EventStart                        // klp_start_transition
	EventSwitched                     // a task switched to the target state (How)
	EventBlocked                      // a task could not switch (Why, Func)
	EventRetry                        // the transition is incomplete; retry in a second
	EventSignals                      // fake signals sent to the remaining tasks
	EventForced                       // klp_force_transition
	EventReversed                     // klp_reverse_transition
	EventComplete                     // klp_complete_transition
	EventStopMachine                  // kpatch: a stop_machine ran (StopNS; Func when the safety check failed)
	EventCallback                     // a callback ran (Callback, Object)
	EventFuncStack                    // klp_patch_func/klp_unpatch_func: Func pushed on or popped from its func_stack (Action)
	EventFentry                       // a fentry site was rewritten (Action call or nop, Addr, Func)
	EventFakeSignal                   // klp_send_signals woke one task (Task, PID, Action: how)
	EventFree                         // a patch was freed (Action: replaced or disabled)
	EventDiscardNop                   // klp_discard_nops freed a nop func (Func, Object)
)

var eventKindNames = [...]string{"init", "start", "switched", "blocked", "retry", "signals", "forced", "reversed", "complete", "stop-machine", "callback",
	"func_stack", "fentry", "fake_signal", "free", "discard_nop"}

// Detail reports whether k is one of the machinery's steps under a
// transition (func_stack, fentry, fake_signal, free, discard_nop) rather
// than the transition's own progress: the event recorder shows them;
// the debugger's event stops and explore's event lists do not.
func (k EventKind) Detail() bool { return k >= EventFuncStack }

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// SwitchHow is the way a task switched.
type SwitchHow int

// The ways a task switches (Documentation/livepatch/livepatch.rst §3).
const (
	SwitchStackCheck  SwitchHow = iota + 1 // its stack held none of the changed functions
	SwitchExitToUser                       // on its way back to user mode
	SwitchIdle                             // in the idle loop
	SwitchSched                            // itself, in cond_resched (klp_sched_try_switch)
	SwitchForced                           // by force
	SwitchImmediate                        // at once, unchecked (the null model)
	SwitchStopMachine                      // with every task, in stop_machine (kpatch)
	SwitchKernelEntry                      // entering the kernel (kGraft)
	SwitchKthreadSafe                      // a kthread at its main loop's safe point (kGraft)
)

var switchNames = [...]string{"", "stack-check", "exit-to-user", "idle", "sched", "forced", "immediate", "stop-machine", "kernel-entry", "kthread-safe-point"}

func (h SwitchHow) String() string {
	if int(h) < len(switchNames) {
		return switchNames[h]
	}
	return fmt.Sprintf("SwitchHow(%d)", int(h))
}

// BlockedWhy is why a task could not switch.
type BlockedWhy int

// The reasons of klp_try_switch_task.
const (
	BlockedRunning    BlockedWhy = iota + 1 // on a CPU (-EBUSY)
	BlockedUnreliable                       // its stack cannot be trusted (-EINVAL)
	BlockedSleeping                         // sleeping in a changed function (-EADDRINUSE)
	BlockedNotCrossed                       // has not crossed its model's switch point (kGraft)
)

var blockedNames = [...]string{"", "running", "unreliable-stack", "sleeping-on-function", "not-crossed"}

func (w BlockedWhy) String() string {
	if int(w) < len(blockedNames) {
		return blockedNames[w]
	}
	return fmt.Sprintf("BlockedWhy(%d)", int(w))
}

// Event is one thing the core did.
type Event struct {
	Kind   EventKind
	TimeNS uint64 // simulated time
	Patch  string // the patch in transition
	Target int    // klp_target_state at the time
	Task   string // for switched/blocked: the task's comm
	PID    int
	How    SwitchHow  // EventSwitched
	Why    BlockedWhy // EventBlocked
	Func   string     // EventBlocked with BlockedSleeping: the function
	Retry  int        // EventRetry: klp_signals_cnt after this attempt
	StopNS uint64     // EventStopMachine: how long the whole machine stood still
	// Stack is, for EventBlocked with BlockedSleeping, the reliable
	// stack trace's return addresses, innermost first; recorded only
	// while OnEvent is set.
	Stack []uint64
	// EventCallback: which one (pre_patch, post_patch, pre_unpatch,
	// post_unpatch), the object it ran for, and its return value
	// (pre_patch's; 0 for the others).
	Callback string
	Object   string
	Ret      int
	// Action says which way: push or pop (EventFuncStack), call or nop
	// (EventFentry: what the site holds now), wake_up_state,
	// set_notify_signal or signal_wake_up (EventFakeSignal), replaced or
	// disabled (EventFree).
	Action string
	Addr   uint64 // EventFentry: the site
	Depth  int    // EventFuncStack: the func_stack's length after it
	Nop    bool   // EventFuncStack, EventDiscardNop: the func is atomic replace's nop
}

func (c *Core) emit(e Event) {
	if c.OnEvent == nil {
		return
	}
	e.TimeNS = c.k.Now()
	c.OnEvent(e)
}

// emitCallback reports that callback cb of object o ran.
func (c *Core) emitCallback(cb string, o *Object, ret int) {
	// The object's patch: a module loading or going outside a
	// transition (klp_module_coming/going) runs its object's callbacks too.
	e := Event{Kind: EventCallback, Callback: cb, Object: o.DisplayName(), Ret: ret, Target: c.targetState}
	if o.Patch != nil {
		e.Patch = o.Patch.Name
	} else if p := c.transitionPatch; p != nil {
		e.Patch = p.Name
	}
	c.emit(e)
}

// emitFunc reports that f was pushed on or popped from its func_stack,
// now depth long.
func (c *Core) emitFuncStack(f *Func, action string, depth int) {
	if c.OnEvent == nil {
		return
	}
	c.emit(Event{Kind: EventFuncStack, Action: action, Patch: f.Obj.Patch.Name, Object: f.Obj.DisplayName(), Func: f.OldName,
		Depth: depth, Nop: f.Nop, Target: c.targetState})
}

// emitFentry reports the rewrite of f's fentry site at loc when it
// changed from was.
func (c *Core) emitFentry(f *Func, loc uint64, was bool) {
	if c.OnEvent == nil {
		return
	}
	now := c.k.FtraceSiteEnabled(loc)
	if now == was {
		return
	}
	action := "nop"
	if now {
		action = "call"
	}
	c.emit(Event{Kind: EventFentry, Action: action, Addr: loc, Patch: f.Obj.Patch.Name, Func: f.OldName, Object: f.Obj.DisplayName(), Target: c.targetState})
}

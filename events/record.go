package events

import (
	"strconv"
	"strings"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// Recorder collects a scenario run's events. Attach it to the booted
// machine (Attach), report the scenario's commands (Command) and results
// (Result, Failed); each event goes to Sink as it happens and, with Keep,
// into Events.
type Recorder struct {
	Scenario string
	// Sched records the scheduler's state changes (the timeline and the
	// trace need them; they are most of the stream).
	Sched bool
	// Keep keeps every event in Events.
	Keep   bool
	Events []Event
	// Sink, when set, receives each event as it is recorded.
	Sink func(*Event)

	k  *kernel.Kernel
	lp *livepatch.Core
	// pending is the number of tasks with TIF_PATCH_PENDING, counted from
	// the events and recounted from the kernel at each start, reversal
	// and retry (a fork or an exit in between shifts it by one).
	pending int
	// pendingTask says which tasks are still to switch.
	pendingTask map[int]bool
	seen        map[int]bool // lanes with a sched event
	replaced    map[*livepatch.Patch]bool
}

// Attach subscribes to the machine's kernel and livepatch core, chaining
// the hooks already there (the scenario runner's event stream, the
// debugger's violation break). With Sched, each task's present state is
// recorded first.
func (r *Recorder) Attach(k *kernel.Kernel, lp *livepatch.Core) {
	r.k, r.lp = k, lp
	r.pendingTask, r.seen = map[int]bool{}, map[int]bool{}
	if r.Sched {
		for _, t := range append(k.IdleTasks(), k.Tasks()...) {
			s := kernel.SchedRunnable
			switch {
			case t.Running():
				s = kernel.SchedRunning
			case t.State == kernel.TaskDead:
				continue
			case t.State != kernel.TaskRunning:
				s = kernel.SchedSleeping
			}
			r.sched(t, t.CPU(), s)
		}
		k.ObserveSched(r.sched)
	}
	if lp != nil {
		prevEv := lp.OnEvent
		lp.OnEvent = func(e livepatch.Event) {
			if prevEv != nil {
				prevEv(e)
			}
			r.livepatch(e)
		}
		prevV := lp.OnViolation
		lp.OnViolation = func(v livepatch.Violation) {
			if prevV != nil {
				prevV(v)
			}
			r.violation(v)
		}
	}
	coming, going := k.Hooks.ModuleComing, k.Hooks.ModuleGoing
	k.Hooks.ModuleComing = func(ctx *kernel.OpCtx, m *kernel.Module) error {
		r.add(Event{Kind: KindModule, Module: m.Name, Action: "load", Livepatch: m.Livepatch})
		if coming != nil {
			return coming(ctx, m)
		}
		return nil
	}
	k.Hooks.ModuleGoing = func(ctx *kernel.OpCtx, m *kernel.Module) {
		if going != nil {
			going(ctx, m)
		}
		r.add(Event{Kind: KindModule, Module: m.Name, Action: "unload", Livepatch: m.Livepatch})
	}
}

// add stamps e and records it.
func (r *Recorder) add(e Event) {
	e.Version, e.Scenario = Version, r.Scenario
	if r.k != nil {
		e.TimeNS = r.k.Now()
	}
	if r.Keep {
		r.Events = append(r.Events, e)
	}
	if r.Sink != nil {
		r.Sink(&e)
	}
}

// Command records that the scenario command at line (its source text)
// starts; a start_test also starts a test.
func (r *Recorder) Command(line int, text string) {
	text = strings.TrimSpace(text)
	r.add(Event{Kind: KindCommand, Line: line, Text: text})
	if name, ok := strings.CutPrefix(text, "start_test"); ok && (name == "" || name[0] == ' ' || name[0] == '\t') {
		name = strings.TrimSpace(name)
		if u, err := strconv.Unquote(name); err == nil {
			name = u
		} else {
			name = strings.Trim(name, `'"`)
		}
		r.add(Event{Kind: KindTest, Test: name})
	}
}

// Result records a test's verdict.
func (r *Recorder) Result(test, result, msg string) {
	r.add(Event{Kind: KindResult, Test: test, Result: result, Msg: msg})
}

// Failed records that the scenario stopped on an error.
func (r *Recorder) Failed(msg string) { r.add(Event{Kind: KindFailed, Msg: msg}) }

func (r *Recorder) sched(t *kernel.Task, cpu int, s kernel.SchedState) {
	e := Event{Kind: KindSched, CPU: IntP(cpu), PID: t.PID, Task: t.Comm, State: s.String()}
	if p := t.Parent(); p != nil {
		e.PPID = p.PID
	}
	lane, _ := e.Lane()
	if !r.seen[lane] {
		r.seen[lane] = true
		// A task forked during a transition inherits its parent's
		// TIF_PATCH_PENDING.
		if t.TIF&kernel.TIFPatchPending != 0 && !r.pendingTask[lane] {
			r.pendingTask[lane] = true
			r.pending++
		}
	}
	if s == kernel.SchedDead {
		delete(r.seen, lane)
		if r.pendingTask[lane] {
			delete(r.pendingTask, lane)
			r.pending--
		}
	}
	r.add(e)
}

// recount reads TIF_PATCH_PENDING from every task.
func (r *Recorder) recount() {
	clear(r.pendingTask)
	for _, t := range r.k.IdleTasks() {
		if t.TIF&kernel.TIFPatchPending != 0 {
			r.pendingTask[-1-t.CPU()] = true
		}
	}
	for _, t := range r.k.Tasks() {
		if t.TIF&kernel.TIFPatchPending != 0 && t.State != kernel.TaskDead {
			r.pendingTask[t.PID] = true
		}
	}
	r.pending = len(r.pendingTask)
}

func targetName(s int) string {
	switch s {
	case livepatch.KLPTransitionPatched:
		return "patched"
	case livepatch.KLPTransitionUnpatched:
		return "unpatched"
	}
	return ""
}

func (r *Recorder) livepatch(le livepatch.Event) {
	e := Event{Kind: le.Kind.String(), Patch: le.Patch, Target: targetName(le.Target), Task: le.Task, PID: le.PID,
		Func: le.Func, Retry: le.Retry, StopNS: le.StopNS, Callback: le.Callback, Object: le.Object, Ret: le.Ret,
		Action: le.Action, Depth: le.Depth, Nop: le.Nop}
	if le.Addr != 0 {
		e.Addr = "0x" + strconv.FormatUint(le.Addr, 16)
	}
	if le.How != 0 {
		e.How = le.How.String()
	}
	if le.Why != 0 {
		e.Why = le.Why.String()
	}
	if le.Task != "" && le.PID == 0 {
		if n, err := strconv.Atoi(strings.TrimPrefix(le.Task, "swapper/")); err == nil {
			e.CPU = IntP(n)
		}
	}
	for _, a := range le.Stack {
		e.Stack = append(e.Stack, r.k.Syms.FormatBacktrace(a))
	}
	var state string
	switch le.Kind {
	case livepatch.EventInit:
		state = "disabling"
		if le.Target == livepatch.KLPTransitionPatched {
			state = "enabling"
		}
	case livepatch.EventStart, livepatch.EventReversed, livepatch.EventRetry:
		r.recount()
		if le.Kind != livepatch.EventRetry {
			state = "transition"
		}
	case livepatch.EventSwitched:
		if lane, ok := e.Lane(); ok && r.pendingTask[lane] {
			delete(r.pendingTask, lane)
			r.pending--
		}
	case livepatch.EventForced, livepatch.EventComplete:
		clear(r.pendingTask)
		r.pending = 0
		if le.Kind == livepatch.EventComplete {
			state = "disabled"
			if le.Target == livepatch.KLPTransitionPatched {
				state = "enabled"
			}
		}
	}
	if countsPending[le.Kind] {
		e.Pending = IntP(r.pending)
	}
	if le.Kind == livepatch.EventReversed {
		// The reversal's own start follows; its band state is set there.
		state = ""
	}
	r.add(e)
	if state != "" {
		r.add(Event{Kind: KindPatchState, Patch: le.Patch, State: state, Target: targetName(le.Target)})
	}
	if le.Kind == livepatch.EventComplete && le.Target == livepatch.KLPTransitionPatched && r.lp != nil {
		// An atomic replace disabled the patches before it
		// (klp_unpatch_replaced_patches): their bands end here.
		for _, p := range r.lp.Patches() {
			if p.Name != le.Patch && !p.Enabled && !r.replaced[p] {
				if r.replaced == nil {
					r.replaced = map[*livepatch.Patch]bool{}
				}
				r.replaced[p] = true
				r.add(Event{Kind: KindPatchState, Patch: p.Name, State: "disabled", Target: "unpatched", Msg: "replaced by " + le.Patch})
			}
		}
	}
}

// countsPending are the kinds that carry pending: the transition-wide
// ones and switched.
var countsPending = map[livepatch.EventKind]bool{
	livepatch.EventStart: true, livepatch.EventSwitched: true, livepatch.EventRetry: true, livepatch.EventSignals: true,
	livepatch.EventForced: true, livepatch.EventReversed: true, livepatch.EventComplete: true, livepatch.EventStopMachine: true,
}

var violationKinds = map[livepatch.ViolationKind]string{
	livepatch.RanReplacement: "ran-replacement", livepatch.RanReplaced: "ran-replaced", livepatch.RanRetired: "ran-retired",
}

func (r *Recorder) violation(v livepatch.Violation) {
	r.add(Event{Kind: KindViolation, Why: violationKinds[v.Kind], PID: v.PID, Task: v.Task, Func: v.Func, Where: v.Where,
		Patch: v.Patch, Target: targetName(v.Target), PatchState: IntP(v.PatchState), Msg: v.Error()})
}

// Package events is klpsim's one event model: what the scheduler, the
// livepatch core, the module loader, the consistency checker and the
// scenario runner did, in simulated time. A Recorder collects the events
// of one scenario run; they feed the scenario language's `expect event`
// and the labs (package scenarios), and package timeline's outputs: the
// --json stream (one object a line, schema in docs/events.md), the Chrome
// trace for Perfetto and the HTML timeline. It imports only kernel and
// livepatch, so that every layer above can use it.
package events

// Version is the event schema's version, the "version" field of every
// --json line. Bump it when a field changes meaning or goes away.
const Version = 1

// Event kinds beyond the livepatch core's (livepatch.EventKind names:
// init, start, switched, blocked, retry, signals, forced, reversed,
// complete, callback).
const (
	KindCommand    = "command"     // a scenario command starts (Line, Text)
	KindTest       = "test"        // start_test (Test)
	KindResult     = "result"      // a test's verdict (Test, Result, Msg)
	KindFailed     = "failed"      // the scenario stopped on an error (Msg)
	KindSched      = "sched"       // a task's scheduling state changed (CPU, PID, Task, PPID, State)
	KindModule     = "module"      // a module comes or goes (Module, Action, Livepatch)
	KindViolation  = "violation"   // the consistency checker's report (PID, Task, Func, Where, Patch, PatchState, Msg)
	KindPatchState = "patch_state" // a patch's state changed (Patch, State, Target)
)

// The livepatch core's kinds (livepatch.EventKind's names), for code
// that matches on them.
const (
	KindInit        = "init"
	KindStart       = "start"
	KindSwitched    = "switched"
	KindBlocked     = "blocked"
	KindRetry       = "retry"
	KindSignals     = "signals"
	KindForced      = "forced"
	KindReversed    = "reversed"
	KindComplete    = "complete"
	KindStopMachine = "stop-machine"
	KindCallback    = "callback"
	KindFuncStack   = "func_stack"
	KindFentry      = "fentry"
	KindFakeSignal  = "fake_signal"
	KindFree        = "free"
	KindDiscardNop  = "discard_nop"
)

// Event is one thing that happened. Which fields are set depends on Kind
// (docs/events.md); the json tags are the --json field names.
type Event struct {
	Version  int    `json:"version"`
	Scenario string `json:"scenario"`
	TimeNS   uint64 `json:"time_ns"` // simulated ns since boot
	Kind     string `json:"event"`

	CPU  *int   `json:"cpu,omitempty"`  // sched: the CPU; idle tasks are told apart by it
	PID  int    `json:"pid,omitempty"`  // the task (0: an idle task, named swapper/CPU)
	Task string `json:"task,omitempty"` // its comm
	PPID int    `json:"ppid,omitempty"` // sched: the parent's pid, 0 for none
	// State is sched's running, runnable, sleeping or dead, and
	// patch_state's enabling, disabling, transition, enabled, disabled.
	State string `json:"state,omitempty"`

	Patch   string   `json:"patch,omitempty"`
	Target  string   `json:"target,omitempty"`  // patched or unpatched
	How     string   `json:"how,omitempty"`     // switched: stack-check, exit-to-user, idle, sched, forced
	Why     string   `json:"why,omitempty"`     // blocked: running, unreliable-stack, sleeping-on-function
	Func    string   `json:"func,omitempty"`    // blocked: the changed function on the stack; violation: the watched function
	Stack   []string `json:"stack,omitempty"`   // blocked on a function: the stack, innermost first, as /proc/PID/stack shows it
	Retry   int      `json:"retry,omitempty"`   // retry: klp_signals_cnt after the attempt
	StopNS  uint64   `json:"stop_ns,omitempty"` // stop-machine: how long the machine stood still (simulated ns)
	Pending *int     `json:"pending,omitempty"`

	Callback string `json:"callback,omitempty"` // pre_patch, post_patch, pre_unpatch, post_unpatch
	Object   string `json:"object,omitempty"`
	Ret      int    `json:"ret,omitempty"` // pre_patch's return value

	Module string `json:"module,omitempty"`
	// Action is module's load or unload, func_stack's push or pop,
	// fentry's call or nop (what the site holds now), fake_signal's
	// kernel function, free's replaced or disabled.
	Action    string `json:"action,omitempty"`
	Addr      string `json:"addr,omitempty"`  // fentry: the site's address, 0x-hex
	Depth     int    `json:"depth,omitempty"` // func_stack: its length after the push or pop
	Nop       bool   `json:"nop,omitempty"`   // func_stack, discard_nop: the func is atomic replace's nop
	Livepatch bool   `json:"livepatch,omitempty"`

	Where      string `json:"where,omitempty"`       // violation: the instruction (%pS)
	PatchState *int   `json:"patch_state,omitempty"` // violation: the task's patch_state

	Line   int    `json:"line,omitempty"` // command: the scenario line
	Text   string `json:"text,omitempty"` // command: its source text
	Test   string `json:"test,omitempty"`
	Result string `json:"result,omitempty"` // ok, not ok, skip
	Msg    string `json:"msg,omitempty"`
}

// IsLivepatch reports whether the event is one of the livepatch core's.
func (e *Event) IsLivepatch() bool { return lpKinds[e.Kind] }

var lpKinds = map[string]bool{"init": true, "start": true, "switched": true, "blocked": true, "retry": true,
	"signals": true, "forced": true, "reversed": true, "complete": true, "callback": true, "stop-machine": true,
	"func_stack": true, "fentry": true, "fake_signal": true, "free": true, "discard_nop": true}

// Lane is the key of the task an event concerns: the pid, or for an idle
// task (pid 0) -1-CPU. ok is false for events about no task.
func (e *Event) Lane() (id int, ok bool) {
	if e.PID != 0 {
		return e.PID, true
	}
	if e.CPU != nil && (e.Kind == KindSched || e.Task != "") {
		return -1 - *e.CPU, true
	}
	return 0, false
}

// IntP is a pointer to n, for the optional fields.
func IntP(n int) *int { return &n }

package events

import (
	"strconv"
	"strings"
)

// Kinds are every event kind, in the order of docs/events.md.
var Kinds = []string{
	KindCommand, KindTest, KindResult, KindFailed, KindSched,
	KindInit, KindStart, KindSwitched, KindBlocked, KindStopMachine, KindRetry, KindSignals, KindFakeSignal,
	KindForced, KindReversed, KindComplete, KindCallback, KindFuncStack, KindFentry, KindDiscardNop, KindFree,
	KindPatchState, KindModule, KindViolation,
}

// Fields are the --json field names an event may carry beyond the common
// four, in the --json order.
var Fields = []string{
	"cpu", "pid", "task", "ppid", "state", "patch", "target", "how", "why", "func", "stack", "retry", "stop_ns", "pending",
	"callback", "object", "ret", "module", "action", "addr", "depth", "nop", "livepatch", "where", "patch_state",
	"line", "text", "test", "result", "msg",
}

// IsKind reports whether k is an event kind.
func IsKind(k string) bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// IsField reports whether f is a field name (Fields, or time_ns).
func IsField(f string) bool {
	if f == "time_ns" {
		return true
	}
	for _, x := range Fields {
		if x == f {
			return true
		}
	}
	return false
}

// Field is the event's field name as text, as --json writes it (numbers
// in decimal, booleans true), and whether the event carries it. stack
// is its frames joined by newlines.
func (e *Event) Field(name string) (string, bool) {
	str := func(s string) (string, bool) { return s, s != "" }
	num := func(n int) (string, bool) { return strconv.Itoa(n), n != 0 }
	ptr := func(p *int) (string, bool) {
		if p == nil {
			return "", false
		}
		return strconv.Itoa(*p), true
	}
	flag := func(b bool) (string, bool) {
		if b {
			return "true", true
		}
		return "", false
	}
	switch name {
	case "time_ns":
		return strconv.FormatUint(e.TimeNS, 10), true
	case "cpu":
		return ptr(e.CPU)
	case "pid":
		return num(e.PID)
	case "task":
		return str(e.Task)
	case "ppid":
		return num(e.PPID)
	case "state":
		return str(e.State)
	case "patch":
		return str(e.Patch)
	case "target":
		return str(e.Target)
	case "how":
		return str(e.How)
	case "why":
		return str(e.Why)
	case "func":
		return str(e.Func)
	case "stack":
		return strings.Join(e.Stack, "\n"), len(e.Stack) > 0
	case "retry":
		return num(e.Retry)
	case "stop_ns":
		return strconv.FormatUint(e.StopNS, 10), e.StopNS != 0
	case "pending":
		return ptr(e.Pending)
	case "callback":
		return str(e.Callback)
	case "object":
		return str(e.Object)
	case "ret":
		return num(e.Ret)
	case "module":
		return str(e.Module)
	case "action":
		return str(e.Action)
	case "addr":
		return str(e.Addr)
	case "depth":
		return num(e.Depth)
	case "nop":
		return flag(e.Nop)
	case "livepatch":
		return flag(e.Livepatch)
	case "where":
		return str(e.Where)
	case "patch_state":
		return ptr(e.PatchState)
	case "line":
		return num(e.Line)
	case "text":
		return str(e.Text)
	case "test":
		return str(e.Test)
	case "result":
		return str(e.Result)
	case "msg":
		return str(e.Msg)
	}
	return "", false
}

package debug

import (
	"fmt"
	"strings"

	"klpsim/kernel"
	"klpsim/kernel/unwind"
	"klpsim/livepatch"
)

// why: "why is this transition not complete?" For each task the
// transition has not switched: what holds it (the frame on its stack in a
// function the transition changes, an unreliable stack, a CPU), and what
// would switch it, and when, in simulated time.

func init() {
	registerInspector(&Inspector{
		Name: "why", Usage: "why",
		Help: "why the livepatch transition is not complete: each task that holds it, and what would switch it",
		Run:  why,
	})
}

// WhyInfo is why's Data.
type WhyInfo struct {
	Transition bool      `json:"transition"`
	Patch      string    `json:"patch,omitempty"`
	Target     string    `json:"target,omitempty"` // "patched" or "unpatched"
	Retries    int       `json:"retries"`          // klp_signals_cnt
	NextRetry  *uint64   `json:"next_retry_ns,omitempty"`
	Signal     *uint64   `json:"fake_signal_ns,omitempty"` // when the next fake signal goes out
	Tasks      []WhyTask `json:"tasks"`
	Now        uint64    `json:"now_ns"`
	Stacks     []Frame   `json:"-"`
	patch      *livepatch.Patch
}

// WhyTask is one task the transition waits for.
type WhyTask struct {
	PID        int      `json:"pid"`
	Comm       string   `json:"comm"`
	State      string   `json:"state"`
	Why        string   `json:"why"` // running, unreliable, sleeping, none
	CPU        int      `json:"cpu"`
	Func       string   `json:"func,omitempty"`        // the changed function it sleeps in
	Code       string   `json:"code,omitempty"`        // whose code that frame is: "the original teach_sleep_fn ..."
	BlockFrame int      `json:"block_frame,omitempty"` // the frame's index in Frames
	Unreliable string   `json:"unreliable,omitempty"`
	Frames     []Frame  `json:"frames,omitempty"`
	Switch     []string `json:"would_switch"`
}

func why(t *Target, args []string) (Answer, error) {
	if len(args) != 0 {
		return Answer{}, &UsageError{Usage: "why"}
	}
	if err := needLP(t); err != nil {
		return Answer{}, err
	}
	info := whyInfo(t)
	return Answer{Text: info.text(t), Data: info}, nil
}

func whyInfo(t *Target) WhyInfo {
	info := WhyInfo{Now: t.K.Now(), Tasks: []WhyTask{}}
	ti, ok := t.LP.Transition()
	if !ok {
		return info
	}
	info.Transition, info.Patch, info.Target = true, ti.Patch, patchStateName(ti.Target)
	info.patch = t.LP.TransitionPatch()
	info.Retries = t.LP.SignalsCnt()
	if when, ok := t.LP.NextRetry(); ok {
		info.NextRetry = &when
		// The attempt that finds klp_signals_cnt a nonzero multiple of
		// SIGNALS_TIMEOUT sends the signals; each failed attempt adds one
		// and requeues the work a second (HZ jiffies) later.
		k := (livepatch.SignalsTimeout - info.Retries%livepatch.SignalsTimeout) % livepatch.SignalsTimeout
		if info.Retries+k == 0 {
			k = livepatch.SignalsTimeout
		}
		sig := when + uint64(k)*1_000_000_000
		info.Signal = &sig
	}
	for _, pt := range ti.Pending {
		info.Tasks = append(info.Tasks, whyTask(t, &info, pt))
	}
	return info
}

func findPending(t *Target, pt livepatch.PendingTask) *kernel.Task {
	if pt.PID != 0 {
		return t.K.TaskByPID(pt.PID)
	}
	for _, task := range t.K.IdleTasks() {
		if task.Comm == pt.Comm {
			return task
		}
	}
	return nil
}

func whyTask(t *Target, info *WhyInfo, pt livepatch.PendingTask) WhyTask {
	task := findPending(t, pt)
	wt := WhyTask{PID: pt.PID, Comm: pt.Comm, BlockFrame: -1}
	if task == nil {
		wt.Why = "gone"
		return wt
	}
	c, name := kernel.StateChar(task)
	wt.State, wt.CPU = fmt.Sprintf("%c (%s)", c, name), task.CPU()
	var buf [unwind.MaxStackEntries]uint64
	n, _ := t.K.Backtrace(task, buf[:])
	for i, a := range buf[:n] {
		wt.Frames = append(wt.Frames, Frame{N: i, Addr: a, Symbol: t.K.Syms.Format(a)})
	}
	signal := "the fake signal"
	if info.Signal != nil {
		signal = fmt.Sprintf("the fake signal at retry %d (at %s)", livepatch.SignalsTimeout*((info.Retries+livepatch.SignalsTimeout-1)/livepatch.SignalsTimeout+btoi(info.Retries == 0)), fmtTime(*info.Signal))
	}
	next := "the next retry"
	if info.NextRetry != nil {
		next = fmt.Sprintf("the next retry (at %s)", fmtTime(*info.NextRetry))
	}
	force := fmt.Sprintf("force: echo 1 > /sys/kernel/livepatch/%s/force", info.Patch)
	user := !task.IsKthread()
	sleeping := task.State&(kernel.TaskInterruptible|kernel.TaskUninterruptible) != 0
	interruptible := task.State&kernel.TaskInterruptible != 0
	switch pt.Why {
	case livepatch.BlockedRunning:
		wt.Why = "running"
		switch {
		case task.IsIdle():
			wt.Switch = append(wt.Switch, "the idle loop: do_idle switches it (klp_update_patch_state) when the CPU next idles")
		case user:
			wt.Switch = append(wt.Switch, "exit to user mode: its next return from a system call or interrupt switches it")
		default:
			wt.Switch = append(wt.Switch, "cond_resched: a kthread passing cond_resched with TIF_PATCH_PENDING checks its own stack",
				next+" checks its stack once it sleeps")
		}
	case livepatch.BlockedUnreliable:
		wt.Why, wt.Unreliable = "unreliable", pt.Detail
		if user {
			wt.Switch = append(wt.Switch, "exit to user mode (no stack check needed)")
		}
		wt.Switch = append(wt.Switch, next+", if its stack is reliable by then")
	case livepatch.BlockedSleeping:
		wt.Why, wt.Func = "sleeping", pt.Func
		for i, f := range wt.Frames {
			if f.Addr == pt.Addr {
				wt.BlockFrame = i
				break
			}
		}
		wt.Code = codeOwner(t, pt.Addr)
		leave := fmt.Sprintf("leaving %s: %s then finds its stack clean", pt.Func, next)
		switch {
		case user && sleeping && interruptible:
			wt.Switch = append(wt.Switch, "exit to user mode: "+signal+" interrupts its sleep and its return to user mode switches it", leave)
		case user:
			wt.Switch = append(wt.Switch, "exit to user mode, once it gets there", leave)
		case sleeping && interruptible:
			wt.Switch = append(wt.Switch, "waking: "+signal+" wakes it (it sleeps interruptibly); then it must leave "+pt.Func, leave)
		default:
			wt.Switch = append(wt.Switch, leave,
				fmt.Sprintf("not %s: a kthread is only woken from an interruptible sleep, and it is in %s", signal, wt.State))
		}
	default:
		wt.Why = "none"
		wt.Switch = append(wt.Switch, next+": nothing holds it now")
	}
	wt.Switch = append(wt.Switch, force)
	return wt
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// codeOwner says whose code a blocking address is in: the original
// function a patch replaces, or a patch's replacement.
func codeOwner(t *Target, addr uint64) string {
	f, isNew, ok := t.LP.CodeAt(addr)
	if !ok {
		return "code " + t.K.Syms.Format(addr)
	}
	if isNew {
		return fmt.Sprintf("the new %s of patch %s (%s)", f.OldName, f.Obj.Patch.Name, t.K.Syms.Name(f.NewFunc))
	}
	return fmt.Sprintf("the original %s (%s)", f.OldName, t.K.Syms.Name(f.OldFunc))
}

func (info WhyInfo) text(t *Target) string {
	if !info.Transition {
		return "No transition in progress: every task runs the same version of every patched function.\n"
	}
	var b strings.Builder
	dir := "patching"
	if info.Target == "unpatched" {
		dir = "unpatching"
	}
	fmt.Fprintf(&b, "Transition: '%s' %s (klp_target_state %s), %d failed attempts so far; now %s\n", info.Patch, dir, info.Target, info.Retries, fmtTime(info.Now))
	if info.NextRetry != nil {
		fmt.Fprintf(&b, "Next retry (klp_transition_work) at %s; fake signals at %s\n", fmtTime(*info.NextRetry), fmtTime(*info.Signal))
	} else {
		b.WriteString("No retry queued (an attempt may be running)\n")
	}
	if len(info.Tasks) == 0 {
		b.WriteString("Every task is switched: the next attempt completes the transition.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "%d task(s) not switched yet:\n", len(info.Tasks))
	for _, wt := range info.Tasks {
		fmt.Fprintf(&b, "\n%s (pid %d), %s: ", wt.Comm, wt.PID, wt.State)
		switch wt.Why {
		case "running":
			fmt.Fprintf(&b, "running on CPU %d (a running task cannot be stack-checked)\n", wt.CPU)
		case "unreliable":
			fmt.Fprintf(&b, "its stack is unreliable: %s\n", wt.Unreliable)
		case "sleeping":
			fmt.Fprintf(&b, "sleeping on function %s: a return address in %s is on its stack\n", wt.Func, wt.Code)
		case "gone":
			b.WriteString("gone\n")
		default:
			b.WriteString("nothing holds it now\n")
		}
		for _, f := range wt.Frames {
			mark := "  "
			if f.N == wt.BlockFrame {
				mark = "=>"
			}
			fmt.Fprintf(&b, "  %s #%-2d %#x %s\n", mark, f.N, f.Addr, f.Symbol)
		}
		b.WriteString("  would switch it:\n")
		for _, s := range wt.Switch {
			fmt.Fprintf(&b, "    - %s\n", s)
		}
	}
	return b.String()
}

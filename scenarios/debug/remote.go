package debug

import (
	"fmt"
	"io"
	"sync/atomic"

	"klpsim/kernel"
)

// The Session's side of a remote debugger (the GDB stub in
// scenarios/debug/gdbstub): the same breakpoints, watchpoints and task
// selection the commands use, by address and number instead of typed
// text. Like every Session method they run only while the machine is
// parked.

// BreakAt sets a breakpoint before the instruction at addr, for any task,
// and returns its number.
func (ss *Session) BreakAt(addr uint64) (int, error) {
	if ss.ended {
		return 0, ErrNotRunning
	}
	a := ss.addBreakpoint(&Breakpoint{Kind: BreakAddr, Addr: addr, Where: ss.symbolize(addr)})
	return a.Data.(map[string]any)["number"].(int), nil
}

// WatchAt sets a watchpoint on [addr, addr+n) — on writes, reads or both
// (access) — and returns its number.
func (ss *Session) WatchAt(addr, n uint64, access WatchAccess) (int, error) {
	if ss.ended {
		return 0, ErrNotRunning
	}
	if n == 0 || n > 1<<20 {
		return 0, fmt.Errorf("watch: length %d: expected 1 to 1048576 bytes", n)
	}
	b := &Breakpoint{Kind: BreakWatch, Addr: addr, Len: n, Access: access, Where: ss.symbolize(addr)}
	if err := armWatch(ss.d, b); err != nil {
		return 0, fmt.Errorf("watch: %#x+%d is not mapped", addr, n)
	}
	a := ss.addBreakpoint(b)
	return a.Data.(map[string]any)["number"].(int), nil
}

// DeleteBreakpoint deletes breakpoint or watchpoint n; false when there
// is none.
func (ss *Session) DeleteBreakpoint(n int) bool {
	b := ss.breakpoint(n)
	if b == nil {
		return false
	}
	ss.deleteBreakpoint(b)
	return true
}

// SelectTask makes t the task commands default to (gdb's selected
// thread): stepi steps its CPU, registers are its.
func (ss *Session) SelectTask(t *kernel.Task) error {
	if ss.ended {
		return ErrNotRunning
	}
	if t == nil || t.State == kernel.TaskDead {
		return fmt.Errorf("no such task")
	}
	ss.t.Task = t
	ss.selCPU = t.CPU()
	return nil
}

// TakeOutput is the scenario's output not yet returned in an answer.
func (ss *Session) TakeOutput() string { return ss.out.take() }

// ReverseContinueToBreak is reverse-continue as gdb's bc: back to the
// previous breakpoint, watchpoint or event stop (scenario lines, which gdb
// does not know, are not stops), or to the start.
func (ss *Session) ReverseContinueToBreak() (Answer, error) {
	ss.breaksOnly = true
	defer func() { ss.breaksOnly = false }()
	return ss.cmdReverseContinue(nil)
}

// OutputOffset is how many bytes of output the scenario has written from
// its start to where the machine is: the same at the same point of the
// history however the machine got there (a replay writes what the
// straight run wrote), so a client that shows each byte once can tell
// the output it has shown from the new.
func (ss *Session) OutputOffset() uint64 {
	if ss.outN == nil {
		return 0
	}
	return ss.outN.n.Load()
}

// outCounter counts what passes to w.
type outCounter struct {
	w io.Writer
	n atomic.Uint64
}

func (c *outCounter) Write(p []byte) (int, error) {
	c.n.Add(uint64(len(p)))
	return c.w.Write(p)
}

package unwind

// limitOf is the number of entries a walk may report: max, or
// MaxStackEntries when max <= 0, and never more than buf holds (the
// stack_trace_consume_entry cookie's size).
func limitOf(max int, buf []uint64) int {
	if max <= 0 {
		max = MaxStackEntries
	}
	return min(max, len(buf))
}

// Walk is the reliable stack walk of a task that is not running, mirroring
// arch_stack_walk_reliable (arch/x86/kernel/stacktrace.c) as
// stack_trace_save_tsk_reliable calls it for klp_check_stack. It stores
// the task's return addresses, innermost first, in buf and returns how
// many; the first entry is start.IP (Linux's first entry for a blocked
// task is likewise the return address into __schedule), the last is the
// return address into entry code stored in the task's last frame.
//
// It succeeds when the frame-pointer chain reaches the task's last frame
// (is_last_task_frame) and the pt_regs above it are kernel-mode (a
// kthread), or when it reaches user-mode regs at task_pt_regs (directly or
// through an encoded frame pointer). Otherwise it returns the entries
// found so far and an *UnreliableError whose Reason is, as Linux decides
// in this order for each frame:
//
//   - ErrKernelRegs: unwind_get_entry_regs found kernel-mode regs;
//   - ErrUnknownText: unwind_get_return_address gave 0 (!__kernel_text_address);
//   - ErrPrologue: for the first frame only, see checkFirstFrame;
//   - ErrTooDeep: more than max entries (max <= 0 means
//     MaxStackEntries), or more than len(buf);
//   - ErrBadFrame, ErrNoLastFrame: unwind_next_frame could not move on,
//     which Linux reports as unwind_error ("Check for stack corruption").
//
// Walk never panics and always terminates, whatever mem holds.
func Walk(mem Memory, text Text, stack Stack, start Start, max int, buf []uint64) (n int, err error) {
	if !stack.valid() {
		return 0, ErrStack
	}
	s := getState(mem, stack)
	n, e := s.walk(text, start, limitOf(max, buf), buf, true)
	putState(s)
	if e != nil {
		return n, e
	}
	return n, nil
}

// WalkUnreliable is the best-effort walk behind /proc/PID/stack and oops
// traces, mirroring arch_stack_walk: it follows the same chain as Walk but
// does not stop at kernel-mode regs — it reports regs->ip and continues
// from regs->bp, as the unwinder does through an interrupt frame — nor at a
// first frame in a prologue or epilogue. It stops at the first problem
// Walk would fail on otherwise (an address outside text, a bad frame, the
// entry limit) and keeps what it found.
//
// It never fails: buf[:n] is always the trace. why is nil when the trace
// is also reliable (Walk would have returned the same entries and no
// error), and otherwise the *UnreliableError for the first reason it is
// not — the one Walk would report, except that a trace that continued
// past kernel regs reports them. The only other error is ErrStack for
// invalid stack bounds, with no entries.
func WalkUnreliable(mem Memory, text Text, stack Stack, start Start, max int, buf []uint64) (n int, why error) {
	if !stack.valid() {
		return 0, ErrStack
	}
	s := getState(mem, stack)
	n, e := s.walk(text, start, limitOf(max, buf), buf, false)
	putState(s)
	if e != nil {
		return n, e
	}
	return n, nil
}

// walk is the loop of arch_stack_walk_reliable (reliable) and
// arch_stack_walk (!reliable). In the unreliable mode the first reason is
// kept and the walk goes on where it can.
func (s *state) walk(text Text, start Start, limit int, buf []uint64, reliable bool) (int, *UnreliableError) {
	var why *UnreliableError
	note := func(e *UnreliableError, n int) {
		if why == nil {
			e.Depth = n
			why = e
		}
	}
	n := 0
	if e := s.start(start); e != nil {
		note(e, n)
		return n, why
	}
	for !s.done {
		if s.regs != 0 {
			// Success path for user tasks.
			if s.user {
				break
			}
			// Kernel mode registers on the stack indicate an in-kernel
			// interrupt or exception, which can make frame pointers
			// unreliable.
			note(s.fail(ErrKernelRegs, s.regs, nil), n)
			if reliable {
				return n, why
			}
		}
		fstart, fsize, ok := text.FuncAt(s.ip)
		if !ok {
			note(s.fail(ErrUnknownText, s.bp|s.regs, nil), n)
			return n, why
		}
		if n == 0 && start.Regs == 0 {
			if e := s.checkFirstFrame(s.ip, fstart, fsize); e != nil {
				note(e, n)
				if reliable || e.Reason != ErrPrologue {
					return n, why
				}
			}
		}
		if n >= limit {
			note(s.fail(ErrTooDeep, s.bp|s.regs, nil), n)
			return n, why
		}
		buf[n] = s.ip
		n++
		if e := s.next(); e != nil {
			note(e, n)
			return n, why
		}
	}
	return n, why
}

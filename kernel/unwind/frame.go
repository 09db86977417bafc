package unwind

import (
	"encoding/binary"
	"sync"
)

// state is Linux's struct unwind_state for the frame-pointer unwinder
// (arch/x86/include/asm/unwind.h), over guest memory. At any time it is at
// one frame, either a normal frame (bp != 0: a frame header {saved rbp,
// return address}) or a regs frame (regs != 0: a pt_regs that an encoded
// frame pointer led to), and ip is the address that frame reports.
type state struct {
	mem   Memory
	stack Stack

	ip   uint64 // the return address this frame reports (state->ip); 0 for user regs
	bp   uint64 // address of the current frame header, 0 at a regs frame or before the first frame (state->bp)
	regs uint64 // address of the current pt_regs, 0 unless at a regs frame (state->regs)
	user bool   // the current regs are user-mode regs (user_mode(state->regs))

	// nextBP is the frame pointer to follow next instead of the one saved
	// in the current frame: the context's rbp, for the first step from a
	// saved context (Linux's state->next_bp, which serves __unwind_start's
	// IP==0 case the same way). hasNext says it is set.
	nextBP  uint64
	hasNext bool
	// savedBP is the current frame's saved rbp (or regs->bp), read with
	// the frame so that each step costs one guest memory read.
	savedBP uint64
	// prevEnd is the end of the previous frame: update_stack_state's
	// prev_frame_end. The next frame must start at or above it, so the
	// walk moves strictly up a bounded stack and always terminates.
	prevEnd uint64

	done bool // unwind_done

	// scratch receives guest memory. It lives here, not on the Go stack,
	// because a slice passed through the Memory interface escapes.
	scratch [PtRegsSize]byte

	// memo outlives the walk (the state is pooled): checkFirstFrame's
	// last verdict, keyed by the bytes it judged, so it holds for any
	// machine.
	memo firstFrameMemo
}

// statePool keeps walks allocation-free.
var statePool = sync.Pool{New: func() any { return new(state) }}

func getState(mem Memory, stack Stack) *state {
	s := statePool.Get().(*state)
	s.mem, s.stack = mem, stack
	s.ip, s.bp, s.regs, s.user = 0, 0, 0, false
	s.nextBP, s.hasNext, s.savedBP, s.prevEnd, s.done = 0, false, 0, 0, false
	return s
}

func putState(s *state) {
	s.mem = nil // do not pin guest memory from the pool
	statePool.Put(s)
}

// read fills scratch[:n] from guest memory at addr.
func (s *state) read(addr uint64, n int) error {
	return s.mem.Read(addr, s.scratch[:n])
}

// word returns the i-th little-endian word of scratch.
func (s *state) word(i int) uint64 {
	return binary.LittleEndian.Uint64(s.scratch[i*8:])
}

// readWord reads one word of guest memory.
func (s *state) readWord(addr uint64) (uint64, error) {
	if err := s.read(addr, 8); err != nil {
		return 0, err
	}
	return s.word(0), nil
}

// fail builds the error for the current position.
func (s *state) fail(reason error, frame uint64, err error) *UnreliableError {
	return &UnreliableError{Reason: reason, IP: s.ip, Frame: frame, Err: err}
}

// start mirrors __unwind_start(state, task, NULL, NULL) for a task that is
// not running, and __unwind_start with regs for Start.Regs.
//
// For a saved context the first frame is virtual, standing for Linux's
// inactive_task_frame, whose {bp, ret_addr} __switch_to_asm pushed right
// below the stack pointer __schedule resumes with: it reports st.IP, its
// "saved rbp" is st.BP (the rbp of the function IP is in), and it sits at
// st.SP-16. So it is the task's last frame when st.SP is task_pt_regs — a
// new task about to run entry code, as Linux's fork frame puts the
// inactive_task_frame right below pt_regs — and every later frame must lie
// at or above st.SP (Linux checks nothing against the first frame, as
// orig_sp is still zero; every frame of a live stack is above its sp).
//
// With st.Regs the walk starts at that pt_regs as if an encoded frame
// pointer had led there. (Linux's __unwind_start with regs does not report
// regs->ip itself; arch_stack_walk reports it before the loop, which this
// gives the same way.) User-mode regs end the walk at once: "Don't even
// attempt to start from user mode regs".
func (s *state) start(st Start) *UnreliableError {
	if st.Regs != 0 {
		return s.update(st.Regs | 1)
	}
	s.ip = st.IP
	s.nextBP, s.hasNext = st.BP, true
	s.prevEnd = st.SP
	return nil
}

// next mirrors unwind_next_frame: move to the caller's frame, or set done
// at the end of the stack. It fails where Linux jumps to bad_address, and
// where the chain stops short of the last frame.
func (s *state) next() *UnreliableError {
	if s.done {
		return nil
	}
	// Have we reached the end?
	if s.regs != 0 && s.user {
		s.done = true
		return nil
	}
	last := s.hasNext && s.prevEnd == s.stack.PtRegs() // the virtual first frame, see start
	if s.bp != 0 {
		var err error
		if last, err = s.isLastTaskFrame(); err != nil {
			return s.fail(ErrBadFrame, s.bp, err)
		}
	}
	if last {
		regs := s.stack.PtRegs()
		cs, err := s.readWord(regs + PtRegsOffCS)
		if err != nil {
			return s.fail(ErrBadFrame, regs, err)
		}
		// kthreads have partial, kernel-mode regs at the end of their
		// stack: nothing useful, the walk is complete.
		if cs&3 != 3 {
			s.done = true
			return nil
		}
		// "We're almost at the end, but not quite: there's still the
		// syscall regs frame. Entry code doesn't encode the regs
		// pointer for syscalls, so we have to set it manually."
		s.regs, s.bp, s.ip, s.user = regs, 0, 0, true
		return nil
	}
	// Get the next frame pointer.
	next := s.savedBP
	if s.hasNext {
		next, s.hasNext = s.nextBP, false
	}
	return s.update(next)
}

// update mirrors update_stack_state: check the frame next points at (a
// frame header, or a pt_regs if next is an encoded pointer) and move there,
// reading its return address. The checks, all ErrBadFrame unless noted:
//
//   - zero: the chain ended before the last frame (ErrNoLastFrame; Linux
//     finds NULL not on any stack);
//   - not 8-byte aligned (klpsim: the kernel's frames always are);
//   - not entirely on the task stack (on_stack);
//   - below the end of the previous frame ("Make sure it only unwinds up
//     and doesn't overlap the prev frame");
//   - a frame header above the last frame, overlapping pt_regs: the walk
//     stepped over the last frame (ErrNoLastFrame);
//   - a pt_regs overlapping task_pt_regs without being it, or user-mode
//     regs anywhere but at task_pt_regs (klpsim: user regs exist only
//     there; Linux would take them as the end of a good stack).
func (s *state) update(next uint64) *UnreliableError {
	if next == 0 {
		return s.fail(ErrNoLastFrame, 0, nil)
	}
	frame, size, isRegs := next, uint64(FrameHeaderSize), false
	if next&1 != 0 { // decode_frame_pointer
		frame, size, isRegs = next&^1, PtRegsSize, true
	}
	if frame%8 != 0 || !s.stack.contains(frame, size) || frame < s.prevEnd {
		return s.fail(ErrBadFrame, next, nil)
	}
	ptRegs := s.stack.PtRegs()
	if !isRegs {
		if frame > s.stack.LastFrame() {
			return s.fail(ErrNoLastFrame, next, nil)
		}
		if err := s.read(frame, FrameHeaderSize); err != nil {
			return s.fail(ErrBadFrame, next, err)
		}
		s.bp, s.regs, s.user = frame, 0, false
		s.savedBP, s.ip = s.word(0), s.word(1)
		s.prevEnd = frame + size
		return nil
	}
	if frame != ptRegs && frame+size > ptRegs {
		return s.fail(ErrBadFrame, next, nil)
	}
	if err := s.read(frame, PtRegsSize); err != nil {
		return s.fail(ErrBadFrame, next, err)
	}
	user := s.word(PtRegsOffCS/8)&3 == 3
	if user && frame != ptRegs {
		return s.fail(ErrBadFrame, next, nil)
	}
	s.regs, s.bp, s.user = frame, 0, user
	s.savedBP, s.ip = s.word(PtRegsOffBP/8), s.word(PtRegsOffIP/8)
	if user {
		s.ip = 0
	}
	s.prevEnd = frame + size
	return nil
}

// isLastTaskFrame mirrors is_last_task_frame: the current frame is the
// task's outermost one. Besides the plain case (bp == task_pt_regs-16),
// Linux accepts two layouts that entry-called functions can leave:
//
//   - is_last_aligned_frame: a function that realigned its stack and pushed
//     a copy of its return address before its frame, so bp is one word
//     lower (GCC_REALIGN_WORDS = 1 on x86-64) and both return slots hold
//     the same address;
//   - is_last_ftrace_frame: an ftrace trampoline's frame for a function
//     called by entry code, 3 words below the last frame, whose two frames
//     repeat the same bp and parent return address.
func (s *state) isLastTaskFrame() (bool, error) {
	last := s.stack.LastFrame()
	switch s.bp {
	case last:
		return true, nil
	case last - 8: // last_aligned_frame
		if err := s.read(s.bp, 3*8); err != nil {
			return false, err
		}
		return s.word(1) == s.word(2), nil
	case last - 3*8: // last_ftrace_bp
		if err := s.read(s.bp, 5*8); err != nil {
			return false, err
		}
		return s.word(0) == s.word(2) && s.word(1) == s.word(4), nil
	}
	return false, nil
}

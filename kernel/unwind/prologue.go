package unwind

import (
	"bytes"

	"golang.org/x/arch/x86/x86asm"

	"klpsim/isa"
	"klpsim/isa/obj"
)

// prologueScan bounds the bytes decoded from a function's start when looking
// for its frame setup: fentry (5) + push rbp (1) + mov rbp, rsp (3), and
// room for what gcc schedules in between (it may move a few instructions
// before the push or between push and mov: "mov eax, 42; push rbp" or
// "push rbp; mov eax, edi; mov rbp, rsp").
const prologueScan = 32

// epilogueScan bounds the instructions decoded forward from ip to its
// function's ret, looking for the pop rbp or leave still to come; gcc may
// schedule an instruction or two after the leave ("leave; add eax, edx;
// ret").
const epilogueScan = 6

// checkFirstFrame reports ErrPrologue when ip, the innermost IP of a task
// that is not running, is a point where its function [start, start+size)
// has no frame of its own in rbp:
//
//   - the prologue: from the function's first byte (the fentry nop5, or the
//     call ftrace patched it into) up to and including `mov rbp, rsp`,
//     whatever the compiler scheduled before or between the two. Until
//     that instruction has executed, rbp is still the caller's frame
//     pointer;
//   - the epilogue: after `pop rbp` or `leave`, up to and including the
//     `ret` — rbp is again the caller's frame pointer while the return
//     address is still at [rsp]. An IP whose straight-line path reaches a
//     ret without passing a pop rbp or leave is such a point.
//
// At either point the frame-pointer walk reports ip and then continues
// from the *caller's* frame, so the caller — whose return address is at
// [rsp], not in any frame — silently drops out of the trace. The trace
// looks sound but misses a function, which is exactly what livepatch must
// not believe.
//
// Why Linux's ORC unwinder can tell and the frame-pointer unwinder cannot:
// ORC has objtool-generated unwind data for every instruction address
// (where the CFA is relative to sp or bp, and where the caller's bp was
// saved), so it unwinds correctly from any IP, prologues and epilogues
// included, and it marks the stack unreliable where that data is missing.
// The frame-pointer unwinder has only rbp and cannot know whether rbp has
// been set up yet for the function at ip. Linux gets away with that
// because a blocked task's first frame is always the complete
// inactive_task_frame inside __schedule, and any asynchronous stop leaves
// kernel-mode pt_regs on the stack, which arch_stack_walk_reliable rejects
// under CONFIG_FRAME_POINTER. klpsim's task contexts can be captured at
// any instruction (single-step, breakpoints, a scheduler that saves the
// context instead of a pt_regs), so klpsim decodes the instructions at ip
// with isa.Decode and flags these points.
//
// `pop rbp` and `leave` themselves are not flagged: until they execute rbp
// still points at the function's own frame and the walk is exact. This is
// also where a task sleeping in schedule resumes (`vmcall; pop rbp; ret`).
// Functions without a frame (entry code such as ret_from_fork_asm) are not
// flagged either; like Linux with objtool, klpsim relies on them being
// leaves or entry code. Unreadable or undecodable text at ip is
// ErrUnknownText.
func (s *state) checkFirstFrame(ip, start, size uint64) *UnreliableError {
	end := start + size
	if end < start || ip < start || ip >= end {
		return s.fail(ErrUnknownText, 0, nil)
	}
	// The verdict is a function of ip, the bounds and the function's
	// bytes alone, and nearly every sleeping task stops at the same ip
	// in schedule: a small function's verdict is remembered with the
	// bytes it was reached from, and reused while they are the same.
	m := &s.memo
	if size <= uint64(len(m.text)) && s.mem.Read(start, m.buf[:size]) == nil {
		if m.ok && m.ip == ip && m.start == start && m.size == size && bytes.Equal(m.text[:size], m.buf[:size]) {
			if m.prologue {
				return s.fail(ErrPrologue, 0, nil)
			}
			return nil
		}
		err := s.judgeFirstFrame(ip, start, end)
		if err == nil || err.Reason == ErrPrologue {
			m.ok, m.ip, m.start, m.size, m.prologue = true, ip, start, size, err != nil
			copy(m.text[:], m.buf[:size])
		}
		return err
	}
	return s.judgeFirstFrame(ip, start, end)
}

// firstFrameMemo is checkFirstFrame's remembered verdict: for the task
// stopped at ip in the function [start, start+size) whose bytes were
// text[:size], prologue says whether it was ErrPrologue (else reliable).
type firstFrameMemo struct {
	ok              bool
	ip, start, size uint64
	prologue        bool
	text, buf       [256]byte
}

// judgeFirstFrame is checkFirstFrame without the memo.
func (s *state) judgeFirstFrame(ip, start, end uint64) *UnreliableError {
	n := min(end-ip, isa.MaxInstLen)
	if err := s.read(ip, int(n)); err != nil {
		return s.fail(ErrUnknownText, 0, err)
	}
	if _, err := isa.Decode(s.scratch[:n]); err != nil {
		return s.fail(ErrUnknownText, 0, err)
	}
	setup, framed := s.frameSetup(start, end)
	switch {
	case !framed:
		return nil
	case ip < setup:
		return s.fail(ErrPrologue, 0, nil)
	case s.pastEpilogue(ip, end):
		return s.fail(ErrPrologue, 0, nil)
	}
	return nil
}

// frameSetup decodes the start of the function [start, end) and returns
// the address just after its `mov rbp, rsp`, and whether it has the
// frame-pointer prologue at all: an optional 5-byte fentry site (nop5 or
// call rel32, see isFentrySite), then `push rbp` and `mov rbp, rsp`, with
// only straight-line instructions that leave rbp and rsp alone before or
// between them.
func (s *state) frameSetup(start, end uint64) (setup uint64, framed bool) {
	n := int(min(end-start, prologueScan))
	if s.read(start, n) != nil {
		return 0, false
	}
	b := s.scratch[:n]
	off := 0
	if isFentrySite(b) {
		off = len(obj.Nop5)
	}
	pushed := false
	for off < n {
		in, err := isa.Decode(b[off:])
		if err != nil {
			return 0, false
		}
		off += in.Len
		switch {
		case !pushed && in.Op == x86asm.PUSH && in.Args[0] == x86asm.RBP:
			pushed = true
		case pushed && in.Op == x86asm.MOV && in.Args[0] == x86asm.RBP && in.Args[1] == x86asm.RSP:
			return start + uint64(off), true
		case controlFlow(in.Op) || writesFrame(in.Inst):
			return 0, false
		}
	}
	return 0, false
}

// pastEpilogue reports whether the straight-line path from ip reaches the
// function's ret without a `pop rbp` or `leave`: the frame is gone.
func (s *state) pastEpilogue(ip, end uint64) bool {
	for range epilogueScan {
		n := min(end-ip, isa.MaxInstLen)
		if n == 0 || s.read(ip, int(n)) != nil {
			return false
		}
		in, err := isa.Decode(s.scratch[:n])
		if err != nil {
			return false
		}
		switch {
		case in.Op == x86asm.RET:
			return true
		case in.Op == x86asm.LEAVE, in.Op == x86asm.POP && in.Args[0] == x86asm.RBP:
			return false
		case controlFlow(in.Op):
			return false
		}
		ip += uint64(in.Len)
	}
	return false
}

// controlFlow reports an instruction after which the straight-line scans
// above cannot follow the code.
func controlFlow(op x86asm.Op) bool {
	switch op {
	case x86asm.CALL, x86asm.JMP, x86asm.RET, x86asm.LRET, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ,
		x86asm.SYSCALL, x86asm.SYSRET, x86asm.HLT, x86asm.UD2, x86asm.INT, isa.VMCALL,
		x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return true
	}
	return false
}

// writesFrame reports an instruction that sets rbp or rsp other than the
// prologue's own: then this is no frame-pointer prologue.
func writesFrame(in x86asm.Inst) bool {
	switch in.Op {
	case x86asm.PUSH, x86asm.POP:
		return true // moves rsp: the saved rbp would not be at [rbp]
	}
	return in.Args[0] == x86asm.RBP || in.Args[0] == x86asm.RSP
}

// isFentrySite reports whether b starts with a patchable function entry:
// the nop5 (obj.Nop5) or the `call rel32` (e8) ftrace turns it into. It
// matches bytes rather than decoding: both forms are fixed, and x86asm
// boxes the nop's memory operand into an interface, which would allocate
// on every walk.
func isFentrySite(b []byte) bool {
	if len(b) < len(obj.Nop5) {
		return false
	}
	return [5]byte(b) == obj.Nop5 || b[0] == 0xe8
}

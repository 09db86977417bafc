package unwind

import (
	"golang.org/x/arch/x86/x86asm"

	"klpsim/isa"
	"klpsim/isa/obj"
)

// prologueScan bounds the bytes decoded from a function's start when looking
// for its frame setup: fentry (5) + push rbp (1) + mov rbp, rsp (3) with
// room to spare. An IP this far into a function is past any prologue.
const prologueScan = 16

// checkFirstFrame reports ErrPrologue when ip, the innermost IP of a task
// that is not running, is a point where its function [start, start+size)
// has no frame of its own in rbp:
//
//   - the prologue: from the function's first byte (the fentry nop5, or the
//     call ftrace patched it into) up to and including `mov rbp, rsp`.
//     Until that instruction has executed, rbp is still the caller's
//     frame pointer;
//   - the epilogue's `ret`: after `pop rbp` or `leave`, rbp is again the
//     caller's frame pointer while the return address is still at [rsp].
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
	n := min(end-ip, isa.MaxInstLen)
	if err := s.read(ip, int(n)); err != nil {
		return s.fail(ErrUnknownText, 0, err)
	}
	in, err := isa.Decode(s.scratch[:n])
	if err != nil {
		return s.fail(ErrUnknownText, 0, err)
	}
	isRet := in.Op == x86asm.RET
	if !isRet && ip-start >= prologueScan {
		return nil
	}
	setup, framed := s.frameSetup(start, end)
	switch {
	case !framed:
		return nil
	case ip < setup, isRet:
		return s.fail(ErrPrologue, 0, nil)
	}
	return nil
}

// frameSetup decodes the start of the function [start, end) and returns
// the address just after its `mov rbp, rsp`, and whether it has the
// frame-pointer prologue at all: an optional 5-byte fentry site (nop5 or
// call rel32, see isFentrySite), then `push rbp`, then `mov rbp, rsp`.
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
	in, err := isa.Decode(b[off:])
	if err != nil || in.Op != x86asm.PUSH || in.Args[0] != x86asm.RBP {
		return 0, false
	}
	off += in.Len
	if in, err = isa.Decode(b[off:]); err != nil {
		return 0, false
	}
	if in.Op != x86asm.MOV || in.Args[0] != x86asm.RBP || in.Args[1] != x86asm.RSP {
		return 0, false
	}
	return start + uint64(off+in.Len), true
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

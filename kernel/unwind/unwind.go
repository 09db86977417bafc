// Package unwind is the guest kernel's reliable frame-pointer unwinder: it
// walks the saved-rbp chain of a task's kernel stack in guest memory and
// says whether the result can be trusted, which is what livepatch's
// klp_check_stack needs before it may switch a sleeping task.
//
// It mirrors Linux x86-64 with CONFIG_UNWINDER_FRAME_POINTER:
//
//   - frame.go is arch/x86/kernel/unwind_frame.c: the unwind state
//     (struct unwind_state), __unwind_start, unwind_next_frame,
//     update_stack_state, decode_frame_pointer and is_last_task_frame;
//   - stacktrace.go is arch/x86/kernel/stacktrace.c: Walk is
//     arch_stack_walk_reliable (as used by stack_trace_save_tsk_reliable)
//     and WalkUnreliable is arch_stack_walk (stack_trace_save_tsk, behind
//     /proc/PID/stack and oops traces);
//   - prologue.go is klpsim's one addition: a first frame stopped in a
//     function prologue or epilogue is unreliable (see ErrPrologue).
//
// # Stack layout
//
// A task's kernel stack is [Base, Base+Size) (THREAD_SIZE, 16 KiB). Its top
// PtRegsSize bytes are the task's struct pt_regs (task_pt_regs), and the
// outermost frame — the frame of the first C function entry code called —
// sits right below it, at pt_regs-16: its saved rbp and its return address
// into entry code. Every function with a frame starts with
//
//	nop5 (ftrace's fentry site, or the call it is patched into)
//	push rbp
//	mov  rbp, rsp
//
// so a frame is two words, {caller's rbp, return address}, and rbp points
// at it. Entry code that saves a pt_regs on the stack and calls C code sets
// rbp to the pt_regs address with bit 0 set (Linux's ENCODE_FRAME_POINTER),
// which is how the unwinder recognises an interrupt or exception frame.
//
// The walk reads guest memory only through Memory and judges addresses only
// through Text; it never panics and always terminates on garbage, because
// every frame must lie strictly above the previous one inside a bounded
// stack. The hot loop does not allocate: failures allocate their
// *UnreliableError, successes allocate nothing.
package unwind

import (
	"errors"
	"fmt"
)

// Memory is guest memory as the unwinder reads it. *emu.Memory satisfies it.
type Memory interface {
	// Read copies guest memory at addr into b, or fails without a partial
	// result that matters.
	Read(addr uint64, b []byte) error
}

// Text answers Linux's __kernel_text_address: whether addr is inside known
// kernel or module text (entry code included), and if so the bounds of the
// function that contains it. The kernel passes its kallsyms.
type Text interface {
	FuncAt(addr uint64) (start, size uint64, ok bool)
}

// Sizes and limits, as Linux x86-64 has them.
const (
	// StackSize is a task's kernel stack size (THREAD_SIZE).
	StackSize = 16 << 10
	// MaxStackEntries is the entry limit of livepatch's reliable stack
	// check (kernel/livepatch/transition.c MAX_STACK_ENTRIES).
	MaxStackEntries = 100
	// FrameHeaderSize is the size of a frame's header: the saved rbp and
	// the return address (unwind_frame.c FRAME_HEADER_SIZE).
	FrameHeaderSize = 2 * 8
)

// struct pt_regs (arch/x86/include/asm/ptrace.h), 21 words in this order:
// r15 r14 r13 r12 bp bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss.
// Only the offsets the unwinder reads are named.
const (
	PtRegsSize  = 21 * 8 // sizeof(struct pt_regs)
	PtRegsOffBP = 4 * 8  // regs->bp: the interrupted context's frame pointer
	PtRegsOffIP = 16 * 8 // regs->ip: where the interrupted context resumes
	PtRegsOffCS = 17 * 8 // regs->cs: CS&3 == 3 means user mode (user_mode())
	PtRegsOffSP = 19 * 8 // regs->sp: the interrupted context's stack pointer
)

// Stack is one task's kernel stack, [Base, Base+Size) in guest memory
// (task->stack and THREAD_SIZE).
type Stack struct {
	Base, Size uint64
}

// PtRegs is the address of the task's user-entry register frame at the top
// of its stack (task_pt_regs; x86-64 has no TOP_OF_KERNEL_STACK_PADDING).
func (s Stack) PtRegs() uint64 { return s.Base + s.Size - PtRegsSize }

// LastFrame is where the task's outermost frame must be (unwind_frame.c
// last_frame: task_pt_regs - 2 words).
func (s Stack) LastFrame() uint64 { return s.PtRegs() - FrameHeaderSize }

// valid reports whether the bounds can hold a pt_regs and a frame without
// wrapping around the address space.
func (s Stack) valid() bool {
	return s.Base%8 == 0 && s.Size%8 == 0 && s.Size >= PtRegsSize+FrameHeaderSize &&
		s.Base+s.Size > s.Base
}

// contains reports whether [addr, addr+n) lies inside the stack (on_stack).
func (s Stack) contains(addr, n uint64) bool {
	return addr >= s.Base && addr-s.Base <= s.Size && s.Size-(addr-s.Base) >= n
}

// Start is where a walk begins: a task's saved context.
//
// For a task that is not running it is the {rip, rsp, rbp} the scheduler
// saved when the task switched out — rip just after the vmcall inside
// schedule, the counterpart of Linux's inactive_task_frame whose ret_addr
// points into __schedule. IP is the first entry a walk reports, as Linux's
// first entry for a blocked task is that return address into __schedule.
//
// When Regs is non-zero the walk starts from the pt_regs at that stack
// address instead (a task interrupted or faulting in the kernel, an oops)
// and IP, SP and BP are ignored: the regs supply them.
type Start struct {
	IP, SP, BP uint64
	Regs       uint64 // address of a pt_regs frame to start from, or 0
}

// The reasons a walk is unreliable, one per failure case of Linux's
// arch_stack_walk_reliable with the frame-pointer unwinder, plus klpsim's
// ErrPrologue. A failed Walk returns an *UnreliableError whose Reason is
// one of them; test with errors.Is. To livepatch every one of them is
// klp_check_stack's -EINVAL ("has an unreliable stack").
var (
	// ErrKernelRegs: an interrupt or exception frame (kernel-mode pt_regs)
	// is on the stack. The interrupted code may have been anywhere, e.g.
	// in a prologue, so the frame pointers past it cannot be trusted
	// (arch_stack_walk_reliable: unwind_get_entry_regs && !user_mode under
	// CONFIG_FRAME_POINTER).
	ErrKernelRegs = errors.New("kernel-mode regs (interrupt or exception frame) on the stack")
	// ErrUnknownText: a return address is outside known text, or its text
	// cannot be read ("A NULL or invalid return address probably means
	// there's some generated code which __kernel_text_address() doesn't
	// know about").
	ErrUnknownText = errors.New("return address outside kernel text")
	// ErrBadFrame: a frame pointer is misaligned, points outside the task
	// stack, does not move up the stack, or its frame cannot be read
	// (update_stack_state failing: unwind_next_frame's bad_address, and
	// then unwind_error).
	ErrBadFrame = errors.New("bad frame pointer")
	// ErrNoLastFrame: the frame-pointer chain ends (a zero rbp) or runs
	// into pt_regs without passing through the task's last frame at
	// pt_regs-16 (is_last_task_frame), so part of the stack was not seen.
	ErrNoLastFrame = errors.New("stack does not end at the task's last frame")
	// ErrTooDeep: the stack has more return addresses than the caller's
	// limit (stack_trace_consume_entry refusing the entry past
	// MAX_STACK_ENTRIES).
	ErrTooDeep = errors.New("too many stack entries")
	// ErrPrologue: the task stopped where its innermost function has no
	// frame of its own in rbp — in the prologue, up to and including
	// `mov rbp, rsp`, or at the epilogue's `ret` after `pop rbp`/`leave` —
	// so the frame-pointer walk would silently skip that function's
	// caller, whose return address is at [rsp] and in no frame.
	//
	// klpsim's addition. Linux's ORC unwinder can tell, because objtool
	// gives it unwind data for every instruction address; the
	// frame-pointer unwinder has only rbp and cannot, and Linux never
	// needs it to: a blocked task's first frame is always the complete
	// inactive_task_frame in __schedule, and any asynchronous stop leaves
	// kernel-mode regs (ErrKernelRegs). klpsim's saved contexts can be
	// taken at any instruction, so Walk decodes the instructions at the
	// first IP with isa.Decode and flags these points (prologue.go).
	ErrPrologue = errors.New("first frame in a function prologue or epilogue")
)

// ErrStack is returned for Stack bounds that cannot hold a task stack:
// unaligned, smaller than a pt_regs and a frame, or wrapping around. It is
// a caller bug, not an unreliable stack, and no entries are reported.
var ErrStack = errors.New("unwind: invalid task stack bounds")

// UnreliableError says why and where a walk is not reliable.
type UnreliableError struct {
	Reason error  // one of ErrKernelRegs, ErrUnknownText, ErrBadFrame, ErrNoLastFrame, ErrTooDeep, ErrPrologue
	Depth  int    // entries already reported when the walk stopped
	IP     uint64 // the address being judged (the last IP reached)
	Frame  uint64 // the frame pointer, encoded regs pointer or pt_regs address concerned; 0 if none
	Err    error  // the underlying memory read or decode error, if any
}

func (e *UnreliableError) Error() string {
	s := fmt.Sprintf("unwind: unreliable stack: %v (entry %d, ip %#x", e.Reason, e.Depth, e.IP)
	if e.Frame != 0 {
		s += fmt.Sprintf(", frame %#x", e.Frame)
	}
	s += ")"
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap gives errors.Is and errors.As both the reason and the cause.
func (e *UnreliableError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

package emu

import (
	"fmt"

	"klpsim/isa"
)

// Reg names a general-purpose register, in encoding order.
type Reg int

// The general-purpose registers.
const (
	RAX Reg = isa.RAX + iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

var regNames = [...]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

func (r Reg) String() string {
	if r >= 0 && int(r) < len(regNames) {
		return regNames[r]
	}
	return fmt.Sprintf("Reg(%d)", int(r))
}

// RFLAGS bits.
const (
	FlagCF = 1 << 0
	FlagPF = 1 << 2
	FlagAF = 1 << 4
	FlagZF = 1 << 6
	FlagSF = 1 << 7
	FlagTF = 1 << 8
	FlagIF = 1 << 9
	FlagDF = 1 << 10
	FlagOF = 1 << 11
	FlagAC = 1 << 18
	FlagID = 1 << 21

	// flagsStatus are the arithmetic flags computed lazily.
	flagsStatus = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF
	// flagsFixed is bit 1, which always reads as 1.
	flagsFixed = 1 << 1
	// flagsUserWritable are the bits popfq may change at CPL 3.
	flagsUserWritable = flagsStatus | FlagTF | FlagDF | FlagAC | FlagID
)

// Software TLB geometry: direct-mapped, per CPU, per privilege level.
const (
	tlbSize = 1024
	tlbMask = tlbSize - 1
	noVPN   = ^uint64(0) // never equals addr>>12
	// The instruction-fetch TLB (xpage) is smaller: it is consulted only
	// when rip leaves the current code page.
	xtlbSize = 256
	xtlbMask = xtlbSize - 1
	// noCodeBase is the code-page base of a CPU with no current code page:
	// a non-canonical address, so no rip ever falls in [noCodeBase, +4096).
	noCodeBase = 0x8000_0000_0000_0000
)

// tlbIndex is the TLB slot of page number vpn. Folding in higher bits
// keeps hot pages of distant regions from sharing a slot: the kernel's
// text at 0xffffffff81000000 and module text at 0xffffffffa0000000 did
// with no folding, and with bits 9-18 folded in, kernel text page
// 0xffffffff81001000 and the ftrace trampoline page 0xfffffffffeffe000
// shared slot 9 (2.5 million map lookups in test-syscall.scn, 173 now;
// over every selftest and teaching scenario, 6045 with bits 10-19 folded
// in, as with 10-19 and 20-29 both, 2.69 million with 9-18).
func tlbIndex(vpn uint64) uint64 {
	return (vpn ^ vpn>>10) & tlbMask
}

type tlbEntry struct {
	vpn uint64
	p   *page
}

// CPU is one virtual x86-64 processor. It runs on a Memory shared with the
// other CPUs of the machine; the caller steps CPUs one at a time.
type CPU struct {
	// R holds the registers by isa register number: 0–15 are the GPRs,
	// isa.RegNone (16) is always zero, the rest pad the array so that an
	// index masked with 31 needs no bounds check.
	R   [32]uint64
	RIP uint64
	// X holds the 16 XMM registers (sse.go).
	X [16]Xmm

	// Lazy arithmetic flags: the status bits of RFLAGS are a function of
	// the last flag-setting operation (fk), its size in bytes (fsz), its
	// operands (fa, fb), its result (fr) and a carry-in (fc) for the ops
	// that need one. rfl holds every other RFLAGS bit, and the status bits
	// too when fk is fkRaw.
	fk  uint8
	fsz uint8
	fc  uint64
	fa  uint64
	fb  uint64
	fr  uint64
	rfl uint64

	// CPL is the current privilege level: 0 (kernel) or 3 (user).
	CPL uint8
	// FSBase and GSBase are the bases of the fs and gs segments;
	// KernelGSBase is what swapgs exchanges GSBase with.
	FSBase, GSBase, KernelGSBase uint64
	// LSTAR is the syscall entry point and FMASK the RFLAGS bits syscall
	// clears, as the MSRs of the same names. With LSTAR zero a syscall only
	// exits to the host (the user-mode runner's Linux ABI).
	LSTAR, FMASK uint64
	// HostCall, when set, is offered every vmcall first, inside Run, with
	// RIP already past it: returning true means it served the call (it may
	// change registers and memory, but not switch what the CPU runs) and
	// execution goes on without leaving Run; false makes Run return
	// ExitHypercall as usual. It saves a Run exit on hot hypercalls such as
	// the ftrace handler's.
	HostCall func() bool
	// TrapSyscalls makes syscall and sysretq also stop Run (ExitSyscall,
	// ExitSysret) after doing their work when LSTAR is set, for tools that
	// watch every kernel entry; the guest kernel itself does not need it.
	TrapSyscalls bool
	// TSC is added to the instruction count to give rdtsc's value, so time
	// stays deterministic.
	TSC uint64
	// Insns counts the instructions this CPU has retired.
	Insns uint64

	mem *Memory
	// Current code page: cp caches the decoded ops of the page at cpBase.
	cp     *codePage
	cpBase uint64
	cpPage *page
	// Data TLBs, [0] for CPL 0 and [1] for CPL 3; rt/wt point at the ones
	// in use. Write TLBs never hold pages with decoded code.
	rtlb, wtlb [2][tlbSize]tlbEntry
	rt, wt     *[tlbSize]tlbEntry
	// Fetch TLBs, like rtlb: [0] for CPL 0, [1] for CPL 3.
	xtlb [2][xtlbSize]tlbEntry
	xt   *[xtlbSize]tlbEntry
	// bstale is set when the current code page's ops are dropped while a
	// block from it runs: the rest of the block must not execute. decode
	// clears it when it makes a page current.
	bstale bool
	// blk is the block being executed, nil between blocks: a fault or
	// watchpoint inside it returns the block's unexecuted instructions to
	// the budget (blockRest).
	blk *block
	// left is the remaining instruction budget of the current Run, out of
	// budget.
	left, budget uint64
	// bpAt is RIP+1 of the breakpoint the last Run stopped at (0: none),
	// and bpSkip says this Run resumes there: the one breakpoint Run does
	// not report. Any other Run start — after a budget exit, a hypercall,
	// an interrupt moved RIP — reports a breakpoint on its first
	// instruction like any other.
	bpAt   uint64
	bpSkip bool
	// wleft is the budget a watchpoint hit set aside (watch.go).
	wleft uint64
	exc   Exception
	exit  Exit // set by generic for the instructions that end Run
	// jbase is the code page base translated code hands back with the op
	// the interpreter goes on at (jit.go).
	jbase uint64
}

// NewCPU returns a CPU attached to mem, at CPL 0 with all registers zero
// and RFLAGS = 0x2.
func NewCPU(mem *Memory) *CPU {
	c := &CPU{mem: mem, cp: emptyCode, cpBase: noCodeBase, rfl: flagsFixed}
	c.flushTLB()
	mem.cpus = append(mem.cpus, c)
	return c
}

// Memory returns the memory the CPU runs on.
func (c *CPU) Memory() *Memory { return c.mem }

// Reg returns a general-purpose register.
func (c *CPU) Reg(r Reg) uint64 { return c.R[r&15] }

// SetReg sets a general-purpose register.
func (c *CPU) SetReg(r Reg, v uint64) { c.R[r&15] = v }

// RFLAGS returns the flags register, computing lazy status bits.
func (c *CPU) RFLAGS() uint64 {
	return c.rfl&^flagsStatus | c.status()
}

// SetRFLAGS sets the flags register (bit 1 always reads 1).
func (c *CPU) SetRFLAGS(v uint64) {
	c.rfl = v | flagsFixed
	c.fk = fkRaw
}

// SetCPL switches privilege level, and with it the TLBs in use.
func (c *CPU) SetCPL(cpl uint8) {
	c.CPL = cpl
	k := 0
	if cpl == 3 {
		k = 1
	}
	c.rt, c.wt, c.xt = &c.rtlb[k], &c.wtlb[k], &c.xtlb[k]
	// The code page was checked for the old privilege.
	c.cp, c.cpBase, c.cpPage = emptyCode, noCodeBase, nil
}

func (c *CPU) flushTLB() {
	for k := range c.rtlb {
		for i := range c.rtlb[k] {
			c.rtlb[k][i] = tlbEntry{vpn: noVPN}
			c.wtlb[k][i] = tlbEntry{vpn: noVPN}
		}
		for i := range c.xtlb[k] {
			c.xtlb[k][i] = tlbEntry{vpn: noVPN}
		}
	}
	c.SetCPL(c.CPL)
}

// ExitReason says why Run returned.
type ExitReason uint8

// Exit reasons.
const (
	ExitBudget     ExitReason = iota // the instruction budget ran out
	ExitHypercall                    // vmcall; RIP is past it
	ExitSyscall                      // syscall; see CPU.LSTAR and TrapSyscalls
	ExitSysret                       // sysretq executed, with TrapSyscalls; now at CPL 3
	ExitHlt                          // hlt executed; RIP is past it
	ExitException                    // a guest exception, in Exit.Exc
	ExitBreakpoint                   // a breakpoint; RIP is at it, not executed
)

var exitNames = [...]string{"budget", "hypercall", "syscall", "sysret", "hlt", "exception", "breakpoint"}

func (r ExitReason) String() string {
	if int(r) < len(exitNames) {
		return exitNames[r]
	}
	return fmt.Sprintf("ExitReason(%d)", r)
}

// Exit describes why Run stopped.
type Exit struct {
	Reason ExitReason
	Exc    Exception // valid when Reason is ExitException
}

// Vector is an x86 exception vector.
type Vector uint8

// Exception vectors klpsim raises.
const (
	VecDE Vector = 0  // divide error
	VecBP Vector = 3  // int3 breakpoint (a trap: RIP is past the int3)
	VecUD Vector = 6  // invalid opcode
	VecGP Vector = 13 // general protection
	VecPF Vector = 14 // page fault
)

// Page-fault error code bits, as the CPU pushes them.
const (
	PFPresent = 1 << 0 // the page was present (a permission fault)
	PFWrite   = 1 << 1 // the access was a write
	PFUser    = 1 << 2 // the access was made at CPL 3
	PFFetch   = 1 << 4 // the access was an instruction fetch
)

// Exception is a guest exception: the CPU stopped before completing the
// instruction at RIP (for faults) or after it (for traps: int3, int n).
type Exception struct {
	Vector    Vector
	ErrorCode uint64 // page-fault error code; 0 otherwise
	Addr      uint64 // faulting address for #PF (CR2)
	RIP       uint64 // the instruction's address (faults) or the next one (traps)
}

var vecNames = map[Vector]string{VecDE: "#DE", VecBP: "#BP", VecUD: "#UD", VecGP: "#GP", VecPF: "#PF"}

func (e Exception) Error() string {
	n := vecNames[e.Vector]
	if n == "" {
		n = fmt.Sprintf("int %#x", uint8(e.Vector))
	}
	if e.Vector == VecPF {
		return fmt.Sprintf("%s at rip %#x: %s address %#x (error code %#x)", n, e.RIP, pfKind(e.ErrorCode), e.Addr, e.ErrorCode)
	}
	return fmt.Sprintf("%s at rip %#x", n, e.RIP)
}

func pfKind(code uint64) string {
	switch {
	case code&PFFetch != 0:
		return "fetch from"
	case code&PFWrite != 0:
		return "write to"
	}
	return "read from"
}

// guestFault is the sentinel the interpreter panics with; c.exc holds the
// details. Run recovers it once per call.
type guestFault struct{}

var errGuestFault = &guestFault{}

// fault raises an exception from inside the interpreter loop.
func (c *CPU) fault(v Vector, code, addr uint64) {
	c.exc = Exception{Vector: v, ErrorCode: code, Addr: addr, RIP: c.RIP}
	panic(errGuestFault)
}

// pageFault raises #PF for an access to addr.
func (c *CPU) pageFault(addr uint64, p *page, write, fetch bool) {
	var code uint64
	if p != nil {
		code |= PFPresent
	}
	if write {
		code |= PFWrite
	}
	if fetch {
		code |= PFFetch
	}
	if c.CPL == 3 {
		code |= PFUser
	}
	c.fault(VecPF, code, addr)
}

// canonical reports whether addr is a canonical 48-bit address.
func canonical(addr uint64) bool {
	return uint64(int64(addr<<16)>>16) == addr
}

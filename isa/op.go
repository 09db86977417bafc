package isa

// Register numbers used in Op. 0–15 are the GPRs in encoding order; RegNone
// names a register slot that always holds zero, so that an effective
// address is base+index<<scale+disp with no branches; RegAH..RegBH are the
// legacy high-byte registers, valid only in 1-byte operands.
const (
	RAX = iota
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
	RegNone // always zero
	_
	_
	_
	RegAH // bits 8–15 of RAX (1-byte operands only)
	RegCH
	RegDH
	RegBH
)

// Operand kinds for Op.A and Op.B.
const (
	OpdNone = iota
	OpdReg  // register R1 (for A) or R2 (for B)
	OpdMem  // the memory operand Base/Index/Scale/Disp/Seg
	OpdImm  // Imm
)

// Segment and address-size bits of Op.Seg. Only FS and GS have a base in
// long mode; the others are flat.
const (
	SegFS  = 1
	SegGS  = 2
	Addr32 = 4 // 0x67 prefix: the effective address is truncated to 32 bits
)

// Condition codes, in the order of their x86 encoding (the low nibble of
// jcc/setcc/cmovcc).
const (
	CondO = iota
	CondNO
	CondB
	CondAE
	CondE
	CondNE
	CondBE
	CondA
	CondS
	CondNS
	CondP
	CondNP
	CondL
	CondGE
	CondLE
	CondG
	CondRCXZ // jrcxz/jecxz: not a flags condition
)

// Trap bits of Op.Trap: per-instruction hooks kept in the cached op so that
// the interpreter pays one byte compare, never a lookup.
const (
	TrapBreak = 1 << iota // stop before executing this instruction
)

// Op is one decoded instruction lowered to a fixed shape. The interpreter
// switches on Kind; which other fields matter is documented per kind.
// Ops are cached per guest page, so everything that depends only on the
// instruction's bytes and address (branch targets, rip-relative addresses)
// is computed here once.
type Op struct {
	Kind  Kind  // what to execute
	Len   uint8 // instruction length in bytes
	Sz    uint8 // operand size in bytes (1, 2, 4, 8); destination size for movzx/movsx
	Sz2   uint8 // source size for movzx/movsx/movsxd
	A     uint8 // first (destination) operand kind, Opd*
	B     uint8 // second (source) operand kind, Opd*
	R1    uint8 // register of A when A is OpdReg
	R2    uint8 // register of B when B is OpdReg
	Base  uint8 // memory base register, RegNone when absent or rip-relative
	Index uint8 // memory index register, RegNone when absent
	Scale uint8 // log2 of the index scale (0–3)
	Seg   uint8 // Seg* and Addr32 bits
	Cond  uint8 // Cond* for jcc/setcc/cmovcc; 1 for a rep prefix on string ops
	Trap  uint8 // Trap* bits, set by the interpreter's cache, never by Lower
	// End is the page offset just past the instruction (up to 4096 plus
	// the bytes it spills onto the next page), set by the interpreter's
	// cache, never by Lower: the next rip is the code page's base plus End,
	// which does not depend on the previous rip.
	End  uint16
	Disp uint64 // memory displacement; for rip-relative operands the absolute address
	Imm  uint64 // immediate (sign-extended to 64 bits), or absolute branch target
}

// Kind selects the interpreter's case for an Op. Generic kinds handle every
// operand form and size through A/B; the fast kinds after KindFast are
// specialisations Lower picks for the hottest forms (64/32-bit register and
// flat memory operands) and behave exactly like their generic twin.
type Kind uint8

// Generic kinds.
const (
	KDecode  Kind = iota // not decoded yet: decode, cache, dispatch again
	KUD                  // invalid or unsupported instruction: #UD
	KMov                 // A = B
	KMovzx               // A = zero-extend(B of Sz2)
	KMovsx               // A = sign-extend(B of Sz2) (movsx, movsxd)
	KLea                 // A = effective address of B
	KXchg                // swap A and B
	KCmpxchg             // cmp rAX, A; equal: A = B, else rAX = A
	KXadd                // t = A + B; B = A; A = t
	KPush                // push A (register, memory or immediate)
	KPop                 // pop into A
	KAdd                 // A += B
	KOr                  // A |= B
	KAdc                 // A += B + CF
	KSbb                 // A -= B + CF
	KAnd                 // A &= B
	KSub                 // A -= B
	KXor                 // A ^= B
	KCmp                 // flags of A - B
	KTest                // flags of A & B
	KInc                 // A++ (CF unchanged)
	KDec                 // A-- (CF unchanged)
	KNeg                 // A = -A
	KNot                 // A = ^A (no flags)
	KImul1               // rDX:rAX = rAX * A, signed
	KImul2               // A = A * B, signed
	KImul3               // A = B * Imm, signed
	KMul                 // rDX:rAX = rAX * A, unsigned
	KDiv                 // rAX, rDX = rDX:rAX / A, unsigned
	KIdiv                // rAX, rDX = rDX:rAX / A, signed
	KCwd                 // cwd/cdq/cqo by Sz: rDX = sign of rAX
	KCbw                 // cbw/cwde/cdqe by Sz: rAX = sign-extend half of rAX
	KShl                 // A <<= B (imm or CL)
	KShr                 // A >>= B, logical
	KSar                 // A >>= B, arithmetic
	KRol                 // rotate A left by B
	KRor                 // rotate A right by B
	KBt                  // CF = bit B of A
	KBts                 // CF = bit B of A; set it
	KBtr                 // CF = bit B of A; clear it
	KBtc                 // CF = bit B of A; complement it
	KSetcc               // A (byte) = Cond ? 1 : 0
	KCmovcc              // if Cond: A = B (32-bit forms zero-extend regardless)
	KJcc                 // if Cond: jump to Imm
	KJmp                 // jump to Imm
	KJmpInd              // jump to the value of A
	KCall                // push return address, jump to Imm
	KCallInd             // push return address, jump to the value of A
	KRet                 // pop rip, then add Imm to rsp
	KLeave               // rsp = rbp; pop rbp
	KMovs                // movs by Sz; Cond = 1 with rep
	KStos                // stos by Sz; Cond = 1 with rep
	KNop                 // no operation (nop forms, pause, endbr-like hints never reach here)
	KInt3                // #BP trap
	KInt                 // software interrupt, vector in Imm
	KUD2                 // #UD on purpose
	KHlt                 // halt: privileged
	KCli                 // clear IF: privileged
	KSti                 // set IF: privileged
	KPushf               // push rflags
	KPopf                // pop rflags
	KClc                 // CF = 0
	KStc                 // CF = 1
	KCmc                 // CF = !CF
	KCld                 // DF = 0
	KStd                 // DF = 1
	KSyscall             // syscall
	KSysret              // sysretq: privileged
	KIret                // iretq: privileged
	KCpuid               // cpuid
	KRdtsc               // rdtsc
	KPause               // spin-loop hint
	KVmcall              // klpsim hypercall
	KSwapgs              // exchange GSBase and KernelGSBase: privileged
	KBsf                 // A = index of the lowest set bit of B; ZF = B == 0 (A unchanged then)
	KBsr                 // A = index of the highest set bit of B; as KBsf
	KBswap               // reverse the bytes of register A (Sz 4 or 8)
	KSse                 // an SSE2 integer or move instruction: the operation in Cond (sse.go)

	// Fast kinds, from KindFast on. Each names the only form it handles;
	// Sz is 4 or 8 unless noted, memory operands have Seg 0.
	KMovRR    // R1 = R2 (Sz 4 or 8)
	KMovRI    // R1 = Imm (already truncated to Sz)
	KLoad     // R1 = [mem] (Sz 4 or 8)
	KStore    // [mem] = R2 (Sz 4 or 8)
	KStoreI   // [mem] = Imm (Sz 4 or 8)
	KLeaR     // R1 = ea, truncated to Sz
	KAddRR    // R1 += R2
	KAddRI    // R1 += Imm
	KSubRR    // R1 -= R2
	KSubRI    // R1 -= Imm
	KCmpRR    // flags of R1 - R2
	KCmpRI    // flags of R1 - Imm
	KCmpMI    // flags of [mem] - Imm (Sz 1, 4 or 8)
	KCmpRM    // flags of R1 - [mem]
	KAndRR    // R1 &= R2
	KAndRI    // R1 &= Imm
	KOrRR     // R1 |= R2
	KXorRR    // R1 ^= R2
	KTestRR   // flags of R1 & R2
	KIncR     // R1++
	KDecR     // R1--
	KShlRI    // R1 <<= Imm
	KShrRI    // R1 >>= Imm
	KPushR    // push R1 (Sz 8)
	KPopR     // pop R1 (Sz 8)
	KCallRel  // call Imm
	KRetN     // ret (no immediate)
	KJmpRel   // jmp Imm
	KJccRel   // jcc Imm on Cond (flag conditions only)
	KLoadZX   // R1 = zero-extended [mem] of Sz2 (1 or 2) bytes (movzx, Sz 4 or 8)
	KAddMR    // [mem] += R2 (Sz 4 or 8)
	KJzRel    // je/jz Imm: the most common loop branches
	KJnzRel   // jne/jnz Imm
	KOrRI     // R1 |= Imm
	KXorRI    // R1 ^= Imm
	KTestRI   // flags of R1 & Imm
	KImulRR   // R1 *= R2, signed (imul r, r/m with a register)
	KImulRRI  // R1 = R2 * Imm, signed (imul r, r/m, imm with a register)
	KCmovRR   // if Cond: R1 = R2; Sz 4 zero-extends either way
	KRolRI    // rotate R1 left by Imm (1 to 8*Sz-1)
	KRorRI    // rotate R1 right by Imm (1 to 8*Sz-1)
	KRotNF    // a rotate whose flags nothing reads (block builder only): R1 = rotate(R1), Cond 0 left, 1 right
	KPushI    // push Imm (Sz 8: the immediate sign-extended)
	KMovsxdR  // R1 = sign-extend(R2's low 32 bits) (movsxd r64, r32)
	KCallR    // call R1 (an indirect call through a register)
	KRetP     // ret predicted to return to Imm (block builder only: see the emulator's block.go)
	KLoadSeg  // R1 = [mem + the fs or gs base] (Sz 4 or 8; Seg SegFS or SegGS, no Addr32)
	KStoreSeg // [mem + the fs or gs base] = R2 (Sz 4 or 8; Seg as KLoadSeg)

	// Fused kinds: made only by the emulator's block builder from a
	// flag-setting op and the conditional branch after it (two
	// instructions, Len covering both), never by Lower. Cond is the
	// branch's condition and Disp its target.
	KCmpJccRR  // cmp R1, R2; jcc Disp
	KCmpJccRI  // cmp R1, Imm; jcc Disp
	KTestJccRR // test R1, R2; jcc Disp
	KDecJccR   // dec R1; jz/jnz Disp
	KTestJccRI // test R1, Imm; jcc Disp

	// Flag-dead kinds: made only by the emulator's block builder from a
	// register op whose flags a later op of the same block overwrites
	// before anything can read them or fault, never by Lower. Each does
	// its twin's work without recording flags.
	KAddRRNF   // R1 += R2
	KAddRINF   // R1 += Imm
	KSubRRNF   // R1 -= R2
	KSubRINF   // R1 -= Imm
	KAndRRNF   // R1 &= R2
	KAndRINF   // R1 &= Imm
	KOrRRNF    // R1 |= R2
	KOrRINF    // R1 |= Imm
	KXorRRNF   // R1 ^= R2
	KXorRINF   // R1 ^= Imm
	KShlRINF   // R1 <<= Imm
	KShrRINF   // R1 >>= Imm
	KImulRRNF  // R1 *= R2
	KImulRRINF // R1 = R2 * Imm
	KFlagsNop  // a cmp or test whose flags nothing reads

	// Run headers: made only by the emulator's block builder, never by
	// Lower. A header is not an instruction (Len 0, counts none): it
	// stands before Cond ops of one kind whose memory accesses all fall
	// in Imm bytes from the lowest, and does them all at once when that
	// span is on one page the TLB holds; otherwise the ops after it run
	// one by one as usual.
	KStoreRun // Cond stores (KStore, KStoreI; Sz 8) relative to Base; Disp the lowest displacement
	KLoadRun  // Cond loads (KLoad, Sz 8) relative to Base; only the last may load Base
	KPushRun  // Cond pushes (KPushR but not rsp, KPushI)
	KPopRun   // Cond pops (KPopR but not into rsp)
	// KPage is no instruction either (Len 0): the ops after it are from
	// the code page at Imm, where a call, jmp or ret of the block went.
	KPage

	KindEnd // number of kinds
)

// KindFast is the first fast kind.
const KindFast = KMovRR

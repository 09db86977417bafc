package isa

import "golang.org/x/arch/x86/x86asm"

// NoFastKinds makes Lower emit only generic kinds. Tests set it to run the
// same programs through both halves of the interpreter.
var NoFastKinds = false

// Lower turns a decoded instruction at address pc into an Op. Instructions
// klpsim does not execute (SSE, x87, far transfers, ...) lower to KUD, so
// they raise #UD when reached rather than being skipped.
func Lower(in Inst, pc uint64) Op {
	op := Op{Kind: KUD, Len: uint8(in.Len), Sz: uint8(in.DataSize / 8), Base: RegNone, Index: RegNone}
	if _, ok := sseOps[in.Op]; ok {
		if !lowerSSE(&op, &in, pc) {
			return Op{Kind: KUD, Len: uint8(in.Len), Base: RegNone, Index: RegNone}
		}
		return op
	}
	if !lowerInst(&op, &in, pc) {
		return Op{Kind: KUD, Len: uint8(in.Len), Base: RegNone, Index: RegNone}
	}
	// The operand size is that of the destination: x86asm's DataSize says 32
	// for byte forms, so take it from the register or the memory operand.
	switch {
	case op.Kind == KSetcc:
		op.Sz = 1
	case op.A == OpdReg:
		_, op.Sz, _ = gpr(in.Args[0].(x86asm.Reg))
	case op.A == OpdMem:
		op.Sz = uint8(in.MemBytes)
	}
	if op.Sz != 1 && op.Sz != 2 && op.Sz != 4 && op.Sz != 8 {
		return Op{Kind: KUD, Len: uint8(in.Len), Base: RegNone, Index: RegNone}
	}
	if !NoFastKinds {
		fast(&op)
	}
	return op
}

// binaryKinds maps two-operand ALU and data-movement mnemonics to kinds.
var binaryKinds = map[x86asm.Op]Kind{
	x86asm.MOV: KMov, x86asm.MOVNTI: KMov, x86asm.ADD: KAdd, x86asm.OR: KOr, x86asm.ADC: KAdc,
	x86asm.SBB: KSbb, x86asm.AND: KAnd, x86asm.SUB: KSub, x86asm.XOR: KXor,
	x86asm.CMP: KCmp, x86asm.TEST: KTest, x86asm.XCHG: KXchg,
	x86asm.CMPXCHG: KCmpxchg, x86asm.XADD: KXadd,
	x86asm.SHL: KShl, x86asm.SHR: KShr, x86asm.SAR: KSar,
	x86asm.ROL: KRol, x86asm.ROR: KRor,
	x86asm.BT: KBt, x86asm.BTS: KBts, x86asm.BTR: KBtr, x86asm.BTC: KBtc,
	x86asm.BSF: KBsf, x86asm.BSR: KBsr,
	x86asm.MOVZX: KMovzx, x86asm.MOVSX: KMovsx, x86asm.MOVSXD: KMovsx,
	x86asm.LEA: KLea,
}

// unaryKinds maps one-operand mnemonics whose operand is A.
var unaryKinds = map[x86asm.Op]Kind{
	x86asm.INC: KInc, x86asm.DEC: KDec, x86asm.NEG: KNeg, x86asm.NOT: KNot,
	x86asm.MUL: KMul, x86asm.DIV: KDiv, x86asm.IDIV: KIdiv,
	x86asm.PUSH: KPush, x86asm.POP: KPop, x86asm.BSWAP: KBswap,
}

// noOperandKinds maps mnemonics without explicit operands.
var noOperandKinds = map[x86asm.Op]Kind{
	x86asm.NOP: KNop, x86asm.PAUSE: KPause, x86asm.UD2: KUD2, x86asm.HLT: KHlt,
	x86asm.CLI: KCli, x86asm.STI: KSti, x86asm.PUSHFQ: KPushf, x86asm.POPFQ: KPopf,
	x86asm.CLC: KClc, x86asm.STC: KStc, x86asm.CMC: KCmc, x86asm.CLD: KCld, x86asm.STD: KStd,
	x86asm.SYSCALL: KSyscall, x86asm.CPUID: KCpuid, x86asm.RDTSC: KRdtsc,
	x86asm.LEAVE: KLeave, x86asm.IRETQ: KIret,
	x86asm.CWD: KCwd, x86asm.CDQ: KCwd, x86asm.CQO: KCwd,
	x86asm.CBW: KCbw, x86asm.CWDE: KCbw, x86asm.CDQE: KCbw,
	VMCALL: KVmcall, x86asm.SWAPGS: KSwapgs,
}

// condOf maps jcc/setcc/cmovcc mnemonics to condition codes.
var condOf = map[x86asm.Op][2]uint8{}

func init() {
	type ccOps struct {
		cc             uint8
		jcc, set, cmov x86asm.Op
	}
	for _, c := range []ccOps{
		{CondO, x86asm.JO, x86asm.SETO, x86asm.CMOVO},
		{CondNO, x86asm.JNO, x86asm.SETNO, x86asm.CMOVNO},
		{CondB, x86asm.JB, x86asm.SETB, x86asm.CMOVB},
		{CondAE, x86asm.JAE, x86asm.SETAE, x86asm.CMOVAE},
		{CondE, x86asm.JE, x86asm.SETE, x86asm.CMOVE},
		{CondNE, x86asm.JNE, x86asm.SETNE, x86asm.CMOVNE},
		{CondBE, x86asm.JBE, x86asm.SETBE, x86asm.CMOVBE},
		{CondA, x86asm.JA, x86asm.SETA, x86asm.CMOVA},
		{CondS, x86asm.JS, x86asm.SETS, x86asm.CMOVS},
		{CondNS, x86asm.JNS, x86asm.SETNS, x86asm.CMOVNS},
		{CondP, x86asm.JP, x86asm.SETP, x86asm.CMOVP},
		{CondNP, x86asm.JNP, x86asm.SETNP, x86asm.CMOVNP},
		{CondL, x86asm.JL, x86asm.SETL, x86asm.CMOVL},
		{CondGE, x86asm.JGE, x86asm.SETGE, x86asm.CMOVGE},
		{CondLE, x86asm.JLE, x86asm.SETLE, x86asm.CMOVLE},
		{CondG, x86asm.JG, x86asm.SETG, x86asm.CMOVG},
	} {
		condOf[c.jcc] = [2]uint8{uint8(KJcc), c.cc}
		condOf[c.set] = [2]uint8{uint8(KSetcc), c.cc}
		condOf[c.cmov] = [2]uint8{uint8(KCmovcc), c.cc}
	}
	condOf[x86asm.JRCXZ] = [2]uint8{uint8(KJcc), CondRCXZ}
	condOf[x86asm.JECXZ] = [2]uint8{uint8(KJcc), CondRCXZ}
}

func lowerInst(op *Op, in *Inst, pc uint64) bool {
	next := pc + uint64(in.Len)
	args := in.Args[:]
	nargs := 0
	for nargs < len(args) && args[nargs] != nil {
		nargs++
	}
	switch in.Op {
	case x86asm.PREFETCHT0, x86asm.PREFETCHT1, x86asm.PREFETCHT2, x86asm.PREFETCHNTA, x86asm.PREFETCHW,
		x86asm.SFENCE, x86asm.LFENCE, x86asm.MFENCE:
		// Hints and fences: one CPU steps at a time and memory is never
		// reordered, so they change nothing.
		op.Kind = KNop
		return true
	}
	if in.Op == x86asm.NOP || in.Op == VMCALL {
		// Multi-byte nops carry a memory operand that is never accessed.
		op.Kind = noOperandKinds[in.Op]
		return true
	}
	if k, ok := noOperandKinds[in.Op]; ok && nargs == 0 {
		op.Kind = k
		switch k {
		case KCwd, KCbw:
			// Sz from DataSize: cwd/cbw 2, cdq/cwde 4, cqo/cdqe 8.
		case KLeave, KPushf, KPopf:
			op.Sz = 8
		}
		return op.Sz != 0
	}
	if in.Op == x86asm.SYSRET {
		// Only the 64-bit form (REX.W) returns to 64-bit user code.
		op.Kind = KSysret
		return in.DataSize == 64
	}
	if cc, ok := condOf[in.Op]; ok {
		op.Kind, op.Cond = Kind(cc[0]), cc[1]
		switch op.Kind {
		case KJcc:
			r, ok := args[0].(x86asm.Rel)
			if !ok {
				return false
			}
			op.Imm = next + uint64(int64(r))
			if in.Op == x86asm.JECXZ {
				op.Sz = 4
			} else {
				op.Sz = 8
			}
			return true
		case KSetcc:
			op.Sz = 1
			return nargs == 1 && opd(op, 0, args[0], next)
		default:
			return nargs == 2 && opd(op, 0, args[0], next) && opd(op, 1, args[1], next)
		}
	}
	switch in.Op {
	case x86asm.JMP, x86asm.CALL:
		if r, ok := args[0].(x86asm.Rel); ok {
			op.Kind = KJmp
			if in.Op == x86asm.CALL {
				op.Kind = KCall
			}
			op.Imm = next + uint64(int64(r))
			op.Sz = 8
			return true
		}
		op.Kind = KJmpInd
		if in.Op == x86asm.CALL {
			op.Kind = KCallInd
		}
		op.Sz = 8
		return nargs == 1 && opd(op, 0, args[0], next) && op.Sz == 8
	case x86asm.RET:
		op.Kind, op.Sz = KRet, 8
		if nargs == 1 {
			imm, ok := args[0].(x86asm.Imm)
			if !ok {
				return false
			}
			op.Imm = uint64(imm)
		}
		return true
	case x86asm.INT:
		imm, _ := args[0].(x86asm.Imm)
		op.Kind, op.Imm = KInt, uint64(imm)
		if imm == 3 {
			op.Kind = KInt3
		}
		return true
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.MOVSQ,
		x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ:
		op.Kind = KMovs
		switch in.Op {
		case x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.STOSQ:
			op.Kind = KStos
		}
		op.Sz = strSize[in.Op]
		if in.AddrSize != 64 {
			return false
		}
		for _, p := range in.Prefix {
			if p == 0 {
				break
			}
			if p&0xff == x86asm.PrefixREP {
				op.Cond = 1
			}
			if p&0xff == x86asm.PrefixREPN {
				return false
			}
		}
		return true
	case x86asm.IMUL:
		switch nargs {
		case 1:
			op.Kind = KImul1
			return opd(op, 0, args[0], next)
		case 2:
			op.Kind = KImul2
			return opd(op, 0, args[0], next) && opd(op, 1, args[1], next)
		case 3:
			op.Kind = KImul3
			imm, ok := args[2].(x86asm.Imm)
			if !ok {
				return false
			}
			if !opd(op, 0, args[0], next) || !opd(op, 1, args[1], next) {
				return false
			}
			op.Imm = uint64(imm)
			return true
		}
		return false
	}
	if k, ok := unaryKinds[in.Op]; ok {
		op.Kind = k
		if nargs != 1 || !opd(op, 0, args[0], next) {
			return false
		}
		if k == KBswap && (op.A != OpdReg || op.R1 >= RegNone) {
			return false
		}
		if k == KPush && op.A == OpdImm {
			op.B, op.A = OpdImm, OpdNone
		}
		return (k != KPop || op.A != OpdImm)
	}
	if k, ok := binaryKinds[in.Op]; ok {
		op.Kind = k
		if nargs != 2 || !opd(op, 0, args[0], next) || !opd(op, 1, args[1], next) {
			return false
		}
		switch k {
		case KMovzx, KMovsx:
			op.Sz2 = srcSize(args[1], in)
		case KLea:
			return op.B == OpdMem && op.A == OpdReg
		}
		return op.A != OpdImm
	}
	return false
}

var strSize = map[x86asm.Op]uint8{
	x86asm.MOVSB: 1, x86asm.MOVSW: 2, x86asm.MOVSD: 4, x86asm.MOVSQ: 8,
	x86asm.STOSB: 1, x86asm.STOSW: 2, x86asm.STOSD: 4, x86asm.STOSQ: 8,
}

// srcSize is the size of a movzx/movsx source operand.
func srcSize(a x86asm.Arg, in *Inst) uint8 {
	if r, ok := a.(x86asm.Reg); ok {
		_, sz, _ := gpr(r)
		return sz
	}
	return uint8(in.MemBytes)
}

// opd fills operand slot i (0 = A, 1 = B) from an x86asm argument.
func opd(op *Op, i int, a x86asm.Arg, next uint64) bool {
	switch a := a.(type) {
	case x86asm.Reg:
		n, _, ok := gpr(a)
		if !ok {
			return false
		}
		if i == 0 {
			op.A, op.R1 = OpdReg, n
		} else {
			op.B, op.R2 = OpdReg, n
		}
		return true
	case x86asm.Mem:
		if op.A == OpdMem || op.B == OpdMem {
			return false
		}
		switch a.Segment {
		case 0, x86asm.CS, x86asm.DS, x86asm.ES, x86asm.SS:
		case x86asm.FS:
			op.Seg |= SegFS
		case x86asm.GS:
			op.Seg |= SegGS
		default:
			return false
		}
		op.Disp = uint64(a.Disp)
		switch {
		case a.Base == x86asm.RIP:
			op.Disp += next
		case a.Base == x86asm.EIP:
			op.Disp = uint64(uint32(op.Disp + next))
		case a.Base != 0:
			if !addrReg(op, a.Base, &op.Base) {
				return false
			}
		}
		if a.Index != 0 {
			if !addrReg(op, a.Index, &op.Index) {
				return false
			}
			switch a.Scale {
			case 1:
			case 2:
				op.Scale = 1
			case 4:
				op.Scale = 2
			case 8:
				op.Scale = 3
			default:
				return false
			}
		}
		if i == 0 {
			op.A = OpdMem
		} else {
			op.B = OpdMem
		}
		return true
	case x86asm.Imm:
		op.Imm = uint64(a)
		if i == 0 {
			op.A = OpdImm
		} else {
			op.B = OpdImm
		}
		return true
	}
	return false
}

// addrReg sets *field to the number of a base or index register; 32-bit
// address registers (a 0x67 prefix) mark the op Addr32.
func addrReg(op *Op, r x86asm.Reg, field *uint8) bool {
	n, sz, ok := gpr(r)
	if !ok || sz < 4 {
		return false
	}
	if sz == 4 {
		op.Seg |= Addr32
	}
	*field = n
	return true
}

// gpr maps an x86asm general-purpose register to an Op register number and
// its size in bytes.
func gpr(r x86asm.Reg) (n, sz uint8, ok bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return uint8(r - x86asm.AL), 1, true
	case r >= x86asm.AH && r <= x86asm.BH:
		return RegAH + uint8(r-x86asm.AH), 1, true
	case r >= x86asm.SPB && r <= x86asm.R15B:
		return 4 + uint8(r-x86asm.SPB), 1, true
	case r >= x86asm.AX && r <= x86asm.R15W:
		return uint8(r - x86asm.AX), 2, true
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return uint8(r - x86asm.EAX), 4, true
	case r >= x86asm.RAX && r <= x86asm.R15:
		return uint8(r - x86asm.RAX), 8, true
	}
	return 0, 0, false
}

// fast replaces a generic op by its fast twin when the form matches.
func fast(op *Op) {
	wide := op.Sz == 4 || op.Sz == 8
	flat := op.Seg == 0
	rr := op.A == OpdReg && op.B == OpdReg && op.R1 < RegNone && op.R2 < RegNone
	ri := op.A == OpdReg && op.B == OpdImm && op.R1 < RegNone
	rm := op.A == OpdReg && op.B == OpdMem && op.R1 < RegNone && flat
	mr := op.A == OpdMem && op.B == OpdReg && op.R2 < RegNone && flat
	mi := op.A == OpdMem && op.B == OpdImm && flat
	mask := ^uint64(0) >> (64 - 8*uint(op.Sz&15))
	switch op.Kind {
	case KMov:
		seg := (op.Seg == SegFS || op.Seg == SegGS) && wide
		switch {
		case seg && op.A == OpdReg && op.B == OpdMem && op.R1 < RegNone:
			op.Kind = KLoadSeg
		case seg && op.A == OpdMem && op.B == OpdReg && op.R2 < RegNone:
			op.Kind = KStoreSeg
		case !wide:
		case rr:
			op.Kind = KMovRR
		case ri:
			op.Kind, op.Imm = KMovRI, op.Imm&mask
		case rm:
			op.Kind = KLoad
		case mr:
			op.Kind = KStore
		case mi:
			op.Kind = KStoreI
		}
	case KLea:
		if wide && op.Seg&Addr32 == 0 {
			op.Kind = KLeaR
		}
	case KMovzx:
		if wide && rm {
			op.Kind = KLoadZX
		}
	case KMovsx:
		if op.Sz == 8 && op.Sz2 == 4 && rr {
			op.Kind = KMovsxdR
		}
	case KCallInd:
		if op.A == OpdReg && op.R1 < RegNone {
			op.Kind = KCallR
		}
	case KAdd, KSub, KCmp, KAnd, KOr, KXor, KTest:
		if op.Kind == KCmp && op.Sz == 1 && mi {
			// cmp byte ptr [mem], imm: the kernel's bool tests.
			op.Kind, op.Imm = KCmpMI, op.Imm&mask
			return
		}
		if !wide {
			return
		}
		var rrK, riK Kind
		switch op.Kind {
		case KAdd:
			rrK, riK = KAddRR, KAddRI
			if mr {
				op.Kind = KAddMR
				return
			}
		case KSub:
			rrK, riK = KSubRR, KSubRI
		case KCmp:
			rrK, riK = KCmpRR, KCmpRI
			if rm {
				op.Kind = KCmpRM
				return
			}
			if mi {
				op.Kind, op.Imm = KCmpMI, op.Imm&mask
				return
			}
		case KAnd:
			rrK, riK = KAndRR, KAndRI
		case KOr:
			rrK, riK = KOrRR, KOrRI
		case KXor:
			rrK, riK = KXorRR, KXorRI
		case KTest:
			rrK, riK = KTestRR, KTestRI
		}
		switch {
		case rr && rrK != 0:
			op.Kind = rrK
		case ri && riK != 0:
			op.Kind, op.Imm = riK, op.Imm&mask
		}
	case KInc, KDec:
		if wide && op.A == OpdReg && op.R1 < RegNone {
			if op.Kind == KInc {
				op.Kind = KIncR
			} else {
				op.Kind = KDecR
			}
		}
	case KShl, KShr:
		if wide && ri {
			op.Imm &= uint64(8*op.Sz - 1)
			switch {
			case op.Imm == 0:
			case op.Kind == KShl:
				op.Kind = KShlRI
			default:
				op.Kind = KShrRI
			}
		}
	case KImul2:
		if wide && rr {
			op.Kind = KImulRR
		}
	case KImul3:
		if wide && rr {
			op.Kind, op.Imm = KImulRRI, op.Imm&mask
		}
	case KCmovcc:
		if wide && rr {
			op.Kind = KCmovRR
		}
	case KRol, KRor:
		if wide && ri && op.Imm&uint64(8*op.Sz-1) != 0 {
			op.Imm &= uint64(8*op.Sz - 1)
			if op.Kind == KRol {
				op.Kind = KRolRI
			} else {
				op.Kind = KRorRI
			}
		}
	case KPush:
		switch {
		case op.Sz == 8 && op.A == OpdReg:
			op.Kind = KPushR
		case op.Sz == 8 && op.B == OpdImm:
			op.Kind = KPushI
		}
	case KPop:
		if op.Sz == 8 && op.A == OpdReg {
			op.Kind = KPopR
		}
	case KCall:
		op.Kind = KCallRel
	case KRet:
		if op.Imm == 0 {
			op.Kind = KRetN
		}
	case KJmp:
		op.Kind = KJmpRel
	case KJcc:
		switch {
		case op.Cond == CondE:
			op.Kind = KJzRel
		case op.Cond == CondNE:
			op.Kind = KJnzRel
		case op.Cond < CondRCXZ:
			op.Kind = KJccRel
		}
	}
}

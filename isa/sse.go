package isa

import "golang.org/x/arch/x86/x86asm"

// SSE2 integer and move instructions: the ones glibc's and musl's static
// start-up and SSE2 string functions use. Each lowers to KSse with the
// operation in Op.Cond, the XMM destination or source as OpdXmm operands
// (register number in R1/R2), and Op.Sz the bytes moved by movd/movq
// (4 or 8) or 16. Floating-point arithmetic, MMX registers, x87 and AVX
// are not implemented and lower to KUD.

// OpdXmm is an operand kind: XMM register R1 (for A) or R2 (for B).
const OpdXmm = 4

// SSE operations (Op.Cond of a KSse op).
const (
	SseMov     = iota // A = B, 128 bits (movdqa/movdqu/movaps/movups/movapd/movupd)
	SseMovd           // movd/movq: Sz bytes; an XMM destination is zero-extended
	SseMovq2          // movq xmm, xmm/m64: low 8 bytes, the rest zeroed (SseMovd with Sz 8 from an XMM)
	SsePxor           // A ^= B (pxor, xorps, xorpd)
	SsePor            // A |= B (por, orps, orpd)
	SsePand           // A &= B (pand, andps, andpd)
	SsePandn          // A = ^A & B (pandn, andnps, andnpd)
	SsePcmpeqb        // bytes: A = A == B ? 0xff : 0
	SsePcmpeqw        // words
	SsePcmpeqd        // dwords
	SsePcmpgtb        // signed bytes: A = A > B ? 0xff : 0
	SsePminub         // unsigned byte minimum
	SsePmaxub         // unsigned byte maximum
	SsePsubb          // byte subtraction
	SsePsubw
	SsePsubd
	SsePsubq
	SsePaddb
	SsePaddw
	SsePaddd
	SsePaddq
	SsePunpcklbw // interleave low halves
	SsePunpcklwd
	SsePunpckldq
	SsePunpcklqdq
	SsePunpckhbw // interleave high halves
	SsePunpckhwd
	SsePunpckhdq
	SsePunpckhqdq
	SsePshufd   // dwords of B picked by Imm
	SsePmovmskb // R1 (a 32/64-bit GPR) = the top bit of each byte of B
	SsePslldq   // A <<= Imm bytes
	SsePsrldq   // A >>= Imm bytes
	SsePsllq    // qwords <<= Imm bits
	SsePsrlq
	SsePslld
	SsePsrld
	SsePsllw
	SsePsrlw
	SseMovlps   // the low qword of A from/to m64 B/A (movlps, movlpd)
	SseMovhps   // the high qword (movhps, movhpd)
	SseMovlhps  // A.high = B.low
	SseMovhlps  // A.low = B.high
	SsePackuswb // signed words of A then B to unsigned-saturated bytes
	SseEnd
)

// sseOps maps the supported mnemonics to their operation.
var sseOps = map[x86asm.Op]uint8{
	x86asm.MOVDQA: SseMov, x86asm.MOVDQU: SseMov, x86asm.MOVAPS: SseMov,
	x86asm.MOVUPS: SseMov, x86asm.MOVAPD: SseMov, x86asm.MOVUPD: SseMov,
	x86asm.LDDQU: SseMov, x86asm.MOVNTDQ: SseMov, x86asm.MOVNTPS: SseMov, x86asm.MOVNTPD: SseMov,
	x86asm.MOVD: SseMovd, x86asm.MOVQ: SseMovd,
	x86asm.PXOR: SsePxor, x86asm.XORPS: SsePxor, x86asm.XORPD: SsePxor,
	x86asm.POR: SsePor, x86asm.ORPS: SsePor, x86asm.ORPD: SsePor,
	x86asm.PAND: SsePand, x86asm.ANDPS: SsePand, x86asm.ANDPD: SsePand,
	x86asm.PANDN: SsePandn, x86asm.ANDNPS: SsePandn, x86asm.ANDNPD: SsePandn,
	x86asm.PCMPEQB: SsePcmpeqb, x86asm.PCMPEQW: SsePcmpeqw, x86asm.PCMPEQD: SsePcmpeqd,
	x86asm.PCMPGTB: SsePcmpgtb,
	x86asm.PMINUB:  SsePminub, x86asm.PMAXUB: SsePmaxub,
	x86asm.PSUBB: SsePsubb, x86asm.PSUBW: SsePsubw, x86asm.PSUBD: SsePsubd, x86asm.PSUBQ: SsePsubq,
	x86asm.PADDB: SsePaddb, x86asm.PADDW: SsePaddw, x86asm.PADDD: SsePaddd, x86asm.PADDQ: SsePaddq,
	x86asm.PUNPCKLBW: SsePunpcklbw, x86asm.PUNPCKLWD: SsePunpcklwd,
	x86asm.PUNPCKLDQ: SsePunpckldq, x86asm.PUNPCKLQDQ: SsePunpcklqdq,
	x86asm.PUNPCKHBW: SsePunpckhbw, x86asm.PUNPCKHWD: SsePunpckhwd,
	x86asm.PUNPCKHDQ: SsePunpckhdq, x86asm.PUNPCKHQDQ: SsePunpckhqdq,
	x86asm.PSHUFD: SsePshufd, x86asm.PMOVMSKB: SsePmovmskb,
	x86asm.PSLLDQ: SsePslldq, x86asm.PSRLDQ: SsePsrldq,
	x86asm.PSLLQ: SsePsllq, x86asm.PSRLQ: SsePsrlq, x86asm.PSLLD: SsePslld,
	x86asm.PSRLD: SsePsrld, x86asm.PSLLW: SsePsllw, x86asm.PSRLW: SsePsrlw,
	x86asm.MOVLPS: SseMovlps, x86asm.MOVLPD: SseMovlps,
	x86asm.MOVHPS: SseMovhps, x86asm.MOVHPD: SseMovhps,
	x86asm.MOVLHPS: SseMovlhps, x86asm.MOVHLPS: SseMovhlps,
	x86asm.PACKUSWB: SsePackuswb,
}

// SseAligned in Op.Sz2 marks a 16-byte memory operand that must be
// aligned (#GP otherwise): every legacy SSE m128 operand except those of
// movdqu, movups, movupd and lddqu.
const SseAligned = 16

// lowerSSE lowers a supported SSE instruction; false means KUD.
func lowerSSE(op *Op, in *Inst, pc uint64) bool {
	k, ok := sseOps[in.Op]
	if !ok {
		return false
	}
	next := pc + uint64(in.Len)
	args := in.Args[:]
	nargs := 0
	for nargs < len(args) && args[nargs] != nil {
		nargs++
	}
	for _, p := range in.Prefix {
		if p == 0 {
			break
		}
		if p&0xff == x86asm.PrefixLOCK {
			return false // #UD on hardware
		}
	}
	op.Kind, op.Cond, op.Sz = KSse, k, 16
	for i := 0; i < nargs && i < 2; i++ {
		if !sseOpd(op, i, args[i], next) {
			return false
		}
	}
	switch {
	case k == SseMovd:
		// movd/movq: one side an XMM register, the other a GPR, memory
		// or (movq) another XMM register.
		op.Sz = 4
		if in.Op == x86asm.MOVQ {
			op.Sz = 8
		}
		if op.A == OpdReg {
			if _, sz, _ := gpr(args[0].(x86asm.Reg)); sz != op.Sz {
				return false
			}
		}
		if op.B == OpdReg {
			if _, sz, _ := gpr(args[1].(x86asm.Reg)); sz != op.Sz {
				return false
			}
		}
		if op.A == OpdXmm && op.B == OpdXmm {
			op.Cond = SseMovq2
		}
		return nargs == 2 && (op.A == OpdXmm || op.B == OpdXmm)
	case k == SseMovlps || k == SseMovhps:
		// Always one XMM register and one m64, either way round.
		op.Sz = 8
		return nargs == 2 && (op.A == OpdXmm) != (op.B == OpdXmm) && (op.A == OpdMem || op.B == OpdMem)
	case k == SseMovlhps || k == SseMovhlps:
		return nargs == 2 && op.A == OpdXmm && op.B == OpdXmm
	case k == SsePmovmskb:
		if nargs != 2 || op.A != OpdReg || op.B != OpdXmm {
			return false
		}
		_, op.Sz, _ = gpr(args[0].(x86asm.Reg))
		return op.Sz == 4 || op.Sz == 8
	case k == SsePshufd:
		imm, ok := args[2].(x86asm.Imm)
		if nargs != 3 || !ok || op.A != OpdXmm {
			return false
		}
		op.Imm = uint64(imm) & 0xff
	case k >= SsePslldq && k <= SsePsrlw:
		// Only the immediate-count forms.
		imm, ok := args[1].(x86asm.Imm)
		if nargs != 2 || !ok || op.A != OpdXmm {
			return false
		}
		op.B, op.Imm = OpdNone, uint64(imm)&0xff
		return true
	default:
		if nargs != 2 || op.A == OpdReg || op.B == OpdReg {
			return false
		}
		if k != SseMov && op.A != OpdXmm {
			return false
		}
		if k == SseMov && op.A != OpdXmm && op.B != OpdXmm {
			return false
		}
	}
	if op.A == OpdMem || op.B == OpdMem {
		switch in.Op {
		case x86asm.MOVDQU, x86asm.MOVUPS, x86asm.MOVUPD, x86asm.LDDQU:
		default:
			op.Sz2 = SseAligned
		}
	}
	return true
}

// sseOpd fills operand slot i from an XMM register, a GPR or memory.
func sseOpd(op *Op, i int, a x86asm.Arg, next uint64) bool {
	switch a := a.(type) {
	case x86asm.Reg:
		if a >= x86asm.X0 && a <= x86asm.X15 {
			n := uint8(a - x86asm.X0)
			if i == 0 {
				op.A, op.R1 = OpdXmm, n
			} else {
				op.B, op.R2 = OpdXmm, n
			}
			return true
		}
		n, sz, ok := gpr(a)
		if !ok || sz < 4 {
			return false
		}
		if i == 0 {
			op.A, op.R1 = OpdReg, n
		} else {
			op.B, op.R2 = OpdReg, n
		}
		return true
	case x86asm.Mem:
		return opd(op, i, a, next)
	case x86asm.Imm:
		return true // taken by the caller
	}
	return false
}

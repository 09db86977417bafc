// Package isa is klpsim's view of the x86-64 instruction set: one decoder
// entry point over golang.org/x/arch/x86/x86asm with that package's quirks
// fixed, the compact fixed-shape Op the interpreter executes, and (in
// subpackages) the assembler and the object format it produces.
package isa

import (
	"errors"

	"golang.org/x/arch/x86/x86asm"
)

// MaxInstLen is the architectural limit on the length of one instruction.
const MaxInstLen = 15

// Errors returned by Decode. Both mean #UD to a CPU.
var (
	// ErrTruncated: the bytes end before the instruction does.
	ErrTruncated = errors.New("truncated instruction")
	// ErrUnrecognized: not an instruction klpsim knows; never a no-op.
	ErrUnrecognized = errors.New("unrecognized instruction")
)

// VMCALL is klpsim's hypercall instruction (0f 01 c1). x86asm does not know
// it, so it gets an Op number just past x86asm's table.
const VMCALL = x86asm.XTEST + 1

// Inst is a decoded instruction: x86asm's Inst with its quirks fixed, so
// that everything above can take the fields at face value:
//   - memory displacements are sign-extended (x86asm leaves a disp32 of
//     -0x100 as 0xffffff00);
//   - DataSize is 64 for push, pop, call, ret, jmp, leave, pushfq and popfq,
//     which default to 64-bit operands in long mode (x86asm says 32);
//   - an absent index register has Scale 0 (x86asm says Index 0, Scale 1);
//   - an instruction x86asm returns as Op 0 without error (endbr64, rdpid,
//     ...) is ErrUnrecognized, never a silent no-op;
//   - vmcall decodes as VMCALL, the REX.W multi-byte nop and endbr64 as NOP;
//   - an instruction cut short is always ErrTruncated (x86asm sometimes says
//     unrecognized).
type Inst struct {
	x86asm.Inst
}

// String renders the instruction in Intel syntax.
func (i Inst) String() string {
	if i.Op == VMCALL {
		return "vmcall"
	}
	return x86asm.IntelSyntax(i.Inst, 0, nil)
}

// Decode decodes the first instruction of code in 64-bit mode.
func Decode(code []byte) (Inst, error) {
	if len(code) >= 3 && code[0] == 0x0f && code[1] == 0x01 && code[2] == 0xc1 {
		return Inst{x86asm.Inst{Op: VMCALL, Len: 3, Mode: 64, DataSize: 32, AddrSize: 64}}, nil
	}
	if n := endbr(code); n != 0 {
		// endbr64/endbr32 are nops on a CPU without CET enforcement.
		return Inst{x86asm.Inst{Op: x86asm.NOP, Len: n, Mode: 64, DataSize: 32, AddrSize: 64}}, nil
	}
	in, err := x86asm.Decode(code, 64)
	if err != nil {
		if nop, ok := decodeRexWNop(code); ok {
			return nop, nil
		}
	}
	if (err != nil || in.Op == 0) && len(code) < MaxInstLen {
		// x86asm reports some truncated instructions as unrecognized: an
		// instruction that decodes once padded is truncated, not invalid.
		var pad [MaxInstLen]byte
		copy(pad[:], code)
		if p, perr := x86asm.Decode(pad[:], 64); perr == nil && p.Op != 0 && p.Len > len(code) {
			return Inst{}, ErrTruncated
		}
	}
	switch {
	case errors.Is(err, x86asm.ErrTruncated):
		return Inst{}, ErrTruncated
	case err != nil:
		return Inst{}, ErrUnrecognized
	case in.Op == 0 || in.Len == 0:
		return Inst{}, ErrUnrecognized
	}
	fixDisp(&in, code)
	switch in.Op {
	case x86asm.PUSH, x86asm.POP, x86asm.CALL, x86asm.RET, x86asm.JMP,
		x86asm.LEAVE, x86asm.PUSHFQ, x86asm.POPFQ:
		if in.DataSize == 32 {
			in.DataSize = 64
		}
	}
	return Inst{in}, nil
}

// fixDisp sign-extends 32-bit displacements and normalises absent index
// registers. The moffs forms of mov (a0-a3) carry a full 64-bit address
// that must not be sign-extended.
func fixDisp(in *x86asm.Inst, code []byte) {
	moffs := false
	if in.Op == x86asm.MOV {
		if op := opcodeByte(code); op >= 0xa0 && op <= 0xa3 {
			moffs = true
		}
	}
	for k, a := range in.Args {
		m, ok := a.(x86asm.Mem)
		if !ok {
			if a == nil {
				break
			}
			continue
		}
		if !moffs && m.Disp >= 0 && m.Disp <= 0xffffffff {
			m.Disp = int64(int32(uint32(m.Disp)))
		}
		if m.Index == 0 {
			m.Scale = 0
		}
		in.Args[k] = m
	}
}

// decodeRexWNop decodes the multi-byte nop with REX.W (48 0f 1f /0, "nop
// rax" and friends), which CPUs execute and x86asm rejects: it decodes the
// same bytes with W cleared and restores the 64-bit operand size.
func decodeRexWNop(code []byte) (Inst, bool) {
	for i, b := range code {
		if b&0xf8 != 0x48 {
			if b == 0x66 || b == 0x67 || b == 0x2e || b == 0x3e || b == 0x26 || b == 0x36 || b == 0x64 || b == 0x65 {
				continue // legacy prefixes may come before REX
			}
			return Inst{}, false
		}
		if i+2 >= len(code) || code[i+1] != 0x0f || code[i+2] != 0x1f {
			return Inst{}, false
		}
		c := append([]byte(nil), code...)
		c[i] &^= 0x08
		in, err := x86asm.Decode(c, 64)
		if err != nil || in.Op != x86asm.NOP {
			return Inst{}, false
		}
		in.DataSize = 64
		return Inst{in}, true
	}
	return Inst{}, false
}

// endbr returns the length of an endbr64 or endbr32 (f3 0f 1e fa/fb) at
// the start of code, after any other legacy prefixes, or 0.
func endbr(code []byte) int {
	for i, b := range code {
		switch b {
		case 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf2, 0xf3:
			continue
		}
		if i >= 1 && code[i-1] == 0xf3 && i+3 <= len(code) && b == 0x0f && code[i+1] == 0x1e &&
			(code[i+2] == 0xfa || code[i+2] == 0xfb) {
			return i + 3
		}
		return 0
	}
	return 0
}

// opcodeByte returns the first opcode byte after legacy and REX prefixes.
func opcodeByte(code []byte) byte {
	for _, b := range code {
		switch {
		case b == 0x26, b == 0x2e, b == 0x36, b == 0x3e, b == 0x64, b == 0x65,
			b == 0x66, b == 0x67, b == 0xf0, b == 0xf2, b == 0xf3:
			continue
		case b >= 0x40 && b <= 0x4f:
			continue
		}
		return b
	}
	return 0
}

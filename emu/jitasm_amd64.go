package emu

import "encoding/binary"

// A small x86-64 assembler for the translator (jit_amd64.go): only the
// instruction forms the translated blocks use, each a method named after
// its Intel mnemonic. Operands are host registers (hAX…) or memory
// (mem/memX); the operand size is the size argument in bytes, as in the
// guest ops (1, 2, 4, 8). jitasm_test checks every form against the
// disassembler.

// Host registers, in encoding order.
const (
	hAX = iota
	hCX
	hDX
	hBX
	hSP
	hBP
	hSI
	hDI
	h8
	h9
	h10
	h11
	h12
	h13
	h14
	h15
)

// hNone marks an absent base or index register of a memory operand.
const hNone = -1

// operand is a register (isMem false) or a memory operand
// [base + index<<scale + disp].
type operand struct {
	isMem       bool
	reg         int
	base, index int
	scale       uint8
	disp        int32
}

func reg(r int) operand { return operand{reg: r} }
func mem(base int, disp int32) operand {
	return operand{isMem: true, base: base, index: hNone, disp: disp}
}
func memX(base, index int, scale uint8, disp int32) operand {
	return operand{isMem: true, base: base, index: index, scale: scale, disp: disp}
}

type xasm struct {
	b []byte
}

func (a *xasm) byte1(v ...byte) { a.b = append(a.b, v...) }

func (a *xasm) imm32(v int32) { a.b = binary.LittleEndian.AppendUint32(a.b, uint32(v)) }

// op emits one instruction: size prefix and REX for operand size sz, the
// opcode bytes, and ModRM (with SIB and displacement) for the register
// or opcode extension r and the operand m.
func (a *xasm) op(sz int, opc []byte, r int, m operand) {
	if sz == 2 {
		a.byte1(0x66)
	}
	rex := byte(0)
	if sz == 8 {
		rex |= 8
	}
	if r >= 8 {
		rex |= 4
	}
	if m.isMem {
		if m.index >= 8 {
			rex |= 2
		}
		if m.base >= 8 {
			rex |= 1
		}
	} else if m.reg >= 8 {
		rex |= 1
	}
	// Byte operands in spl, bpl, sil, dil need a REX prefix, any REX.
	if rex != 0 || sz == 1 {
		a.byte1(0x40 | rex)
	}
	a.byte1(opc...)
	r &= 7
	if !m.isMem {
		a.byte1(0xc0 | byte(r)<<3 | byte(m.reg&7))
		return
	}
	var mod byte
	switch {
	case m.base == hNone:
		// [index<<scale + disp32], or [disp32] without index
		idx := byte(4)
		if m.index != hNone {
			idx = byte(m.index & 7)
		}
		a.byte1(byte(r)<<3|4, m.scale<<6|idx<<3|5)
		a.imm32(m.disp)
		return
	case m.disp == 0 && m.base&7 != hBP:
		mod = 0
	case m.disp == int32(int8(m.disp)):
		mod = 1
	default:
		mod = 2
	}
	if m.index != hNone || m.base&7 == hSP {
		idx := byte(4) // none
		if m.index != hNone {
			idx = byte(m.index & 7)
		}
		a.byte1(mod<<6|byte(r)<<3|4, m.scale<<6|idx<<3|byte(m.base&7))
	} else {
		a.byte1(mod<<6 | byte(r)<<3 | byte(m.base&7))
	}
	switch mod {
	case 1:
		a.byte1(byte(m.disp))
	case 2:
		a.imm32(m.disp)
	}
}

// byteOp picks the byte form of an opcode whose other forms are opc+1.
func byteOp(sz int, opc byte) byte {
	if sz == 1 {
		return opc
	}
	return opc + 1
}

// mov loads: r = m.
func (a *xasm) movLoad(sz, r int, m operand) { a.op(sz, []byte{byteOp(sz, 0x8a)}, r, m) }

// movStore stores: m = r.
func (a *xasm) movStore(sz int, m operand, r int) { a.op(sz, []byte{byteOp(sz, 0x88)}, r, m) }

// movImm stores a sign-extended 32-bit immediate to m.
func (a *xasm) movImm(sz int, m operand, v int32) {
	a.op(sz, []byte{byteOp(sz, 0xc6)}, 0, m)
	switch sz {
	case 1:
		a.byte1(byte(v))
	case 2:
		a.b = binary.LittleEndian.AppendUint16(a.b, uint16(v))
	default:
		a.imm32(v)
	}
}

// movImm64 sets r to v with the shortest form.
func (a *xasm) movImm64(r int, v uint64) {
	switch {
	case v == 0:
		a.alu(4, aluXor, r, reg(r))
	case v <= 0xffffffff:
		if r >= 8 {
			a.byte1(0x41)
		}
		a.byte1(0xb8 + byte(r&7))
		a.imm32(int32(uint32(v)))
	case int64(v) == int64(int32(v)):
		a.movImm(8, reg(r), int32(v))
	default:
		a.byte1(0x48|byte(r>>3), 0xb8+byte(r&7))
		a.b = binary.LittleEndian.AppendUint64(a.b, v)
	}
}

// movzx zero-extends m of size from (1 or 2) into the 32-bit register r.
func (a *xasm) movzx(from, r int, m operand) {
	opc := byte(0xb6)
	if from == 2 {
		opc = 0xb7
	}
	// A register source of one byte needs the REX rule of byte operands.
	if from == 1 && !m.isMem && m.reg >= 4 && m.reg < 8 && r < 8 {
		a.byte1(0x40)
	}
	a.op(4, []byte{0x0f, opc}, r, m)
}

// movsxd sign-extends the 32-bit m into the 64-bit r.
func (a *xasm) movsxd(r int, m operand) { a.op(8, []byte{0x63}, r, m) }

// lea sets r to the address of m.
func (a *xasm) lea(sz, r int, m operand) { a.op(sz, []byte{0x8d}, r, m) }

// ALU operations, by their /digit in the 0x81 group.
const (
	aluAdd = 0
	aluOr  = 1
	aluAnd = 4
	aluSub = 5
	aluXor = 6
	aluCmp = 7
)

// alu does r op= m.
func (a *xasm) alu(sz, op, r int, m operand) { a.op(sz, []byte{byteOp(sz, byte(op<<3)+2)}, r, m) }

// aluTo does m op= r.
func (a *xasm) aluTo(sz, op int, m operand, r int) { a.op(sz, []byte{byteOp(sz, byte(op<<3))}, r, m) }

// aluImm does m op= v (a sign-extended 32-bit immediate; 8 bits for sz 1).
func (a *xasm) aluImm(sz, op int, m operand, v int32) {
	switch {
	case sz == 1:
		a.op(1, []byte{0x80}, op, m)
		a.byte1(byte(v))
	case v == int32(int8(v)):
		a.op(sz, []byte{0x83}, op, m)
		a.byte1(byte(v))
	case sz == 2:
		a.op(2, []byte{0x81}, op, m)
		a.b = binary.LittleEndian.AppendUint16(a.b, uint16(v))
	default:
		a.op(sz, []byte{0x81}, op, m)
		a.imm32(v)
	}
}

// test sets flags of m & r.
func (a *xasm) test(sz int, m operand, r int) { a.op(sz, []byte{byteOp(sz, 0x84)}, r, m) }

// Shift and rotate operations, by their /digit in the 0xc1 group.
const (
	shRol = 0
	shRor = 1
	shShl = 4
	shShr = 5
)

// shiftImm shifts or rotates m by n.
func (a *xasm) shiftImm(sz, op int, m operand, n uint8) {
	a.op(sz, []byte{byteOp(sz, 0xc0)}, op, m)
	a.byte1(n)
}

// imul does r *= m (sz 2, 4, 8).
func (a *xasm) imul(sz, r int, m operand) { a.op(sz, []byte{0x0f, 0xaf}, r, m) }

// incDec increments (dec false) or decrements m.
func (a *xasm) incDec(sz int, m operand, dec bool) {
	d := 0
	if dec {
		d = 1
	}
	a.op(sz, []byte{byteOp(sz, 0xfe)}, d, m)
}

// setcc sets the byte register r to condition cc.
func (a *xasm) setcc(cc uint8, r int) { a.op(1, []byte{0x0f, 0x90 + cc&15}, 0, reg(r)) }

// cmov does r = m if cc (64-bit).
func (a *xasm) cmov(cc uint8, r int, m operand) { a.op(8, []byte{0x0f, 0x40 + cc&15}, r, m) }

// btImm sets CF to bit n of m (64-bit).
func (a *xasm) btImm(m operand, n uint8) {
	a.op(8, []byte{0x0f, 0xba}, 4, m)
	a.byte1(n)
}

// jcc emits a conditional jump with a 32-bit displacement to be patched
// and returns the displacement's position.
func (a *xasm) jcc(cc uint8) int {
	a.byte1(0x0f, 0x80+cc&15)
	a.imm32(0)
	return len(a.b) - 4
}

// jmp emits a jump with a displacement to be patched; as jcc.
func (a *xasm) jmp() int {
	a.byte1(0xe9)
	a.imm32(0)
	return len(a.b) - 4
}

// patch points the displacement at pos to the current position.
func (a *xasm) patch(pos int) { a.patchTo(pos, len(a.b)) }

// patchTo points the displacement at pos to target.
func (a *xasm) patchTo(pos, target int) {
	binary.LittleEndian.PutUint32(a.b[pos:], uint32(int32(target-(pos+4))))
}

func (a *xasm) ret() { a.byte1(0xc3) }

// pushfq and popq read the host flags: pushfq; pop r.
func (a *xasm) pushfPop(r int) {
	a.byte1(0x9c)
	if r >= 8 {
		a.byte1(0x41)
	}
	a.byte1(0x58 + byte(r&7))
}

// Host condition codes (the guest's isa.Cond* have the same encoding).
const (
	ccB  = 2
	ccAE = 3
	ccE  = 4
	ccNE = 5
	ccBE = 6
	ccA  = 7
)

// movRR sets register dst to src.
func (a *xasm) movRR(sz, dst, src int) { a.op(sz, []byte{byteOp(sz, 0x88)}, src, reg(dst)) }

// movsx sign-extends m of size from (1, 2 or 4) into the 64-bit r.
func (a *xasm) movsx(from, r int, m operand) {
	switch from {
	case 1:
		a.op(8, []byte{0x0f, 0xbe}, r, m)
	case 2:
		a.op(8, []byte{0x0f, 0xbf}, r, m)
	default:
		a.movsxd(r, m)
	}
}

package symfile

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/arch/x86/x86asm"
)

// Call frame information for gdb's unwinder. The guest's functions begin
// with the 5-byte fentry nop before "push rbp; mov rbp, rsp", which gdb's
// prologue analyser does not look past, so without CFI it cannot walk a
// stack. debugFrame describes each function's frame from its code: where
// the CFA (the stack pointer before the call) is relative to rsp or rbp
// after each instruction that moves it, and where rbp was saved.

// DWARF register numbers (x86-64 psABI).
const (
	dwRBP = 6
	dwRSP = 7
	dwRA  = 16
)

// DWARF call frame instructions.
const (
	cfaAdvanceLoc4  = 0x04
	cfaUndefined    = 0x07
	cfaDefCFA       = 0x0c
	cfaNop          = 0x00
	cfaOffset       = 0x80
	cfaRestore      = 0xc0
	cieID32         = 0xffffffff
	dataAlignFactor = -8
)

// frameState is the CFA rule and rbp's save slot at one point.
type frameState struct {
	reg      int   // dwRSP or dwRBP
	off      int64 // CFA = reg + off
	rbpSaved int64 // rbp saved at CFA-rbpSaved; 0: rbp is the caller's
}

func debugFrame(funcs []Symbol, code func(a, n uint64) []byte) []byte {
	var b bytes.Buffer
	// The CIE: on entry the CFA is rsp+8, the return address at CFA-8.
	cie := []byte{1, 0} // version 1, no augmentation
	cie = appendULEB(cie, 1)
	cie = appendSLEB(cie, dataAlignFactor)
	cie = append(cie, dwRA)
	cie = append(cie, cfaDefCFA, dwRSP, 8, cfaOffset|dwRA, 1)
	writeEntry(&b, cieID32, cie)
	for _, f := range funcs {
		body := code(f.Addr, f.Size)
		if body == nil {
			continue
		}
		fde := make([]byte, 16)
		binary.LittleEndian.PutUint64(fde[0:], f.Addr)
		binary.LittleEndian.PutUint64(fde[8:], f.Size)
		if f.Outermost {
			fde = append(fde, cfaUndefined, dwRA)
		}
		fde = append(fde, frameProgram(body)...)
		writeEntry(&b, 0, fde) // CIE pointer: the CIE at offset 0
	}
	return b.Bytes()
}

// writeEntry writes a CIE or FDE: length, id, body, padded to 8 bytes.
func writeEntry(b *bytes.Buffer, id uint32, body []byte) {
	n := 4 + len(body)
	for (n+4)%8 != 0 {
		body = append(body, cfaNop)
		n++
	}
	var h [8]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(n))
	binary.LittleEndian.PutUint32(h[4:], id)
	b.Write(h[:])
	b.Write(body)
}

// frameProgram follows one function's instructions and emits the rules
// that change. After a ret or an unconditional jump the code that follows
// is reached from the body, so the state goes back to the body's (the
// frame as the last push, sub or "mov rbp, rsp" left it).
func frameProgram(body []byte) []byte {
	var p []byte
	cur := frameState{reg: dwRSP, off: 8}
	bodyState := cur
	emitted := cur
	for pc := 0; pc < len(body); {
		in, err := x86asm.Decode(body[pc:], 64)
		if err != nil {
			break
		}
		next := step(cur, in)
		grew := (cur.reg == dwRSP && next.reg == dwRBP) || // mov rbp, rsp
			(cur.reg == dwRSP && next.reg == dwRSP && next.off > cur.off) || // a push, a sub
			(cur.rbpSaved == 0 && next.rbpSaved != 0)
		switch in.Op {
		case x86asm.RET, x86asm.JMP, x86asm.UD2, x86asm.IRETQ:
			next = bodyState
		default:
			if grew {
				bodyState = next
			}
		}
		pc += in.Len
		cur = next
		if cur != emitted && pc < len(body) {
			p = append(p, cfaAdvanceLoc4)
			p = binary.LittleEndian.AppendUint32(p, uint32(pc))
			p = append(p, cfaDefCFA, byte(cur.reg))
			p = appendULEB(p, uint64(cur.off))
			switch {
			case cur.rbpSaved != 0:
				p = append(p, cfaOffset|dwRBP)
				p = appendULEB(p, uint64(cur.rbpSaved/8))
			case emitted.rbpSaved != 0:
				p = append(p, cfaRestore|dwRBP)
			}
			emitted = cur
		}
	}
	// advance_loc4 takes a delta: make the absolute offsets deltas.
	return deltas(p)
}

// step is the frame after one instruction.
func step(s frameState, in x86asm.Inst) frameState {
	isReg := func(a x86asm.Arg, r x86asm.Reg) bool { x, ok := a.(x86asm.Reg); return ok && x == r }
	imm := func(a x86asm.Arg) (int64, bool) { x, ok := a.(x86asm.Imm); return int64(x), ok }
	switch in.Op {
	case x86asm.PUSH, x86asm.PUSHFQ:
		if s.reg == dwRSP {
			s.off += 8
		}
		if in.Op == x86asm.PUSH && isReg(in.Args[0], x86asm.RBP) && s.rbpSaved == 0 {
			s.rbpSaved = s.off
		}
	case x86asm.POP, x86asm.POPFQ:
		if in.Op == x86asm.POP && isReg(in.Args[0], x86asm.RBP) {
			if s.reg == dwRBP {
				// rsp was at the saved rbp: the CFA is above it.
				s.reg, s.off = dwRSP, s.rbpSaved-8
			} else {
				s.off -= 8
			}
			s.rbpSaved = 0
		} else if s.reg == dwRSP {
			s.off -= 8
		}
	case x86asm.LEAVE:
		if s.rbpSaved != 0 {
			s.reg, s.off, s.rbpSaved = dwRSP, s.rbpSaved-8, 0
		}
	case x86asm.MOV:
		if isReg(in.Args[0], x86asm.RBP) && isReg(in.Args[1], x86asm.RSP) && s.reg == dwRSP && s.rbpSaved != 0 {
			s.reg = dwRBP
			s.off = s.rbpSaved // rbp points at the saved rbp: CFA = rbp + that
		}
	case x86asm.SUB, x86asm.ADD:
		if v, ok := imm(in.Args[1]); ok && isReg(in.Args[0], x86asm.RSP) && s.reg == dwRSP {
			if in.Op == x86asm.SUB {
				s.off += v
			} else {
				s.off -= v
			}
		}
	}
	if s.off < 8 {
		s.off = 8
	}
	return s
}

// deltas rewrites the absolute offsets frameProgram put after each
// advance_loc4 into deltas from the previous one.
func deltas(p []byte) []byte {
	last := uint32(0)
	for i := 0; i < len(p); {
		switch op := p[i]; {
		case op == cfaAdvanceLoc4:
			abs := binary.LittleEndian.Uint32(p[i+1:])
			binary.LittleEndian.PutUint32(p[i+1:], abs-last)
			last = abs
			i += 5
		case op == cfaDefCFA:
			i += 2
			for p[i]&0x80 != 0 {
				i++
			}
			i++
		case op&0xc0 == cfaOffset:
			i++
			for p[i]&0x80 != 0 {
				i++
			}
			i++
		default: // restore
			i++
		}
	}
	return p
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

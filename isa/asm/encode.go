package asm

import (
	"fmt"

	"klpsim/isa/obj"
)

// prefixBytes are the instruction prefixes written as words.
var prefixBytes = map[string]byte{
	"lock": 0xf0, "rep": 0xf3, "repe": 0xf3, "repz": 0xf3, "repne": 0xf2, "repnz": 0xf2,
}

// lockable lists the instructions that accept lock (SDM Vol. 3 8.1.2.2),
// all of them only with a memory destination.
var lockable = map[string]bool{
	"add": true, "adc": true, "and": true, "btc": true, "btr": true, "bts": true, "cmpxchg": true,
	"dec": true, "inc": true, "neg": true, "not": true, "or": true, "sbb": true, "sub": true,
	"xor": true, "xadd": true, "xchg": true,
}

// repeatable lists the instructions that accept rep/repe/repne.
var repeatable = map[string]bool{"ret": true}

func init() {
	for _, s := range []string{"movs", "cmps", "stos", "lods", "scas"} {
		for _, w := range "bwdq" {
			repeatable[s+string(w)] = true
		}
	}
}

// instruction parses and encodes the instruction whose first word is t.
func (p *parser) instruction(t token) error {
	a := p.a
	pfx := a.prefix
	a.prefix = nil
	mn := t
	for {
		if _, ok := prefixBytes[lower(mn.s)]; !ok {
			break
		}
		pfx = append(pfx, mn)
		n := p.peek()
		if n.kind == tEOL {
			p.next()
			a.prefix = pfx // "lock; cmpxchg ..." or prefix on its own line
			return nil
		}
		if n.kind != tIdent {
			return p.errAt(n, "expected instruction after %s, found %s", mn.s, n)
		}
		mn = p.next()
	}
	name := lower(mn.s)
	fs := forms[name]
	if fs == nil {
		return p.errAt(mn, "unknown instruction %q", mn.s)
	}
	isBranch := false
	for _, f := range fs {
		if f.rel != 0 {
			isBranch = true
		}
	}
	var ops []*operand
	if p.peek().kind != tEOL {
		for {
			op, err := p.parseOperand(isBranch)
			if err != nil {
				return err
			}
			ops = append(ops, op)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
	}
	if err := p.endLine(); err != nil {
		return err
	}
	if err := p.checkPrefixes(name, mn, pfx, ops); err != nil {
		return err
	}
	// gas accepts "imul r, imm" for "imul r, r, imm".
	if name == "imul" && len(ops) == 2 && ops[1].class == oImm {
		ops = []*operand{ops[0], ops[0], ops[1]}
	}
	var pb []byte
	for _, t := range pfx {
		pb = append(pb, prefixBytes[lower(t.s)])
	}
	if isBranch && len(ops) == 1 && ops[0].class == oImm {
		return a.branchInst(mn, fs, ops[0], pb)
	}
	b, fix, err := a.encodeInst(mn, fs, ops, pb)
	if err != nil {
		return err
	}
	a.markLine(mn.pos, len(b))
	a.emit(mn.pos, b, fix)
	return nil
}

func (p *parser) checkPrefixes(name string, mn token, pfx []token, ops []*operand) error {
	seen := map[byte]bool{}
	for _, t := range pfx {
		b := prefixBytes[lower(t.s)]
		if seen[b] || (b != 0xf0 && (seen[0xf2] || seen[0xf3])) {
			return p.errAt(t, "duplicate %s prefix", t.s)
		}
		seen[b] = true
		switch {
		case b == 0xf0 && !lockable[name]:
			return p.errAt(t, "lock prefix is not allowed on %s", name)
		case b == 0xf0 && (len(ops) == 0 || ops[0].class != oMem):
			return p.errAt(t, "lock prefix requires a memory destination")
		case b != 0xf0 && !repeatable[name]:
			return p.errAt(t, "%s prefix is not allowed on %s", t.s, name)
		}
	}
	return nil
}

// branchInst emits jmp/jcc (relaxable) or call to a label.
func (a *assembler) branchInst(mn token, fs []*form, target *operand, pfx []byte) error {
	if len(pfx) > 0 {
		return &Error{File: a.file, Line: mn.pos.line, Col: mn.pos.col, Msg: "prefix not allowed on a branch"}
	}
	if a.cur.nobits {
		return &Error{File: a.file, Line: mn.pos.line, Col: mn.pos.col, Msg: fmt.Sprintf("instruction in NOBITS section %s", a.cur.name)}
	}
	var short, long *form
	for _, f := range fs {
		switch f.rel {
		case 1:
			short = f
		case 4:
			long = f
		}
	}
	if short == nil {
		// call: always rel32.
		b := append(append([]byte{}, long.opcode...), 0, 0, 0, 0)
		a.markLine(mn.pos, len(b))
		a.emit(mn.pos, b, []fixup{{kind: fixBranch, off: uint64(len(long.opcode)), size: 4, e: target.e, tail: 4, pos: target.pos}})
		return nil
	}
	it := &item{kind: itemBranch, pos: mn.pos,
		br: &branch{short: short.opcode, long: long.opcode, target: target.e, tpos: target.pos}}
	a.cur.items = append(a.cur.items, it)
	if !a.noLines {
		a.cur.lines = append(a.cur.lines, lineMark{it: it, line: mn.pos.line})
	}
	return nil
}

// encodeInst picks the form for ops and encodes it: among the forms whose
// patterns match, the shortest encoding wins, ties going to table order.
func (a *assembler) encodeInst(mn token, fs []*form, ops []*operand, pfx []byte) ([]byte, []fixup, error) {
	errAt := func(p pos, format string, args ...any) error {
		return &Error{File: a.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
	}
	var cands []*form
	for _, f := range fs {
		if matchForm(f, ops, false) {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		return nil, nil, a.noMatch(mn, fs, ops)
	}
	// A memory operand without "ptr" must get its size from elsewhere.
	for i, op := range ops {
		if op.class != oMem || op.size != 0 {
			continue
		}
		sizes := map[int]bool{}
		d64 := false
		for _, f := range cands {
			if f.ops[i].kind != pMem || f.ops[i].size != 0 {
				sizes[f.ops[i].size] = true
			}
			d64 = d64 || f.d64
		}
		if len(sizes) > 1 {
			if !d64 {
				return nil, nil, errAt(op.pos, "ambiguous operand size for %s; use byte, word, dword or qword ptr", lower(mn.s))
			}
			var keep []*form
			for _, f := range cands {
				if f.ops[i].size == 64 {
					keep = append(keep, f)
				}
			}
			cands = keep
		}
	}
	var best []byte
	var bestFix []fixup
	var firstErr error
	for _, f := range cands {
		b, fix, err := a.encodeForm(f, ops, pfx)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if best == nil || len(b) < len(best) {
			best, bestFix = b, fix
		}
	}
	if best == nil {
		return nil, nil, firstErr
	}
	if a.cur.nobits {
		return nil, nil, errAt(mn.pos, "instruction in NOBITS section %s", a.cur.name)
	}
	return best, bestFix, nil
}

// noMatch explains why no form fits.
func (a *assembler) noMatch(mn token, fs []*form, ops []*operand) error {
	errAt := func(p pos, format string, args ...any) error {
		return &Error{File: a.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
	}
	name := lower(mn.s)
	counts := map[int]bool{}
	for _, f := range fs {
		counts[len(f.ops)] = true
	}
	if !counts[len(ops)] {
		want := []int{}
		for n := 0; n <= 3; n++ {
			if counts[n] {
				want = append(want, n)
			}
		}
		return errAt(mn.pos, "%s takes %s operand(s), found %d", name, joinInts(want), len(ops))
	}
	// Out-of-range immediate?
	for _, f := range fs {
		if matchForm(f, ops, true) {
			for _, op := range ops {
				if op.class == oImm && op.known {
					return errAt(op.pos, "immediate %d out of range for %s", op.val, name)
				}
			}
			return errAt(mn.pos, "symbolic immediate too wide for %s", name)
		}
	}
	// Two sized operands of different width.
	var sized []*operand
	for _, op := range ops {
		if op.class == oReg || op.class == oMem && op.size != 0 {
			sized = append(sized, op)
		}
	}
	if len(sized) >= 2 && sized[0].size != sized[1].size {
		return errAt(sized[1].pos, "operand size mismatch: %s and %s", sized[0].text, sized[1].text)
	}
	kinds := ""
	for i, op := range ops {
		if i > 0 {
			kinds += ", "
		}
		kinds += describe(op)
	}
	return errAt(mn.pos, "invalid operands for %s: %s", name, kinds)
}

func joinInts(v []int) string {
	s := ""
	for i, n := range v {
		if i > 0 {
			if i == len(v)-1 {
				s += " or "
			} else {
				s += ", "
			}
		}
		s += fmt.Sprint(n)
	}
	return s
}

func describe(op *operand) string {
	switch op.class {
	case oReg:
		return fmt.Sprintf("r%d", op.size)
	case oMem:
		if op.size != 0 {
			return fmt.Sprintf("m%d", op.size)
		}
		return "m"
	}
	return "imm"
}

// matchForm reports whether ops fit f's patterns. With anyImm, immediate
// values are not range-checked (to diagnose out-of-range immediates).
func matchForm(f *form, ops []*operand, anyImm bool) bool {
	if len(f.ops) != len(ops) {
		return false
	}
	for i, pt := range f.ops {
		if !matchOp(pt, ops[i], anyImm, f.osz) {
			return false
		}
	}
	// xchg eax, eax must not become 90 (nop), which does not clear the
	// upper half of rax; gas uses 87 c0.
	if f.plusR && f.opcode[0] == 0x90 && len(ops) == 2 && ops[0].class == oReg && ops[1].class == oReg &&
		ops[0].reg.num == 0 && ops[1].reg.num == 0 && ops[0].size == 32 {
		return false
	}
	return true
}

func isGPR(op *operand) bool {
	return op.class == oReg && (op.reg.kind == rkGPR || op.reg.kind == rkHigh8)
}

func matchOp(pt pattern, op *operand, anyImm bool, osz int) bool {
	switch pt.kind {
	case pReg:
		return isGPR(op) && op.size == pt.size
	case pFixed:
		return op.class == oReg && op.reg.kind == rkGPR && op.reg.num == pt.reg.num && op.size == pt.size
	case pRM:
		if op.class == oMem {
			return op.size == 0 || op.size == pt.size
		}
		return isGPR(op) && op.size == pt.size
	case pMem:
		return op.class == oMem && (pt.size == 0 || op.size == 0 || op.size == pt.size)
	case pMoffs:
		return op.class == oMem && op.base == nil && op.index == nil && (op.size == 0 || op.size == pt.size)
	case pOne:
		return op.class == oImm && op.known && op.val == 1
	case pImm:
		if op.class != oImm {
			return false
		}
		if !op.known {
			return pt.size >= 32
		}
		return anyImm || fits(immValue(op.val, pt, osz), pt.size/8, pt.signed)
	}
	return false
}

// immValue is the value an immediate stands for in an operation of osz
// bits: like gas, 0xfffffff0 in a 32-bit operation is -16 and so fits a
// sign-extended imm8.
func immValue(v int64, pt pattern, osz int) int64 {
	if pt.signed && osz > 0 && osz < 64 && fits(v, osz/8, false) {
		shift := uint(64 - osz)
		return v << shift >> shift
	}
	return v
}

// encodeForm encodes ops with form f. Field order is the architectural one:
// prefixes (segment, 0x67, 0x66, rep/lock, as gas orders them), REX,
// opcode, ModRM, SIB, displacement, immediates.
func (a *assembler) encodeForm(f *form, ops []*operand, pfx []byte) ([]byte, []fixup, error) {
	var rm, reg, plus, moffs *operand
	var imms []*operand
	var immPats []pattern
	for i, pt := range f.ops {
		switch pt.kind {
		case pRM, pMem:
			rm = ops[i]
		case pReg:
			if f.plusR {
				plus = ops[i]
			} else {
				reg = ops[i]
			}
		case pImm:
			imms = append(imms, ops[i])
			immPats = append(immPats, pt)
		case pMoffs:
			moffs = ops[i]
		}
	}
	mem := moffs
	if rm != nil && rm.class == oMem {
		mem = rm
	}
	var out []byte
	if mem != nil && mem.seg != nil {
		out = append(out, segPrefix[mem.seg.num])
	}
	if mem != nil && mem.addr32 {
		if moffs != nil {
			return nil, nil, a.errOp(mem, "32-bit address not supported here")
		}
		out = append(out, 0x67)
	}
	if f.o16 {
		out = append(out, 0x66)
	}
	out = append(out, pfx...)

	rex := byte(0)
	if f.rexW {
		rex |= 8
	}
	if reg != nil && reg.reg.num >= 8 {
		rex |= 4
	}
	if rm != nil && rm.class == oReg && rm.reg.num >= 8 {
		rex |= 1
	}
	if plus != nil && plus.reg.num >= 8 {
		rex |= 1
	}
	if mem != nil && mem.base != nil && mem.base.kind == rkGPR && mem.base.num >= 8 {
		rex |= 1
	}
	if mem != nil && mem.index != nil && mem.index.num >= 8 {
		rex |= 2
	}
	needREX := rex != 0
	var high *operand
	for _, op := range ops {
		if op.class == oReg && op.reg.rex {
			needREX = true
		}
		if op.class == oReg && op.reg.kind == rkHigh8 {
			high = op
		}
	}
	if needREX && high != nil {
		return nil, nil, a.errOp(high, "can't encode register %s in an instruction requiring REX prefix", high.reg.name)
	}
	if needREX {
		out = append(out, 0x40|rex)
	}
	opc := append([]byte{}, f.opcode...)
	if plus != nil {
		opc[len(opc)-1] += plus.reg.num & 7
	}
	out = append(out, opc...)

	var fix []fixup
	dispFix := -1
	if f.modrm >= 0 {
		regField := byte(f.modrm)
		if f.modrm == 8 {
			regField = reg.reg.num & 7
		}
		if rm.class == oReg {
			out = append(out, 0xc0|regField<<3|rm.reg.num&7)
		} else {
			var err error
			var fx *fixup
			out, fx, err = a.encodeMem(out, regField, rm)
			if err != nil {
				return nil, nil, err
			}
			if fx != nil {
				dispFix = len(fix)
				fix = append(fix, *fx)
			}
		}
	}
	if moffs != nil {
		at := len(out)
		out = append(out, make([]byte, 8)...)
		if v, ok := a.dispConst(moffs); ok {
			putLE(out[at:], v)
		} else {
			fix = append(fix, fixup{kind: fixAbs, off: uint64(at), size: 8, e: moffs.disp, rtype: obj.RelAbs64, pos: moffs.pos})
		}
	}
	for i, op := range imms {
		w := f.imms[i]
		at := len(out)
		out = append(out, make([]byte, w)...)
		if op.known {
			v := immValue(op.val, immPats[i], f.osz)
			if !fits(v, w, immPats[i].signed) {
				return nil, nil, a.errOp(op, "immediate %d out of range", op.val)
			}
			putLE(out[at:], v)
			continue
		}
		fx := fixup{kind: fixAbs, off: uint64(at), size: w, e: op.e, signed: immPats[i].signed, pos: op.pos}
		switch {
		case w == 8:
			fx.rtype = obj.RelAbs64
		case w == 4 && immPats[i].signed:
			fx.rtype = obj.RelAbs32S
		case w == 4:
			fx.rtype = obj.RelAbs32
		}
		fix = append(fix, fx)
	}
	if dispFix >= 0 && fix[dispFix].kind == fixRIP {
		fix[dispFix].tail = int64(len(out)) - int64(fix[dispFix].off)
	}
	return out, fix, nil
}

func (a *assembler) errOp(op *operand, format string, args ...any) error {
	return &Error{File: a.file, Line: op.pos.line, Col: op.pos.col, Msg: fmt.Sprintf(format, args...)}
}

// dispConst returns the displacement's value if it is known now (0 when
// there is none).
func (a *assembler) dispConst(op *operand) (int64, bool) {
	if op.disp == nil {
		return 0, true
	}
	return a.constNow(op.disp)
}

// encodeMem appends ModRM, SIB and displacement for a memory operand, using
// the shortest displacement as gas does: none when zero (except for a
// rbp/r13 base), disp8 when it fits, else disp32; symbolic displacements are
// always disp32.
func (a *assembler) encodeMem(out []byte, regField byte, m *operand) ([]byte, *fixup, error) {
	v, known := a.dispConst(m)
	var fx *fixup
	disp32 := func() {
		at := len(out)
		out = append(out, 0, 0, 0, 0)
		if known {
			putLE(out[at:], v)
		} else {
			fx = &fixup{kind: fixAbs, off: uint64(at), size: 4, e: m.disp, rtype: obj.RelAbs32S, signed: true, pos: m.pos}
		}
	}
	if known && !fits(v, 4, true) {
		return nil, nil, a.errOp(m, "displacement %#x does not fit in 32 bits", v)
	}
	switch {
	case m.base != nil && m.base.kind == rkRIP:
		out = append(out, regField<<3|5)
		disp32()
		if fx != nil {
			fx.kind, fx.rtype = fixRIP, obj.RelPC32
		}
		return out, fx, nil
	case m.base == nil:
		// No base: SIB with base=101 and, without index, index=100 ("04 25").
		out = append(out, regField<<3|4)
		idx := byte(4)
		if m.index != nil {
			idx = m.index.num & 7
		}
		out = append(out, scaleBits(m.scale)<<6|idx<<3|5)
		disp32()
		return out, fx, nil
	}
	base := m.base.num & 7
	var mod byte
	switch {
	case !known:
		mod = 2
	case v == 0 && base != 5:
		mod = 0
	case fits(v, 1, true):
		mod = 1
	default:
		mod = 2
	}
	if m.index != nil || base == 4 {
		idx := byte(4)
		if m.index != nil {
			idx = m.index.num & 7
		}
		out = append(out, mod<<6|regField<<3|4, scaleBits(m.scale)<<6|idx<<3|base)
	} else {
		out = append(out, mod<<6|regField<<3|base)
	}
	switch mod {
	case 1:
		out = append(out, byte(v))
	case 2:
		disp32()
	}
	return out, fx, nil
}

func scaleBits(s int) byte {
	switch s {
	case 2:
		return 1
	case 4:
		return 2
	case 8:
		return 3
	}
	return 0
}

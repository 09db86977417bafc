package asm

import (
	"strings"
)

// opClass is what kind of operand was written.
type opClass uint8

const (
	oReg opClass = iota // register
	oMem                // memory reference
	oImm                // immediate, or branch target
)

// operand is one parsed instruction operand.
type operand struct {
	class opClass
	reg   *register // oReg
	size  int       // oReg: register width; oMem: from "... ptr" (0 if not given); in bits

	// oMem
	seg    *register // segment override
	base   *register // base register (rip for rip-relative)
	index  *register // index register
	scale  int       // 1, 2, 4, 8
	disp   *expr     // displacement (nil if none)
	addr32 bool      // 32-bit address registers: needs the 0x67 prefix

	// oImm (and oMem displacement): parse-time constant
	e     *expr // immediate expression or branch target
	val   int64 // value when known
	known bool  // value is a constant now

	pos  pos
	text string // source text, for error messages
}

var ptrSizes = map[string]int{"byte": 8, "word": 16, "dword": 32, "qword": 64}

// parseOperand parses one operand. In branch mode a bare expression is a
// branch target; otherwise it is an immediate when it is a constant now and
// an absolute memory reference when it involves a symbol (gas Intel rules).
func (p *parser) parseOperand(branch bool) (*operand, error) {
	start := p.i
	t := p.peek()
	op := &operand{pos: t.pos, scale: 1}
	defer func() { op.text = p.textFrom(start) }()

	if t.kind == tIdent {
		if sz, ok := ptrSizes[lower(t.s)]; ok {
			p.next()
			if n := p.peek(); n.kind == tIdent && lower(n.s) == "ptr" {
				p.next()
			}
			op.size = sz
			return op, p.parseMemoryOperand(op)
		}
		if lower(t.s) == "ptr" && p.peekAt(1).kind == tPunct && p.peekAt(1).s == "[" {
			// "ptr [..]" without a size, as x86asm prints lea's operand.
			p.next()
			return op, p.parseMemoryOperand(op)
		}
		if lower(t.s) == "offset" {
			p.next()
			e, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			op.class, op.e = oImm, e
			op.val, op.known = p.a.constNow(e)
			return op, nil
		}
		if r := lookupReg(t.s); r != nil {
			if r.kind == rkSeg && p.peekAt(1).kind == tPunct && p.peekAt(1).s == ":" {
				return op, p.parseMemoryOperand(op)
			}
			if r.kind == rkGPR || r.kind == rkHigh8 {
				p.next()
				op.class, op.reg, op.size = oReg, r, r.size
				return op, nil
			}
			return nil, p.errAt(t, "register %s cannot be used here", t.s)
		}
	}
	if p.isPunct("[") {
		return op, p.parseMemoryOperand(op)
	}
	e, err := p.parseExpr()
	if err != nil {
		if t.kind == tEOL || t.kind == tStr || t.kind == tPunct && !strings.Contains("-~!+(", t.s) {
			return nil, p.errAt(t, "expected register, memory or immediate operand, found %s", t)
		}
		return nil, err
	}
	if p.isPunct("[") {
		op.disp = e
		return op, p.parseMemoryOperand(op)
	}
	v, known := p.a.constNow(e)
	if branch || known {
		op.class, op.e, op.val, op.known = oImm, e, v, known
		return op, nil
	}
	op.class, op.disp = oMem, e
	return op, nil
}

func (p *parser) textFrom(start int) string {
	var parts []string
	for i := start; i < p.i && i < len(p.toks); i++ {
		parts = append(parts, p.toks[i].s)
	}
	s := strings.Join(parts, " ")
	s = strings.ReplaceAll(s, "[ ", "[")
	return strings.ReplaceAll(s, " ]", "]")
}

// parseMemoryOperand parses [seg:] [disp] '[' terms ']' after an optional
// size, where terms are registers, scale*register, register*scale and
// expressions joined by + and -.
func (p *parser) parseMemoryOperand(op *operand) error {
	op.class = oMem
	if t := p.peek(); t.kind == tIdent {
		if r := lookupReg(t.s); r != nil && r.kind == rkSeg {
			p.next()
			if err := p.expectPunct(":"); err != nil {
				return err
			}
			op.seg = r
		}
	}
	if !p.isPunct("[") {
		if op.disp != nil {
			return p.errAt(p.peek(), "expected '[', found %s", p.peek())
		}
		// "dword ptr sym" or "fs:0x28": an absolute address without brackets.
		t := p.peek()
		if t.kind == tEOL || t.kind == tPunct && t.s == "," {
			return p.errAt(t, "expected memory operand, found %s", t)
		}
		e, err := p.parseExpr()
		if err != nil {
			return err
		}
		op.disp = e
		if p.isPunct("[") {
			return p.parseMemoryOperand(op)
		}
		return nil
	}
	p.next()
	first := true
	for {
		neg := false
		t := p.peek()
		if !first || t.kind == tPunct && (t.s == "+" || t.s == "-") {
			if t.kind == tPunct && t.s == "]" {
				p.next()
				break
			}
			if t.kind != tPunct || (t.s != "+" && t.s != "-") {
				return p.errAt(t, "expected '+', '-' or ']' in memory operand, found %s", t)
			}
			p.next()
			neg = t.s == "-"
		}
		first = false
		t = p.peek()
		// scale*reg
		if t.kind == tNum && p.peekAt(1).kind == tPunct && p.peekAt(1).s == "*" && p.peekAt(2).kind == tIdent && lookupReg(p.peekAt(2).s) != nil {
			p.next()
			p.next()
			rt := p.next()
			if err := p.setIndex(op, rt, t, neg); err != nil {
				return err
			}
			continue
		}
		if t.kind == tIdent {
			if r := lookupReg(t.s); r != nil {
				p.next()
				if neg {
					return p.errAt(t, "register %s cannot be subtracted", t.s)
				}
				if p.isPunct("*") {
					p.next()
					st := p.next()
					if err := p.setIndex(op, t, st, false); err != nil {
						return err
					}
					continue
				}
				if err := p.setBase(op, r, t); err != nil {
					return err
				}
				continue
			}
		}
		e, err := p.parseBin(2)
		if err != nil {
			return err
		}
		if neg {
			e = &expr{op: "neg", l: e, pos: t.pos}
		}
		if op.disp == nil {
			op.disp = e
		} else {
			op.disp = &expr{op: "+", l: op.disp, r: e, pos: t.pos}
		}
	}
	return p.checkAddress(op)
}

func (p *parser) setBase(op *operand, r *register, t token) error {
	if r.kind != rkGPR && r.kind != rkRIP || r.size < 32 {
		return p.errAt(t, "register %s cannot be used in an address", t.s)
	}
	if op.base == nil {
		op.base = r
		return nil
	}
	if op.index == nil && r.kind == rkGPR {
		op.index, op.scale = r, 1
		return nil
	}
	return p.errAt(t, "too many registers in memory operand")
}

func (p *parser) setIndex(op *operand, rt, st token, neg bool) error {
	r := lookupReg(rt.s)
	if r == nil || r.kind != rkGPR || r.size < 32 {
		return p.errAt(rt, "expected index register, found %s", rt)
	}
	if neg {
		return p.errAt(rt, "register %s cannot be subtracted", rt.s)
	}
	if st.kind != tNum || (st.val != 1 && st.val != 2 && st.val != 4 && st.val != 8) {
		return p.errAt(st, "scale must be 1, 2, 4 or 8, found %s", st)
	}
	if op.index != nil {
		if op.base == nil && op.scale == 1 {
			op.base = op.index
		} else {
			return p.errAt(rt, "too many index registers in memory operand")
		}
	}
	if r.num == 4 {
		return p.errAt(rt, "%s cannot be an index register", r.name)
	}
	op.index, op.scale = r, int(st.val)
	return nil
}

// checkAddress validates register combinations after parsing.
func (p *parser) checkAddress(op *operand) error {
	at := token{pos: op.pos}
	if op.index != nil && op.index.num == 4 && op.index.kind == rkGPR {
		// [rsp + rax] means base rsp; swap when the scale allows.
		if op.scale == 1 && op.base != nil && op.base.num != 4 {
			op.base, op.index = op.index, op.base
		} else {
			return p.errAt(at, "%s cannot be an index register", op.index.name)
		}
	}
	if op.base != nil && op.base.kind == rkRIP && op.index != nil {
		return p.errAt(at, "rip-relative address cannot have an index register")
	}
	size := 0
	for _, r := range []*register{op.base, op.index} {
		if r == nil || r.kind == rkRIP {
			continue
		}
		if size != 0 && r.size != size {
			return p.errAt(at, "address registers must all be 64-bit or all 32-bit")
		}
		size = r.size
	}
	op.addr32 = size == 32
	return nil
}

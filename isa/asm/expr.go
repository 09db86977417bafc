package asm

import (
	"fmt"

	"klpsim/isa/obj"
)

// expr is an expression tree. Leaves are numbers and symbols ('.' is an
// anonymous symbol at the current location); inner nodes are gas operators.
type expr struct {
	op   string  // "num", "sym", unary "neg" "~" "!", or a binary operator ("+", "<<", ...)
	val  int64   // for "num"
	sym  *symbol // for "sym"
	l, r *expr   // operands (l only for unary)
	pos  pos
}

// symbol is an assembler symbol: a label, an .equ/.set name, an undefined
// reference, or an internal name for '.' and numeric local labels.
type symbol struct {
	name     string
	internal bool // never emitted: .L names, numeric labels, '.'
	pos      pos  // definition, or first reference while undefined

	// Label definition: the value is items[item].off + off in sec.
	sec  *section
	item int
	off  uint64

	equ      *expr // value of an .equ/.set/= symbol
	visiting bool  // cycle detection while evaluating equ

	bind     obj.SymBind
	bindSet  bool // .globl/.weak/.local seen
	typ      obj.SymType
	size     *expr // from .size
	used     bool  // referenced by an expression
	objIndex int   // index in the output symbol table, -1 if not emitted
}

func (s *symbol) isLabel() bool { return s.sec != nil }

func (s *symbol) defined() bool { return s.sec != nil || s.equ != nil }

// exported reports whether references resolve through the symbol itself
// rather than its section: global and weak symbols may be preempted or
// overridden at load time, so gas keeps relocations against them.
func (s *symbol) exported() bool { return s.bindSet && s.bind != obj.BindLocal }

// value is the result of evaluating an expression after layout: a constant
// plus a linear combination of section bases and undefined symbols.
type value struct {
	c      int64            // constant part, including the offsets of labels
	secs   map[*section]int // coefficient of each section's base address (zero entries removed)
	undef  map[*symbol]int  // coefficient of each undefined symbol
	single *symbol          // set when the expression is exactly one symbol (plus a constant)
}

func constValue(c int64) value { return value{c: c} }

func (v value) isConst() bool { return len(v.secs) == 0 && len(v.undef) == 0 }

func (v value) scale(k int) value {
	out := value{c: v.c * int64(k)}
	for s, n := range v.secs {
		out.addSec(s, n*k)
	}
	for s, n := range v.undef {
		out.addUndef(s, n*k)
	}
	if k == 1 {
		out.single = v.single
	}
	return out
}

func (v *value) addSec(s *section, n int) {
	if v.secs == nil {
		v.secs = map[*section]int{}
	}
	v.secs[s] += n
	if v.secs[s] == 0 {
		delete(v.secs, s)
	}
}

func (v *value) addUndef(s *symbol, n int) {
	if v.undef == nil {
		v.undef = map[*symbol]int{}
	}
	v.undef[s] += n
	if v.undef[s] == 0 {
		delete(v.undef, s)
	}
}

func add(a, b value) value {
	out := value{c: a.c + b.c}
	for s, n := range a.secs {
		out.addSec(s, n)
	}
	for s, n := range b.secs {
		out.addSec(s, n)
	}
	for s, n := range a.undef {
		out.addUndef(s, n)
	}
	for s, n := range b.undef {
		out.addUndef(s, n)
	}
	switch {
	case b.isConst():
		out.single = a.single
	case a.isConst():
		out.single = b.single
	}
	return out
}

// evalError is an error found while evaluating, reported at the expression.
type evalError struct {
	pos pos
	msg string
}

func (e *evalError) Error() string { return e.msg }

// eval computes e. With final false it runs while parsing, when labels have
// no addresses yet: it succeeds only for absolute expressions whose symbols
// are already defined (so "mov eax, X" with X = 5 above is an immediate, as in
// gas). With final true layout is done and every label has its address.
func (a *assembler) eval(e *expr, final bool) (value, error) {
	switch e.op {
	case "num":
		return constValue(e.val), nil
	case "sym":
		s := e.sym
		if s.equ != nil {
			if s.visiting {
				return value{}, &evalError{e.pos, fmt.Sprintf("symbol %s is defined in terms of itself", s.name)}
			}
			s.visiting = true
			v, err := a.eval(s.equ, final)
			s.visiting = false
			if err != nil {
				return v, err
			}
			// References resolve through the equated name, which is
			// local, as in gas: lea rax, [rip + alias] with alias =
			// global + 2 is resolved in place, not relocated.
			v.single = nil
			if !v.isConst() {
				v.single = s
			}
			return v, nil
		}
		if !final {
			return value{}, errNotYet
		}
		if s.sec != nil {
			v := value{c: int64(s.sec.items[s.item].off + s.off), single: s}
			v.addSec(s.sec, 1)
			return v, nil
		}
		v := value{single: s}
		v.addUndef(s, 1)
		return v, nil
	case "neg", "~", "!":
		v, err := a.eval(e.l, final)
		if err != nil {
			return v, err
		}
		if e.op == "neg" {
			return v.scale(-1), nil
		}
		if !v.isConst() {
			return value{}, &evalError{e.pos, fmt.Sprintf("operand of %s is not a constant", e.op)}
		}
		if e.op == "~" {
			return constValue(^v.c), nil
		}
		return constValue(b2i(v.c == 0)), nil
	}
	l, err := a.eval(e.l, final)
	if err != nil {
		return l, err
	}
	r, err := a.eval(e.r, final)
	if err != nil {
		return r, err
	}
	switch e.op {
	case "+":
		return add(l, r), nil
	case "-":
		return add(l, r.scale(-1)), nil
	}
	if !l.isConst() || !r.isConst() {
		return value{}, &evalError{e.pos, fmt.Sprintf("operands of %s must be constants", e.op)}
	}
	x, y := l.c, r.c
	switch e.op {
	case "*":
		return constValue(x * y), nil
	case "/", "%":
		if y == 0 {
			return value{}, &evalError{e.pos, "division by zero"}
		}
		if x == -1<<63 && y == -1 {
			return constValue(x), nil
		}
		if e.op == "/" {
			return constValue(x / y), nil
		}
		return constValue(x % y), nil
	case "<<":
		return constValue(int64(uint64(x) << (uint64(y) & 63))), nil
	case ">>":
		return constValue(x >> (uint64(y) & 63)), nil
	case "&":
		return constValue(x & y), nil
	case "|":
		return constValue(x | y), nil
	case "^":
		return constValue(x ^ y), nil
	case "==":
		return constValue(-b2i(x == y)), nil
	case "!=", "<>":
		return constValue(-b2i(x != y)), nil
	case "&&":
		return constValue(b2i(x != 0 && y != 0)), nil
	case "||":
		return constValue(b2i(x != 0 || y != 0)), nil
	}
	return value{}, &evalError{e.pos, fmt.Sprintf("unknown operator %s", e.op)}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// errNotYet reports that a parse-time evaluation needs label addresses.
var errNotYet = &evalError{msg: "value not known yet"}

// constNow evaluates e while parsing; ok is false if it is not (yet) an
// absolute constant.
func (a *assembler) constNow(e *expr) (int64, bool) {
	v, err := a.eval(e, false)
	if err != nil || !v.isConst() {
		return 0, false
	}
	return v.c, true
}

// Expression grammar, with gas's precedence (highest first):
//
//	unary:  - ~ ! +
//	mul:    * / % << >>
//	bitwise: | & ^
//	add:    + - == != <>
//	logic:  && ||
var binLevels = [][]string{
	{"&&", "||"},
	{"+", "-", "==", "!=", "<>"},
	{"|", "&", "^"},
	{"*", "/", "%", "<<", ">>"},
}

func (p *parser) parseExpr() (*expr, error) { return p.parseBin(0) }

func (p *parser) parseBin(level int) (*expr, error) {
	if level == len(binLevels) {
		return p.parseUnary()
	}
	l, err := p.parseBin(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tPunct || !contains(binLevels[level], t.s) {
			return l, nil
		}
		p.next()
		r, err := p.parseBin(level + 1)
		if err != nil {
			return nil, err
		}
		l = &expr{op: t.s, l: l, r: r, pos: t.pos}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) parseUnary() (*expr, error) {
	t := p.peek()
	if t.kind == tPunct {
		switch t.s {
		case "-", "~", "!":
			p.next()
			x, err := p.parseUnary()
			if err != nil {
				return nil, err
			}
			op := t.s
			if op == "-" {
				op = "neg"
			}
			return &expr{op: op, l: x, pos: t.pos}, nil
		case "+":
			p.next()
			return p.parseUnary()
		case "(":
			p.next()
			x, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if err := p.expectPunct(")"); err != nil {
				return nil, err
			}
			return x, nil
		}
	}
	switch t.kind {
	case tNum:
		p.next()
		return &expr{op: "num", val: t.val, pos: t.pos}, nil
	case tLocalRef:
		p.next()
		s, err := p.a.localRef(t)
		if err != nil {
			return nil, err
		}
		return &expr{op: "sym", sym: s, pos: t.pos}, nil
	case tIdent:
		if t.s == "." {
			p.next()
			return &expr{op: "sym", sym: p.a.here(t.pos), pos: t.pos}, nil
		}
		if lookupReg(t.s) != nil {
			return nil, p.errAt(t, "expected expression, found register %s", t.s)
		}
		p.next()
		return &expr{op: "sym", sym: p.a.ref(t.s, t.pos), pos: t.pos}, nil
	}
	return nil, p.errAt(t, "expected expression, found %s", t)
}

package asm

import (
	"klpsim/isa/obj"
)

// directive parses and applies one directive; name is its token.
func (p *parser) directive(name token) error {
	a := p.a
	switch lower(name.s) {
	case ".text", ".data", ".bss", ".rodata":
		a.switchTo(a.section(lower(name.s)))
		return p.endLine()
	case ".section", ".pushsection":
		s, err := p.sectionSpec()
		if err != nil {
			return err
		}
		if lower(name.s) == ".pushsection" {
			a.stack = append(a.stack, a.cur)
		}
		a.switchTo(s)
		return nil
	case ".popsection":
		if len(a.stack) == 0 {
			return p.errAt(name, ".popsection without .pushsection")
		}
		a.switchTo(a.stack[len(a.stack)-1])
		a.stack = a.stack[:len(a.stack)-1]
		return p.endLine()
	case ".previous":
		if a.prev == nil {
			return p.errAt(name, ".previous without an earlier section")
		}
		a.switchTo(a.prev)
		return p.endLine()
	case ".globl", ".global", ".weak", ".local":
		bind := map[string]obj.SymBind{".globl": obj.BindGlobal, ".global": obj.BindGlobal, ".weak": obj.BindWeak, ".local": obj.BindLocal}[lower(name.s)]
		return p.nameList(func(t token) error {
			s := a.lookup(t.s, t.pos)
			if s.bindSet && s.bind != bind && !(s.bind == obj.BindGlobal && bind == obj.BindWeak) {
				return p.errAt(t, "symbol %s was already declared %s", t.s, s.bind)
			}
			s.bind, s.bindSet = bind, true
			return nil
		})
	case ".hidden", ".protected", ".internal":
		// Visibility does not matter to the module loader; accepted for gcc output.
		return p.nameList(func(t token) error { a.lookup(t.s, t.pos); return nil })
	case ".type":
		return p.typeDirective()
	case ".size":
		t, e, err := p.nameCommaExpr()
		if err != nil {
			return err
		}
		s := a.lookup(t.s, t.pos)
		s.size = e
		return p.endLine()
	case ".equ", ".set", ".equiv":
		t, e, err := p.nameCommaExpr()
		if err != nil {
			return err
		}
		a.define(t.s, e, t.pos, lower(name.s) == ".set")
		return p.endLine()
	case ".align", ".balign", ".p2align":
		return p.alignDirective(name)
	case ".byte":
		return p.data(1)
	case ".word", ".short", ".hword", ".value", ".2byte":
		return p.data(2)
	case ".long", ".int", ".4byte":
		return p.data(4)
	case ".quad", ".8byte":
		return p.data(8)
	case ".ascii", ".asciz", ".string":
		zero := lower(name.s) != ".ascii"
		for {
			t := p.next()
			if t.kind != tStr {
				return p.errAt(t, "expected string, found %s", t)
			}
			b := []byte(t.s)
			if zero {
				b = append(b, 0)
			}
			a.emit(t.pos, b, nil)
			if !p.isPunct(",") {
				return p.endLine()
			}
			p.next()
		}
	case ".zero", ".skip", ".space":
		n, err := p.constExpr("size")
		if err != nil {
			return err
		}
		var fill int64
		if lower(name.s) != ".zero" && p.isPunct(",") {
			p.next()
			if fill, err = p.constExpr("fill byte"); err != nil {
				return err
			}
		}
		if n < 0 {
			return p.errAt(name, "negative size %d", n)
		}
		a.space(name.pos, uint64(n), byte(fill))
		return p.endLine()
	case ".fill":
		return p.fill(name)
	case ".intel_syntax":
		if t := p.peek(); t.kind == tIdent && lower(t.s) == "noprefix" {
			p.next()
			return p.endLine()
		}
		return p.errAt(p.peek(), "expected noprefix (registers are written without %%)")
	case ".att_syntax":
		return p.errAt(name, "AT&T syntax is not supported; use .intel_syntax noprefix")
	case ".code64":
		return p.endLine()
	case ".file", ".ident":
		p.skipLine()
		return nil
	case ".macro":
		return p.defineMacro(name)
	case ".endm":
		return p.errAt(name, ".endm without .macro")
	case ".fentry":
		it := a.tail(name.pos)
		a.fentries = append(a.fentries, fentrySite{sec: a.cur, item: len(a.cur.items) - 1, off: it.size, pos: name.pos})
		if !a.cur.exec() {
			return p.errAt(name, ".fentry outside an executable section")
		}
		a.markLine(name.pos, len(obj.Nop5))
		a.emit(name.pos, obj.Nop5[:], nil)
		return p.endLine()
	}
	return p.errAt(name, "unknown directive %s", name.s)
}

func (p *parser) ident(what string) (token, error) {
	t := p.next()
	if t.kind != tIdent || t.s == "." {
		return t, p.errAt(t, "expected %s, found %s", what, t)
	}
	return t, nil
}

// nameCommaExpr parses "name, expr", the operands of .size and .set.
func (p *parser) nameCommaExpr() (token, *expr, error) {
	t, err := p.ident("symbol name")
	if err != nil {
		return t, nil, err
	}
	if err := p.expectPunct(","); err != nil {
		return t, nil, err
	}
	e, err := p.parseExpr()
	return t, e, err
}

// nameList parses "name[, name...]".
func (p *parser) nameList(f func(token) error) error {
	for {
		t, err := p.ident("symbol name")
		if err != nil {
			return err
		}
		if err := f(t); err != nil {
			return err
		}
		if !p.isPunct(",") {
			return p.endLine()
		}
		p.next()
	}
}

func (p *parser) constExpr(what string) (int64, error) {
	t := p.peek()
	e, err := p.parseExpr()
	if err != nil {
		return 0, err
	}
	v, ok := p.a.constNow(e)
	if !ok {
		return 0, p.errAt(t, "expected constant %s", what)
	}
	return v, nil
}

// sectionSpec parses NAME[, "flags"[, @type[, ...]]] after .section.
func (p *parser) sectionSpec() (*section, error) {
	t := p.next()
	name := t.s
	if t.kind != tIdent && t.kind != tStr {
		return nil, p.errAt(t, "expected section name, found %s", t)
	}
	// Names like .text.unlikely lex as one identifier; also allow a dash.
	for p.isPunct("-") && p.peekAt(1).kind == tIdent {
		p.next()
		name += "-" + p.next().s
	}
	a := p.a
	_, exists := findSection(a.secs, name)
	s := a.section(name)
	if !p.isPunct(",") {
		return s, p.endLine()
	}
	p.next()
	ft := p.next()
	if ft.kind != tStr {
		return nil, p.errAt(ft, "expected section flags string, found %s", ft)
	}
	var flags obj.SectionFlags
	for i := 0; i < len(ft.s); i++ {
		switch ft.s[i] {
		case 'a':
			flags |= obj.FlagAlloc
		case 'w':
			flags |= obj.FlagWrite
		case 'x':
			flags |= obj.FlagExec
		default:
			return nil, p.errAt(ft, "unsupported section flag %q (want a, w, x)", ft.s[i])
		}
	}
	nobits := s.nobits
	if p.isPunct(",") {
		p.next()
		if !p.isPunct("@") && !p.isPunct("%") {
			return nil, p.errAt(p.peek(), "expected @progbits or @nobits, found %s", p.peek())
		}
		p.next()
		tt, err := p.ident("section type")
		if err != nil {
			return nil, err
		}
		switch tt.s {
		case "progbits", "note":
			nobits = false
		case "nobits":
			nobits = true
		default:
			return nil, p.errAt(tt, "unsupported section type @%s (want @progbits, @nobits or @note)", tt.s)
		}
	}
	if exists && (flags != s.flags || nobits != s.nobits) && len(s.items) > 0 {
		return nil, p.errAt(t, "section %s redeclared with different attributes", name)
	}
	s.flags, s.nobits = flags, nobits
	return s, p.endLine()
}

func findSection(secs []*section, name string) (*section, bool) {
	for _, s := range secs {
		if s.name == name {
			return s, true
		}
	}
	return nil, false
}

// typeDirective parses ".type sym, @function|@object|@notype".
func (p *parser) typeDirective() error {
	t, err := p.ident("symbol name")
	if err != nil {
		return err
	}
	if err := p.expectPunct(","); err != nil {
		return err
	}
	if p.isPunct("@") || p.isPunct("%") {
		p.next()
	}
	k := p.next()
	var typ obj.SymType
	switch k.s {
	case "function", "STT_FUNC":
		typ = obj.SymFunc
	case "object", "STT_OBJECT":
		typ = obj.SymObject
	case "notype", "STT_NOTYPE":
		typ = obj.SymNoType
	default:
		return p.errAt(k, "expected @function, @object or @notype, found %s", k)
	}
	p.a.lookup(t.s, t.pos).typ = typ
	return p.endLine()
}

// alignDirective handles .align/.balign (byte count) and .p2align (power
// of two), with optional fill and max-skip, as gas does on x86 ELF.
func (p *parser) alignDirective(name token) error {
	n, err := p.constExpr("alignment")
	if err != nil {
		return err
	}
	var align uint64
	if lower(name.s) == ".p2align" {
		if n < 0 || n > 24 {
			return p.errAt(name, "alignment 2**%d out of range", n)
		}
		align = 1 << uint(n)
	} else {
		if n <= 0 || n > 1<<24 || n&(n-1) != 0 {
			if n == 0 {
				n = 1
			} else {
				return p.errAt(name, "alignment %d is not a power of two", n)
			}
		}
		align = uint64(n)
	}
	fill := -1
	var max int64
	if p.isPunct(",") {
		p.next()
		if !p.isPunct(",") {
			f, err := p.constExpr("fill byte")
			if err != nil {
				return err
			}
			fill = int(byte(f))
		}
		if p.isPunct(",") {
			p.next()
			if max, err = p.constExpr("maximum skip"); err != nil {
				return err
			}
		}
	}
	if err := p.endLine(); err != nil {
		return err
	}
	a := p.a
	if fill < 0 && !a.cur.exec() {
		fill = 0
	}
	if align > a.cur.align {
		a.cur.align = align
	}
	if align > 1 {
		a.cur.items = append(a.cur.items, &item{kind: itemAlign, align: align, fill: fill, max: uint64(max), pos: name.pos})
	}
	return nil
}

// data parses .byte/.word/.long/.quad operands.
func (p *parser) data(size int) error {
	a := p.a
	for {
		t := p.peek()
		e, err := p.parseExpr()
		if err != nil {
			return err
		}
		b := make([]byte, size)
		if v, ok := a.constNow(e); ok {
			if !fits(v, size, false) {
				return p.errAt(t, "value %#x does not fit in %d byte(s)", v, size)
			}
			putLE(b, v)
			a.emit(t.pos, b, nil)
		} else {
			f := fixup{kind: fixAbs, size: size, e: e, pos: t.pos}
			switch size {
			case 4:
				f.rtype = obj.RelAbs32
			case 8:
				f.rtype = obj.RelAbs64
			}
			a.emit(t.pos, b, []fixup{f})
		}
		if !p.isPunct(",") {
			return p.endLine()
		}
		p.next()
	}
}

// fits reports whether v fits in an n-byte field: as a signed number if
// signed (the CPU sign-extends it), else as either signed or unsigned.
func fits(v int64, n int, signed bool) bool {
	if n >= 8 {
		return true
	}
	bits := uint(8 * n)
	lo := -int64(1) << (bits - 1)
	hi := int64(1)<<bits - 1
	if signed {
		hi = int64(1)<<(bits-1) - 1
	}
	return v >= lo && v <= hi
}

func putLE(b []byte, v int64) {
	for i := range b {
		b[i] = byte(v >> (8 * uint(i)))
	}
}

// fill handles ".fill repeat[, size[, value]]": repeat copies of value in
// size bytes; as in gas, value is 4 bytes wide and higher bytes are zero.
func (p *parser) fill(name token) error {
	repeat, err := p.constExpr("repeat count")
	if err != nil {
		return err
	}
	size, value := int64(1), int64(0)
	if p.isPunct(",") {
		p.next()
		if size, err = p.constExpr("size"); err != nil {
			return err
		}
		if p.isPunct(",") {
			p.next()
			if value, err = p.constExpr("value"); err != nil {
				return err
			}
		}
	}
	if repeat < 0 || size < 0 || size > 8 {
		return p.errAt(name, ".fill repeat must be non-negative and size at most 8")
	}
	if repeat > maxSectionSize || repeat*size > maxSectionSize {
		return p.errAt(name, ".fill of %d bytes is too large", repeat*size)
	}
	b := make([]byte, size)
	putLE(b[:min(size, 4)], value)
	if p.a.cur.nobits && value == 0 {
		p.a.space(name.pos, uint64(repeat*size), 0)
		return p.endLine()
	}
	for i := int64(0); i < repeat; i++ {
		p.a.emit(name.pos, b, nil)
	}
	return p.endLine()
}

// Package asm assembles the Intel-syntax x86-64 subset that klpsim guest
// code is written in into an obj.Object.
//
// The syntax is GNU as with ".intel_syntax noprefix", and the output matches
// GNU as (binutils, default options) byte for byte, including symbols and
// relocations, so that a source file can be cross-checked against `as` and
// an object read from gcc output looks the same to the module loader. The
// directive ".fentry" marks a patchable function entry: it emits the 5-byte
// NOP and records an obj.FtraceSite. docs/assembler.md is the reference.
package asm

import (
	"fmt"
	"sort"
	"strconv"

	"klpsim/isa/obj"
)

// Assemble translates src (named filename in error messages) into an
// object. On failure the error is an ErrorList. It never panics.
func Assemble(filename string, src []byte) (*obj.Object, error) {
	return AssembleWith(filename, src, Options{})
}

// Options adjust an assembly.
type Options struct {
	// Defsym predefines absolute symbols, like gas's --defsym NAME=VALUE:
	// the guest kernel's ABI constants reach every source file this way.
	// They are not emitted into the object's symbol table.
	Defsym map[string]int64
	// NoLines leaves Object.Lines empty: the source lines of
	// instructions are for symbol files, and a build that makes none
	// need not record them.
	NoLines bool
}

// AssembleWith is Assemble with options.
func AssembleWith(filename string, src []byte, opts Options) (*obj.Object, error) {
	a := newAssembler(filename)
	a.noLines = opts.NoLines
	names := make([]string, 0, len(opts.Defsym))
	for n := range opts.Defsym {
		names = append(names, n)
	}
	sort.Strings(names) // errors in a deterministic order
	for _, n := range names {
		a.define(n, &expr{op: "num", val: opts.Defsym[n]}, pos{}, false)
		if s := a.syms[n]; s != nil {
			s.internal = true
		}
	}
	toks, lexErrs := lex(filename, src)
	a.errs = append(a.errs, lexErrs...)
	p := &parser{a: a, toks: toks}
	for !p.atEnd() && len(a.errs) < maxErrors {
		p.statement()
	}
	if len(a.errs) == 0 {
		a.finish()
	}
	if len(a.errs) > 0 {
		if len(a.errs) > maxErrors {
			a.errs = a.errs[:maxErrors]
		}
		return nil, a.errs
	}
	return a.object, nil
}

// itemKind says how an item's size is determined.
type itemKind uint8

const (
	itemData   itemKind = iota // fixed bytes (or, in a NOBITS section, fixed zero space)
	itemBranch                 // jmp/jcc whose size is chosen by relaxation
	itemAlign                  // padding up to an alignment boundary
)

// item is a run of a section's contents. Layout assigns each item its
// offset; only branches and alignment padding change size while relaxing.
type item struct {
	kind  itemKind
	data  []byte  // itemData contents (nil in NOBITS sections)
	size  uint64  // current size in bytes
	fix   []fixup // fields to patch, offsets relative to the item
	br    *branch // itemBranch
	align uint64  // itemAlign: boundary in bytes
	fill  int     // itemAlign: fill byte, or -1 for NOPs
	max   uint64  // itemAlign: skip the padding if it would exceed this (0 = no limit)
	off   uint64  // offset in the section, set by layout
	pos   pos     // source position
}

// branch is a relaxable jmp/jcc.
type branch struct {
	short  []byte // opcode of the rel8 form
	long   []byte // opcode of the rel32 form
	target *expr  // destination
	tpos   pos    // position of the target operand
	isLong bool   // current choice; only ever goes from false to true
}

// section is an output section being built.
type section struct {
	name   string
	flags  obj.SectionFlags
	nobits bool
	align  uint64
	items  []*item
	lines  []lineMark // where each instruction came from (lines.go)
	index  int
	symIdx int // output index of the section symbol, -1 until a relocation needs it
}

func (s *section) exec() bool { return s.flags&obj.FlagExec != 0 }

// fixKind says how a fixup's field is computed.
type fixKind uint8

const (
	fixAbs    fixKind = iota // absolute value: data, immediate, disp32; pc-relative only if the expression subtracts a location in this section
	fixRIP                   // rip-relative displacement: target minus the end of the instruction
	fixBranch                // call/jmp/jcc rel32 that is not relaxed: as fixRIP, but PLT32 for non-local symbols
)

// fixup is a field whose value depends on symbols.
type fixup struct {
	kind   fixKind
	off    uint64        // field offset within the item
	size   int           // field width in bytes
	e      *expr         // value (or target for fixRIP/fixBranch)
	rtype  obj.RelocType // relocation to emit for an absolute reference (0 if none is possible)
	signed bool          // the field is sign-extended by the CPU (range check)
	tail   int64         // fixRIP/fixBranch: bytes from the field's start to the end of the instruction
	pos    pos
}

// fentrySite is a recorded .fentry.
type fentrySite struct {
	sec  *section
	item int
	off  uint64
	pos  pos
}

type assembler struct {
	noLines    bool              // Options.NoLines
	macros     map[string]*macro // .macro definitions by lower-case name
	expansions int               // macro expansions so far (bounded)
	file       string
	errs       ErrorList
	secs       []*section
	cur        *section
	prev       *section   // for .previous
	stack      []*section // .pushsection
	syms       map[string]*symbol
	order      []*symbol          // named symbols in first-appearance order
	numBack    map[string]*symbol // numeric label N: its latest definition
	numFwd     map[string]*symbol // numeric label N: the pending target of Nf
	fentries   []fentrySite
	prefix     []token // prefixes on a line of their own ("lock;"), applied to the next instruction
	object     *obj.Object
}

func newAssembler(file string) *assembler {
	a := &assembler{
		file:    file,
		syms:    map[string]*symbol{},
		numBack: map[string]*symbol{},
		numFwd:  map[string]*symbol{},
	}
	// gas always creates these three, in this order.
	a.cur = a.section(".text")
	a.section(".data")
	a.section(".bss")
	return a
}

func (a *assembler) errorf(p pos, format string, args ...any) {
	a.errs = append(a.errs, &Error{File: a.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)})
}

// defaultFlags gives the ELF flags gas (bfd) uses for well-known section
// names, matching by exact name or "name." prefix.
func defaultFlags(name string) (obj.SectionFlags, bool) {
	has := func(p string) bool { return name == p || len(name) > len(p) && name[:len(p)+1] == p+"." }
	switch {
	case has(".text"):
		return obj.FlagAlloc | obj.FlagExec, false
	case has(".data"):
		return obj.FlagAlloc | obj.FlagWrite, false
	case has(".bss"):
		return obj.FlagAlloc | obj.FlagWrite, true
	case has(".rodata"):
		return obj.FlagAlloc, false
	}
	return 0, false
}

// section returns the section called name, creating it with default flags.
func (a *assembler) section(name string) *section {
	for _, s := range a.secs {
		if s.name == name {
			return s
		}
	}
	flags, nobits := defaultFlags(name)
	s := &section{name: name, flags: flags, nobits: nobits, align: 1, index: len(a.secs), symIdx: -1}
	a.secs = append(a.secs, s)
	return s
}

func (a *assembler) switchTo(s *section) {
	if s != a.cur {
		a.prev = a.cur
		a.cur = s
	}
}

// tail returns the data item at the end of the current section, starting a
// new one after a branch or alignment.
func (a *assembler) tail(p pos) *item {
	s := a.cur
	if n := len(s.items); n > 0 && s.items[n-1].kind == itemData {
		return s.items[n-1]
	}
	it := &item{kind: itemData, pos: p}
	s.items = append(s.items, it)
	return it
}

// emit appends bytes (with fixups relative to b's start) to the current
// section.
func (a *assembler) emit(p pos, b []byte, fix []fixup) {
	if a.cur.nobits {
		for _, c := range b {
			if c != 0 {
				a.errorf(p, "non-zero data in NOBITS section %s", a.cur.name)
				return
			}
		}
		if len(fix) > 0 {
			a.errorf(p, "relocated data in NOBITS section %s", a.cur.name)
			return
		}
		a.tail(p).size += uint64(len(b))
		return
	}
	it := a.tail(p)
	base := uint64(len(it.data))
	for _, f := range fix {
		f.off += base
		it.fix = append(it.fix, f)
	}
	it.data = append(it.data, b...)
	it.size = uint64(len(it.data))
}

// space appends n zero (or fill) bytes.
func (a *assembler) space(p pos, n uint64, fill byte) {
	if n > maxSectionSize || a.sizeSoFar()+n > maxSectionSize {
		a.errorf(p, "section %s would exceed %d bytes", a.cur.name, maxSectionSize)
		return
	}
	if a.cur.nobits {
		if fill != 0 {
			a.errorf(p, "non-zero fill in NOBITS section %s", a.cur.name)
			return
		}
		a.tail(p).size += n
		return
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = fill
	}
	a.emit(p, b, nil)
}

// maxSectionSize bounds every section, so that a hostile source (".skip
// 1<<40", ".p2align 30" repeated) is an error rather than an allocation.
const maxSectionSize = 1 << 24

// sizeSoFar is an upper bound on the current section's size (branches
// counted long, alignment counted full), used to refuse absurd inputs.
func (a *assembler) sizeSoFar() uint64 {
	var n uint64
	for _, it := range a.cur.items {
		switch it.kind {
		case itemData:
			n += it.size
		case itemBranch:
			n += 6
		case itemAlign:
			n += it.align
		}
	}
	return n
}

// lookup returns the symbol called name, creating an undefined one.
func (a *assembler) lookup(name string, p pos) *symbol {
	if s, ok := a.syms[name]; ok {
		return s
	}
	s := &symbol{name: name, pos: p, internal: len(name) >= 2 && name[:2] == ".L", objIndex: -1}
	a.syms[name] = s
	a.order = append(a.order, s)
	return s
}

// ref is a reference to name from an expression.
func (a *assembler) ref(name string, p pos) *symbol {
	s := a.lookup(name, p)
	s.used = true
	return s
}

// here returns an anonymous symbol for '.', the current location.
func (a *assembler) here(p pos) *symbol {
	it := a.tail(p)
	return &symbol{name: ".", internal: true, pos: p, sec: a.cur, item: len(a.cur.items) - 1, off: it.size, objIndex: -1}
}

// defineLabel binds name to the current location.
func (a *assembler) defineLabel(name string, p pos) {
	if lookupReg(name) != nil {
		a.errorf(p, "register name %s cannot be used as a label", name)
		return
	}
	s := a.lookup(name, p)
	if s.defined() {
		a.errorf(p, "symbol %s is already defined at line %d", name, s.pos.line)
		return
	}
	a.place(s, p)
}

func (a *assembler) place(s *symbol, p pos) {
	it := a.tail(p)
	s.sec, s.item, s.off, s.pos = a.cur, len(a.cur.items)-1, it.size, p
}

// defineNumeric handles "N:"; it also resolves a pending Nf.
func (a *assembler) defineNumeric(n string, p pos) {
	s := a.numFwd[n]
	delete(a.numFwd, n)
	if s == nil {
		s = &symbol{name: n, internal: true, objIndex: -1}
	}
	a.place(s, p)
	a.numBack[n] = s
}

// localRef resolves a numeric local label reference "Nb" or "Nf".
func (a *assembler) localRef(t token) (*symbol, error) {
	n, dir := t.s[:len(t.s)-1], t.s[len(t.s)-1]
	if v, err := strconv.ParseUint(n, 10, 64); err == nil {
		n = strconv.FormatUint(v, 10) // "01f" refers to "1:"
	}
	if dir == 'b' {
		if s := a.numBack[n]; s != nil {
			return s, nil
		}
		return nil, &Error{File: a.file, Line: t.pos.line, Col: t.pos.col, Msg: fmt.Sprintf("undefined local label %s", t.s)}
	}
	s := a.numFwd[n]
	if s == nil {
		s = &symbol{name: t.s, internal: true, pos: t.pos, objIndex: -1}
		a.numFwd[n] = s
	}
	return s, nil
}

// define handles .equ/.set/=: later redefinitions (allowed for .set and =)
// create a fresh symbol so that earlier uses keep the earlier value, as in gas.
func (a *assembler) define(name string, e *expr, p pos, redefine bool) {
	if lookupReg(name) != nil {
		a.errorf(p, "register name %s cannot be used as a symbol", name)
		return
	}
	s := a.lookup(name, p)
	if s.defined() {
		if !redefine || s.isLabel() {
			a.errorf(p, "symbol %s is already defined at line %d", name, s.pos.line)
			return
		}
		ns := &symbol{name: name, internal: s.internal, bind: s.bind, bindSet: s.bindSet, typ: s.typ, size: s.size, objIndex: -1}
		s.internal = true // the old version is no longer the named one
		a.syms[name] = ns
		a.order = append(a.order, ns)
		s = ns
	}
	s.equ, s.pos = e, p
}

// parser walks the token stream one statement at a time.
type parser struct {
	a    *assembler
	toks []token
	i    int
}

func (p *parser) atEnd() bool { return p.i >= len(p.toks) }

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{kind: tEOL}
}

func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return token{kind: tEOL}
}

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.s == s
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &Error{File: p.a.file, Line: t.pos.line, Col: t.pos.col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) expectPunct(s string) error {
	t := p.peek()
	if t.kind != tPunct || t.s != s {
		return p.errAt(t, "expected %q, found %s", s, t)
	}
	p.next()
	return nil
}

// skipLine drops the rest of the statement (after an error).
func (p *parser) skipLine() {
	for !p.atEnd() && p.peek().kind != tEOL {
		p.next()
	}
	p.next()
}

// endLine requires the end of the statement.
func (p *parser) endLine() error {
	t := p.peek()
	if t.kind != tEOL {
		return p.errAt(t, "expected end of line, found %s", t)
	}
	p.next()
	return nil
}

// statement parses labels, then one directive, assignment or instruction.
func (p *parser) statement() {
	start := p.i
	if err := p.statement1(); err != nil {
		if e, ok := err.(*Error); ok {
			p.a.errs = append(p.a.errs, e)
		} else {
			t := p.peek()
			p.a.errorf(t.pos, "%v", err)
		}
		// Errors found after the end of the statement was consumed
		// (encoding, operand checks) must not swallow the next line.
		if !(p.i > start && p.toks[p.i-1].kind == tEOL) {
			p.skipLine()
		}
	}
}

func (p *parser) statement1() error {
	a := p.a
	for {
		t := p.peek()
		switch {
		case t.kind == tEOL:
			p.next()
			return nil
		case t.kind == tNum && p.peekAt(1).kind == tPunct && p.peekAt(1).s == ":" && allDigits(t.s):
			p.next()
			p.next()
			a.defineNumeric(strconv.FormatInt(t.val, 10), t.pos)
			continue
		case t.kind == tIdent && p.peekAt(1).kind == tPunct && p.peekAt(1).s == ":" && lookupReg(t.s) == nil:
			p.next()
			p.next()
			a.defineLabel(t.s, t.pos)
			continue
		case t.kind == tIdent && p.peekAt(1).kind == tPunct && p.peekAt(1).s == "=" && !(p.peekAt(2).kind == tPunct && p.peekAt(2).s == "="):
			p.next()
			p.next()
			e, err := p.parseExpr()
			if err != nil {
				return err
			}
			a.define(t.s, e, t.pos, true)
			return p.endLine()
		case t.kind == tIdent && t.s[0] == '.' && t.s != ".":
			p.next()
			return p.directive(t)
		case t.kind == tIdent:
			p.next()
			if m := a.macros[lower(t.s)]; m != nil {
				return p.expandMacro(t, m)
			}
			return p.instruction(t)
		default:
			return p.errAt(t, "expected label, directive or instruction, found %s", t)
		}
	}
}

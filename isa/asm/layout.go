package asm

import (
	"sort"

	"klpsim/isa/obj"
)

// nopPatterns are the NOPs gas pads code with (tc-i386.c alt_patt), by
// length 1-11.
var nopPatterns = [12][]byte{
	nil,
	{0x90},
	{0x66, 0x90},
	{0x0f, 0x1f, 0x00},
	{0x0f, 0x1f, 0x40, 0x00},
	{0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00},
	{0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00},
	{0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
	{0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00},
}

// nopFill returns n bytes of code padding the way gas's i386_generate_nops
// does: 11-byte NOPs then one shorter NOP; for more than 7 full NOPs, a jmp
// over the padding first.
func nopFill(n int) []byte {
	var b []byte
	if n/11 > 7 {
		if d := n - 2; d <= 127 {
			b = append(b, 0xeb, byte(d))
			n = d
		} else {
			n -= 5
			b = append(b, 0xe9, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
		}
	}
	for ; n >= 11; n -= 11 {
		b = append(b, nopPatterns[11]...)
	}
	return append(b, nopPatterns[n]...)
}

func (it *item) padding(off uint64) uint64 {
	pad := (it.align - off%it.align) % it.align
	if it.max != 0 && pad > it.max {
		return 0
	}
	return pad
}

// maxRelaxPasses bounds branch relaxation; each pass makes at least one
// branch long, so this is never reached for real inputs.
const maxRelaxPasses = 100000

// layout assigns offsets to every item, growing branches that do not reach
// their target with rel8 until nothing changes (gas's relaxation: branches
// start short and only grow).
func (a *assembler) layout() bool {
	for pass := 0; pass < maxRelaxPasses; pass++ {
		for _, s := range a.secs {
			var off uint64
			for _, it := range s.items {
				it.off = off
				switch it.kind {
				case itemAlign:
					it.size = it.padding(off)
				case itemBranch:
					if it.br.isLong {
						it.size = uint64(len(it.br.long) + 4)
					} else {
						it.size = uint64(len(it.br.short) + 1)
					}
				}
				off += it.size
				if off > maxSectionSize {
					a.errorf(it.pos, "section %s would exceed %d bytes", s.name, maxSectionSize)
					return false
				}
			}
		}
		changed := false
		for _, s := range a.secs {
			for _, it := range s.items {
				if it.kind != itemBranch || it.br.isLong {
					continue
				}
				v, err := a.eval(it.br.target, true)
				if err != nil || !relaxable(v, s) {
					it.br.isLong, changed = true, true
					continue
				}
				disp := v.c - int64(it.off+it.size)
				if !fits(disp, 1, true) {
					it.br.isLong, changed = true, true
				}
			}
		}
		if !changed {
			return true
		}
	}
	a.errorf(pos{1, 1}, "branch relaxation did not converge")
	return false
}

// relaxable reports whether a branch to v from section s can be resolved
// in place: the target is in s and is not a weak symbol (which the loader
// may replace). Global symbols count, as in gas without -shared.
func relaxable(v value, s *section) bool {
	if len(v.undef) != 0 || len(v.secs) != 1 || v.secs[s] != 1 {
		return false
	}
	return v.single == nil || !(v.single.bindSet && v.single.bind == obj.BindWeak)
}

// relocTarget is what a relocation refers to before symbol indices exist.
type relocTarget struct {
	sym *symbol  // a named symbol, or
	sec *section // a section's start
}

type pendingReloc struct {
	sec    *section
	off    uint64
	typ    obj.RelocType
	target relocTarget
	addend int64
}

// finish lays out the sections, resolves every fixup and builds the object.
func (a *assembler) finish() {
	for _, s := range a.numFwd {
		a.errorf(s.pos, "undefined local label %s", s.name)
	}
	if len(a.errs) > 0 {
		return
	}
	if !a.layout() {
		return
	}
	o := &obj.Object{}
	var relocs []pendingReloc
	for _, s := range a.secs {
		sec := &obj.Section{Name: s.name, Flags: s.flags, Align: s.align, NoBits: s.nobits}
		var size uint64
		for _, it := range s.items {
			size = it.off + it.size
		}
		sec.Size = size
		if !s.nobits {
			buf := make([]byte, 0, size)
			for _, it := range s.items {
				switch it.kind {
				case itemData:
					buf = append(buf, it.data...)
				case itemAlign:
					if it.fill < 0 {
						buf = append(buf, nopFill(int(it.size))...)
					} else {
						for i := uint64(0); i < it.size; i++ {
							buf = append(buf, byte(it.fill))
						}
					}
				case itemBranch:
					relocs = append(relocs, a.emitBranch(s, it, &buf)...)
				}
			}
			for _, it := range s.items {
				for _, f := range it.fix {
					if r, ok := a.resolve(s, it.off+f.off, f, buf); ok {
						relocs = append(relocs, r)
					}
				}
			}
			sec.Data = buf
		}
		o.Sections = append(o.Sections, sec)
	}
	if len(a.errs) > 0 {
		return
	}
	a.buildSymbols(o, relocs)
	a.buildFtrace(o)
	a.buildLines(o)
	sort.SliceStable(o.Relocs, func(i, j int) bool {
		if o.Relocs[i].Section != o.Relocs[j].Section {
			return o.Relocs[i].Section < o.Relocs[j].Section
		}
		return o.Relocs[i].Offset < o.Relocs[j].Offset
	})
	if len(a.errs) > 0 {
		return
	}
	if err := o.Validate(); err != nil {
		a.errorf(pos{1, 1}, "BUG: assembler produced an invalid object: %v", err)
		return
	}
	a.object = o
}

// emitBranch appends a relaxed jmp/jcc.
func (a *assembler) emitBranch(s *section, it *item, buf *[]byte) []pendingReloc {
	br := it.br
	if !br.isLong {
		v, _ := a.eval(br.target, true)
		*buf = append(*buf, br.short...)
		*buf = append(*buf, byte(v.c-int64(it.off+it.size)))
		return nil
	}
	*buf = append(*buf, br.long...)
	at := len(*buf)
	*buf = append(*buf, 0, 0, 0, 0)
	if v, err := a.eval(br.target, true); err == nil && relaxable(v, s) {
		// In range of rel32 only, but still resolved in place: gas emits no
		// relocation for a relaxed branch, even to a global symbol.
		disp := v.c - int64(it.off+it.size)
		if !fits(disp, 4, true) {
			a.errorf(br.tpos, "branch target out of range")
			return nil
		}
		putLE((*buf)[at:], disp)
		return nil
	}
	f := fixup{kind: fixBranch, size: 4, e: br.target, tail: 4, pos: br.tpos}
	if r, ok := a.resolve(s, uint64(at), f, *buf); ok {
		return []pendingReloc{r}
	}
	return nil
}

func (a *assembler) evalErr(err error, p pos) {
	if e, ok := err.(*evalError); ok && e != errNotYet {
		a.errorf(e.pos, "%s", e.msg)
		return
	}
	if e, ok := err.(*Error); ok {
		a.errs = append(a.errs, e)
		return
	}
	a.errorf(p, "%v", err)
}

// resolve computes fixup f at offset off of section s, writing constants
// into buf and returning a relocation when one is needed.
func (a *assembler) resolve(s *section, off uint64, f fixup, buf []byte) (pendingReloc, bool) {
	var none pendingReloc
	v, err := a.eval(f.e, true)
	if err != nil {
		a.evalErr(err, f.pos)
		return none, false
	}
	for u := range v.undef {
		if u.internal {
			a.errorf(f.pos, "undefined symbol %s", u.name)
			return none, false
		}
	}
	field := buf[off : off+uint64(f.size)]
	put := func(x int64, signed bool) bool {
		if !fits(x, f.size, signed) {
			a.errorf(f.pos, "value %#x does not fit in a %d-byte field", x, f.size)
			return false
		}
		putLE(field, x)
		return true
	}
	switch f.kind {
	case fixAbs:
		if v.isConst() {
			put(v.c, f.signed)
			return none, false
		}
		if t, addend, ok := absTarget(v); ok {
			if f.rtype == 0 {
				a.errorf(f.pos, "%d-byte field cannot hold a relocation (only 4 and 8 bytes can)", f.size)
				return none, false
			}
			return pendingReloc{sec: s, off: off, typ: f.rtype, target: t, addend: addend}, true
		}
		// sym - . : pc-relative data.
		if v.secs[s] == -1 {
			w := v
			w.secs = map[*section]int{}
			for k, n := range v.secs {
				if k != s {
					w.secs[k] = n
				}
			}
			w.single = nil
			if t, addend, ok := absTarget(w); ok {
				if f.size != 4 {
					a.errorf(f.pos, "pc-relative value needs a 4-byte field (.long), not %d", f.size)
					return none, false
				}
				return pendingReloc{sec: s, off: off, typ: obj.RelPC32, target: t, addend: addend + int64(off)}, true
			}
		}
		a.errorf(f.pos, "expression is too complex for a relocation")
		return none, false
	}
	// fixRIP / fixBranch: value is target - end of instruction.
	if v.isConst() {
		if f.kind == fixBranch {
			a.errorf(f.pos, "branch target must be a label or symbol, not a constant")
			return none, false
		}
		put(v.c, true)
		return none, false
	}
	typ := obj.RelPC32
	if f.kind == fixBranch {
		typ = obj.RelPLT32
	}
	if sg := v.single; sg != nil && (!sg.defined() || sg.exported()) && sg.equ == nil {
		addend := v.c - f.tail
		if sg.sec != nil {
			addend -= int64(sg.sec.items[sg.item].off + sg.off)
		}
		return pendingReloc{sec: s, off: off, typ: typ, target: relocTarget{sym: sg}, addend: addend}, true
	}
	if len(v.undef) == 0 && len(v.secs) == 1 {
		for ts, n := range v.secs {
			if n != 1 {
				break
			}
			if ts == s {
				put(v.c-int64(off)-f.tail, true)
				return none, false
			}
			return pendingReloc{sec: s, off: off, typ: obj.RelPC32, target: relocTarget{sec: ts}, addend: v.c - f.tail}, true
		}
	}
	if t, addend, ok := absTarget(v); ok && t.sym != nil {
		return pendingReloc{sec: s, off: off, typ: typ, target: t, addend: addend - f.tail}, true
	}
	a.errorf(f.pos, "expression is too complex for a relocation")
	return none, false
}

// absTarget splits v into one relocatable term plus an addend: an
// undefined symbol, an exported (global/weak) symbol, or a section start.
func absTarget(v value) (relocTarget, int64, bool) {
	if len(v.undef) == 1 && len(v.secs) == 0 {
		for u, n := range v.undef {
			if n == 1 {
				return relocTarget{sym: u}, v.c, true
			}
		}
	}
	if len(v.undef) == 0 && len(v.secs) == 1 {
		for s, n := range v.secs {
			if n != 1 {
				break
			}
			if sg := v.single; sg != nil && sg.exported() && sg.sec == s {
				return relocTarget{sym: sg}, v.c - int64(sg.sec.items[sg.item].off+sg.off), true
			}
			return relocTarget{sec: s}, v.c, true
		}
	}
	return relocTarget{}, 0, false
}

// buildSymbols fills o.Symbols (locals, then the section symbols that
// relocations need, then globals, as in ELF) and o.Relocs.
func (a *assembler) buildSymbols(o *obj.Object, relocs []pendingReloc) {
	type entry struct {
		s   *symbol
		sym *obj.Symbol
	}
	var locals, globals []entry
	for _, s := range a.order {
		if a.syms[s.name] != s && !s.defined() {
			continue
		}
		if s.internal {
			continue
		}
		sym := &obj.Symbol{Name: s.name, Type: s.typ, Bind: obj.BindLocal}
		if s.bindSet {
			sym.Bind = s.bind
		}
		switch {
		case s.sec != nil:
			sym.Section = s.sec.index
			sym.Value = s.sec.items[s.item].off + s.off
		case s.equ != nil:
			v, err := a.eval(s.equ, true)
			if err != nil {
				a.evalErr(err, s.pos)
				continue
			}
			switch {
			case v.isConst():
				sym.Section, sym.Value = obj.SectionAbs, uint64(v.c)
			case len(v.undef) == 0 && len(v.secs) == 1:
				ok := false
				for sec, n := range v.secs {
					if n == 1 {
						sym.Section, sym.Value, ok = sec.index, uint64(v.c), true
					}
				}
				if !ok {
					continue
				}
			default:
				continue // an alias of an undefined symbol: references use the target directly
			}
		default:
			if !s.used && !s.bindSet {
				continue
			}
			if s.bindSet && s.bind == obj.BindLocal {
				a.errorf(s.pos, "symbol %s is declared .local but never defined", s.name)
				continue
			}
			sym.Section = obj.SectionUndef
			if sym.Bind == obj.BindLocal {
				sym.Bind = obj.BindGlobal
			}
		}
		if s.size != nil {
			v, err := a.eval(s.size, true)
			if err != nil {
				a.evalErr(err, s.size.pos)
				continue
			}
			if !v.isConst() || v.c < 0 {
				a.errorf(s.size.pos, "size of %s must be a non-negative constant", s.name)
				continue
			}
			sym.Size = uint64(v.c)
			if sym.Section >= 0 && sym.Value+sym.Size > o.Sections[sym.Section].Size {
				a.errorf(s.size.pos, "size of %s (%d) runs past the end of section %s", s.name, sym.Size, o.Sections[sym.Section].Name)
				continue
			}
		}
		if sym.Bind == obj.BindLocal {
			locals = append(locals, entry{s, sym})
		} else {
			globals = append(globals, entry{s, sym})
		}
	}
	for _, e := range locals {
		e.s.objIndex = len(o.Symbols)
		o.Symbols = append(o.Symbols, e.sym)
	}
	for _, r := range relocs {
		if t := r.target; t.sec != nil && t.sec.symIdx < 0 {
			t.sec.symIdx = len(o.Symbols)
			o.Symbols = append(o.Symbols, &obj.Symbol{Name: t.sec.name, Section: t.sec.index, Type: obj.SymSection})
		}
	}
	for _, e := range globals {
		e.s.objIndex = len(o.Symbols)
		o.Symbols = append(o.Symbols, e.sym)
	}
	for _, r := range relocs {
		idx := -1
		if r.target.sec != nil {
			idx = r.target.sec.symIdx
		} else {
			idx = r.target.sym.objIndex
		}
		if idx < 0 {
			a.errorf(pos{1, 1}, "BUG: relocation against unemitted symbol %s", r.target.sym.name)
			continue
		}
		o.Relocs = append(o.Relocs, obj.Reloc{Section: r.sec.index, Offset: r.off, Type: r.typ, Sym: idx, Addend: r.addend})
	}
}

// buildFtrace checks every .fentry and records its site.
func (a *assembler) buildFtrace(o *obj.Object) {
	for _, f := range a.fentries {
		off := f.sec.items[f.item].off + f.off
		fn := -1
		for i, sym := range o.Symbols {
			if sym.Type == obj.SymFunc && sym.Section == f.sec.index && sym.Value == off {
				if fn < 0 || o.Symbols[fn].Bind == obj.BindLocal {
					fn = i
				}
			}
		}
		if fn < 0 {
			a.errorf(f.pos, ".fentry must be the first thing in a function: no @function symbol at %s+%#x", f.sec.name, off)
			continue
		}
		o.FtraceSites = append(o.FtraceSites, obj.FtraceSite{Section: f.sec.index, Offset: off, Func: fn})
	}
	sort.SliceStable(o.FtraceSites, func(i, j int) bool {
		x, y := o.FtraceSites[i], o.FtraceSites[j]
		if x.Section != y.Section {
			return x.Section < y.Section
		}
		return x.Offset < y.Offset
	})
}

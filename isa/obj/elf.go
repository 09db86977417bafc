package obj

import (
	"debug/elf"
	"fmt"
	"io"
	"sort"
	"strings"
)

// mcountSection is where gcc -mrecord-mcount lists patchable call sites.
const mcountSection = "__mcount_loc"

// Livepatch's ELF extensions (include/uapi/linux/elf.h,
// Documentation/livepatch/module-elf-format.rst).
const (
	shnLivepatch     = elf.SectionIndex(0xff20) // SHN_LIVEPATCH
	shfRelaLivepatch = 0x00100000               // SHF_RELA_LIVEPATCH
	klpSymPrefix     = ".klp.sym."
	klpRelaPrefix    = ".klp.rela."
)

// ReadELF converts an ELF64 x86-64 relocatable object (ET_REL, as produced by
// gcc -c or GNU as) into an Object.
//
// Only sections that occupy memory or carry bytes (PROGBITS, NOBITS, NOTE)
// are kept; symbol tables, string tables and RELA sections are folded into
// Symbols and Relocs. The __mcount_loc section is not kept either: each of
// its R_X86_64_64 relocations becomes an FtraceSite, so a loader sees one
// representation of call sites whatever produced the object. STT_FILE
// symbols are dropped. Relocation types outside RelocType are an error, as
// the loader could not apply them, and so are sections a module loader
// cannot place (TLS, constructors, COMDAT groups).
//
// Each function entry gcc -mfentry wrote as "call __fentry__" becomes the
// 5-byte NOP (Nop5) and its relocation goes, as ftrace_init_nop does when
// Linux loads a module; objects built with -mnop-mcount already have NOPs.
//
// Livepatch relocations: .klp.rela.OBJ.SEC sections (SHF_RELA_LIVEPATCH)
// become KlpRelas, SHN_LIVEPATCH symbols get SectionLivepatch. An ordinary
// relocation against an undefined .klp.sym.OBJ.NAME,POS symbol (what the
// KLP_SYMBOL macro of include/linux/livepatch.h declares) is moved to
// .klp.rela.OBJ.SEC, which is klp-convert's job in Linux's build.
func ReadELF(r io.ReaderAt) (*Object, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_REL {
		return nil, fmt.Errorf("readelf: want ELF64 x86-64 ET_REL, have %v %v %v", f.Class, f.Machine, f.Type)
	}
	o := &Object{}
	secMap := make(map[int]int) // ELF section index -> Object section index
	mcount := -1                // ELF index of __mcount_loc
	for i, s := range f.Sections {
		if s.Name == mcountSection {
			mcount = i
			continue
		}
		switch s.Type {
		case elf.SHT_PROGBITS, elf.SHT_NOBITS, elf.SHT_NOTE:
		case elf.SHT_INIT_ARRAY, elf.SHT_FINI_ARRAY, elf.SHT_PREINIT_ARRAY:
			if s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 {
				return nil, fmt.Errorf("readelf: unsupported section %s (%v): klpsim's loader runs no constructors", s.Name, s.Type)
			}
			continue
		case elf.SHT_GROUP:
			return nil, fmt.Errorf("readelf: unsupported section %s (SHT_GROUP, COMDAT): link the module with ld -r first", s.Name)
		default:
			continue
		}
		if s.Flags&elf.SHF_TLS != 0 {
			return nil, fmt.Errorf("readelf: unsupported section %s (SHF_TLS): the kernel has no thread-local storage", s.Name)
		}
		sec := &Section{Name: s.Name, Align: s.Addralign, Size: s.Size}
		if sec.Align == 0 {
			sec.Align = 1
		}
		if s.Flags&elf.SHF_ALLOC != 0 {
			sec.Flags |= FlagAlloc
		}
		if s.Flags&elf.SHF_WRITE != 0 {
			sec.Flags |= FlagWrite
		}
		if s.Flags&elf.SHF_EXECINSTR != 0 {
			sec.Flags |= FlagExec
		}
		if s.Type == elf.SHT_NOBITS {
			sec.NoBits = true
		} else {
			data, err := s.Data()
			if err != nil {
				return nil, fmt.Errorf("readelf: section %s: %v", s.Name, err)
			}
			sec.Data = data
			sec.Size = uint64(len(data))
		}
		secMap[i] = len(o.Sections)
		o.Sections = append(o.Sections, sec)
	}

	syms, err := f.Symbols()
	if err != nil && err != elf.ErrNoSymbols {
		return nil, fmt.Errorf("readelf: %v", err)
	}
	symMap := make(map[int]int) // ELF symbol index -> Object symbol index
	for i, s := range syms {
		elfIdx := i + 1 // debug/elf drops the null symbol
		sym := &Symbol{Name: s.Name, Value: s.Value, Size: s.Size}
		switch elf.ST_TYPE(s.Info) {
		case elf.STT_FILE:
			continue
		case elf.STT_FUNC:
			sym.Type = SymFunc
		case elf.STT_OBJECT:
			sym.Type = SymObject
		case elf.STT_SECTION:
			sym.Type = SymSection
		}
		switch elf.ST_BIND(s.Info) {
		case elf.STB_GLOBAL:
			sym.Bind = BindGlobal
		case elf.STB_WEAK:
			sym.Bind = BindWeak
		}
		switch s.Section {
		case elf.SHN_UNDEF:
			sym.Section = SectionUndef
			if strings.HasPrefix(s.Name, klpSymPrefix) {
				sym.Section = SectionLivepatch // klp-convert's job: see below
			}
		case shnLivepatch:
			sym.Section = SectionLivepatch
		case elf.SHN_ABS:
			sym.Section = SectionAbs
		default:
			idx, ok := secMap[int(s.Section)]
			if !ok {
				if int(s.Section) == mcount {
					continue // a section symbol for __mcount_loc itself
				}
				return nil, fmt.Errorf("readelf: symbol %q in unsupported section %d", s.Name, s.Section)
			}
			sym.Section = idx
			if sym.Type == SymSection {
				sym.Name = o.Sections[idx].Name
			}
		}
		symMap[elfIdx] = len(o.Symbols)
		o.Symbols = append(o.Symbols, sym)
	}

	klpRela := map[string]int{} // .klp.rela section name -> index in o.KlpRelas
	for _, s := range f.Sections {
		if s.Type == elf.SHT_REL {
			return nil, fmt.Errorf("readelf: unsupported section %s (SHT_REL): x86-64 modules use RELA", s.Name)
		}
		if s.Type != elf.SHT_RELA {
			continue
		}
		target := int(s.Info)
		livepatchSec := uint64(s.Flags)&shfRelaLivepatch != 0
		data, err := s.Data()
		if err != nil {
			return nil, fmt.Errorf("readelf: section %s: %v", s.Name, err)
		}
		if len(data)%24 != 0 {
			return nil, fmt.Errorf("readelf: section %s: size %d is not a multiple of 24", s.Name, len(data))
		}
		for off := 0; off < len(data); off += 24 {
			roff := f.ByteOrder.Uint64(data[off:])
			info := f.ByteOrder.Uint64(data[off+8:])
			addend := int64(f.ByteOrder.Uint64(data[off+16:]))
			typ := RelocType(elf.R_TYPE64(info))
			symIdx, ok := symMap[int(elf.R_SYM64(info))]
			if !ok {
				return nil, fmt.Errorf("readelf: %s+%#x: relocation against unsupported symbol %d", s.Name, roff, elf.R_SYM64(info))
			}
			if target == mcount {
				if typ != RelAbs64 {
					return nil, fmt.Errorf("readelf: %s+%#x: %v in %s, want R_X86_64_64", s.Name, roff, typ, mcountSection)
				}
				sym := o.Symbols[symIdx]
				if sym.Section < 0 {
					return nil, fmt.Errorf("readelf: %s+%#x: call site against undefined symbol %q", s.Name, roff, sym.Name)
				}
				o.FtraceSites = append(o.FtraceSites, FtraceSite{Section: sym.Section, Offset: sym.Value + uint64(addend)})
				continue
			}
			sec, ok := secMap[target]
			if !ok {
				continue // relocations for dropped sections (e.g. debug info)
			}
			if typ.Size() == 0 {
				return nil, fmt.Errorf("readelf: %s+%#x: unsupported relocation type %v", s.Name, roff, elf.R_X86_64(typ))
			}
			r := Reloc{Section: sec, Offset: roff, Type: typ, Sym: symIdx, Addend: addend}
			name := ""
			switch sym := o.Symbols[symIdx]; {
			case livepatchSec:
				name = s.Name
			case sym.Section == SectionLivepatch:
				// An undefined .klp.sym.OBJ.NAME,POS symbol in an ordinary
				// relocation section: what klp-convert turns into a
				// .klp.rela.OBJ.SECTION section, done here.
				objname, _, _ := strings.Cut(strings.TrimPrefix(sym.Name, klpSymPrefix), ".")
				name = klpRelaPrefix + objname + "." + o.Sections[sec].Name
			}
			if name == "" {
				o.Relocs = append(o.Relocs, r)
				continue
			}
			k, ok := klpRela[name]
			if !ok {
				k = len(o.KlpRelas)
				klpRela[name] = k
				o.KlpRelas = append(o.KlpRelas, KlpRela{Name: name, Section: sec})
			}
			if o.KlpRelas[k].Section != sec {
				return nil, fmt.Errorf("readelf: %s: relocations for two sections", name)
			}
			o.KlpRelas[k].Relocs = append(o.KlpRelas[k].Relocs, r)
		}
	}
	if err := o.nopFentryCalls(); err != nil {
		return nil, err
	}
	o.dropUnusedUndefined()
	sort.SliceStable(o.FtraceSites, func(i, j int) bool {
		a, b := o.FtraceSites[i], o.FtraceSites[j]
		if a.Section != b.Section {
			return a.Section < b.Section
		}
		return a.Offset < b.Offset
	})
	for i := range o.FtraceSites {
		o.FtraceSites[i].Func = o.FuncAt(o.FtraceSites[i].Section, o.FtraceSites[i].Offset)
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("readelf: %w", err)
	}
	return o, nil
}

// FuncAt returns the index of the function symbol in section sec that covers
// offset off (Value <= off < Value+Size, or Value == off for a function
// without a size), preferring non-local symbols, or -1.
func (o *Object) FuncAt(sec int, off uint64) int {
	best := -1
	for i, s := range o.Symbols {
		if s.Type != SymFunc || s.Section != sec {
			continue
		}
		if off == s.Value || (off > s.Value && off-s.Value < s.Size) {
			if best < 0 || (o.Symbols[best].Bind == BindLocal && s.Bind != BindLocal) {
				best = i
			}
		}
	}
	return best
}

// nopFentryCalls turns every ftrace site that is "call __fentry__" into
// Nop5 and drops its relocation.
func (o *Object) nopFentryCalls() error {
	fentry := map[[2]uint64]int{} // section, offset of the rel32 -> reloc index
	for i, r := range o.Relocs {
		if r.Type.PCRelative() && o.Symbols[r.Sym].Name == "__fentry__" && !o.Symbols[r.Sym].Defined() {
			fentry[[2]uint64{uint64(r.Section), r.Offset}] = i
		}
	}
	drop := map[int]bool{}
	for _, site := range o.FtraceSites {
		sec := o.Sections[site.Section]
		if sec.NoBits || site.Offset+5 > sec.Size {
			return fmt.Errorf("readelf: %s: ftrace site %s+%#x outside the section", mcountSection, sec.Name, site.Offset)
		}
		code := sec.Data[site.Offset : site.Offset+5]
		if [5]byte(code) == Nop5 {
			continue
		}
		i, ok := fentry[[2]uint64{uint64(site.Section), site.Offset + 1}]
		if code[0] != 0xe8 || !ok {
			return fmt.Errorf("readelf: %s: ftrace site %s+%#x is neither \"call __fentry__\" nor a 5-byte nop (% x)", mcountSection, sec.Name, site.Offset, code)
		}
		copy(code, Nop5[:])
		drop[i] = true
	}
	if len(drop) > 0 {
		kept := o.Relocs[:0]
		for i, r := range o.Relocs {
			if !drop[i] {
				kept = append(kept, r)
			}
		}
		o.Relocs = kept
	}
	return nil
}

// dropUnusedUndefined removes undefined symbols no relocation refers to
// (__fentry__ once its calls are NOPs), renumbering the references.
func (o *Object) dropUnusedUndefined() {
	used := make([]bool, len(o.Symbols))
	for _, r := range o.Relocs {
		used[r.Sym] = true
	}
	for _, kr := range o.KlpRelas {
		for _, r := range kr.Relocs {
			used[r.Sym] = true
		}
	}
	o.KeepSymbols(func(i int, s *Symbol) bool { return s.Section != SectionUndef || used[i] })
}

// KeepSymbols removes the symbols keep says no to, renumbering every
// reference to the others. A symbol a relocation uses must be kept; an
// ftrace site's function that goes becomes -1.
func (o *Object) KeepSymbols(keep func(i int, s *Symbol) bool) {
	remap := make([]int, len(o.Symbols))
	var syms []*Symbol
	for i, s := range o.Symbols {
		remap[i] = -1
		if keep(i, s) {
			remap[i] = len(syms)
			syms = append(syms, s)
		}
	}
	if len(syms) == len(o.Symbols) {
		return
	}
	o.Symbols = syms
	for i := range o.Relocs {
		o.Relocs[i].Sym = remap[o.Relocs[i].Sym]
	}
	for _, kr := range o.KlpRelas {
		for i := range kr.Relocs {
			kr.Relocs[i].Sym = remap[kr.Relocs[i].Sym]
		}
	}
	for i := range o.FtraceSites {
		if f := o.FtraceSites[i].Func; f >= 0 {
			o.FtraceSites[i].Func = remap[f]
		}
	}
}

package obj

import (
	"debug/elf"
	"fmt"
	"io"
	"sort"
)

// mcountSection is where gcc -mrecord-mcount lists patchable call sites.
const mcountSection = "__mcount_loc"

// ReadELF converts an ELF64 x86-64 relocatable object (ET_REL, as produced by
// gcc -c or GNU as) into an Object.
//
// Only sections that occupy memory or carry bytes (PROGBITS, NOBITS, NOTE)
// are kept; symbol tables, string tables and RELA sections are folded into
// Symbols and Relocs. The __mcount_loc section is not kept either: each of
// its R_X86_64_64 relocations becomes an FtraceSite, so a loader sees one
// representation of call sites whatever produced the object. STT_FILE
// symbols are dropped. Relocation types outside RelocType are an error, as
// the loader could not apply them.
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
		case elf.SHT_PROGBITS, elf.SHT_NOBITS, elf.SHT_NOTE, elf.SHT_INIT_ARRAY, elf.SHT_FINI_ARRAY:
		default:
			continue
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

	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA {
			continue
		}
		target := int(s.Info)
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
			o.Relocs = append(o.Relocs, Reloc{Section: sec, Offset: roff, Type: typ, Sym: symIdx, Addend: addend})
		}
	}
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

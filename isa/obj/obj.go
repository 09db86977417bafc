// Package obj is the relocatable object format shared by the klpsim
// assembler (isa/asm) and the guest kernel's module loader.
//
// It deliberately mirrors the subset of ELF64 x86-64 ET_REL that a kernel
// module loader needs: sections with flags and alignment, a symbol table with
// sizes, RELA-style relocations, and the list of ftrace call sites that gcc
// records in __mcount_loc. Keeping the shape close to ELF means objects built
// by the assembler and objects read from gcc output (ReadELF) go through one
// loader path.
package obj

import (
	"errors"
	"fmt"
)

// Object is one relocatable unit: what a module file contains.
//
// Indices are plain ints into the slices so that an Object is a value a
// loader can walk without pointer chasing or maps, and Validate can check
// every cross-reference.
type Object struct {
	Sections    []*Section   // in creation order; .text, .data, .bss come first from the assembler
	Symbols     []*Symbol    // locals and globals mixed; Reloc.Sym and FtraceSite.Func index this
	Relocs      []Reloc      // all sections' relocations, each naming its section
	FtraceSites []FtraceSite // patchable function entries, one per .fentry / __mcount_loc entry
	Lines       []LineEntry  // source lines of instructions, for debuggers (lines.go); may be empty

	// KlpRelas are the livepatch relocation sections (.klp.rela.OBJ.SEC):
	// relocations against SectionLivepatch symbols that the loader leaves
	// alone and livepatch applies once OBJ is loaded.
	KlpRelas []KlpRela
}

// KlpRela is one .klp.rela.OBJ.SECTION section: relocations of section
// Section against .klp.sym.OBJ.NAME,POS symbols (SHN_LIVEPATCH), in Linux's
// format (Documentation/livepatch/module-elf-format.rst).
type KlpRela struct {
	Name    string  // ".klp.rela.vmlinux..text"
	Section int     // index of the section the relocations patch
	Relocs  []Reloc // each with Section == the KlpRela's Section
}

// SectionFlags are the loader-relevant ELF section flags. The loader maps
// them to page permissions, so only these three exist.
type SectionFlags uint8

const (
	FlagAlloc SectionFlags = 1 << iota // occupies memory at run time (SHF_ALLOC)
	FlagWrite                          // writable at run time (SHF_WRITE)
	FlagExec                           // executable; the assembler pads it with NOPs (SHF_EXECINSTR)
)

// String renders flags the way .section and readelf spell them ("awx").
func (f SectionFlags) String() string {
	s := ""
	if f&FlagAlloc != 0 {
		s += "a"
	}
	if f&FlagWrite != 0 {
		s += "w"
	}
	if f&FlagExec != 0 {
		s += "x"
	}
	return s
}

// Section is a named block of bytes (or of zero-initialised space).
type Section struct {
	Name   string       // ".text", ".rodata", ".data", ".bss" or any .section name
	Flags  SectionFlags // run-time permissions
	Align  uint64       // required start alignment in bytes (power of two, at least 1)
	NoBits bool         // no file contents (SHT_NOBITS, e.g. .bss): Data is nil and Size counts zeroes
	Data   []byte       // contents; len(Data) == Size unless NoBits
	Size   uint64       // size in bytes, also for NoBits sections
}

// Special values of Symbol.Section, mirroring SHN_UNDEF and SHN_ABS, so that
// symbols in real sections can use the plain slice index.
const (
	SectionUndef = -1 // symbol is defined in another object (SHN_UNDEF)
	SectionAbs   = -2 // symbol value is an absolute number (SHN_ABS, e.g. .equ X, 5)
	// SectionLivepatch marks a livepatch symbol (SHN_LIVEPATCH,
	// .klp.sym.OBJ.NAME,POS): livepatch resolves it when OBJ is loaded.
	SectionLivepatch = -3
)

// SymType says what a symbol names. The kernel's kallsyms, the unwinder and
// livepatch look only at Func symbols with a size.
type SymType uint8

const (
	SymNoType  SymType = iota // plain label (STT_NOTYPE)
	SymFunc                   // function (STT_FUNC, .type f, @function)
	SymObject                 // data object (STT_OBJECT, .type x, @object)
	SymSection                // stands for its section's start; relocations against local labels use it, as in ELF (STT_SECTION)
)

func (t SymType) String() string {
	switch t {
	case SymNoType:
		return "NOTYPE"
	case SymFunc:
		return "FUNC"
	case SymObject:
		return "OBJECT"
	case SymSection:
		return "SECTION"
	}
	return fmt.Sprintf("SymType(%d)", uint8(t))
}

// SymBind is the symbol's linkage, which decides what the loader may resolve
// against it.
type SymBind uint8

const (
	BindLocal  SymBind = iota // visible only inside this object (STB_LOCAL)
	BindGlobal                // exported / imported (STB_GLOBAL)
	BindWeak                  // exported, may be overridden; may stay undefined (STB_WEAK)
)

func (b SymBind) String() string {
	switch b {
	case BindLocal:
		return "LOCAL"
	case BindGlobal:
		return "GLOBAL"
	case BindWeak:
		return "WEAK"
	}
	return fmt.Sprintf("SymBind(%d)", uint8(b))
}

// Symbol is a named address (or number). Size matters for functions: kallsyms
// and the livepatch stack check test "addr in [Value, Value+Size)".
type Symbol struct {
	Name    string  // symbol name; for SymSection the section's name
	Section int     // index into Object.Sections, or SectionUndef / SectionAbs
	Value   uint64  // offset within Section (or the number for SectionAbs)
	Size    uint64  // from .size; 0 when unknown
	Type    SymType // what it names
	Bind    SymBind // linkage
}

// Defined reports whether the symbol has a value in this object.
// Livepatch symbols are not defined: livepatch resolves them.
func (s *Symbol) Defined() bool { return s.Section != SectionUndef && s.Section != SectionLivepatch }

// RelocType is the kind of fix-up the loader applies. The numeric values are
// the ELF R_X86_64_* numbers so conversion to and from ELF is the identity.
//
// In the formulas S is the symbol's final address, A the addend and P the
// address of the field being patched.
type RelocType uint32

const (
	RelAbs64  RelocType = 1  // R_X86_64_64: 8-byte S + A
	RelPC32   RelocType = 2  // R_X86_64_PC32: 4-byte S + A - P, must fit in int32
	RelPLT32  RelocType = 4  // R_X86_64_PLT32: like PC32; gas uses it for call/jmp to non-local symbols. klpsim has no PLT, so it resolves like PC32
	RelAbs32  RelocType = 10 // R_X86_64_32: 4-byte S + A, must zero-extend (fit in uint32)
	RelAbs32S RelocType = 11 // R_X86_64_32S: 4-byte S + A, must sign-extend (fit in int32)
)

// Size is the width in bytes of the patched field.
func (t RelocType) Size() int {
	switch t {
	case RelAbs64:
		return 8
	case RelPC32, RelPLT32, RelAbs32, RelAbs32S:
		return 4
	}
	return 0
}

// PCRelative reports whether the value is relative to the field's address.
func (t RelocType) PCRelative() bool { return t == RelPC32 || t == RelPLT32 }

func (t RelocType) String() string {
	switch t {
	case RelAbs64:
		return "R_X86_64_64"
	case RelPC32:
		return "R_X86_64_PC32"
	case RelPLT32:
		return "R_X86_64_PLT32"
	case RelAbs32:
		return "R_X86_64_32"
	case RelAbs32S:
		return "R_X86_64_32S"
	}
	return fmt.Sprintf("RelocType(%d)", uint32(t))
}

// Reloc asks the loader to patch Size() bytes at Section+Offset with a value
// computed from symbol Sym and Addend (see RelocType for the formulas). The
// field holds zero in Data; like ELF RELA, the addend is explicit.
type Reloc struct {
	Section int       // index of the section being patched
	Offset  uint64    // byte offset of the field within that section
	Type    RelocType // how to compute and store the value
	Sym     int       // index into Object.Symbols
	Addend  int64     // A in the formula
}

// FtraceSite is a patchable function entry: 5 bytes at Section+Offset that
// hold Nop5 and that ftrace may rewrite into "call ftrace_regs_caller". It is
// klpsim's analogue of one __mcount_loc entry from gcc -mrecord-mcount.
type FtraceSite struct {
	Section int    // section holding the call site (executable)
	Offset  uint64 // offset of the 5-byte NOP within the section
	Func    int    // index of the function symbol the site belongs to, or -1 if none covers it
}

// SectionIndex returns the index of the first section called name, or -1.
func (o *Object) SectionIndex(name string) int {
	for i, s := range o.Sections {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// Lookup returns the index of the symbol called name, or -1. A defined
// global or weak symbol wins over a local one of the same name, because that
// is the one other objects can link against; section symbols are never
// returned.
func (o *Object) Lookup(name string) int {
	found := -1
	for i, s := range o.Symbols {
		if s.Name != name || s.Type == SymSection {
			continue
		}
		if s.Bind != BindLocal && s.Defined() {
			return i
		}
		if found < 0 {
			found = i
		}
	}
	return found
}

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("invalid object")

// Validate checks that every index and offset in the object is in range, so
// that a loader can apply it without bounds surprises. It never panics, even
// on nil entries.
func (o *Object) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	for i, s := range o.Sections {
		if s == nil {
			return bad("section %d is nil", i)
		}
		if s.Align == 0 || s.Align&(s.Align-1) != 0 {
			return bad("section %d (%s): alignment %d is not a power of two", i, s.Name, s.Align)
		}
		if s.NoBits {
			if s.Data != nil {
				return bad("section %d (%s): NOBITS section has data", i, s.Name)
			}
		} else if uint64(len(s.Data)) != s.Size {
			return bad("section %d (%s): size %d but %d data bytes", i, s.Name, s.Size, len(s.Data))
		}
	}
	for i, sym := range o.Symbols {
		if sym == nil {
			return bad("symbol %d is nil", i)
		}
		switch {
		case sym.Section == SectionUndef || sym.Section == SectionAbs || sym.Section == SectionLivepatch:
			if sym.Type == SymSection {
				return bad("symbol %d (%s): section symbol without a section", i, sym.Name)
			}
		case sym.Section < 0 || sym.Section >= len(o.Sections):
			return bad("symbol %d (%s): section index %d out of range", i, sym.Name, sym.Section)
		default:
			sec := o.Sections[sym.Section]
			if sym.Value > sec.Size || sym.Size > sec.Size-sym.Value {
				return bad("symbol %d (%s): [%#x, +%#x) outside section %s of size %#x", i, sym.Name, sym.Value, sym.Size, sec.Name, sec.Size)
			}
		}
	}
	all := o.Relocs
	for _, kr := range o.KlpRelas {
		if kr.Section < 0 || kr.Section >= len(o.Sections) {
			return bad("%s: section index %d out of range", kr.Name, kr.Section)
		}
		for _, r := range kr.Relocs {
			if r.Section != kr.Section {
				return bad("%s: relocation of section %d, want %d", kr.Name, r.Section, kr.Section)
			}
		}
		all = append(all[:len(all):len(all)], kr.Relocs...)
	}
	for i, r := range all {
		if r.Section < 0 || r.Section >= len(o.Sections) {
			return bad("reloc %d: section index %d out of range", i, r.Section)
		}
		sec := o.Sections[r.Section]
		n := uint64(r.Type.Size())
		if n == 0 {
			return bad("reloc %d: unsupported type %v", i, r.Type)
		}
		if sec.NoBits {
			return bad("reloc %d: in NOBITS section %s", i, sec.Name)
		}
		if r.Offset > sec.Size || n > sec.Size-r.Offset {
			return bad("reloc %d: field [%#x, +%d) outside section %s of size %#x", i, r.Offset, n, sec.Name, sec.Size)
		}
		if r.Sym < 0 || r.Sym >= len(o.Symbols) {
			return bad("reloc %d: symbol index %d out of range", i, r.Sym)
		}
	}
	for i, f := range o.FtraceSites {
		if f.Section < 0 || f.Section >= len(o.Sections) {
			return bad("ftrace site %d: section index %d out of range", i, f.Section)
		}
		sec := o.Sections[f.Section]
		if sec.NoBits || f.Offset > sec.Size || sec.Size-f.Offset < uint64(len(Nop5)) {
			return bad("ftrace site %d: offset %#x outside section %s", i, f.Offset, sec.Name)
		}
		if f.Func < -1 || f.Func >= len(o.Symbols) {
			return bad("ftrace site %d: function symbol index %d out of range", i, f.Func)
		}
	}
	return nil
}

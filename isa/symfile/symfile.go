// Package symfile writes symbol files for gdb: an ELF64 x86-64
// executable image at its guest addresses with sections, symbols with
// sizes, call frame information (.debug_frame, from the functions' code)
// and, when the assembler recorded them, DWARF line tables mapping each
// instruction to its source line.
//
// It only writes; reading gcc's relocatable objects is isa/obj's.
package symfile

import (
	"bytes"
	"encoding/binary"
	"io"
	"sort"
)

// Section is one allocated section of the image.
type Section struct {
	Name   string // ".text", ".rodata", ".data", ".bss"
	Addr   uint64
	Size   uint64
	Data   []byte // nil for NoBits
	Exec   bool
	Write  bool
	NoBits bool
}

// Symbol is a function or object at its final address.
type Symbol struct {
	Name   string
	Addr   uint64
	Size   uint64
	Func   bool
	Global bool
	// Outermost marks the bottom of every stack that reaches it (where a
	// new task starts): its frame description says the return address is
	// undefined, so a debugger's backtrace ends there instead of reading
	// whatever lies above the stack.
	Outermost bool
}

// Line says the instruction of Size bytes at Addr came from File:Line.
type Line struct {
	Addr uint64
	Size uint64
	File string // as the debugger shows it, e.g. "kernel/vmlinux/entry.S"
	Line int
}

// File is everything a symbol file holds.
type File struct {
	Sections []Section
	Symbols  []Symbol
	Lines    []Line // sorted by Addr or not; empty: no line information
	CompDir  string // DW_AT_comp_dir: where File paths are relative to
}

// ELF constants (the debug/elf values, written out).
const (
	shtProgbits = 1
	shtSymtab   = 2
	shtStrtab   = 3
	shtNobits   = 8
	shfWrite    = 1
	shfAlloc    = 2
	shfExec     = 4
	ptLoad      = 1
)

// Write writes f as an ELF executable.
func Write(w io.Writer, f *File) error {
	secs := append([]Section(nil), f.Sections...)
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].Addr < secs[j].Addr })

	type outSec struct {
		name      string
		typ       uint32
		flags     uint64
		addr      uint64
		data      []byte
		size      uint64
		link      uint32
		info      uint32
		align     uint64
		entsize   uint64
		alloc     bool
		fileBytes bool
	}
	var out []outSec
	secIndex := map[int]int{} // index in secs -> ELF section index
	for i, s := range secs {
		o := outSec{name: s.Name, typ: shtProgbits, flags: shfAlloc, addr: s.Addr, data: s.Data, size: s.Size, align: 16, alloc: true, fileBytes: !s.NoBits}
		if s.Exec {
			o.flags |= shfExec
		}
		if s.Write {
			o.flags |= shfWrite
		}
		if s.NoBits {
			o.typ, o.data = shtNobits, nil
		}
		secIndex[i] = len(out) + 1
		out = append(out, o)
	}

	// Symbols: locals first, as ELF requires.
	var strtab bytes.Buffer
	strtab.WriteByte(0)
	var symtab bytes.Buffer
	symtab.Write(make([]byte, 24))
	syms := append([]Symbol(nil), f.Symbols...)
	sort.SliceStable(syms, func(i, j int) bool {
		if syms[i].Global != syms[j].Global {
			return !syms[i].Global
		}
		return syms[i].Addr < syms[j].Addr
	})
	nlocal := 1
	for _, s := range syms {
		shndx := uint16(0xfff1) // SHN_ABS: outside every section
		for i, sec := range secs {
			if s.Addr >= sec.Addr && s.Addr < sec.Addr+max(sec.Size, 1) {
				shndx = uint16(secIndex[i])
				break
			}
		}
		bind, typ := byte(0), byte(1) // STB_LOCAL, STT_OBJECT
		if s.Global {
			bind = 1
		} else {
			nlocal++
		}
		if s.Func {
			typ = 2
		}
		var e [24]byte
		binary.LittleEndian.PutUint32(e[0:], uint32(strtab.Len()))
		e[4] = bind<<4 | typ
		binary.LittleEndian.PutUint16(e[6:], shndx)
		binary.LittleEndian.PutUint64(e[8:], s.Addr)
		binary.LittleEndian.PutUint64(e[16:], s.Size)
		symtab.Write(e[:])
		strtab.WriteString(s.Name)
		strtab.WriteByte(0)
	}

	// Debug sections.
	var funcs []Symbol
	for _, s := range syms {
		if s.Func && s.Size > 0 {
			funcs = append(funcs, s)
		}
	}
	code := func(a, n uint64) []byte {
		for _, s := range secs {
			if s.Exec && !s.NoBits && a >= s.Addr && a+n <= s.Addr+uint64(len(s.Data)) {
				return s.Data[a-s.Addr : a-s.Addr+n]
			}
		}
		return nil
	}
	if frame := debugFrame(funcs, code); len(frame) > 0 {
		out = append(out, outSec{name: ".debug_frame", typ: shtProgbits, data: frame, size: uint64(len(frame)), align: 8, fileBytes: true})
	}
	if len(f.Lines) > 0 {
		info, abbrev, line, ranges := debugLines(f.Lines, f.CompDir)
		for _, d := range []struct {
			name string
			b    []byte
		}{{".debug_info", info}, {".debug_abbrev", abbrev}, {".debug_line", line}, {".debug_ranges", ranges}} {
			out = append(out, outSec{name: d.name, typ: shtProgbits, data: d.b, size: uint64(len(d.b)), align: 1, fileBytes: true})
		}
	}
	symIdx := len(out) + 1
	out = append(out, outSec{name: ".symtab", typ: shtSymtab, data: symtab.Bytes(), size: uint64(symtab.Len()), link: uint32(symIdx + 1), info: uint32(nlocal), align: 8, entsize: 24, fileBytes: true})
	out = append(out, outSec{name: ".strtab", typ: shtStrtab, data: strtab.Bytes(), size: uint64(strtab.Len()), align: 1, fileBytes: true})
	var shstr bytes.Buffer
	shstr.WriteByte(0)
	names := make([]uint32, len(out)+1)
	for i := range out {
		names[i] = uint32(shstr.Len())
		shstr.WriteString(out[i].name)
		shstr.WriteByte(0)
	}
	names[len(out)] = uint32(shstr.Len())
	shstr.WriteString(".shstrtab\x00")
	out = append(out, outSec{name: ".shstrtab", typ: shtStrtab, data: shstr.Bytes(), size: uint64(shstr.Len()), align: 1, fileBytes: true})

	// Layout: header, program headers, section contents, section headers.
	var nload int
	for _, o := range out {
		if o.alloc {
			nload++
		}
	}
	const ehsize, phentsize, shentsize = 64, 56, 64
	off := uint64(ehsize + phentsize*nload)
	offs := make([]uint64, len(out))
	for i, o := range out {
		if o.alloc {
			// A loadable section's offset is congruent to its address
			// modulo the page size, as a PT_LOAD needs.
			pad := (o.addr - off) & 0xfff
			off += pad
		} else {
			off = (off + o.align - 1) &^ (o.align - 1)
		}
		offs[i] = off
		if o.fileBytes {
			off += uint64(len(o.data))
		}
	}
	off = (off + 7) &^ 7
	shoff := off

	var b bytes.Buffer
	var eh [ehsize]byte
	copy(eh[:], "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(eh[16:], 2)  // ET_EXEC
	le.PutUint16(eh[18:], 62) // EM_X86_64
	le.PutUint32(eh[20:], 1)
	if len(secs) > 0 {
		le.PutUint64(eh[24:], secs[0].Addr)
	}
	le.PutUint64(eh[32:], ehsize)
	le.PutUint64(eh[40:], shoff)
	le.PutUint16(eh[52:], ehsize)
	le.PutUint16(eh[54:], phentsize)
	le.PutUint16(eh[56:], uint16(nload))
	le.PutUint16(eh[58:], shentsize)
	le.PutUint16(eh[60:], uint16(len(out)+1))
	le.PutUint16(eh[62:], uint16(len(out))) // .shstrtab is last
	b.Write(eh[:])
	for i, o := range out {
		if !o.alloc {
			continue
		}
		var ph [phentsize]byte
		le.PutUint32(ph[0:], ptLoad)
		flags := uint32(4) // PF_R
		if o.flags&shfWrite != 0 {
			flags |= 2
		}
		if o.flags&shfExec != 0 {
			flags |= 1
		}
		le.PutUint32(ph[4:], flags)
		le.PutUint64(ph[8:], offs[i])
		le.PutUint64(ph[16:], o.addr)
		le.PutUint64(ph[24:], o.addr)
		le.PutUint64(ph[32:], uint64(len(o.data)))
		le.PutUint64(ph[40:], o.size)
		le.PutUint64(ph[48:], 0x1000)
		b.Write(ph[:])
	}
	for i, o := range out {
		for uint64(b.Len()) < offs[i] {
			b.WriteByte(0)
		}
		if o.fileBytes {
			b.Write(o.data)
		}
	}
	for uint64(b.Len()) < shoff {
		b.WriteByte(0)
	}
	b.Write(make([]byte, shentsize))
	for i, o := range out {
		var sh [shentsize]byte
		le.PutUint32(sh[0:], names[i])
		le.PutUint32(sh[4:], o.typ)
		le.PutUint64(sh[8:], o.flags)
		le.PutUint64(sh[16:], o.addr)
		le.PutUint64(sh[24:], offs[i])
		le.PutUint64(sh[32:], o.size)
		le.PutUint32(sh[40:], o.link)
		le.PutUint32(sh[44:], o.info)
		le.PutUint64(sh[48:], o.align)
		le.PutUint64(sh[56:], o.entsize)
		b.Write(sh[:])
	}
	_, err := w.Write(b.Bytes())
	return err
}

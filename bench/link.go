package bench

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	"klpsim/isa/obj"
)

// linkBase is where Link puts the first section, as ld does for a static
// non-PIE x86-64 executable.
const linkBase = 0x401000

// Link lays the allocated sections of o out one after another from
// linkBase, each on a page of its own, applies the relocations and returns
// a static x86-64 ELF executable starting at _start: what `ld -static`
// makes of the one object for the bench loops. It links one object only:
// an undefined symbol is an error.
func Link(o *obj.Object) ([]byte, error) {
	addrs := make([]uint64, len(o.Sections))
	next := uint64(linkBase)
	for i, s := range o.Sections {
		if s.Flags&obj.FlagAlloc == 0 || s.Size == 0 {
			continue
		}
		addrs[i] = next
		next = (next + s.Size + 0xfff) &^ 0xfff
	}
	data, err := o.Relocate(addrs, nil)
	if err != nil {
		return nil, err
	}
	start := o.Lookup("_start")
	if start < 0 || !o.Symbols[start].Defined() {
		return nil, fmt.Errorf("link: no _start")
	}
	entry, _ := o.SymbolAddr(start, addrs, nil)

	const ehsize, phsize = 64, 56
	var loads []int
	for i := range o.Sections {
		if addrs[i] != 0 {
			loads = append(loads, i)
		}
	}
	// The file: headers on page 0, then each section's bytes at the
	// file offset congruent to its address modulo the page size.
	var body bytes.Buffer
	off := uint64(0x1000)
	type ph = elf.Prog64
	phs := make([]ph, 0, len(loads))
	for _, i := range loads {
		s := o.Sections[i]
		flags := elf.PF_R
		if s.Flags&obj.FlagWrite != 0 {
			flags |= elf.PF_W
		}
		if s.Flags&obj.FlagExec != 0 {
			flags |= elf.PF_X
		}
		p := ph{Type: uint32(elf.PT_LOAD), Flags: uint32(flags), Vaddr: addrs[i], Paddr: addrs[i], Memsz: s.Size, Align: 0x1000}
		if !s.NoBits {
			p.Off, p.Filesz = off, uint64(len(data[i]))
			body.Write(data[i])
			pad := (uint64(len(data[i])) + 0xfff) &^ 0xfff
			body.Write(make([]byte, pad-uint64(len(data[i]))))
			off += pad
		} else {
			p.Off = off
		}
		phs = append(phs, p)
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Entry: entry, Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: uint16(len(phs)),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	hdr.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, hdr)
	binary.Write(&out, binary.LittleEndian, phs)
	if out.Len() > 0x1000 {
		return nil, fmt.Errorf("link: %d sections: headers overflow the first page", len(phs))
	}
	out.Write(make([]byte, 0x1000-out.Len()))
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

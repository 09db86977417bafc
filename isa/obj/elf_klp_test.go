package obj

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// klpSource is what gcc -mfentry -mrecord-mcount makes of a function that
// calls a livepatch symbol (KLP_SYMBOL in include/linux/livepatch.h) and a
// normal one.
const klpSource = `
	.text
	.globl f
	.type f, @function
f:	call __fentry__
	push %rbp
	mov %rsp, %rbp
	call ".klp.sym.test_mod.secret,0"
	call printk
	pop %rbp
	ret
	.size f, .-f
	.section __mcount_loc, "a"
	.quad f
`

// TestReadELF_FentryAndKlp: "call __fentry__" becomes the NOP ftrace
// expects and its symbol goes; a relocation against an undefined
// .klp.sym symbol moves to .klp.rela.OBJ.SECTION, as klp-convert would put
// it, and the symbol is SHN_LIVEPATCH.
func TestReadELF_FentryAndKlp(t *testing.T) {
	o, err := ReadELF(bytes.NewReader(gasObject(t, klpSource)))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.FtraceSites) != 1 {
		t.Fatalf("%d ftrace sites", len(o.FtraceSites))
	}
	site := o.FtraceSites[0]
	if got := o.Sections[site.Section].Data[site.Offset : site.Offset+5]; !bytes.Equal(got, Nop5[:]) {
		t.Errorf("fentry site holds % x, want Nop5", got)
	}
	if o.Lookup("__fentry__") >= 0 {
		t.Error("__fentry__ is still a symbol: the loader would look it up")
	}
	if len(o.Relocs) != 1 || o.Symbols[o.Relocs[0].Sym].Name != "printk" {
		t.Errorf("relocations %+v, want only printk's", o.Relocs)
	}
	if len(o.KlpRelas) != 1 {
		t.Fatalf("klp relas %+v", o.KlpRelas)
	}
	kr := o.KlpRelas[0]
	if kr.Name != ".klp.rela.test_mod..text" || len(kr.Relocs) != 1 || kr.Relocs[0].Type != RelPLT32 {
		t.Errorf("klp rela %+v", kr)
	}
	if s := o.Symbols[kr.Relocs[0].Sym]; s.Name != ".klp.sym.test_mod.secret,0" || s.Section != SectionLivepatch || s.Defined() {
		t.Errorf("klp symbol %+v", *s)
	}
}

// TestReadELF_BadFentrySite: an __mcount_loc entry that is neither a NOP
// nor a call to __fentry__ is refused.
func TestReadELF_BadFentrySite(t *testing.T) {
	_, err := ReadELF(bytes.NewReader(gasObject(t, `
	.text
	.type f, @function
f:	ret
	.byte 0, 0, 0, 0
	.size f, .-f
	.section __mcount_loc, "a"
	.quad f
`)))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`neither "call __fentry__" nor a 5-byte nop`)) {
		t.Fatalf("ReadELF: %v", err)
	}
}

// klpELF writes a minimal ET_REL object the way kpatch-build or
// klp-convert leave a livepatch module: .text calls a symbol through a
// .klp.rela.vmlinux..text section (SHF_RELA_LIVEPATCH) whose symbol is
// .klp.sym.vmlinux.secret,0 in SHN_LIVEPATCH.
func klpELF() []byte {
	le := binary.LittleEndian
	text := []byte{0xe8, 0, 0, 0, 0, 0xc3}
	strtab := []byte("\x00.klp.sym.vmlinux.secret,0\x00f\x00")
	shstr := []byte("\x00.text\x00.klp.rela.vmlinux..text\x00.symtab\x00.strtab\x00.shstrtab\x00")
	sym := func(name uint32, info byte, shndx uint16, value, size uint64) []byte {
		b := make([]byte, 24)
		le.PutUint32(b, name)
		b[4] = info
		le.PutUint16(b[6:], shndx)
		le.PutUint64(b[8:], value)
		le.PutUint64(b[16:], size)
		return b
	}
	var symtab []byte
	symtab = append(symtab, sym(0, 0, 0, 0, 0)...)
	symtab = append(symtab, sym(1, 0x10, 0xff20, 0, 0)...) // GLOBAL NOTYPE, SHN_LIVEPATCH
	symtab = append(symtab, sym(28, 0x12, 1, 0, 6)...)     // f: GLOBAL FUNC in .text
	rela := make([]byte, 24)
	le.PutUint64(rela, 1)                    // r_offset
	le.PutUint64(rela[8:], 1<<32|4)          // symbol 1, R_X86_64_PLT32
	le.PutUint64(rela[16:], uint64(1<<64-4)) // addend -4
	type shdr struct {
		name, typ      uint32
		flags          uint64
		data           []byte
		link, info     uint32
		align, entsize uint64
	}
	shdrs := []shdr{{}, {1, 1, 0x6, text, 0, 0, 16, 0},
		{7, 4, 0x100000 | 0x2, rela, 3, 1, 8, 24},
		{31, 2, 0, symtab, 4, 2, 8, 24},
		{39, 3, 0, strtab, 0, 0, 1, 0},
		{47, 3, 0, shstr, 0, 0, 1, 0}}
	out := make([]byte, 64)
	offs := make([]uint64, len(shdrs))
	for i, s := range shdrs {
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		offs[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	for i, s := range shdrs {
		h := make([]byte, 64)
		le.PutUint32(h, s.name)
		le.PutUint32(h[4:], s.typ)
		le.PutUint64(h[8:], s.flags)
		if i > 0 {
			le.PutUint64(h[24:], offs[i])
		}
		le.PutUint64(h[32:], uint64(len(s.data)))
		le.PutUint32(h[40:], s.link)
		le.PutUint32(h[44:], s.info)
		le.PutUint64(h[48:], s.align)
		le.PutUint64(h[56:], s.entsize)
		out = append(out, h...)
	}
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[16:], 1)  // ET_REL
	le.PutUint16(out[18:], 62) // EM_X86_64
	le.PutUint32(out[20:], 1)
	le.PutUint64(out[40:], shoff)
	le.PutUint16(out[52:], 64)
	le.PutUint16(out[58:], 64)
	le.PutUint16(out[60:], uint16(len(shdrs)))
	le.PutUint16(out[62:], uint16(len(shdrs)-1))
	return out
}

// TestReadELF_KlpRelaSection: a real .klp.rela section is read as one,
// its symbol as SHN_LIVEPATCH, and none of it is an ordinary relocation.
func TestReadELF_KlpRelaSection(t *testing.T) {
	o, err := ReadELF(bytes.NewReader(klpELF()))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Relocs) != 0 || len(o.KlpRelas) != 1 {
		t.Fatalf("relocs %+v, klp relas %+v", o.Relocs, o.KlpRelas)
	}
	kr := o.KlpRelas[0]
	if kr.Name != ".klp.rela.vmlinux..text" || o.Sections[kr.Section].Name != ".text" || len(kr.Relocs) != 1 {
		t.Fatalf("klp rela %+v", kr)
	}
	r := kr.Relocs[0]
	if s := o.Symbols[r.Sym]; s.Name != ".klp.sym.vmlinux.secret,0" || s.Section != SectionLivepatch || r.Type != RelPLT32 || r.Addend != -4 || r.Offset != 1 {
		t.Errorf("reloc %+v against %+v", r, *s)
	}
}
